//! The message type of the example plugins: the commands of the
//! `message_plugins` scenario, and the [`Summary`] a plugin sends back when
//! asked with [`Command::Report`].
//!
//! ```
//! use plugbus_commands::{Command, report};
//! use plugbus_core::{Flow, LocalHost, Message, Plugin};
//!
//! struct Counter(u64);
//! impl Plugin<Command> for Counter {
//!     fn handle_message(&mut self, message: &Message<Command>) -> Flow {
//!         self.0 += 1;
//!         if let Command::Report(reply) = &**message {
//!             reply.send(plugbus_commands::Summary::new("counter").messages(self.0));
//!         }
//!         Flow::Continue
//!     }
//! }
//!
//! let mut host = LocalHost::new();
//! host.attach(Counter(0)).unwrap();
//! host.send(Command::Clear).unwrap();
//! let (ask, replies) = report();
//! host.send(ask).unwrap();
//! host.run_until_idle();
//! assert_eq!(replies.try_recv().unwrap().messages, 2);
//! ```

#![forbid(unsafe_code)]

use std::sync::mpsc;
use std::time::{Duration, Instant};

use plugbus_core::Fingerprint;
use plugbus_core::ask::Request;
use plugbus_core::ffi::ReplyTo;
use plugbus_core::{Message, Outbox};

/// A command broadcast to every plugin.
#[derive(Debug, Fingerprint)]
pub enum Command {
    /// Appends the text.
    Concat(String),
    /// Forgets the text so far.
    Clear,
    /// Prints what the plugin has.
    Print,
    /// Carries the moment it was sent; a plugin measures the delay.
    Time(Instant),
    /// Asks the plugin to detach.
    Exit,
    /// Asks the plugin for a [`Summary`] of what it has seen.
    Report(ReplyTo<Summary>),
    /// The same question through a host's `ask`: each plugin answers with
    /// its id (`host.ask(Command::Summarize, (), timeout)`).
    Summarize(Request<(), Summary>),
    /// Asks the plugin to send a [`Summary`] into this outbox (the host reads
    /// the queue behind it; see [`plugbus_core::outbox`]).
    ReportTo(Outbox<Summary>),
}

/// What a plugin reports about itself.
#[derive(Debug, Clone, PartialEq, Eq, Fingerprint)]
pub struct Summary {
    /// The plugin's name.
    pub plugin: String,
    /// The text it built (for `concat`) or its counts (for `debug`).
    pub text: String,
    /// Messages it handled, this `Report` included.
    pub messages: u64,
    /// `Time` messages it handled.
    pub times: u64,
    /// The sum of their delays.
    pub total_delay: Duration,
}

impl Summary {
    /// An empty summary for `plugin`.
    pub fn new(plugin: &str) -> Self {
        Summary {
            plugin: plugin.to_owned(),
            text: String::new(),
            messages: 0,
            times: 0,
            total_delay: Duration::ZERO,
        }
    }

    /// The same, with `messages` set.
    #[must_use]
    pub fn messages(mut self, messages: u64) -> Self {
        self.messages = messages;
        self
    }

    /// The average delay of the `Time` messages, if there were any.
    pub fn average_delay(&self) -> Option<Duration> {
        let times = u32::try_from(self.times).ok().filter(|&n| n > 0)?;
        Some(self.total_delay / times)
    }
}

/// A [`Command::Report`] and the receiver its summaries arrive on: one per
/// plugin that handles it.
pub fn report() -> (Command, mpsc::Receiver<Message<Summary>>) {
    let (tx, rx) = mpsc::channel();
    let reply = ReplyTo::new(move |summary| {
        // The receiver may be gone; the summary is then dropped here.
        let _ = tx.send(summary);
    });
    (Command::Report(reply), rx)
}

/// How many commands [`scenario`] sends.
pub const SCENARIO_LEN: usize = 12;

/// The `message_plugins` scenario, in the order to send it: texts joined
/// and cleared, three `Time` messages, two `Print`s, the `Report` `ask` (see
/// [`report`]) and `Exit`. Each `Time` is stamped when the iterator yields
/// it, so send each command as soon as it comes.
///
/// ```
/// use plugbus_commands::{Command, SCENARIO_LEN, report, scenario};
///
/// let (ask, _summaries) = report();
/// let commands: Vec<Command> = scenario(ask).collect();
/// assert_eq!(commands.len(), SCENARIO_LEN);
/// assert!(matches!(commands[10], Command::Report(_)));
/// ```
pub fn scenario(ask: Command) -> impl Iterator<Item = Command> {
    let mut ask = Some(ask);
    (0..SCENARIO_LEN).filter_map(move |step| {
        Some(match step {
            0 => Command::Concat(String::from("Hello, ")),
            1 => Command::Concat(String::from("world")),
            3 | 9 => Command::Print,
            4 => Command::Clear,
            5 => Command::Concat(String::from("plug")),
            7 => Command::Concat(String::from("bus")),
            2 | 6 | 8 => Command::Time(Instant::now()),
            // Step 10 comes once, so this takes the one `ask`.
            10 => return ask.take(),
            _ => Command::Exit,
        })
    })
}

mod tick;

pub use tick::{Tally, Tick};

/// A configuration option the example plugins do not understand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownOption(pub String);

impl std::fmt::Display for UnknownOption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown option `{}` (known: quiet)", self.0)
    }
}

impl std::error::Error for UnknownOption {}

/// Parses the example plugins' configuration: whitespace-separated options,
/// of which only `quiet` (print nothing) exists. Returns whether it was given.
///
/// ```
/// use plugbus_commands::{UnknownOption, quiet_option};
///
/// assert_eq!(quiet_option(" quiet "), Ok(true));
/// assert_eq!(quiet_option(""), Ok(false));
/// assert_eq!(quiet_option("loud"), Err(UnknownOption("loud".into())));
/// ```
///
/// # Errors
/// [`UnknownOption`] for anything else.
pub fn quiet_option(config: &str) -> Result<bool, UnknownOption> {
    let mut quiet = false;
    for option in config.split_whitespace() {
        match option {
            "quiet" => quiet = true,
            other => return Err(UnknownOption(other.to_owned())),
        }
    }
    Ok(quiet)
}
