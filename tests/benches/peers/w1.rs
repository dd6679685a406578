//! W1 throughput: N messages to P plugins, deliveries (N × P) per second.

use std::time::{Duration, Instant};

use crate::failure::{Failure, check_deliveries};
use crate::host::Tally;
use crate::impls::{Impl, Kind};
use crate::options::Options;
use crate::stats::median;
use crate::xcore::quick_round_trip_ns;

/// W1's result for one implementation and plugin count.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    /// Messages per `send_batch`; 1 for one send per message.
    pub(crate) batch: usize,
    pub(crate) plugins: usize,
    /// Messages per run.
    pub(crate) messages: u64,
    /// The median over the runs.
    pub(crate) deliveries_per_s: f64,
    /// The slowest and the fastest run.
    pub(crate) min_per_s: f64,
    pub(crate) max_per_s: f64,
    /// How many runs the median is of.
    pub(crate) runs: usize,
    /// The median of the round trips measured before each run.
    pub(crate) xcore_ns: f64,
}

/// Message counts are multiples of this, so batches divide them evenly.
const GRAIN: u64 = 64;

/// Sends `1..=messages` to `plugins` fresh plugins, shuts down, and checks
/// that every plugin handled every message. Returns the time from the first
/// send until shutdown returned.
pub(crate) fn run_once(imp: &Impl, plugins: usize, messages: u64) -> Result<Duration, Failure> {
    let mut host = (imp.make)();
    let (tally, summers) = Tally::new(plugins, None);
    host.attach_sum_plugins(summers);
    let start = Instant::now();
    host.send_range(1..messages + 1, imp.batch);
    let counts = host.shutdown();
    let elapsed = start.elapsed();
    check_deliveries(imp.name, plugins, messages, counts, &tally)?;
    Ok(elapsed)
}

/// Finds a message count for which the part of one run that grows with
/// the message count takes about `seconds`, with pilot runs of growing size.
fn calibrate(imp: &Impl, plugins: usize, seconds: f64) -> Result<u64, Failure> {
    calibrate_with(plugins, seconds, |messages| {
        run_once(imp, plugins, messages)
    })
}

/// [`calibrate`] for any run: `once(messages)` sends that many messages to
/// `plugins` plugins and returns the time it took.
///
/// A run also costs time that does not grow with the message count: waking
/// every plugin's thread or task for the first message, and the shutdown
/// (ending 4,096 threads took 0.75-0.85 s here). Scaling one pilot run's
/// time counted that as per-message cost, so at 4,096 plugins the runs
/// sent about 170 messages and measured mostly the shutdown (host-std:
/// 1.0 M deliveries/s with one-second runs, 250 with three). So once a
/// pilot takes long enough, a second pilot with four times the messages
/// must take at least half as long again, or the count grows fourfold and
/// both are run again; the difference of the two gives the cost per
/// message, and the count is the one whose per-message part takes
/// `seconds`. A pilot longer than four times `seconds` ends the search.
pub(crate) fn calibrate_with(
    plugins: usize,
    seconds: f64,
    mut once: impl FnMut(u64) -> Result<Duration, Failure>,
) -> Result<u64, Failure> {
    let pilot = (seconds / 5.0).max(0.005);
    let mut messages = (20_000 / plugins as u64).max(GRAIN);
    loop {
        let elapsed = once(messages)?.as_secs_f64().max(1e-6);
        if elapsed < pilot {
            let factor = (pilot * 1.5 / elapsed).clamp(2.0, 50.0);
            messages = ((messages as f64 * factor) as u64).div_ceil(GRAIN) * GRAIN;
            continue;
        }
        let larger = once(4 * messages)?.as_secs_f64().max(1e-6);
        if larger < 1.5 * elapsed && larger < 4.0 * seconds {
            // Mostly fixed cost so far: more messages.
            messages *= 4;
            continue;
        }
        let per_message = (larger - elapsed).max(larger / 4.0 / 2.0) / (3 * messages) as f64;
        let count = seconds / per_message;
        return Ok(((count as u64).div_ceil(GRAIN) * GRAIN).max(GRAIN));
    }
}

/// Runs W1 for every implementation and plugin count (an implementation
/// only up to its [`max_plugins`](Impl::max_plugins)). The runs of all
/// implementations are interleaved at each plugin count, so a change of the
/// machine's regime hits them alike.
pub(crate) fn run(impls: &[Impl], options: &Options) -> Result<Vec<Point>, Failure> {
    run_at(impls, &options.plugins, options, "w1")
}

/// [`run`] at the given plugin counts; `label` starts each progress line.
pub(crate) fn run_at(
    impls: &[Impl],
    counts: &[usize],
    options: &Options,
    label: &str,
) -> Result<Vec<Point>, Failure> {
    let mut points = Vec::new();
    for &plugins in counts {
        let impls: Vec<&Impl> = impls.iter().filter(|imp| imp.runs_at(plugins)).collect();
        let mut messages = Vec::with_capacity(impls.len());
        for imp in &impls {
            messages.push(calibrate(imp, plugins, options.seconds)?);
        }
        let mut rates = vec![Vec::with_capacity(options.runs); impls.len()];
        let mut xcore = vec![Vec::with_capacity(options.runs); impls.len()];
        for _ in 0..options.runs {
            for (i, imp) in impls.iter().enumerate() {
                xcore[i].push(quick_round_trip_ns());
                let elapsed = run_once(imp, plugins, messages[i])?;
                rates[i].push((messages[i] * plugins as u64) as f64 / elapsed.as_secs_f64());
            }
        }
        for (i, imp) in impls.iter().enumerate() {
            let point = Point {
                name: imp.name,
                kind: imp.kind,
                batch: imp.batch,
                plugins,
                messages: messages[i],
                deliveries_per_s: median(&mut rates[i]),
                min_per_s: rates[i].iter().copied().fold(f64::INFINITY, f64::min),
                max_per_s: rates[i].iter().copied().fold(0.0, f64::max),
                runs: rates[i].len(),
                xcore_ns: median(&mut xcore[i]),
            };
            eprintln!(
                "{label} {:<24} P={:<4} N={:<9} {:>8.2} M/s  xcore {:.0} ns",
                point.name,
                plugins,
                point.messages,
                point.deliveries_per_s / 1e6,
                point.xcore_ns
            );
            points.push(point);
        }
    }
    Ok(points)
}
