//! What the log host sends to its plugins.

use std::sync::mpsc;

use plugbus_core::Fingerprint;
use plugbus_core::Message;
use plugbus_core::ffi::ReplyTo;

use crate::request::Request;
use crate::summary::Summary;

/// One message of the log pipeline, broadcast to every log plugin.
#[derive(Debug, Fingerprint)]
pub enum LogEvent {
    /// One line of the log, parsed.
    Request(Request),
    /// Asks every plugin for a [`Summary`] of what it has seen; each
    /// answers once through the reply path.
    Summarize(ReplyTo<Summary>),
}

/// A [`LogEvent::Summarize`] and the receiver its summaries arrive on, one
/// per plugin that handles it.
///
/// ```
/// use plugbus_access_log::{LogEvent, summarize};
///
/// let (ask, summaries) = summarize();
/// assert!(matches!(ask, LogEvent::Summarize(_)));
/// assert!(summaries.try_recv().is_err()); // nobody answered yet
/// ```
pub fn summarize() -> (LogEvent, mpsc::Receiver<Message<Summary>>) {
    let (tx, rx) = mpsc::channel();
    let reply = ReplyTo::new(move |summary| {
        // The receiver may be gone; the summary is then dropped here.
        let _ = tx.send(summary);
    });
    (LogEvent::Summarize(reply), rx)
}
