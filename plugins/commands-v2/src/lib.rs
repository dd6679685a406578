//! An incompatible revision of `plugbus-commands`, for the loader tests:
//! the same crate name, type name, size and alignment, with `Clear` and
//! `Print` swapped. A plugin built against it would read the host's `Print`
//! as `Clear`; its fingerprint differs, so the loader refuses it.

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use plugbus_core::ffi::ReplyTo;
use plugbus_core::{Fingerprint, Outbox};

/// A command broadcast to every plugin (variants reordered).
#[derive(Debug, Fingerprint)]
pub enum Command {
    /// Appends the text.
    Concat(String),
    /// Prints what the plugin has.
    Print,
    /// Forgets the text so far.
    Clear,
    /// Carries the moment it was sent.
    Time(Instant),
    /// Asks the plugin to detach.
    Exit,
    /// Asks the plugin for a summary.
    Report(ReplyTo<Summary>),
    /// Asks the plugin to send a summary into this outbox.
    ReportTo(Outbox<Summary>),
}

/// What a plugin reports about itself (unchanged).
#[derive(Debug, Clone, PartialEq, Eq, Fingerprint)]
pub struct Summary {
    /// The plugin's name.
    pub plugin: String,
    /// The text it built.
    pub text: String,
    /// Messages it handled.
    pub messages: u64,
    /// `Time` messages it handled.
    pub times: u64,
    /// The sum of their delays.
    pub total_delay: Duration,
}
