//! Example plugin: prints every message it sees (to standard error) and
//! counts them by kind.
//!
//! ```
//! use plugbus_commands::{Command, report};
//! use plugbus_core::LocalHost;
//! use plugbus_debug::Debug;
//!
//! let mut host = LocalHost::new();
//! host.attach(Debug::new("quiet").unwrap()).unwrap();
//! host.send(Command::Clear).unwrap();
//! let (ask, replies) = report();
//! host.send(ask).unwrap();
//! host.run_until_idle();
//! let summary = replies.try_recv().unwrap();
//! assert_eq!(summary.text, "concat=0 clear=1 print=0 time=0 exit=0 report=1");
//! ```
//!
//! Configuration: empty, or `quiet` to print nothing.

#![forbid(unsafe_code)]

use std::time::Duration;

use plugbus_commands::{Command, Summary};
use plugbus_core::{Exit, Flow, Message, Plugin, PluginId};

/// Prints and counts messages.
#[derive(Debug, Default)]
pub struct Debug {
    /// Counts of Concat, Clear, Print, Time, Exit, Report (and Summarize).
    counts: [u64; 6],
    total_delay: Duration,
    quiet: bool,
    /// Its id, to answer questions with.
    id: Option<PluginId>,
}

pub use plugbus_commands::UnknownOption;

impl Debug {
    /// Builds the plugin from its configuration.
    ///
    /// # Errors
    /// [`UnknownOption`] for anything but whitespace or `quiet`.
    pub fn new(config: &str) -> Result<Self, UnknownOption> {
        Ok(Debug {
            quiet: plugbus_commands::quiet_option(config)?,
            ..Debug::default()
        })
    }

    /// The counts so far.
    pub fn summary(&self) -> Summary {
        let [concat, clear, print, time, exit, report] = self.counts;
        Summary {
            plugin: String::from("debug"),
            text: format!(
                "concat={concat} clear={clear} print={print} time={time} exit={exit} report={report}"
            ),
            messages: self.counts.iter().sum(),
            times: time,
            total_delay: self.total_delay,
        }
    }
}

impl Plugin<Command> for Debug {
    fn handle_message(&mut self, message: &Message<Command>) -> Flow {
        if !self.quiet {
            eprintln!("debug: {:?}", **message);
        }
        let kind = match &**message {
            Command::Concat(_) => 0,
            Command::Clear => 1,
            Command::Print => 2,
            Command::Time(sent) => {
                self.total_delay += sent.elapsed();
                3
            }
            Command::Exit => 4,
            Command::Report(_) | Command::Summarize(_) | Command::ReportTo(_) => 5,
        };
        self.counts[kind] += 1;
        match (&**message, self.id) {
            (Command::Report(reply), _) => {
                reply.send(self.summary());
            }
            (Command::Summarize(request), Some(id)) => {
                // Refused only if late or a duplicate: nothing to do.
                let _ = request.answer(id, self.summary());
            }
            (Command::ReportTo(outbox), _) => {
                // A full outbox is the host's choice, counted in its replies.
                let _ = outbox.send(self.summary());
            }
            _ => {}
        }
        Flow::Continue
    }

    fn name(&self) -> &str {
        "debug"
    }

    fn on_attach(&mut self, id: PluginId) {
        self.id = Some(id);
        if !self.quiet {
            eprintln!("debug: attached as {id}");
        }
    }

    fn on_detach(&mut self, exit: Exit) {
        if !self.quiet {
            eprintln!(
                "debug: {exit} after {} messages",
                self.counts.iter().sum::<u64>()
            );
        }
    }
}

plugbus_core::export_plugin! {
    plugin: Debug,
    message: Command,
    construct: Debug::new,
}
