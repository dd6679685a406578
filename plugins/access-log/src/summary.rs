//! What a log plugin answers when asked.

use plugbus_core::Fingerprint;

/// A log plugin's answer to [`LogEvent::Summarize`](crate::LogEvent::Summarize):
/// labelled counts (for programs and tests) and lines of text (for people).
///
/// ```
/// use plugbus_access_log::Summary;
///
/// let summary = Summary::new("status").count("2xx", 10).line("200 x10");
/// assert_eq!(summary.get("2xx"), Some(10));
/// assert_eq!(summary.get("5xx"), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Fingerprint)]
pub struct Summary {
    /// The plugin's name.
    pub plugin: String,
    /// What it counted, in its own order.
    pub counts: Vec<(String, u64)>,
    /// Its findings, one line each.
    pub lines: Vec<String>,
}

impl Summary {
    /// An empty summary for `plugin`.
    pub fn new(plugin: &str) -> Self {
        Summary {
            plugin: plugin.to_owned(),
            counts: Vec::new(),
            lines: Vec::new(),
        }
    }

    /// The same, with one more count.
    #[must_use]
    pub fn count(mut self, label: impl Into<String>, value: u64) -> Self {
        self.counts.push((label.into(), value));
        self
    }

    /// The same, with one more line of text.
    #[must_use]
    pub fn line(mut self, text: impl Into<String>) -> Self {
        self.lines.push(text.into());
        self
    }

    /// The first count with this label.
    pub fn get(&self, label: &str) -> Option<u64> {
        self.counts
            .iter()
            .find(|(name, _)| name == label)
            .map(|&(_, value)| value)
    }
}
