//! What a lane tells the world besides its report: events through the
//! `tracing` facade (feature `tracing`, on by default) and its counters
//! through the `metrics` facade (feature `metrics`).
//!
//! Nothing here runs per message. A lane calls [`Watch::ran`] after each
//! batch and [`Watch::idle`] before it sleeps; those add the batch's size
//! to a count and look at the lane's counters only every
//! [`EXPORT_EVERY`] messages and when the lane goes idle (with `metrics`),
//! and after each batch of a lossy lane (with `tracing`, for its drops).
//! With both features off a `Watch` is empty and every call compiles to
//! nothing.
//!
//! Both facades are bound where the plugin is attached: the metric handles
//! are registered with the recorder in force on the attaching thread, and
//! the lane's events go to the subscriber that was the default there, so a
//! scoped subscriber or recorder (`tracing::subscriber::with_default`,
//! `metrics::with_local_recorder`) around `attach` sees its lanes, whatever
//! thread or task they run on.

#[cfg(feature = "tracing")]
use std::time::{Duration, Instant};

#[cfg(feature = "tracing")]
use plugbus_core::Exit;
use plugbus_core::{Overflow, PluginId, Report, Stats};

/// How many messages a lane takes between two looks at its counters while
/// it stays busy (it also looks when it goes idle and when it exits).
/// Measured with `plugbus-host-std`'s `examples/throughput.rs`, see
/// `docs/benchmarks.md`.
#[cfg(any(feature = "tracing", feature = "metrics"))]
const EXPORT_EVERY: u64 = 4096;

/// Whether counters are exported (else only lossy lanes are looked at).
#[cfg(any(feature = "tracing", feature = "metrics"))]
const EXPORTS: bool = cfg!(feature = "metrics");

/// At most one summary of a lossy lane's drops per this long.
#[cfg(feature = "tracing")]
const SUMMARY_EVERY: Duration = Duration::from_secs(10);

/// The events and metrics of one lane. Made on the attaching thread; the
/// lane's loop owns it (an async lane's `finish` holds a clone for the
/// events at its exit).
#[derive(Clone)]
pub(crate) struct Watch {
    /// Messages taken since the counters were last looked at.
    #[cfg(any(feature = "tracing", feature = "metrics"))]
    pending: u64,
    /// `received` when last looked at (async lanes count batches by it).
    #[cfg(any(feature = "tracing", feature = "metrics"))]
    received: u64,
    #[cfg(feature = "tracing")]
    events: Events,
    #[cfg(feature = "metrics")]
    metrics: Metrics,
}

impl Watch {
    /// Starts watching a lane that was just attached, and says so.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) fn attached(id: PluginId, name: &str, overflow: Overflow, capacity: usize) -> Self {
        Watch {
            #[cfg(any(feature = "tracing", feature = "metrics"))]
            pending: 0,
            #[cfg(any(feature = "tracing", feature = "metrics"))]
            received: 0,
            #[cfg(feature = "tracing")]
            events: Events::attached(id, name, overflow, capacity),
            #[cfg(feature = "metrics")]
            metrics: Metrics::new(id, name),
        }
    }

    /// After a batch of `taken` messages; `stats` reads the lane's counters.
    #[inline]
    #[cfg_attr(
        not(any(feature = "tracing", feature = "metrics")),
        allow(unused_variables)
    )]
    pub(crate) fn ran(&mut self, taken: usize, stats: impl FnOnce() -> Stats) {
        #[cfg(any(feature = "tracing", feature = "metrics"))]
        {
            self.pending += taken as u64;
            if (EXPORTS && self.pending >= EXPORT_EVERY) || self.watches_drops() {
                self.look(stats());
            }
        }
    }

    /// Before the lane sleeps: what it did since the last look is exported.
    #[inline]
    #[cfg_attr(
        not(any(feature = "tracing", feature = "metrics")),
        allow(unused_variables)
    )]
    pub(crate) fn idle(&mut self, stats: impl FnOnce() -> Stats) {
        #[cfg(any(feature = "tracing", feature = "metrics"))]
        if self.pending > 0 && (EXPORTS || self.watches_drops()) {
            self.look(stats());
        }
    }

    /// After a poll of an async lane, which ran a batch or found nothing:
    /// told apart by `received`.
    #[inline]
    #[cfg_attr(
        not(any(feature = "tracing", feature = "metrics")),
        allow(unused_variables)
    )]
    pub(crate) fn polled(&mut self, stats: impl FnOnce() -> Option<Stats>) {
        #[cfg(any(feature = "tracing", feature = "metrics"))]
        if let Some(stats) = stats() {
            let taken = stats.received.wrapping_sub(self.received);
            if taken == 0 {
                self.idle(|| stats);
            } else {
                self.ran(taken as usize, || stats);
            }
        }
    }

    /// Makes the subscriber the lane's events go to the calling thread's
    /// default until the guard is dropped (a thread lane's thread, for its
    /// whole life), if it was a scoped subscriber: then whatever is raised
    /// on the lane's thread goes there too: core's lifecycle events
    /// (restarts, replacements, rollbacks) and the plugin's own events. The global subscriber is every thread's default already, and
    /// binding would only cost: each binding counts in a process-wide
    /// atomic, and while any is in force every event in the process looks
    /// up its thread's default instead of going straight to the global one.
    pub(crate) fn bind(&self) -> Bound {
        Bound {
            #[cfg(feature = "tracing")]
            _guard: self
                .events
                .scoped
                .as_ref()
                .map(tracing::dispatcher::set_default),
        }
    }

    /// Runs `poll` (an async lane's poll) under the subscriber the lane's
    /// events go to, as [`bind`](Watch::bind) does for a thread, and on
    /// the same condition: a thread-local swap and a process-wide atomic
    /// count per poll (a batch), paid only by lanes attached under a
    /// scoped subscriber.
    #[inline]
    pub(crate) fn within<T>(&self, poll: impl FnOnce() -> T) -> T {
        #[cfg(feature = "tracing")]
        if let Some(dispatch) = &self.events.scoped {
            return tracing::dispatcher::with_default(dispatch, poll);
        }
        poll()
    }

    /// The lane ended: its final counters are exported and its exit said.
    #[cfg_attr(
        not(any(feature = "tracing", feature = "metrics")),
        allow(unused_variables)
    )]
    pub(crate) fn finished(&self, report: &Report) {
        #[cfg(feature = "metrics")]
        self.metrics.export(&report.stats);
        #[cfg(feature = "tracing")]
        self.events.finished(report);
    }

    /// Whether every batch is looked at: a lossy lane's, for its drops.
    #[cfg(any(feature = "tracing", feature = "metrics"))]
    fn watches_drops(&self) -> bool {
        #[cfg(feature = "tracing")]
        return self.events.lossy;
        #[cfg(not(feature = "tracing"))]
        false
    }

    #[cfg(any(feature = "tracing", feature = "metrics"))]
    #[cold]
    fn look(&mut self, stats: Stats) {
        self.pending = 0;
        self.received = stats.received;
        #[cfg(feature = "metrics")]
        self.metrics.export(&stats);
        #[cfg(feature = "tracing")]
        self.events.drops(&stats);
    }
}

/// What [`Watch::bind`] returns: dropped, it restores the thread's previous
/// default subscriber.
pub(crate) struct Bound {
    #[cfg(feature = "tracing")]
    _guard: Option<tracing::dispatcher::DefaultGuard>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").finish_non_exhaustive()
    }
}

/// The `tracing` side: who the lane is, where its events go, and how far
/// its drops have been told.
#[cfg(feature = "tracing")]
#[derive(Clone)]
struct Events {
    /// The default subscriber of the attaching thread, if it had one.
    dispatch: Option<tracing::Dispatch>,
    /// The same if it was a scoped one (not the global subscriber): the
    /// lane runs under it (see [`Watch::bind`]).
    scoped: Option<tracing::Dispatch>,
    id: u64,
    name: Box<str>,
    lossy: bool,
    /// Drops already told.
    told: u64,
    /// When drops were last told.
    since: Option<Instant>,
}

#[cfg(feature = "tracing")]
impl Events {
    fn attached(id: PluginId, name: &str, overflow: Overflow, capacity: usize) -> Self {
        let lossy = matches!(overflow, Overflow::DropOldest | Overflow::DropNewest);
        tracing::info!(
            target: "plugbus",
            plugin = name,
            id = id.get(),
            overflow = ?overflow,
            capacity,
            "plugin attached"
        );
        Events::new(id.get(), name, lossy)
    }

    fn new(id: u64, name: &str, lossy: bool) -> Self {
        // Without a subscriber there, the events go to the default of the
        // thread that raises them (a global one set since, say). Raising
        // them under "none" would also be wrong for others: a callsite
        // first seen then could be cached as of no interest to anyone
        // (tracing-core's single-dispatcher shortcut).
        let dispatch = tracing::dispatcher::get_default(|default| {
            (!default.is::<tracing::subscriber::NoSubscriber>()).then(|| default.clone())
        });
        Events {
            scoped: dispatch.clone().filter(|d| !is_global(d)),
            dispatch,
            id,
            name: name.into(),
            lossy,
            told: 0,
            since: None,
        }
    }

    /// Raises events under the attaching thread's subscriber.
    fn tell(&self, raise: impl FnOnce()) {
        match &self.dispatch {
            Some(dispatch) => tracing::dispatcher::with_default(dispatch, raise),
            None => raise(),
        }
    }

    /// The first drop of a lossy lane at once, then at most one summary
    /// per [`SUMMARY_EVERY`] of the drops since.
    fn drops(&mut self, stats: &Stats) {
        if !self.lossy || stats.dropped == self.told {
            return;
        }
        let Some(news) = self.drop_news(stats.dropped, Instant::now()) else {
            return;
        };
        let (plugin, id) = (&*self.name, self.id);
        self.tell(|| match news {
            DropNews::First { dropped } => tracing::warn!(
                target: "plugbus",
                plugin,
                id,
                dropped,
                "plugin is dropping messages: its queue is full"
            ),
            DropNews::Summary {
                dropped,
                seconds,
                total,
            } => tracing::warn!(
                target: "plugbus",
                plugin,
                id,
                dropped,
                seconds,
                total,
                "plugin dropped messages"
            ),
        });
    }

    /// What to tell of `dropped` drops in all at `now`, if anything.
    fn drop_news(&mut self, dropped: u64, now: Instant) -> Option<DropNews> {
        let news = match self.since {
            None => DropNews::First { dropped },
            Some(since) if now.duration_since(since) >= SUMMARY_EVERY => DropNews::Summary {
                dropped: dropped - self.told,
                seconds: now.duration_since(since).as_secs(),
                total: dropped,
            },
            Some(_) => return None,
        };
        self.told = dropped;
        self.since = Some(now);
        Some(news)
    }

    fn finished(&self, report: &Report) {
        let s = &report.stats;
        let (plugin, id) = (&*self.name, self.id);
        self.tell(|| match (&report.exit, &report.panic) {
            (Exit::Panicked, panic) => tracing::error!(
                target: "plugbus",
                plugin,
                id,
                panic = panic.as_deref().unwrap_or("(no message)"),
                received = s.received,
                handled = s.handled,
                dropped = s.dropped,
                "plugin panicked and left"
            ),
            (exit, _) => tracing::info!(
                target: "plugbus",
                plugin,
                id,
                exit = %exit,
                received = s.received,
                handled = s.handled,
                filtered = s.filtered,
                dropped = s.dropped,
                rejected = s.rejected,
                lag_max = s.lag_max,
                restarts = s.restarts,
                replaced = s.replaced,
                "plugin left"
            ),
        });
    }
}

/// Whether `dispatch` is the global subscriber (`set_global_default`)
/// rather than a scoped one (`with_default`, `set_default`). tracing-core
/// tells them apart only in its `Debug` output (`Dispatch::Global(..)`,
/// `Dispatch::Scoped(..)`); should that change, every dispatch counts as
/// scoped, which costs but is still right. Two tests pin the format (the
/// unit test below, and `tests/tests/observe_global.rs`).
#[cfg(feature = "tracing")]
fn is_global(dispatch: &tracing::Dispatch) -> bool {
    use std::fmt::Write;
    let mut text = String::new();
    let _ = write!(text, "{dispatch:?}");
    text.starts_with("Dispatch::Global")
}

/// What a lossy lane's drops call for.
#[cfg(feature = "tracing")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DropNews {
    /// Its first drops (as many as happened before the lane looked).
    First { dropped: u64 },
    /// `dropped` more in the last `seconds`, `total` in all.
    Summary {
        dropped: u64,
        seconds: u64,
        total: u64,
    },
}

/// The `metrics` side: one handle per counter, labelled with the plugin's
/// name and id, registered once at attach.
#[cfg(feature = "metrics")]
#[derive(Clone)]
struct Metrics {
    received: metrics::Counter,
    handled: metrics::Counter,
    filtered: metrics::Counter,
    dropped: metrics::Counter,
    rejected: metrics::Counter,
    panicked: metrics::Counter,
    restarts: metrics::Counter,
    dead_lettered: metrics::Counter,
    replaced: metrics::Counter,
    rolled_back: metrics::Counter,
    lag_max: metrics::Gauge,
}

#[cfg(feature = "metrics")]
impl Metrics {
    fn new(id: PluginId, name: &str) -> Self {
        crate::metrics::describe();
        let labels = [
            (crate::metrics::PLUGIN, name.to_owned()),
            (crate::metrics::ID, id.get().to_string()),
        ];
        Metrics {
            received: metrics::counter!(crate::metrics::RECEIVED, &labels),
            handled: metrics::counter!(crate::metrics::HANDLED, &labels),
            filtered: metrics::counter!(crate::metrics::FILTERED, &labels),
            dropped: metrics::counter!(crate::metrics::DROPPED, &labels),
            rejected: metrics::counter!(crate::metrics::REJECTED, &labels),
            panicked: metrics::counter!(crate::metrics::PANICKED, &labels),
            restarts: metrics::counter!(crate::metrics::RESTARTS, &labels),
            dead_lettered: metrics::counter!(crate::metrics::DEAD_LETTERED, &labels),
            replaced: metrics::counter!(crate::metrics::REPLACED, &labels),
            rolled_back: metrics::counter!(crate::metrics::ROLLED_BACK, &labels),
            lag_max: metrics::gauge!(crate::metrics::LAG_MAX, &labels),
        }
    }

    fn export(&self, stats: &Stats) {
        self.received.absolute(stats.received);
        self.handled.absolute(stats.handled);
        self.filtered.absolute(stats.filtered);
        self.dropped.absolute(stats.dropped);
        self.rejected.absolute(stats.rejected);
        self.panicked.absolute(stats.panicked);
        self.restarts.absolute(stats.restarts);
        self.dead_lettered.absolute(stats.dead_lettered);
        self.replaced.absolute(stats.replaced);
        self.rolled_back.absolute(stats.rolled_back);
        self.lag_max.set(stats.lag_max as f64);
    }
}

#[cfg(all(test, feature = "tracing"))]
mod tests {
    use super::*;

    #[test]
    fn a_scoped_subscriber_is_not_taken_for_the_global_one() {
        // The global one cannot be set here without changing every other
        // test in this binary; tests/tests/observe_global.rs sets it.
        let scoped = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::new());
        assert!(format!("{scoped:?}").starts_with("Dispatch::Scoped("));
        assert!(!is_global(&scoped));
    }

    #[test]
    fn drops_are_told_first_then_at_most_every_ten_seconds() {
        let mut events = Events::new(0, "lossy", true);
        let t0 = Instant::now();
        let at = |seconds| t0 + Duration::from_secs(seconds);
        assert_eq!(
            events.drop_news(3, at(0)),
            Some(DropNews::First { dropped: 3 })
        );
        assert_eq!(events.drop_news(50, at(1)), None);
        assert_eq!(events.drop_news(90, at(9)), None);
        assert_eq!(
            events.drop_news(120, at(10)),
            Some(DropNews::Summary {
                dropped: 117,
                seconds: 10,
                total: 120
            })
        );
        assert_eq!(events.drop_news(121, at(19)), None);
        assert_eq!(
            events.drop_news(130, at(45)),
            Some(DropNews::Summary {
                dropped: 10,
                seconds: 35,
                total: 130
            })
        );
    }
}
