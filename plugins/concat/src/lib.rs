//! Example plugin: joins the text of `Concat` commands and measures the
//! delay of `Time` commands, as in the `message_plugins` scenario.
//!
//! Built as a `cdylib` it is loaded at run time (`libplugbus_concat.so`);
//! as an `rlib` it is linked in:
//!
//! ```
//! use plugbus_commands::{Command, report};
//! use plugbus_concat::Concat;
//! use plugbus_core::LocalHost;
//!
//! let mut host = LocalHost::new();
//! host.attach(Concat::new("quiet").unwrap()).unwrap();
//! host.send(Command::Concat("plug".into())).unwrap();
//! host.send(Command::Concat("bus".into())).unwrap();
//! let (ask, replies) = report();
//! host.send(ask).unwrap();
//! host.run_until_idle();
//! assert_eq!(replies.try_recv().unwrap().text, "plugbus");
//! ```
//!
//! Configuration: empty, or `quiet` to make `Print` print nothing.

#![forbid(unsafe_code)]

use std::time::Duration;

use plugbus_commands::{Command, Summary};
use plugbus_core::{Flow, Message, Plugin, PluginId, Status};

/// Joins texts and averages delays.
#[derive(Debug, Default)]
pub struct Concat {
    text: String,
    messages: u64,
    times: u64,
    total_delay: Duration,
    quiet: bool,
    /// Its id, to answer questions with.
    id: Option<PluginId>,
}

pub use plugbus_commands::UnknownOption;

impl Concat {
    /// Builds the plugin from its configuration.
    ///
    /// # Errors
    /// [`UnknownOption`] for anything but whitespace or `quiet`.
    pub fn new(config: &str) -> Result<Self, UnknownOption> {
        Ok(Concat {
            quiet: plugbus_commands::quiet_option(config)?,
            ..Concat::default()
        })
    }

    /// What the plugin has seen so far.
    pub fn summary(&self) -> Summary {
        Summary {
            plugin: String::from("concat"),
            text: self.text.clone(),
            messages: self.messages,
            times: self.times,
            total_delay: self.total_delay,
        }
    }
}

impl Plugin<Command> for Concat {
    fn handle_message(&mut self, message: &Message<Command>) -> Flow {
        self.messages += 1;
        match &**message {
            Command::Concat(text) => self.text.push_str(text),
            Command::Clear => self.text.clear(),
            Command::Print => {
                if !self.quiet {
                    let summary = self.summary();
                    match summary.average_delay() {
                        Some(delay) => println!("concat: {:?}, average delay {delay:?}", self.text),
                        None => println!("concat: {:?}", self.text),
                    }
                }
            }
            Command::Time(sent) => {
                self.times += 1;
                self.total_delay += sent.elapsed();
            }
            Command::Exit => return Flow::Detach(Status::SUCCESS),
            Command::Report(reply) => {
                reply.send(self.summary());
            }
            Command::Summarize(request) => {
                if let Some(id) = self.id {
                    // Refused only if late or a duplicate: nothing to do.
                    let _ = request.answer(id, self.summary());
                }
            }
            Command::ReportTo(outbox) => {
                // A full outbox is the host's choice, counted in its replies.
                let _ = outbox.send(self.summary());
            }
        }
        Flow::Continue
    }

    fn on_attach(&mut self, id: PluginId) {
        self.id = Some(id);
    }

    fn name(&self) -> &str {
        "concat"
    }
}

plugbus_core::export_plugin! {
    plugin: Concat,
    message: Command,
    construct: Concat::new,
}
