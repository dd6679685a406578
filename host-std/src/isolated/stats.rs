//! What an isolated plugin's proxy counts, beside the lane's own counters.

use std::fmt;

/// Counters of one isolated plugin, read with
/// [`IsolatedHandle::stats`](super::IsolatedHandle::stats) (a handle comes
/// from [`Isolated::handle`](super::Isolated::handle) or
/// `Host::attach_isolated`).
///
/// The lane's [`Stats`](crate::Stats) count what the proxy did: `handled`
/// there is the number of messages the proxy wrote into shared memory,
/// returning at once. What the plugin did in its process is counted here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IsolatedStats {
    /// Messages written to shared memory for the child.
    pub forwarded: u64,
    /// Messages the plugin finished in a child process (acknowledged),
    /// including those its filter declined; each counts once, also across
    /// restarts.
    pub acknowledged: u64,
    /// Messages being handled when a child died or was killed as hung:
    /// never handled, never redelivered (as a message a plugin panics on).
    pub dead_lettered: u64,
    /// Messages given again to a restarted child: forwarded, not yet
    /// finished when the previous child died.
    pub redelivered: u64,
    /// Children started after a death.
    pub restarts: u64,
    /// Children killed because one message took longer than the hang
    /// deadline.
    pub hung: u64,
    /// Messages not sent because their encoding did not fit the ring.
    pub oversized: u64,
    /// Messages serde could not encode (not sent).
    pub unencodable: u64,
    /// Replies (to an outbox) the child could not send because the reply
    /// ring was full or the reply longer than it: handed back to the
    /// plugin, as by a full outbox. Answers wait for room instead; an
    /// answer longer than the reply ring (64 KiB) is counted here and
    /// reaches the asker as a refusal.
    pub replies_refused: u64,
    /// What the child wrote into the reply ring that was not a reply to a
    /// known outbox or question, or did not decode: ignored.
    pub bad_replies: u64,
    /// How the last child died, if one did.
    pub last_death: Option<Death>,
}

/// How a child process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Death {
    /// Its exit status, if it exited.
    pub code: Option<i32>,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// The host killed it because a message took past the hang deadline.
    pub hung: bool,
    /// The sequence number (0 for the first message forwarded) of the
    /// message it was handling, dead-lettered; `None` if it died between
    /// messages.
    pub message: Option<u64>,
}

impl fmt::Display for Death {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.hung {
            f.write_str("hung past its deadline and killed")?;
        } else if let Some(signal) = self.signal {
            write!(f, "killed by signal {signal}")?;
            if let Some(name) = signal_name(signal) {
                write!(f, " ({name})")?;
            }
        } else if let Some(code) = self.code {
            write!(f, "exited with status {code}")?;
        } else {
            f.write_str("ended")?;
        }
        match self.message {
            Some(sequence) => write!(f, " while handling message {sequence}"),
            None => f.write_str(" between messages"),
        }
    }
}

fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        _ => return None,
    })
}
