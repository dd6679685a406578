//! Log plugin: counts responses by status code and class.
//!
//! ```
//! use std::time::Duration;
//!
//! use plugbus_access_log::{LogEvent, Request};
//! use plugbus_core::LocalHost;
//! use plugbus_status_codes::StatusCodes;
//!
//! let mut host = LocalHost::new();
//! let status = host.attach(StatusCodes::new("")?)?;
//! for (n, status) in [200, 404, 200].into_iter().enumerate() {
//!     let line = format!(r#"h - - [22/Apr/2009:18:52:51 +1200] "GET / HTTP/1.1" {status} 10"#);
//!     host.send(LogEvent::Request(Request::parse(n as u64 + 1, &line)?))?;
//! }
//! let answers = host.ask(LogEvent::Summarize, (), Duration::from_secs(5))?;
//! let summary = answers.get(status).expect("an answer");
//! assert_eq!((summary.get("2xx"), summary.get("4xx"), summary.get("404")), (Some(2), Some(1), Some(1)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Configuration: none of its own; other plugins' options (`top.n=5`) are
//! skipped (see [`Options`]).

#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use plugbus_access_log::{ConfigError, LogEvent, Options, Summary};
use plugbus_core::{Flow, Message, Plugin, PluginId};

/// Counts responses by status code.
#[derive(Debug, Default)]
pub struct StatusCodes {
    id: Option<PluginId>,
    codes: BTreeMap<u16, u64>,
    requests: u64,
    bytes: u64,
}

impl StatusCodes {
    /// Builds the plugin from its configuration, which must be empty.
    ///
    /// # Errors
    /// [`ConfigError`] for any option.
    pub fn new(config: &str) -> Result<Self, ConfigError> {
        Options::parse(config, "status", &[])?;
        Ok(StatusCodes::default())
    }

    /// What it has counted: `requests`, `bytes`, `1xx` to `5xx`, then each
    /// code seen.
    pub fn summary(&self) -> Summary {
        let mut classes = [0u64; 5];
        for (&code, &n) in &self.codes {
            classes[usize::from(code / 100).clamp(1, 5) - 1] += n;
        }
        let mut summary = Summary::new("status")
            .count("requests", self.requests)
            .count("bytes", self.bytes);
        let mut shares = Vec::new();
        for (class, &n) in classes.iter().enumerate() {
            summary = summary.count(format!("{}xx", class + 1), n);
            if n > 0 {
                shares.push(format!(
                    "{}xx {n} ({})",
                    class + 1,
                    percent(n, self.requests)
                ));
            }
        }
        let mut codes = Vec::new();
        for (&code, &n) in &self.codes {
            summary = summary.count(code.to_string(), n);
            codes.push(format!("{code} x{n}"));
        }
        summary
            .line(shares.join(", "))
            .line(codes.join(", "))
            .line(format!("{:.1} MB sent", self.bytes as f64 / 1e6))
    }
}

/// `n` of `total` as a percentage with one decimal.
fn percent(n: u64, total: u64) -> String {
    format!("{:.1}%", 100.0 * n as f64 / total.max(1) as f64)
}

impl Plugin<LogEvent> for StatusCodes {
    fn on_attach(&mut self, id: PluginId) {
        self.id = Some(id);
    }

    fn handle_message(&mut self, event: &Message<LogEvent>) -> Flow {
        match &**event {
            LogEvent::Request(request) => {
                *self.codes.entry(request.status).or_default() += 1;
                self.requests += 1;
                self.bytes += request.bytes;
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
        "status"
    }
}

plugbus_core::export_plugin! {
    plugin: StatusCodes,
    message: LogEvent,
    construct: StatusCodes::new,
}
