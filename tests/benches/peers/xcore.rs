//! The cross-core round trip: one cache line bounced between two threads.
//!
//! On these machines the time for a line to cross between the two virtual
//! CPUs switches every few minutes between about 50 ns and about 390 ns, and
//! cross-thread throughput moves with it, so every cross-thread figure is
//! printed beside the round trip measured just before it. When other work
//! keeps one of the two threads off a core, a round trip takes a scheduler
//! slice (about 1 ms) instead; the measurement reports that too, within a
//! time budget.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::stats::median;

/// A counter alone on its cache lines (128 bytes covers adjacent-line
/// prefetching), so only the ping-pong moves it.
#[repr(align(128))]
struct Line(AtomicU64);

/// Written by the pinger to end the ponger.
const STOP: u64 = u64::MAX;

/// Spins before a waiter yields its core: far more than a crossing takes, so
/// the yield only matters when the other thread is not running at all.
const SPINS_BEFORE_YIELD: u32 = 20_000;

/// Waits until the line holds `value` or [`STOP`]; returns what it holds.
fn wait_for(line: &Line, value: u64) -> u64 {
    let mut spins = 0;
    loop {
        // ORDERING: Acquire pairs with the other thread's Release store; the
        // ping-pong itself needs only that the value arrives.
        let seen = line.0.load(Ordering::Acquire);
        if seen == value || seen == STOP {
            return seen;
        }
        spins += 1;
        if spins == SPINS_BEFORE_YIELD {
            spins = 0;
            std::thread::yield_now();
        }
        std::hint::spin_loop();
    }
}

/// The median, over up to `samples` samples of `round_trips` round trips
/// each, of the time one round trip takes, in nanoseconds. Sampling stops
/// early once `budget` is spent (after at least one sample). Threads are not
/// pinned.
pub(crate) fn round_trip_ns(round_trips: u64, samples: usize, budget: Duration) -> f64 {
    let line = Arc::new(Line(AtomicU64::new(0)));
    let ponger = {
        let line = line.clone();
        std::thread::spawn(move || {
            let mut next = 1;
            while wait_for(&line, next) != STOP {
                // ORDERING: Release pairs with the pinger's Acquire load.
                line.0.store(next + 1, Ordering::Release);
                next += 2;
            }
        })
    };
    let started = Instant::now();
    let mut per_trip = Vec::with_capacity(samples);
    let mut next = 1;
    while per_trip.len() < samples && (per_trip.is_empty() || started.elapsed() < budget) {
        let start = Instant::now();
        for _ in 0..round_trips {
            // ORDERING: Release pairs with the ponger's Acquire load.
            line.0.store(next, Ordering::Release);
            wait_for(&line, next + 1);
            next += 2;
        }
        per_trip.push(start.elapsed().as_nanos() as f64 / round_trips as f64);
    }
    // ORDERING: Release so the ponger, which sees STOP, sees nothing else.
    line.0.store(STOP, Ordering::Release);
    ponger.join().expect("the ping-pong thread does not panic");
    median(&mut per_trip)
}

/// The measurement at the start of a run: 11 samples of 10,000 round trips.
pub(crate) fn start_round_trip_ns() -> f64 {
    round_trip_ns(10_000, 11, Duration::from_secs(2))
}

/// A short measurement taken before each timed run: 15 samples of 100
/// round trips (0.1 to 0.6 ms), so one sample that a descheduled thread
/// stretched does not move the median; at most about 20 ms when the machine
/// is so loaded that every round trip waits for a scheduler slice.
pub(crate) fn quick_round_trip_ns() -> f64 {
    round_trip_ns(100, 15, Duration::from_millis(20))
}
