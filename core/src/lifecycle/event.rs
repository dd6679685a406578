//! What happened to a lane's instances, as its report tells it.

use alloc::string::String;
use core::fmt;
use core::time::Duration;

use super::StateError;

/// One change of the instance a lane runs, kept in its
/// [`Report`](crate::Report) (the most recent ones; the counts are in
/// [`Stats`](crate::Stats)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A new instance took over after a failure.
    Restarted {
        /// The panic that ended the old one, or `None` if it detached with
        /// a failure status ([`Restart::Always`](super::Restart::Always)).
        panic: Option<String>,
    },
    /// Building or starting the new instance failed (the factory's error,
    /// or the panic of its `on_attach`); counted against the intensity.
    RestartFailed {
        /// Why.
        reason: String,
    },
    /// More failures than the [`Intensity`](super::Intensity) allows: the
    /// lane gave up and the plugin left.
    GaveUp {
        /// Failures within the period, this one included.
        failures: u32,
        /// The period.
        period: Duration,
    },
    /// The host replaced the instance (`replace`, `reload`).
    Replaced,
    /// The new instance did not take the old one's state and started fresh.
    StateRefused(StateError),
    /// Exporting or importing the state panicked; the new instance started
    /// fresh.
    StatePanicked {
        /// The panic's message.
        panic: String,
    },
    /// A replacement panicked within its first messages and the instance
    /// before it was put back.
    RolledBack {
        /// The new instance's panic.
        panic: String,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Restarted { panic: Some(panic) } => {
                write!(f, "restarted after a panic: {panic}")
            }
            Event::Restarted { panic: None } => f.write_str("restarted after a failure status"),
            Event::RestartFailed { reason } => write!(f, "restart failed: {reason}"),
            Event::GaveUp { failures, period } => {
                write!(f, "gave up after {failures} failures within {period:?}")
            }
            Event::Replaced => f.write_str("replaced"),
            Event::StateRefused(error) => write!(f, "started fresh: {error}"),
            Event::StatePanicked { panic } => {
                write!(f, "started fresh: handing the state over panicked: {panic}")
            }
            Event::RolledBack { panic } => {
                write!(f, "rolled back after the new instance panicked: {panic}")
            }
        }
    }
}
