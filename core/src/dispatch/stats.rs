//! Per-plugin counters, readable while the plugin runs, and the report a
//! plugin leaves when it exits.

use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use crate::sync::AtomicUsize;

use crate::lifecycle::Event;
use crate::plugin::{Exit, PluginId};

/// A snapshot of one plugin's counters.
///
/// Two identities hold for every plugin, at any time for the first and in
/// the final report for the second:
/// - `received == handled + filtered + panicked`: every message the lane
///   took was handled, declined by the filter, or is the one whose filter or
///   handler panicked. A panic in `on_attach`, `on_detach` or the plugin's
///   `Drop` is no message's: the report's `exit` and `panic` say so, and
///   `panicked` stays 0.
/// - `received + dropped` is the number of messages sent while the plugin
///   was attached (from `attach` until `detach`, or until shutdown), unless
///   it left by itself (`Flow::Detach`, a panic): then what was sent after
///   it left is not counted.
///
/// Counters wrap at `usize::MAX` on targets with 32-bit atomics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Stats {
    /// Messages the lane took from its queue.
    pub received: u64,
    /// Messages the handler ran on and returned from.
    pub handled: u64,
    /// Messages the plugin's filter declined.
    pub filtered: u64,
    /// Messages its overflow policy dropped (`DropOldest`, `DropNewest`),
    /// and messages sent to it before the host detached it that it had not
    /// taken yet.
    pub dropped: u64,
    /// Sends refused because this plugin was full (`Reject`): one per
    /// failed send, also for a batch.
    pub rejected: u64,
    /// Messages on which its filter or handler panicked: 1 at most for an
    /// unsupervised plugin (the lane then detaches it), one per restart (or
    /// rollback) for a supervised one. Hook panics are not counted here.
    pub panicked: u64,
    /// Messages whose handling panicked on a supervised plugin and that no
    /// instance got again (each also counted in `panicked`); sent to the
    /// dead-letter outbox if the plugin has one.
    pub dead_lettered: u64,
    /// Times its lane built a new instance after a failure.
    pub restarts: u64,
    /// Times the host replaced its instance (`replace`, `reload`).
    pub replaced: u64,
    /// Times a replacement panicked within its first messages and the
    /// instance before it was put back.
    pub rolled_back: u64,
    /// The most messages it was ever behind, seen at the start of a batch.
    pub lag_max: u64,
}

/// What a plugin left behind when it exited.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// Its id in the host.
    pub id: PluginId,
    /// Its name.
    pub name: String,
    /// Why it exited.
    pub exit: Exit,
    /// Its final counters.
    pub stats: Stats,
    /// The panic message, if one of its methods panicked.
    pub panic: Option<String>,
    /// The last panic messages of its instances, oldest first (at most
    /// [`Report::KEPT`]): a supervised plugin's lane goes on after a panic.
    pub panics: Vec<String>,
    /// The last changes of the instance its lane ran (restarts,
    /// replacements, state refused, rollbacks, giving up), oldest first
    /// (at most [`Report::KEPT`]).
    pub events: Vec<Event>,
}

impl Report {
    /// How many panics and events a report keeps.
    pub const KEPT: usize = 16;
}

/// The shared copy of a lane's counters. The lane writes all but `dropped`
/// and `rejected`, which the sender adds to.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    received: AtomicUsize,
    handled: AtomicUsize,
    filtered: AtomicUsize,
    dropped: AtomicUsize,
    rejected: AtomicUsize,
    panicked: AtomicUsize,
    lag_max: AtomicUsize,
    dead_lettered: AtomicUsize,
    restarts: AtomicUsize,
    replaced: AtomicUsize,
    rolled_back: AtomicUsize,
}

/// The counters of changes to a lane's instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    DeadLettered,
    Restart,
    Replaced,
    RolledBack,
}

/// The lane's own running totals, published once per batch.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Local {
    pub(crate) received: usize,
    pub(crate) handled: usize,
    pub(crate) filtered: usize,
    pub(crate) panicked: usize,
    pub(crate) lag_max: usize,
}

impl Counters {
    // ORDERING (whole impl): counters are statistics; Relaxed suffices
    // because no other memory is published through them. The final report
    // is read after the lane has finished, which the host synchronises by
    // joining the lane.
    pub(crate) fn publish(&self, local: &Local) {
        self.received.store(local.received, Ordering::Relaxed);
        self.handled.store(local.handled, Ordering::Relaxed);
        self.filtered.store(local.filtered, Ordering::Relaxed);
        self.panicked.store(local.panicked, Ordering::Relaxed);
        self.lag_max.store(local.lag_max, Ordering::Relaxed);
    }

    /// Counts a lifecycle event at once: they are rare, so they skip the
    /// lane's batched totals (which every lane carries).
    pub(crate) fn add(&self, which: Lifecycle) {
        let counter = match which {
            Lifecycle::DeadLettered => &self.dead_lettered,
            Lifecycle::Restart => &self.restarts,
            Lifecycle::Replaced => &self.replaced,
            Lifecycle::RolledBack => &self.rolled_back,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_dropped(&self, n: usize) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let get = |c: &AtomicUsize| c.load(Ordering::Relaxed) as u64;
        Stats {
            received: get(&self.received),
            handled: get(&self.handled),
            filtered: get(&self.filtered),
            dropped: get(&self.dropped),
            rejected: get(&self.rejected),
            panicked: get(&self.panicked),
            lag_max: get(&self.lag_max),
            dead_lettered: get(&self.dead_lettered),
            restarts: get(&self.restarts),
            replaced: get(&self.replaced),
            rolled_back: get(&self.rolled_back),
        }
    }
}
