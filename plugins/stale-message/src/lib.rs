//! Test plugin built against `plugbus-commands-v2`: its `Command` has the
//! same full name, size and alignment as the host's, but `Clear` and
//! `Print` are swapped. Only the fingerprint tells them apart, and the
//! loader must refuse it.
//!
//! ```
//! use plugbus_core::Fingerprint;
//!
//! assert!(<plugbus_commands::Command as Fingerprint>::NAME.ends_with("plugbus_commands::Command"));
//! ```

#![forbid(unsafe_code)]

use plugbus_commands::Command;
use plugbus_core::{Flow, Message, Plugin};

/// Clears its text on what it believes is `Clear`.
#[derive(Debug, Default)]
pub struct Stale {
    /// The text it built.
    pub text: String,
}

impl Plugin<Command> for Stale {
    fn handle_message(&mut self, message: &Message<Command>) -> Flow {
        match &**message {
            Command::Concat(text) => self.text.push_str(text),
            Command::Clear => self.text.clear(),
            _ => {}
        }
        Flow::Continue
    }
}

plugbus_core::export_plugin! {
    plugin: Stale,
    message: Command,
    construct: |_: &str| Ok::<_, std::convert::Infallible>(Stale::default()),
}
