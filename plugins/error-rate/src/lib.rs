//! Log plugin: the share of error responses (4xx and 5xx), overall and in
//! the worst window of log time.
//!
//! Windows are consecutive spans of `window` seconds of the log's own
//! clock (not of the wall clock), so a replay gives the same answer at any
//! speed. A window counts as the worst only with at least `min` requests,
//! so that one failed request on a quiet night is not a 100% error rate.
//!
//! ```
//! use std::time::Duration;
//!
//! use plugbus_access_log::{LogEvent, Request};
//! use plugbus_core::LocalHost;
//! use plugbus_error_rate::ErrorRate;
//!
//! let mut host = LocalHost::new();
//! let plugin = host.attach(ErrorRate::new("window=10 min=2")?)?;
//! for (n, (second, status)) in [(0, 200), (1, 404), (12, 200), (13, 200)].into_iter().enumerate() {
//!     let line = format!(r#"h - - [22/Apr/2009:18:52:{second:02} +1200] "GET / HTTP/1.1" {status} 1"#);
//!     host.send(LogEvent::Request(Request::parse(n as u64 + 1, &line)?))?;
//! }
//! let answers = host.ask(LogEvent::Summarize, (), Duration::from_secs(5))?;
//! let summary = answers.get(plugin).expect("an answer");
//! assert_eq!((summary.get("requests"), summary.get("errors")), (Some(4), Some(1)));
//! assert_eq!(summary.get("windows"), Some(2));
//! assert_eq!((summary.get("worst errors"), summary.get("worst requests")), (Some(1), Some(2)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Configuration: `window=SECONDS` (default 10) and `min=REQUESTS`
//! (default 10), also as `errors.window=...`; other plugins' options
//! (`top.n=5`) are skipped (see [`Options`]).

#![forbid(unsafe_code)]

use plugbus_access_log::{ConfigError, LogEvent, Options, Request, Summary, Timestamp};
use plugbus_core::{Flow, Message, Plugin, PluginId};

/// Requests and errors in one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    /// Its number: the log time divided by the window's length.
    index: i64,
    /// The first request's time.
    start: Timestamp,
    requests: u64,
    errors: u64,
}

impl Window {
    /// Whether this window has a higher error share than `other`.
    fn worse_than(&self, other: &Window) -> bool {
        // errors / requests > other.errors / other.requests, in integers.
        u128::from(self.errors) * u128::from(other.requests)
            > u128::from(other.errors) * u128::from(self.requests)
    }
}

/// Error shares over windows of log time.
#[derive(Debug)]
pub struct ErrorRate {
    id: Option<PluginId>,
    window: i64,
    min: u64,
    requests: u64,
    errors: u64,
    windows: u64,
    current: Option<Window>,
    worst: Option<Window>,
}

impl ErrorRate {
    /// Builds the plugin from its configuration.
    ///
    /// # Errors
    /// [`ConfigError`] for anything but `window=SECONDS` and `min=REQUESTS`.
    pub fn new(config: &str) -> Result<Self, ConfigError> {
        let options = Options::parse(config, "errors", &["window", "min"])?;
        Ok(ErrorRate {
            id: None,
            window: i64::try_from(options.number("window", 10)?).unwrap_or(i64::MAX),
            min: options.number("min", 10)?,
            requests: 0,
            errors: 0,
            windows: 0,
            current: None,
            worst: None,
        })
    }

    fn record(&mut self, request: &Request) {
        let error = u64::from(request.is_error());
        self.requests += 1;
        self.errors += error;
        let index = request.time.unix.div_euclid(self.window);
        match &mut self.current {
            Some(current) if current.index == index => {
                current.requests += 1;
                current.errors += error;
            }
            _ => {
                self.close_window();
                self.windows += 1;
                self.current = Some(Window {
                    index,
                    start: request.time,
                    requests: 1,
                    errors: error,
                });
            }
        }
    }

    /// Compares the current window with the worst so far.
    fn close_window(&mut self) {
        self.worst = worst(self.worst, self.current.take(), self.min);
    }

    /// `requests`, `errors`, `windows`, and the worst window's
    /// `worst errors` and `worst requests` (the window still open counts).
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::new("errors")
            .count("requests", self.requests)
            .count("errors", self.errors)
            .count("windows", self.windows)
            .line(format!(
                "{} errors in {} requests ({})",
                self.errors,
                self.requests,
                percent(self.errors, self.requests)
            ));
        match worst(self.worst, self.current, self.min) {
            Some(w) => {
                summary = summary
                    .count("worst errors", w.errors)
                    .count("worst requests", w.requests)
                    .line(format!(
                        "worst {} s window: {} errors in {} requests ({}) from {}",
                        self.window,
                        w.errors,
                        w.requests,
                        percent(w.errors, w.requests),
                        w.start.clock()
                    ));
            }
            None => {
                summary = summary.line(format!(
                    "no {} s window had {} requests",
                    self.window, self.min
                ));
            }
        }
        summary
    }
}

/// The worse of two windows, counting only those with `min` requests; the
/// earlier one on a tie.
fn worst(worst: Option<Window>, candidate: Option<Window>, min: u64) -> Option<Window> {
    match (worst, candidate.filter(|w| w.requests >= min)) {
        (Some(w), Some(c)) if c.worse_than(&w) => Some(c),
        (None, c) => c,
        (w, _) => w,
    }
}

fn percent(n: u64, total: u64) -> String {
    format!("{:.1}%", 100.0 * n as f64 / total.max(1) as f64)
}

impl Plugin<LogEvent> for ErrorRate {
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
        "errors"
    }
}

plugbus_core::export_plugin! {
    plugin: ErrorRate,
    message: LogEvent,
    construct: ErrorRate::new,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(line: u64, second: u32, status: u16) -> Request {
        let text = format!(
            r#"h - - [22/Apr/2009:18:{:02}:{:02} +1200] "GET / HTTP/1.1" {status} 1"#,
            50 + second / 60,
            second % 60
        );
        Request::parse(line, &text).unwrap()
    }

    #[test]
    fn small_windows_do_not_count_and_ties_keep_the_earlier() {
        let mut rate = ErrorRate::new("window=10 min=3").unwrap();
        // 18:50:00-09: 1 of 3 errors; 18:50:10-19: 1 of 1 (too small);
        // 18:50:20-29: 1 of 3 (a tie with the first).
        let seconds = [
            (0, 404),
            (1, 200),
            (2, 200),
            (10, 500),
            (20, 200),
            (21, 503),
            (22, 200),
        ];
        for (line, (second, status)) in seconds.into_iter().enumerate() {
            rate.record(&request(line as u64 + 1, second, status));
        }
        let summary = rate.summary();
        assert_eq!(
            (summary.get("requests"), summary.get("errors")),
            (Some(7), Some(3))
        );
        assert_eq!(summary.get("windows"), Some(3));
        assert_eq!(
            (summary.get("worst errors"), summary.get("worst requests")),
            (Some(1), Some(3))
        );
        assert!(
            summary.lines[1].ends_with("from 18:50:00"),
            "{:?}",
            summary.lines
        );
    }

    #[test]
    fn no_window_large_enough_is_said() {
        let mut rate = ErrorRate::new("min=5").unwrap();
        rate.record(&request(1, 0, 500));
        let summary = rate.summary();
        assert_eq!(summary.get("worst errors"), None);
        assert_eq!(summary.lines[1], "no 10 s window had 5 requests");
        assert!(ErrorRate::new("window=0").is_err());
        assert!(ErrorRate::new("size=3").is_err());
    }
}
