//! The final report: what was read, then one row per plugin with its lane's
//! counters and one block per plugin with its own summary.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use plugbus_access_log::Summary;
use plugbus_host_std::{Overflow, Report};

use crate::input::LogReader;
use crate::plugins::{Attached, Linked};

/// Everything the report shows.
#[derive(Debug)]
pub(crate) struct Outcome<'a> {
    pub(crate) reader: &'a LogReader,
    pub(crate) requests: u64,
    pub(crate) elapsed: Duration,
    pub(crate) alerts: u64,
    pub(crate) attached: &'a [Attached],
    pub(crate) reports: &'a [Report],
    pub(crate) summaries: &'a [Summary],
}

/// `n` with a comma every three digits.
pub(crate) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A path as the user would type it: relative to the current directory
/// when it is under it.
pub(crate) fn shown(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|dir| path.strip_prefix(dir).ok())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// An overflow policy as the tables show it.
pub(crate) fn overflow_name(overflow: Overflow) -> &'static str {
    match overflow {
        Overflow::Block => "block",
        Overflow::DropOldest => "drop oldest",
        Overflow::DropNewest => "drop newest",
        Overflow::Reject => "reject",
    }
}

impl Outcome<'_> {
    /// The report as text.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let reader = self.reader;
        let seconds = self.elapsed.as_secs_f64();
        let _ = writeln!(
            out,
            "\nread {} lines from {} in {seconds:.2} s ({} lines/s): {} requests, {} malformed",
            grouped(reader.lines),
            shown(reader.path()),
            grouped(if seconds > 0.0 {
                (reader.lines as f64 / seconds) as u64
            } else {
                0
            }),
            grouped(self.requests),
            grouped(reader.malformed),
        );
        for (line, error) in &reader.first_malformed {
            let _ = writeln!(out, "  line {line}: {error}");
        }
        let _ = writeln!(out, "{} alerts raised while running", grouped(self.alerts));
        self.render_lanes(&mut out);
        for summary in self.summaries {
            let mut label = summary.plugin.as_str();
            for line in &summary.lines {
                let _ = writeln!(out, "{label:<7} {line}");
                label = "";
            }
        }
        out
    }

    fn render_lanes(&self, out: &mut String) {
        let linked: Vec<String> = self
            .reports
            .iter()
            .map(|r| {
                match self
                    .attached
                    .iter()
                    .find(|a| a.id == r.id)
                    .map(|a| &a.linked)
                {
                    Some(Linked::Dynamic(path)) => path.file_name().map_or_else(
                        || path.display().to_string(),
                        |f| f.to_string_lossy().into_owned(),
                    ),
                    Some(Linked::Static) | None => String::from("linked in"),
                }
            })
            .collect();
        let width = linked.iter().map(String::len).max().unwrap_or(0).max(6);
        let _ = writeln!(
            out,
            "\n{:<7} {:<width$} {:<11} {:>9} {:>9} {:>9} {:>7}  exit",
            "plugin", "linked", "overflow", "received", "handled", "dropped", "lag max"
        );
        for (report, linked) in self.reports.iter().zip(&linked) {
            let overflow = self
                .attached
                .iter()
                .find(|a| a.id == report.id)
                .map_or("?", |a| overflow_name(a.overflow));
            let _ = write!(
                out,
                "{:<7} {linked:<width$} {overflow:<11} {:>9} {:>9} {:>9} {:>7}  {}",
                report.name,
                grouped(report.stats.received),
                grouped(report.stats.handled),
                grouped(report.stats.dropped),
                grouped(report.stats.lag_max),
                report.exit,
            );
            if let Some(panic) = &report.panic {
                let _ = write!(out, ", panicked: {panic}");
            }
            out.push('\n');
        }
        out.push('\n');
    }

    /// Every count, one `name=value` per line: the demo's own, each lane's
    /// counters, each plugin's summary.
    pub(crate) fn render_counts(&self) -> String {
        let mut out = String::new();
        let reader = self.reader;
        for (label, value) in [
            ("lines", reader.lines),
            ("requests", self.requests),
            ("malformed", reader.malformed),
            ("alerts", self.alerts),
        ] {
            let _ = writeln!(out, "demo.{label}={value}");
        }
        for report in self.reports {
            let stats = &report.stats;
            for (label, value) in [
                ("received", stats.received),
                ("handled", stats.handled),
                ("dropped", stats.dropped),
                ("panicked", stats.panicked),
            ] {
                let _ = writeln!(out, "lane.{}.{label}={value}", report.name);
            }
        }
        for summary in self.summaries {
            for (label, value) in &summary.counts {
                let _ = writeln!(out, "{}.{label}={value}", summary.plugin);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        let cases = [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (1_234_567, "1,234,567"),
        ];
        for (n, text) in cases {
            assert_eq!(grouped(n), text);
        }
    }
}
