//! W1 beside a CPU-bound thread of the benchmark's own: the async hosts
//! send from a task on their own runtime while a third thread wants a whole
//! core, so a runtime worker is preempted in the middle of the run. The
//! background load is part of the workload, so the condition is the same on
//! a quiet and on a busy machine (other work adds to it, never replaces it).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crate::failure::Failure;
use crate::impls::{CROSSBEAM, Impl, PLUGBUS_STD, PLUGBUS_TOKIO, TOKIO_BROADCAST};
use crate::options::Options;
use crate::w1;

/// The implementations the loaded workload runs, when selected: the tokio
/// host and its peer tokio broadcast (the comparison this workload is for),
/// crossbeam as the common reference, and host-std and host-smol beside.
pub(crate) const NAMES: [&str; 5] = [
    CROSSBEAM,
    PLUGBUS_STD,
    "plugbus-smol",
    PLUGBUS_TOKIO,
    TOKIO_BROADCAST,
];

/// The plugin counts of the loaded workload.
pub(crate) const PLUGINS: [usize; 2] = [1, 16];

/// A thread that keeps one core busy with arithmetic until dropped.
#[derive(Debug)]
pub(crate) struct Background {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

impl Background {
    /// Starts the busy thread.
    pub(crate) fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("bench-background".into())
            .spawn(move || {
                let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
                // ORDERING: Relaxed: the flag only ends the loop; nothing is
                // published through it.
                while !flag.load(Ordering::Relaxed) {
                    for _ in 0..1_000 {
                        // xorshift: work the optimizer cannot remove.
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x = black_box(x);
                    }
                }
                x
            })
            .expect("the background thread starts");
        Background {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        // ORDERING: Relaxed, see the loop.
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs W1 at [`PLUGINS`] for the selected implementations among [`NAMES`]
/// with the background thread running throughout.
pub(crate) fn run(impls: &[Impl], options: &Options) -> Result<Vec<w1::Point>, Failure> {
    let impls: Vec<Impl> = impls
        .iter()
        .filter(|imp| NAMES.contains(&imp.name))
        .cloned()
        .collect();
    let _background = Background::start();
    w1::run_at(&impls, &PLUGINS, options, "loaded")
}
