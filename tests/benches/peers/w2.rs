//! W2 latency: send one message, wait until all P plugins handled it,
//! repeat; p50, p99 and p99.9 of the round in microseconds, each the median
//! over several runs (with the least and the most of p99 and p99.9).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::failure::{Failure, check_deliveries};
use crate::host::{BenchHost, Signal, Tally};
use crate::impls::Impl;
use crate::stats::{median, percentile};
use crate::xcore::quick_round_trip_ns;

/// The plugin counts W2 measures.
pub(crate) const PLUGINS: [usize; 2] = [1, 16];

/// How long plugins may take to handle one message before the run fails:
/// far beyond any live host, so only a lost message reaches it.
const STALL: Duration = Duration::from_secs(10);

/// W2's result for one implementation and plugin count: each percentile is
/// the median of that percentile over the runs.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    pub(crate) name: &'static str,
    pub(crate) plugins: usize,
    /// Timed rounds per run.
    pub(crate) iterations: usize,
    pub(crate) runs: usize,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    pub(crate) p999_us: f64,
    /// The least and the most p99 of a run.
    pub(crate) p99_range: (f64, f64),
    /// The least and the most p99.9 of a run.
    pub(crate) p999_range: (f64, f64),
    /// The median of the round trips measured before each run.
    pub(crate) xcore_ns: f64,
}

/// The least and the most of `values`.
fn range(values: &[f64]) -> (f64, f64) {
    (
        values.iter().copied().fold(f64::INFINITY, f64::min),
        values.iter().copied().fold(0.0, f64::max),
    )
}

/// Waits until the plugins have handled `target` messages in all, running a
/// poll-driven host's lanes meanwhile. Spins first, then yields the core.
pub(crate) fn wait_handled(
    name: &str,
    host: &mut dyn BenchHost,
    signal: &Signal,
    target: u64,
) -> Result<(), Failure> {
    let mut spins: u32 = 0;
    let mut since: Option<Instant> = None;
    while signal.handled() < target {
        host.settle();
        spins += 1;
        if spins < 200 {
            std::hint::spin_loop();
            continue;
        }
        std::thread::yield_now();
        let started = *since.get_or_insert_with(Instant::now);
        if started.elapsed() > STALL {
            return Err(Failure::Stalled {
                implementation: name.to_owned(),
                waited: STALL,
                handled: signal.handled(),
                expected: target,
            });
        }
    }
    Ok(())
}

/// Runs `iterations` timed rounds (after a tenth as many untimed ones) and
/// checks every plugin handled every message. Returns the rounds in µs.
pub(crate) fn run_once(imp: &Impl, plugins: usize, iterations: usize) -> Result<Vec<f64>, Failure> {
    let mut host = (imp.make)();
    let signal = Arc::new(Signal::default());
    let (tally, summers) = Tally::new(plugins, Some(&signal));
    host.attach_sum_plugins(summers);
    let warmup = (iterations / 10) as u64;
    let total = warmup + iterations as u64;
    let mut rounds = Vec::with_capacity(iterations);
    for value in 1..=total {
        let start = Instant::now();
        host.send(value);
        wait_handled(imp.name, host.as_mut(), &signal, value * plugins as u64)?;
        if value > warmup {
            rounds.push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    let counts = host.shutdown();
    check_deliveries(imp.name, plugins, total, counts, &tally)?;
    Ok(rounds)
}

/// Runs W2 for every implementation that takes part, `runs` times each;
/// the runs of all implementations are interleaved, so a change of the
/// machine's regime hits them alike.
pub(crate) fn run(impls: &[Impl], iterations: usize, runs: usize) -> Result<Vec<Point>, Failure> {
    let mut points = Vec::new();
    let impls: Vec<&Impl> = impls.iter().filter(|imp| imp.latency).collect();
    for plugins in PLUGINS {
        // Per implementation: p50, p99, p99.9 and the round trip of each run.
        let mut measured = vec![[const { Vec::new() }; 4]; impls.len()];
        for _ in 0..runs {
            for (i, imp) in impls.iter().enumerate() {
                let xcore_ns = quick_round_trip_ns();
                let mut rounds = run_once(imp, plugins, iterations)?;
                measured[i][0].push(percentile(&mut rounds, 0.50));
                measured[i][1].push(percentile(&mut rounds, 0.99));
                measured[i][2].push(percentile(&mut rounds, 0.999));
                measured[i][3].push(xcore_ns);
            }
        }
        for (imp, [p50, p99, p999, xcore]) in impls.iter().zip(&mut measured) {
            let point = Point {
                name: imp.name,
                plugins,
                iterations,
                runs,
                p99_range: range(p99),
                p999_range: range(p999),
                p50_us: median(p50),
                p99_us: median(p99),
                p999_us: median(p999),
                xcore_ns: median(xcore),
            };
            eprintln!(
                "w2 {:<24} P={:<3} p50 {:>8.2} us  p99 {:>8.2} us  p99.9 {:>9.2} us  xcore {:.0} ns",
                point.name, plugins, point.p50_us, point.p99_us, point.p999_us, point.xcore_ns
            );
            points.push(point);
        }
    }
    Ok(points)
}
