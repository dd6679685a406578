//! Log plugin: the most requested paths and the busiest clients.
//!
//! ```
//! use std::time::Duration;
//!
//! use plugbus_access_log::{LogEvent, Request};
//! use plugbus_core::LocalHost;
//! use plugbus_top_paths::TopPaths;
//!
//! let mut host = LocalHost::new();
//! let plugin = host.attach(TopPaths::new("n=1")?)?;
//! for (n, path) in ["/a", "/b", "/a"].into_iter().enumerate() {
//!     let line = format!(r#"h - - [22/Apr/2009:18:52:51 +1200] "GET {path} HTTP/1.1" 200 10"#);
//!     host.send(LogEvent::Request(Request::parse(n as u64 + 1, &line)?))?;
//! }
//! let answers = host.ask(LogEvent::Summarize, (), Duration::from_secs(5))?;
//! let summary = answers.get(plugin).expect("an answer");
//! assert_eq!(summary.get("path /a"), Some(2));
//! assert_eq!(summary.get("path /b"), None); // only the top 1
//! assert_eq!(summary.get("paths"), Some(2));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Configuration: `n=N` or `top.n=N`, how many paths and clients to report
//! (default 5); other plugins' options (`tail.keep=8`) are skipped (see
//! [`Options`]).

#![forbid(unsafe_code)]

use std::collections::HashMap;

use plugbus_access_log::{ConfigError, LogEvent, Options, Summary};
use plugbus_core::{Flow, Message, Plugin, PluginId};

/// Counts requests per path and per client.
#[derive(Debug)]
pub struct TopPaths {
    id: Option<PluginId>,
    n: usize,
    paths: HashMap<String, u64>,
    clients: HashMap<String, u64>,
}

impl TopPaths {
    /// Builds the plugin from its configuration.
    ///
    /// # Errors
    /// [`ConfigError`] for anything but `n=N` with N from 1 up.
    pub fn new(config: &str) -> Result<Self, ConfigError> {
        let options = Options::parse(config, "top", &["n"])?;
        Ok(TopPaths {
            id: None,
            n: usize::try_from(options.number("n", 5)?).unwrap_or(usize::MAX),
            paths: HashMap::new(),
            clients: HashMap::new(),
        })
    }

    /// The number of distinct `paths` and `clients`, then `path P` and
    /// `client C` for the top ones, most requests first (ties by name).
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::new("top")
            .count("paths", self.paths.len() as u64)
            .count("clients", self.clients.len() as u64);
        for (kind, counts) in [("path", &self.paths), ("client", &self.clients)] {
            let top = top(counts, self.n);
            let mut shown = Vec::new();
            for &(key, n) in &top {
                summary = summary.count(format!("{kind} {key}"), n);
                shown.push(format!("{key} {n}"));
            }
            summary = summary.line(format!("top {kind}s: {}", shown.join(", ")));
        }
        summary
    }
}

/// The `n` largest counts, largest first, ties by key.
fn top(counts: &HashMap<String, u64>, n: usize) -> Vec<(&str, u64)> {
    let mut all: Vec<(&str, u64)> = counts.iter().map(|(k, &v)| (k.as_str(), v)).collect();
    all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    all.truncate(n);
    all
}

/// Counts one more for `key`, allocating only for a new key.
fn count(counts: &mut HashMap<String, u64>, key: &str) {
    match counts.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            counts.insert(key.to_owned(), 1);
        }
    }
}

impl Plugin<LogEvent> for TopPaths {
    fn on_attach(&mut self, id: PluginId) {
        self.id = Some(id);
    }

    fn handle_message(&mut self, event: &Message<LogEvent>) -> Flow {
        match &**event {
            LogEvent::Request(request) => {
                count(&mut self.paths, &request.path);
                count(&mut self.clients, &request.client);
            }
            LogEvent::Summarize(request) => {
                if let Some(id) = self.id {
                    // An error means the asker gave up waiting: nothing to do.
                    let _ = request.answer(id, self.summary());
                }
            }
        }
        Flow::Continue
    }

    fn name(&self) -> &str {
        "top"
    }
}

plugbus_core::export_plugin! {
    plugin: TopPaths,
    message: LogEvent,
    construct: TopPaths::new,
}
