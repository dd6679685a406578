//! What the log host sends to its plugins.

use plugbus_core::Fingerprint;
use plugbus_core::ask;

use crate::request::Request;
use crate::summary::Summary;

/// The question every log plugin answers with its [`Summary`]: the host
/// asks it with `ask(LogEvent::Summarize, (), timeout)`.
pub type SummaryRequest = ask::Request<(), Summary>;

/// One message of the log pipeline, broadcast to every log plugin.
#[derive(Debug, Fingerprint)]
pub enum LogEvent {
    /// One line of the log, parsed.
    Request(Request),
    /// Asks every plugin for a [`Summary`] of what it has seen; each
    /// answers once, with the id its `on_attach` received.
    Summarize(SummaryRequest),
}
