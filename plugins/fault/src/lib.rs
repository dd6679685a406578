//! Test plugin that fails where its configuration says, to check that a
//! host survives it: a constructor error, or a panic in the constructor,
//! `handle_message`, `on_attach`, `on_detach` or `drop`.
//!
//! Configuration, space separated: `fail-construct`, `panic-construct`,
//! `panic-handle=N` (panic on the N-th message, from 1), `panic-payload=N`
//! (the same with a panic payload whose own `Drop` panics), `panic-attach`,
//! `panic-detach`, `panic-drop`. Empty: behave.
//!
//! ```
//! use plugbus_fault::Fault;
//!
//! assert!(Fault::new("panic-handle=3 panic-attach").is_ok());
//! assert_eq!(
//!     Fault::new("fail-construct").unwrap_err().to_string(),
//!     "refused to start: the configuration says fail-construct"
//! );
//! ```

#![forbid(unsafe_code)]

use std::fmt;

use plugbus_commands::{Command, Summary};
use plugbus_core::{Exit, Flow, Message, Plugin, PluginId};

/// A plugin that panics on request.
#[derive(Debug, Default)]
pub struct Fault {
    messages: u64,
    panic_handle: Option<u64>,
    panic_payload: Option<u64>,
    panic_attach: bool,
    panic_detach: bool,
    panic_drop: bool,
    /// Its id, to answer questions with.
    id: Option<PluginId>,
}

/// Why [`Fault::new`] refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultError {
    /// The configuration asked for a constructor error.
    Asked,
    /// An option it does not know.
    Unknown(String),
}

impl fmt::Display for FaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultError::Asked => {
                f.write_str("refused to start: the configuration says fail-construct")
            }
            FaultError::Unknown(option) => write!(f, "unknown option `{option}`"),
        }
    }
}

impl std::error::Error for FaultError {}

impl Fault {
    /// Builds the plugin, failing or panicking if the configuration says so.
    ///
    /// # Errors
    /// [`FaultError::Asked`] for `fail-construct`, [`FaultError::Unknown`]
    /// for an option it does not know.
    ///
    /// # Panics
    /// For `panic-construct`, on purpose.
    pub fn new(config: &str) -> Result<Self, FaultError> {
        let mut fault = Fault::default();
        for option in config.split_whitespace() {
            match option.split_once('=') {
                None if option == "fail-construct" => return Err(FaultError::Asked),
                None if option == "panic-construct" => panic!("fault: panic in construct"),
                None if option == "panic-attach" => fault.panic_attach = true,
                None if option == "panic-detach" => fault.panic_detach = true,
                None if option == "panic-drop" => fault.panic_drop = true,
                Some(("panic-handle", n)) => {
                    let n = n
                        .parse()
                        .map_err(|_| FaultError::Unknown(option.to_owned()))?;
                    fault.panic_handle = Some(n);
                }
                Some(("panic-payload", n)) => {
                    let n = n
                        .parse()
                        .map_err(|_| FaultError::Unknown(option.to_owned()))?;
                    fault.panic_payload = Some(n);
                }
                _ => return Err(FaultError::Unknown(option.to_owned())),
            }
        }
        Ok(fault)
    }
}

impl Plugin<Command> for Fault {
    fn handle_message(&mut self, message: &Message<Command>) -> Flow {
        self.messages += 1;
        if self.panic_handle == Some(self.messages) {
            panic!(
                "fault: panic in handle_message at message {}",
                self.messages
            );
        }
        if self.panic_payload == Some(self.messages) {
            std::panic::panic_any(PanickyPayload);
        }
        match (&**message, self.id) {
            (Command::Report(reply), _) => {
                reply.send(Summary::new("fault").messages(self.messages));
            }
            (Command::Summarize(request), Some(id)) => {
                let summary = Summary::new("fault").messages(self.messages);
                // Refused only if late or a duplicate: nothing to do.
                let _ = request.answer(id, summary);
            }
            (Command::ReportTo(outbox), _) => {
                let _ = outbox.send(Summary::new("fault").messages(self.messages));
            }
            _ => {}
        }
        Flow::Continue
    }

    fn name(&self) -> &str {
        "fault"
    }

    fn on_attach(&mut self, id: PluginId) {
        assert!(!self.panic_attach, "fault: panic in on_attach");
        self.id = Some(id);
    }

    fn on_detach(&mut self, exit: Exit) {
        assert!(!self.panic_detach, "fault: panic in on_detach ({exit})");
    }
}

impl Drop for Fault {
    fn drop(&mut self) {
        assert!(
            !self.panic_drop,
            "fault: panic in drop after {} messages",
            self.messages
        );
    }
}

/// A panic payload whose own `Drop` panics: the thunk that catches the
/// first panic must catch this one too, or it unwinds out of `extern "C"`.
struct PanickyPayload;

impl Drop for PanickyPayload {
    fn drop(&mut self) {
        panic!("fault: the panic payload's drop panics");
    }
}

plugbus_core::export_plugin! {
    plugin: Fault,
    message: Command,
    construct: Fault::new,
}
