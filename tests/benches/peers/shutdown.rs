//! Shutdown at scale: attach P plugins, send them a few messages, wait
//! until every plugin handled them and let the lanes go to sleep, then time
//! `shutdown` alone (close, wake, drain, join or await every lane, drop
//! every plugin). crossbeam fan-out (drop the senders, join the threads) is
//! the reference.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::failure::{Failure, check_deliveries};
use crate::host::{Signal, Tally};
use crate::impls::{CROSSBEAM, Impl, Kind};
use crate::options::Options;
use crate::stats::median;
use crate::w2::wait_handled;

/// The plugin counts of the shutdown workload.
pub(crate) const PLUGINS: [usize; 2] = [1024, 4096];
/// Messages sent before the shutdown.
const MESSAGES: u64 = 64;
/// How long the lanes get to go to sleep after the last message.
const SETTLE: Duration = Duration::from_millis(200);

/// One implementation at one plugin count.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    pub(crate) name: &'static str,
    pub(crate) plugins: usize,
    /// The median, least and most shutdown time over the runs, in ms.
    pub(crate) median_ms: f64,
    pub(crate) min_ms: f64,
    pub(crate) max_ms: f64,
    pub(crate) runs: usize,
}

/// Whether an implementation takes part: crossbeam and every plugbus host
/// without a batch.
pub(crate) fn takes_part(imp: &Impl) -> bool {
    imp.name == CROSSBEAM || (imp.kind == Kind::Plugbus && imp.batch == 1)
}

/// One run, the lanes given `settle` to go to sleep: returns the time
/// `shutdown` took.
pub(crate) fn run_once(imp: &Impl, plugins: usize, settle: Duration) -> Result<Duration, Failure> {
    let mut host = (imp.make)();
    let signal = Arc::new(Signal::default());
    let (tally, summers) = Tally::new(plugins, Some(&signal));
    host.attach_sum_plugins(summers);
    for value in 1..=MESSAGES {
        host.send(value);
    }
    wait_handled(imp.name, host.as_mut(), &signal, MESSAGES * plugins as u64)?;
    std::thread::sleep(settle);
    let start = Instant::now();
    let counts = host.shutdown();
    let elapsed = start.elapsed();
    check_deliveries(imp.name, plugins, MESSAGES, counts, &tally)?;
    Ok(elapsed)
}

/// Runs every implementation that takes part at [`PLUGINS`], `options.runs`
/// times, interleaved.
pub(crate) fn run(impls: &[Impl], options: &Options) -> Result<Vec<Point>, Failure> {
    let impls: Vec<&Impl> = impls.iter().filter(|imp| takes_part(imp)).collect();
    let mut points = Vec::new();
    for plugins in PLUGINS {
        let mut times = vec![Vec::with_capacity(options.runs); impls.len()];
        for _ in 0..options.runs {
            for (i, imp) in impls.iter().enumerate() {
                times[i].push(run_once(imp, plugins, SETTLE)?.as_secs_f64() * 1e3);
            }
        }
        for (imp, times) in impls.iter().zip(&mut times) {
            let point = Point {
                name: imp.name,
                plugins,
                min_ms: times.iter().copied().fold(f64::INFINITY, f64::min),
                max_ms: times.iter().copied().fold(0.0, f64::max),
                runs: times.len(),
                median_ms: median(times),
            };
            eprintln!(
                "shutdown {:<16} P={:<5} median {:>9.2} ms  (min {:.2}, max {:.2})",
                point.name, plugins, point.median_ms, point.min_ms, point.max_ms
            );
            points.push(point);
        }
    }
    Ok(points)
}
