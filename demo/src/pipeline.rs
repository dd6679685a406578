//! The pipeline: read the log, send each request to the plugins at the
//! pace asked for, show progress and alerts, ask every plugin for its
//! summary, shut down, report.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use plugbus_access_log::{LogEvent, Summary};
use plugbus_alert::Alert;
use plugbus_core::Replies;
use plugbus_host_std::Host;

use crate::error::Error;
use crate::input::LogReader;
use crate::options::{Options, ProgressMode};
use crate::output;
use crate::plugins::{self, Linked};
use crate::progress::{Progress, Snapshot};
use crate::report::{Outcome, shown};

/// How long the plugins have to answer the final query.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// Alerts printed as they come; the rest are only counted.
const ALERTS_PRINTED: u64 = 10;

/// The wall-clock moment each request is due, at `speed` log seconds per
/// second from the first request; `None` at full speed.
#[derive(Debug)]
struct Pace {
    speed: f64,
    origin: Option<(i64, Instant)>,
}

impl Pace {
    fn due(&mut self, log_time: i64) -> Option<Instant> {
        if self.speed <= 0.0 {
            return None;
        }
        let (first, start) = *self.origin.get_or_insert((log_time, Instant::now()));
        let seconds = log_time.saturating_sub(first) as f64 / self.speed;
        // An earlier time than the first (an unordered log) is due now; a
        // later one than a day away is a log with a gap: cap the wait.
        Some(start + Duration::from_secs_f64(seconds.clamp(0.0, 86_400.0)))
    }
}

/// The running pipeline's state between batches.
struct Run<'a> {
    host: Host<LogEvent>,
    reader: LogReader,
    progress: Progress,
    alerts: Replies<Alert>,
    alerts_seen: u64,
    start: Instant,
    next_update: Instant,
    /// Messages sent: requests and the query.
    sent: u64,
    requests: u64,
    options: &'a Options,
}

impl Run<'_> {
    /// Sends a batch of requests.
    fn send(&mut self, batch: &mut Vec<LogEvent>) -> Result<(), Error> {
        if batch.is_empty() {
            return Ok(());
        }
        let sent = self
            .host
            .send_batch(std::mem::take(batch))
            .map_err(|_| Error::Closed)? as u64;
        self.sent += sent;
        self.requests += sent;
        Ok(())
    }

    /// Prints new alerts, and progress when it is due.
    fn tick(&mut self) {
        while let Some(alert) = self.alerts.try_recv() {
            self.alerts_seen += 1;
            if self.alerts_seen <= ALERTS_PRINTED {
                self.progress.println(&format!("alert: {alert}"));
            } else if self.alerts_seen == ALERTS_PRINTED + 1 {
                self.progress
                    .println("alert: (more alerts are only counted)");
            }
        }
        let now = Instant::now();
        if now >= self.next_update {
            self.progress.update(&self.snapshot());
            self.next_update = now + self.progress.interval();
        }
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            elapsed: self.start.elapsed(),
            lines: self.reader.lines,
            bytes: self.reader.bytes,
            sent: self.sent,
            plugins: self.host.plugins(),
        }
    }

    /// Waits until `due`, keeping the display alive.
    fn wait_until(&mut self, due: Instant) {
        loop {
            self.tick();
            let now = Instant::now();
            if now >= due {
                return;
            }
            std::thread::sleep((due - now).min(Duration::from_millis(20)));
        }
    }

    /// Reads and sends the whole log.
    fn send_log(&mut self) -> Result<(), Error> {
        let mut pace = Pace {
            speed: self.options.speed,
            origin: None,
        };
        let mut batch = Vec::with_capacity(self.options.batch);
        while let Some(request) = self.reader.next_request()? {
            if let Some(due) = pace.due(request.time.unix) {
                if due > Instant::now() {
                    self.send(&mut batch)?;
                    self.wait_until(due);
                }
            }
            batch.push(LogEvent::Request(request));
            if batch.len() >= self.options.batch {
                self.send(&mut batch)?;
                self.tick();
            }
        }
        self.send(&mut batch)
    }

    /// Asks every attached plugin for its summary (request and response:
    /// the host's `ask`) and waits for the answers.
    fn summaries(&mut self) -> Result<Vec<Summary>, Error> {
        self.tick();
        let answers = self
            .host
            .ask(LogEvent::Summarize, (), ANSWER_WITHIN)
            .map_err(|_| Error::Closed)?;
        self.sent += 1;
        if !answers.timed_out().is_empty() {
            let plugins = self
                .host
                .plugins()
                .into_iter()
                .filter(|p| answers.timed_out().contains(&p.id))
                .map(|p| p.name)
                .collect();
            return Err(Error::NoAnswer {
                plugins,
                waited: ANSWER_WITHIN,
            });
        }
        // In the order the plugins were attached; one that panicked or
        // declined has no summary, and its report says why.
        let mut summaries: Vec<_> = answers
            .iter()
            .map(|answer| (answer.plugin(), (**answer).clone()))
            .collect();
        summaries.sort_by_key(|(id, _)| *id);
        Ok(summaries.into_iter().map(|(_, summary)| summary).collect())
    }
}

/// Runs the demo as `options` say.
pub(crate) fn run(options: &Options) -> Result<(), Error> {
    let reader = LogReader::open(&options.log, options.repeat)?;
    let host = Host::new();
    let (outbox, alerts) = plugbus_core::outbox(1024);
    let attachment = plugins::attach(&host, options, outbox)?;
    for plugin in &attachment.attached {
        match &plugin.linked {
            Linked::Static => output::line(&format!("linked `{}`", plugin.name)),
            Linked::Dynamic(path) => {
                output::line(&format!("loaded `{}` from {}", plugin.name, shown(path)));
            }
        }
    }
    for (path, reason) in &attachment.refused {
        output::line(&format!("skipped {}: {reason}", shown(path)));
    }
    let mode = options
        .progress
        .unwrap_or(if std::io::stdout().is_terminal() {
            ProgressMode::Bar
        } else {
            ProgressMode::Plain
        });
    let progress = Progress::new(mode, reader.total_bytes(), attachment.attached.len());
    let start = Instant::now();
    let mut run = Run {
        host,
        reader,
        progress,
        alerts,
        alerts_seen: 0,
        start,
        next_update: start,
        sent: 0,
        requests: 0,
        options,
    };
    run.send_log()?;
    let summaries = match run.summaries() {
        Ok(summaries) => summaries,
        Err(error) => {
            // A plugin that never answers may never return from its
            // handler either: dropping the host would wait for it forever.
            std::mem::forget(run.host);
            return Err(error);
        }
    };
    let elapsed = start.elapsed();
    run.progress.update(&run.snapshot());
    run.tick();
    run.progress.finish();
    let reports = run.host.shutdown();
    let outcome = Outcome {
        reader: &run.reader,
        requests: run.requests,
        elapsed,
        alerts: run.alerts_seen,
        attached: &attachment.attached,
        reports: &reports,
        summaries: &summaries,
    };
    output::print(&outcome.render());
    if options.counts {
        output::print(&outcome.render_counts());
    }
    Ok(())
}
