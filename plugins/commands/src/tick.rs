//! Numbered messages, for checking that every message is handled once and
//! in order across restarts and reloads (the `tally` plugins count them).

use plugbus_core::Fingerprint;
use plugbus_core::ask::Request;

/// A numbered message, or a question about the numbers seen.
#[derive(Debug, Fingerprint)]
pub enum Tick {
    /// Message `seq` of sender `sender`; each sender counts from 0.
    Seq {
        /// Which sender.
        sender: u32,
        /// Its number, from 0, one more for each message.
        seq: u64,
    },
    /// The same, and the plugin that gets it panics on it: an induced
    /// fault, which a supervised plugin's lane dead-letters.
    Poison {
        /// Which sender.
        sender: u32,
        /// Its number.
        seq: u64,
    },
    /// Asks for the plugin's [`Tally`].
    Tally(Request<(), Tally>),
}

impl Tick {
    /// The sender and number of a numbered message.
    pub fn number(&self) -> Option<(u32, u64)> {
        match *self {
            Tick::Seq { sender, seq } | Tick::Poison { sender, seq } => Some((sender, seq)),
            Tick::Tally(_) => None,
        }
    }
}

/// What a tally plugin has counted, over every instance its state was
/// handed through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Fingerprint)]
pub struct Tally {
    /// The build of the instance that answered (1 or 2).
    pub build: u32,
    /// Numbered messages handled.
    pub counted: u64,
    /// Numbers that never arrived between two that did (per sender).
    pub skipped: u64,
    /// Numbers that arrived again or too late (per sender).
    pub out_of_order: u64,
    /// How many times the state was handed to a new instance.
    pub handovers: u64,
}
