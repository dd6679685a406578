//! Test plugin built for `String` messages: a host of `plugbus_commands::Command`
//! must refuse it before running any of its code.
//!
//! ```
//! use plugbus_core::LocalHost;
//! use plugbus_wrong_message::Echo;
//!
//! let mut host = LocalHost::<String>::new();
//! host.attach(Echo::default()).unwrap();
//! host.send("hi".to_owned()).unwrap();
//! assert_eq!(host.shutdown()[0].stats.handled, 1);
//! ```

#![forbid(unsafe_code)]

use plugbus_core::{Flow, Message, Plugin};

/// Counts the strings it sees.
#[derive(Debug, Default)]
pub struct Echo(pub u64);

impl Plugin<String> for Echo {
    fn handle_message(&mut self, _: &Message<String>) -> Flow {
        self.0 += 1;
        Flow::Continue
    }
}

plugbus_core::export_plugin! {
    plugin: Echo,
    message: String,
    construct: |_: &str| Ok::<_, std::convert::Infallible>(Echo::default()),
}
