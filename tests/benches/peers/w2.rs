//! W2 latency: send one message, wait until all P plugins handled it,
//! repeat; p50 and p99 of the round in microseconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::failure::{Failure, check_deliveries};
use crate::host::{BenchHost, Signal, Tally};
use crate::impls::Impl;
use crate::stats::percentile;
use crate::xcore::quick_round_trip_ns;

/// The plugin counts W2 measures.
pub(crate) const PLUGINS: [usize; 2] = [1, 16];

/// How long plugins may take to handle one message before the run fails:
/// far beyond any live host, so only a lost message reaches it.
const STALL: Duration = Duration::from_secs(10);

/// W2's result for one implementation and plugin count.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    pub(crate) name: &'static str,
    pub(crate) plugins: usize,
    pub(crate) iterations: usize,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    pub(crate) xcore_ns: f64,
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

/// Runs W2 for every implementation that takes part.
pub(crate) fn run(impls: &[Impl], iterations: usize) -> Result<Vec<Point>, Failure> {
    let mut points = Vec::new();
    for plugins in PLUGINS {
        for imp in impls.iter().filter(|imp| imp.latency) {
            let xcore_ns = quick_round_trip_ns();
            let mut rounds = run_once(imp, plugins, iterations)?;
            let point = Point {
                name: imp.name,
                plugins,
                iterations,
                p50_us: percentile(&mut rounds, 0.50),
                p99_us: percentile(&mut rounds, 0.99),
                xcore_ns,
            };
            eprintln!(
                "w2 {:<24} P={:<3} p50 {:>8.2} us  p99 {:>8.2} us  xcore {:.0} ns",
                point.name, plugins, point.p50_us, point.p99_us, point.xcore_ns
            );
            points.push(point);
        }
    }
    Ok(points)
}
