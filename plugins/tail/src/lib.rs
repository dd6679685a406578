//! Log plugin: the latest requests, like `tail -f`.
//!
//! It keeps only the last `keep` requests, so a queue longer than that
//! would hold nothing it will show: attach it with
//! [`Overflow::DropOldest`](plugbus_core::Overflow::DropOldest) and a
//! capacity of `keep`. Under a burst it then skips to the newest requests
//! instead of slowing the sender down, and the messages it skips are counted
//! in its `dropped` statistic.
//!
//! ```
//! use std::time::Duration;
//!
//! use plugbus_access_log::{LogEvent, Request};
//! use plugbus_core::{AttachOptions, LocalHost, Overflow};
//! use plugbus_tail::Tail;
//!
//! let tail = Tail::new("keep=2")?;
//! let options = AttachOptions::new().capacity(tail.keep()).overflow(Overflow::DropOldest);
//! let mut host = LocalHost::new();
//! let plugin = host.attach_with(tail, options)?;
//! for n in 1..=5 {
//!     let line = format!(r#"h - - [22/Apr/2009:18:52:51 +1200] "GET /{n} HTTP/1.1" 200 1"#);
//!     host.send(LogEvent::Request(Request::parse(n, &line)?))?;
//! }
//! let answers = host.ask(LogEvent::Summarize, (), Duration::from_secs(5))?;
//! let summary = answers.get(plugin).expect("an answer");
//! assert_eq!(summary.lines.len(), 1); // 1 to 4 were dropped: only /5 and the query fit
//! assert_eq!(summary.get("last line"), Some(5));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Configuration: `keep=N` or `tail.keep=N`, how many requests to keep
//! (default 8); other plugins' options (`top.n=5`) are skipped (see
//! [`Options`]).

#![forbid(unsafe_code)]

use std::collections::VecDeque;

use plugbus_access_log::{ConfigError, LogEvent, Options, Request, Summary};
use plugbus_core::{Flow, Message, Plugin, PluginId};

/// Keeps the latest requests.
#[derive(Debug)]
pub struct Tail {
    id: Option<PluginId>,
    keep: usize,
    /// The latest requests, oldest first (envelopes, so keeping one copies
    /// nothing).
    latest: VecDeque<Message<LogEvent>>,
    seen: u64,
}

impl Tail {
    /// Builds the plugin from its configuration.
    ///
    /// # Errors
    /// [`ConfigError`] for anything but `keep=N` with N from 1 up.
    pub fn new(config: &str) -> Result<Self, ConfigError> {
        let options = Options::parse(config, "tail", &["keep"])?;
        let keep = usize::try_from(options.number("keep", 8)?).unwrap_or(usize::MAX);
        Ok(Tail {
            id: None,
            keep,
            latest: VecDeque::with_capacity(keep.min(1024)),
            seen: 0,
        })
    }

    /// How many requests it keeps: the useful queue capacity.
    pub fn keep(&self) -> usize {
        self.keep
    }

    fn requests(&self) -> impl Iterator<Item = &Request> {
        self.latest.iter().filter_map(|event| match &**event {
            LogEvent::Request(request) => Some(request),
            LogEvent::Summarize(_) => None,
        })
    }

    /// `seen` (requests handled) and `last line` (the newest one's line
    /// number), and one text line per request kept, oldest first.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::new("tail").count("seen", self.seen);
        if let Some(last) = self.requests().last() {
            summary = summary.count("last line", last.line);
        }
        for request in self.requests() {
            summary = summary.line(request.to_string());
        }
        summary
    }
}

impl Plugin<LogEvent> for Tail {
    fn on_attach(&mut self, id: PluginId) {
        self.id = Some(id);
    }

    fn handle_message(&mut self, event: &Message<LogEvent>) -> Flow {
        match &**event {
            LogEvent::Request(_) => {
                self.seen += 1;
                if self.latest.len() == self.keep {
                    self.latest.pop_front();
                }
                self.latest.push_back(event.clone());
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
        "tail"
    }
}

plugbus_core::export_plugin! {
    plugin: Tail,
    message: LogEvent,
    construct: Tail::new,
}
