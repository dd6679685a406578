//! Log plugin: raises an alert when a path answers 404 again and again (a
//! broken link, or a file that clients keep asking for).
//!
//! Linked into the host, it pushes each alert as it happens through an
//! [`Outbox`], which never blocks the plugin; loaded from its library (where
//! it is built from a configuration string alone) it keeps them for its
//! summary. Either way it answers [`LogEvent::Summarize`].
//!
//! ```
//! use plugbus_access_log::{LogEvent, Request};
//! use plugbus_alert::Alerts;
//! use plugbus_core::{LocalHost, outbox};
//!
//! let (tx, alerts) = outbox(16);
//! let mut host = LocalHost::new();
//! host.attach(Alerts::new("not_found=2 window=60")?.with_outbox(tx))?;
//! for (n, second) in [0, 30, 59].into_iter().enumerate() {
//!     let line = format!(r#"h - - [22/Apr/2009:18:52:{second:02} +1200] "GET /gone HTTP/1.1" 404 1"#);
//!     host.send(LogEvent::Request(Request::parse(n as u64 + 1, &line)?))?;
//! }
//! host.run_until_idle();
//! let alert = alerts.try_recv().expect("an alert");
//! assert_eq!(alert.line, 2);
//! assert_eq!(alert.to_string(), "line 2 at 18:52:30: /gone answered 404 2 times in 60 s");
//! assert!(alerts.try_recv().is_none()); // once per window and path
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Configuration: `not_found=N` (default 3) 404 answers for one path within
//! `window=SECONDS` (default 60) of log time raise an alert; the same path
//! raises no second one within the window. Options for other plugins
//! (`top.n=5`) are skipped, and these may be written `alerts.window=60`
//! (see [`Options`]).

#![forbid(unsafe_code)]

use std::collections::{HashMap, VecDeque};
use std::fmt;

use plugbus_access_log::{ConfigError, LogEvent, Options, Request, Summary, Timestamp};
use plugbus_core::{Flow, Message, Outbox, Plugin, PluginId};

/// How many alerts a summary lists.
const LISTED: usize = 5;

/// One alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// The line of the request that raised it.
    pub line: u64,
    /// That request's time.
    pub time: Timestamp,
    /// The path.
    pub path: String,
    /// How many 404 answers it had in the window.
    pub count: u64,
    /// The window, in seconds.
    pub window: i64,
}

impl fmt::Display for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {} at {}: {} answered 404 {} times in {} s",
            self.line,
            self.time.clock(),
            self.path,
            self.count,
            self.window
        )
    }
}

/// Watches for paths that keep answering 404.
#[derive(Debug)]
pub struct Alerts {
    id: Option<PluginId>,
    not_found: u64,
    window: i64,
    /// Times of recent 404 answers, per path.
    recent: HashMap<String, VecDeque<i64>>,
    /// When each path last raised an alert.
    alerted: HashMap<String, i64>,
    raised: u64,
    /// The first alerts, for the summary.
    first: Vec<Alert>,
    outbox: Option<Outbox<Alert>>,
    /// Alerts the outbox was too full to take.
    undelivered: u64,
}

impl Alerts {
    /// Builds the plugin from its configuration; it keeps its alerts until
    /// asked, unless given an outbox.
    ///
    /// # Errors
    /// [`ConfigError`] for anything but `not_found=N` and `window=SECONDS`.
    pub fn new(config: &str) -> Result<Self, ConfigError> {
        let options = Options::parse(config, "alerts", &["not_found", "window"])?;
        Ok(Alerts {
            id: None,
            not_found: options.number("not_found", 3)?,
            window: i64::try_from(options.number("window", 60)?).unwrap_or(i64::MAX),
            recent: HashMap::new(),
            alerted: HashMap::new(),
            raised: 0,
            first: Vec::new(),
            outbox: None,
            undelivered: 0,
        })
    }

    /// The same, pushing every alert into `outbox` as it is raised.
    #[must_use]
    pub fn with_outbox(mut self, outbox: Outbox<Alert>) -> Self {
        self.outbox = Some(outbox);
        self
    }

    fn record(&mut self, request: &Request) {
        if request.status != 404 {
            return;
        }
        let now = request.time.unix;
        let since = now.saturating_sub(self.window);
        let times = self.recent.entry(request.path.clone()).or_default();
        times.push_back(now);
        while times.front().is_some_and(|&t| t <= since) {
            times.pop_front();
        }
        let count = times.len() as u64;
        let quiet = self.alerted.get(&request.path).is_none_or(|&t| t <= since);
        if count >= self.not_found && quiet {
            self.alerted.insert(request.path.clone(), now);
            self.raise(Alert {
                line: request.line,
                time: request.time,
                path: request.path.clone(),
                count,
                window: self.window,
            });
        }
    }

    fn raise(&mut self, alert: Alert) {
        self.raised += 1;
        if self.first.len() < LISTED {
            self.first.push(alert.clone());
        }
        if let Some(outbox) = &self.outbox {
            if outbox.send(alert).is_err() {
                self.undelivered += 1;
            }
        }
    }

    /// `alerts` raised and `undelivered` (the outbox was full), and the
    /// first few alerts as text.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::new("alerts")
            .count("alerts", self.raised)
            .count("undelivered", self.undelivered);
        for alert in &self.first {
            summary = summary.line(alert.to_string());
        }
        if self.raised > self.first.len() as u64 {
            summary = summary.line(format!(
                "and {} more",
                self.raised - self.first.len() as u64
            ));
        }
        summary
    }
}

impl Plugin<LogEvent> for Alerts {
    fn on_attach(&mut self, id: PluginId) {
        self.id = Some(id);
    }

    fn handle_message(&mut self, event: &Message<LogEvent>) -> Flow {
        match &**event {
            LogEvent::Request(request) => self.record(request),
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
        "alerts"
    }
}

plugbus_core::export_plugin! {
    plugin: Alerts,
    message: LogEvent,
    construct: Alerts::new,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_found(line: u64, second: u32, path: &str) -> Request {
        let text = format!(
            r#"h - - [22/Apr/2009:18:{:02}:{:02} +1200] "GET {path} HTTP/1.1" 404 1"#,
            50 + second / 60,
            second % 60
        );
        Request::parse(line, &text).unwrap()
    }

    #[test]
    fn one_alert_per_path_and_window_then_again() {
        let (tx, alerts) = plugbus_core::outbox(16);
        let mut watch = Alerts::new("not_found=2 window=10")
            .unwrap()
            .with_outbox(tx);
        let hits = [
            (0, "/a"),
            (1, "/b"),
            (2, "/a"),
            (3, "/a"),
            (4, "/b"),
            (20, "/a"),
            (25, "/a"),
        ];
        for (line, (second, path)) in hits.into_iter().enumerate() {
            watch.record(&not_found(line as u64 + 1, second, path));
        }
        let raised: Vec<(u64, String)> = std::iter::from_fn(|| alerts.try_recv())
            .map(|a| (a.line, a.path.clone()))
            .collect();
        // /a at 2 s, /b at 4 s; /a's third 404 (3 s) is within its window;
        // at 20 s /a has one 404 in the window, at 25 s two again.
        assert_eq!(
            raised,
            [(3, "/a".into()), (5, "/b".into()), (7, "/a".into())]
        );
        assert_eq!(watch.summary().get("alerts"), Some(3));
    }

    #[test]
    fn a_full_outbox_is_counted_not_waited_for() {
        let (tx, alerts) = plugbus_core::outbox(1);
        let mut watch = Alerts::new("not_found=1").unwrap().with_outbox(tx);
        for (line, path) in ["/a", "/b", "/c"].into_iter().enumerate() {
            watch.record(&not_found(line as u64 + 1, 0, path));
        }
        let summary = watch.summary();
        assert_eq!(
            (summary.get("alerts"), summary.get("undelivered")),
            (Some(3), Some(2))
        );
        assert_eq!(alerts.try_recv().map(|a| a.path.clone()), Some("/a".into()));
        assert_eq!(alerts.dropped(), 2);
    }
}
