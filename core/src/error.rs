//! Errors of sending, attaching and static registration.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::plugin::PluginId;

/// A message that could not be sent; the value is handed back.
#[non_exhaustive]
pub enum SendError<M> {
    /// The host is shut down.
    Closed(M),
    /// Plugins with [`Overflow::Reject`](crate::Overflow::Reject) were full;
    /// nobody received the message.
    Rejected {
        /// The message, handed back.
        value: M,
        /// The plugins that refused it.
        refused: Vec<PluginId>,
    },
}

/// A message that [`try_send`](crate::LocalHost::try_send) could not send now.
#[non_exhaustive]
pub enum TrySendError<M> {
    /// A plugin with [`Overflow::Block`](crate::Overflow::Block) is full;
    /// `send` would wait.
    Full(M),
    /// The send failed for good; see [`SendError`].
    Failed(SendError<M>),
}

impl<M> SendError<M> {
    /// The message that was not sent.
    pub fn into_inner(self) -> M {
        match self {
            SendError::Closed(value) | SendError::Rejected { value, .. } => value,
        }
    }
}

impl<M> SendError<M> {
    /// Converts the value handed back, keeping the cause.
    pub fn map<T>(self, f: impl FnOnce(M) -> T) -> SendError<T> {
        match self {
            SendError::Closed(value) => SendError::Closed(f(value)),
            SendError::Rejected { value, refused } => SendError::Rejected {
                value: f(value),
                refused,
            },
        }
    }
}

impl<M> TrySendError<M> {
    /// Converts the value handed back, keeping the cause.
    pub fn map<T>(self, f: impl FnOnce(M) -> T) -> TrySendError<T> {
        match self {
            TrySendError::Full(value) => TrySendError::Full(f(value)),
            TrySendError::Failed(error) => TrySendError::Failed(error.map(f)),
        }
    }

    /// The message that was not sent.
    pub fn into_inner(self) -> M {
        match self {
            TrySendError::Full(value) => value,
            TrySendError::Failed(error) => error.into_inner(),
        }
    }
}

impl<M> From<SendError<M>> for TrySendError<M> {
    fn from(error: SendError<M>) -> Self {
        TrySendError::Failed(error)
    }
}

impl<M> fmt::Debug for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed(_) => f.write_str("Closed(..)"),
            SendError::Rejected { refused, .. } => f
                .debug_struct("Rejected")
                .field("refused", refused)
                .finish_non_exhaustive(),
        }
    }
}

impl<M> fmt::Display for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed(_) => f.write_str("sending into a host that is shut down"),
            SendError::Rejected { refused, .. } => {
                f.write_str("message rejected by full plugins")?;
                for (i, id) in refused.iter().enumerate() {
                    f.write_str(if i == 0 { " " } else { ", " })?;
                    write!(f, "{id}")?;
                }
                Ok(())
            }
        }
    }
}

impl<M> fmt::Debug for TrySendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Failed(error) => f.debug_tuple("Failed").field(error).finish(),
        }
    }
}

impl<M> fmt::Display for TrySendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("a blocking plugin's queue is full"),
            TrySendError::Failed(error) => fmt::Display::fmt(error, f),
        }
    }
}

impl<M> core::error::Error for SendError<M> {}

/// `Failed` is transparent: it shows the [`SendError`] it wraps as its own
/// text and has no source, so a report that prints the chain says the cause
/// once (match on `Failed` to get the `SendError`).
impl<M> core::error::Error for TrySendError<M> {}

/// A plugin that could not be attached.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttachError {
    /// The host is shut down.
    Closed,
    /// The capacity asked for is zero or larger than the ring allows.
    Capacity {
        /// What the options asked for.
        requested: usize,
        /// The most this host allows for the policy asked for.
        max: usize,
    },
    /// The host could not start a lane (thread or task) for the plugin.
    Spawn {
        /// The plugin's name.
        plugin: String,
        /// What the runtime said.
        reason: String,
    },
    /// The factory of a supervised plugin could not build its first
    /// instance (it failed or panicked).
    Factory {
        /// What it said.
        reason: String,
    },
    /// The dead-letter outbox in the options is for another message type
    /// than the host's.
    DeadLetters {
        /// The host's message type.
        expected: &'static str,
    },
}

impl fmt::Display for AttachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachError::Closed => f.write_str("attaching to a host that is shut down"),
            AttachError::Capacity { requested, max } => {
                write!(f, "queue capacity {requested} is not within 1..={max}")
            }
            AttachError::Spawn { plugin, reason } => {
                write!(f, "cannot start a lane for plugin `{plugin}`: {reason}")
            }
            AttachError::Factory { reason } => {
                write!(f, "the factory built no first instance: {reason}")
            }
            AttachError::DeadLetters { expected } => write!(
                f,
                "the dead-letter outbox is not one of DeadLetter<{expected}>"
            ),
        }
    }
}

impl core::error::Error for AttachError {}
