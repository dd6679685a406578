//! The loop each lane thread runs: batches while there is work, a short
//! spin when there is none, then sleep until the bus wakes it.

#![forbid(unsafe_code)]

use std::hint;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;

use plugbus_core::{Lane, Report, Step};

use crate::wake::Unpark;

/// How a lane thread waits and how much it takes at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tuning {
    /// The most messages a lane handles before publishing its cursor.
    pub(crate) batch: usize,
    /// Idle checks with a spin hint before yielding.
    pub(crate) spins: u32,
    /// Idle checks with a `yield_now` before sleeping.
    pub(crate) yields: u32,
    /// Yield once after each batch, so the sender gets ahead and the next
    /// batch is larger.
    pub(crate) yield_after_batch: bool,
}

/// The defaults, measured with `examples/throughput.rs` on a 2-core VM
/// shared with other work (so only differences far beyond the run-to-run
/// noise count):
/// - `yield_after_batch`: on. With more lanes than cores a lane that goes
///   straight back to the ring chases the sender and takes a few messages
///   per turn; off, throughput fell to about half (P=16: 129 -> 59 M
///   deliveries/s, P=64: 165 -> 96, same run).
/// - `batch`: everything available. A cap below the ring's capacity only
///   adds turns (ring 4096, P=64: cap 1024 -> 195, no cap -> 314).
/// - `spins`/`yields`: 64 and 4. None to 1000 spins and 0 to 64 yields were
///   all within the noise for throughput; a short spin catches the next
///   message of a steady sender without a wake-up, and the yields keep an
///   idle lane from holding a core that a busy thread wants.
impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            batch: usize::MAX,
            spins: 64,
            yields: 4,
            yield_after_batch: true,
        }
    }
}

/// Runs `lane` on the calling thread until its plugin exits, and returns its
/// report. `wake` is the waker the lane was attached with.
pub(crate) fn run(
    mut lane: Lane<impl Send + Sync + 'static>,
    wake: &Arc<Unpark>,
    tuning: Tuning,
) -> Report {
    wake.register_current();
    // Plugin panics are caught inside `Lane::run`; this catches a panic in
    // the loop itself, so the lane still leaves a report.
    let _ = panic::catch_unwind(AssertUnwindSafe(|| drive(&mut lane, tuning)));
    lane.finish()
}

fn drive<M: Send + Sync + 'static>(lane: &mut Lane<M>, tuning: Tuning) {
    let mut idle = 0u32;
    loop {
        match lane.run(tuning.batch) {
            Step::Done => return,
            Step::Ran(_) => {
                idle = 0;
                if tuning.yield_after_batch {
                    thread::yield_now();
                }
            }
            Step::Idle if idle < tuning.spins => {
                idle += 1;
                hint::spin_loop();
            }
            Step::Idle if idle < tuning.spins + tuning.yields => {
                idle += 1;
                thread::yield_now();
            }
            Step::Idle => {
                idle = 0;
                if lane.prepare_sleep() {
                    // Parking can wake spuriously; the bit is cleared only by
                    // a wake (or `close`/`detach`, which wake too).
                    while lane.is_sleeping() {
                        thread::park();
                    }
                }
            }
        }
    }
}
