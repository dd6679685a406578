//! What every implementation offers the workloads: [`BenchHost`], and the
//! summing plugin state ([`Summer`]) whose totals prove no message was lost.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// One implementation under test, driven the same way by every workload.
///
/// Adding a host to the benchmark is one `impl BenchHost` plus one entry in
/// [`implementations`](crate::impls::implementations). A plugin of the
/// benchmark adds each message's `u64` payload into its [`Summer`]; the host
/// hands each message to every plugin as one shared, counted value (an `Arc`
/// or a `plugbus_core::Message`), never a copy per plugin.
pub(crate) trait BenchHost {
    /// Attaches one plugin per summer. Each plugin calls [`Summer::add`] with
    /// the payload of every message it handles, on its own lane.
    fn attach_sum_plugins(&mut self, summers: Vec<Summer>);

    /// Sends one message to every plugin, waiting for room if a plugin is
    /// full: a benchmark host never drops a message.
    fn send(&mut self, value: u64);

    /// Sends the values in order as one batch, for hosts that have a batch
    /// send. The default sends them one by one.
    fn send_batch(&mut self, values: &[u64]) {
        for &value in values {
            self.send(value);
        }
    }

    /// Sends every value of `values` in order: one [`send`](Self::send) per
    /// message when `batch` is 1, else [`send_batch`](Self::send_batch) with
    /// `batch` values at a time. W1 times this call and `shutdown`.
    ///
    /// The default sends from the calling thread. An async host overrides it
    /// to run the same loop as one task on its runtime, where its users send
    /// from, instead of paying a `block_on` per message.
    fn send_range(&mut self, values: Range<u64>, batch: usize) {
        send_range_from_caller(self, values, batch);
    }

    /// Runs whatever is queued, for a host that only makes progress when
    /// driven (`LocalHost`). Hosts whose plugins run on their own threads or
    /// tasks do nothing. Workloads call it while they wait for plugins.
    fn settle(&mut self) {}

    /// Closes the host, waits until every plugin has handled every message
    /// sent and its state is dropped, and returns how many messages each
    /// plugin handled as the host itself counted them (a plugbus host from
    /// its reports, a fan-out from its lanes' results), in any order; `None`
    /// for a host that keeps no count (the tally still checks every plugin).
    fn shutdown(self: Box<Self>) -> Option<Vec<u64>>;
}

/// The default loop of [`BenchHost::send_range`], also used by overrides
/// that run it inside a task.
pub(crate) fn send_range_from_caller<H: BenchHost + ?Sized>(
    host: &mut H,
    values: Range<u64>,
    batch: usize,
) {
    if batch <= 1 {
        for value in values {
            host.send(value);
        }
        return;
    }
    let mut buffer = Vec::with_capacity(batch);
    let mut next = values.start;
    while next < values.end {
        let end = values.end.min(next + batch as u64);
        buffer.clear();
        buffer.extend(next..end);
        host.send_batch(&buffer);
        next = end;
    }
}

/// A plugin's state: the sum and count of the payloads it handled.
///
/// On drop it writes its totals into its [`Tally`] slot, so the workload can
/// check every plugin's count and sum after shutdown whatever framework ran
/// it. With a [`Signal`] it also counts each handled message there, for the
/// workloads that wait until every plugin has handled a message.
#[derive(Debug)]
pub(crate) struct Summer {
    sum: u64,
    count: u64,
    signal: Option<Arc<Signal>>,
    slot: Arc<Slot>,
}

impl Summer {
    /// Adds one message's payload.
    #[inline]
    pub(crate) fn add(&mut self, value: u64) {
        self.sum = self.sum.wrapping_add(value);
        self.count += 1;
        if let Some(signal) = &self.signal {
            // ORDERING: Release so that a sender that sees the count (with
            // Acquire) sees this plugin done with the message.
            signal.handled.fetch_add(1, Ordering::Release);
        }
    }
}

impl Drop for Summer {
    fn drop(&mut self) {
        // ORDERING: Relaxed for the totals, then Release on `done`; the
        // reader loads `done` with Acquire before reading them.
        self.slot.count.store(self.count, Ordering::Relaxed);
        self.slot.sum.store(self.sum, Ordering::Relaxed);
        self.slot.done.store(true, Ordering::Release);
    }
}

/// Where a dropped [`Summer`] leaves its totals.
#[derive(Debug, Default)]
struct Slot {
    count: AtomicU64,
    sum: AtomicU64,
    done: AtomicBool,
}

/// Counts handled messages across all plugins of a run.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    handled: AtomicU64,
}

impl Signal {
    /// How many messages all plugins together have handled so far.
    pub(crate) fn handled(&self) -> u64 {
        // ORDERING: Acquire pairs with the Release in `Summer::add`.
        self.handled.load(Ordering::Acquire)
    }
}

/// The totals of every plugin of one run.
#[derive(Debug)]
pub(crate) struct Tally {
    slots: Vec<Arc<Slot>>,
}

/// What one plugin left in its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) count: u64,
    pub(crate) sum: u64,
}

impl Tally {
    /// A tally for `plugins` plugins and their summers, optionally all
    /// counting into `signal`.
    pub(crate) fn new(plugins: usize, signal: Option<&Arc<Signal>>) -> (Tally, Vec<Summer>) {
        let slots: Vec<Arc<Slot>> = (0..plugins).map(|_| Arc::default()).collect();
        let summers = slots
            .iter()
            .map(|slot| Summer {
                sum: 0,
                count: 0,
                signal: signal.cloned(),
                slot: slot.clone(),
            })
            .collect();
        (Tally { slots }, summers)
    }

    /// Each plugin's totals, or `None` for a plugin whose state was never
    /// dropped (its host leaked it or is still running it).
    pub(crate) fn totals(&self) -> Vec<Option<Totals>> {
        self.slots
            .iter()
            .map(|slot| {
                // ORDERING: Acquire pairs with the Release in `Summer::drop`.
                slot.done.load(Ordering::Acquire).then(|| Totals {
                    count: slot.count.load(Ordering::Relaxed),
                    sum: slot.sum.load(Ordering::Relaxed),
                })
            })
            .collect()
    }
}
