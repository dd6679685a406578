//! The cross-core round trip: one cache line bounced between two threads.
//!
//! On these machines the time for a line to cross between the two virtual
//! CPUs switches every few minutes between about 50 ns and about 390 ns, and
//! cross-thread throughput moves with it, so every cross-thread figure is
//! printed beside the round trip measured just before it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::stats::median;

/// A counter alone on its cache lines (128 bytes covers adjacent-line
/// prefetching), so only the ping-pong moves it.
#[repr(align(128))]
struct Line(AtomicU64);

/// Spins before a waiter yields its core: far more than a crossing takes, so
/// the yield only matters when the other thread is not running at all.
const SPINS_BEFORE_YIELD: u32 = 20_000;

fn wait_for(line: &Line, value: u64) {
    let mut spins = 0;
    // ORDERING: Acquire pairs with the other thread's Release store; the
    // ping-pong itself needs only that the value arrives.
    while line.0.load(Ordering::Acquire) != value {
        spins += 1;
        if spins == SPINS_BEFORE_YIELD {
            spins = 0;
            std::thread::yield_now();
        }
        std::hint::spin_loop();
    }
}

/// The median, over `samples` samples of `round_trips` round trips each, of
/// the time one round trip takes, in nanoseconds. Threads are not pinned.
pub(crate) fn round_trip_ns(round_trips: u64, samples: usize) -> f64 {
    let line = Arc::new(Line(AtomicU64::new(0)));
    let total = round_trips * samples as u64;
    let ponger = {
        let line = line.clone();
        std::thread::spawn(move || {
            for i in 0..total {
                wait_for(&line, 2 * i + 1);
                // ORDERING: Release pairs with the pinger's Acquire load.
                line.0.store(2 * i + 2, Ordering::Release);
            }
        })
    };
    let mut per_trip = Vec::with_capacity(samples);
    for sample in 0..samples as u64 {
        let start = Instant::now();
        for i in sample * round_trips..(sample + 1) * round_trips {
            // ORDERING: Release pairs with the ponger's Acquire load.
            line.0.store(2 * i + 1, Ordering::Release);
            wait_for(&line, 2 * i + 2);
        }
        per_trip.push(start.elapsed().as_nanos() as f64 / round_trips as f64);
    }
    ponger.join().expect("the ping-pong thread does not panic");
    median(&mut per_trip)
}

/// A short measurement taken before each timed run: 15 samples of 200
/// round trips, so a sample that a descheduled thread stretched does not
/// move the median (about 0.3 ms in the slow regime).
pub(crate) fn quick_round_trip_ns() -> f64 {
    round_trip_ns(200, 15)
}
