//! The list of implementations every workload runs: one entry each.

use crate::crossbeam::CrossbeamFanOut;
use crate::floor::Floor;
use crate::host::BenchHost;
use crate::plugbus::{LocalBench, SmolBench, StdBench, TokioBench};
use crate::predecessor::Predecessor;
use crate::smol_peers::{SmolBroadcast, SmolChannel};
use crate::tokio_peers::{TokioBroadcast, TokioMpsc};

/// What an implementation is, for the table and the plot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The single-thread floor W1 ratios divide by.
    Floor,
    /// A plugbus host.
    Plugbus,
    /// A peer plugbus is compared with.
    Peer,
}

/// Builds a fresh host with no plugins.
pub(crate) type MakeHost = fn() -> Box<dyn BenchHost>;

/// One implementation under test.
#[derive(Debug, Clone)]
pub(crate) struct Impl {
    /// The name in the table, the lines and the plot, and on the command line.
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    pub(crate) make: MakeHost,
    /// Messages per `send_batch` in W1; 1 sends each message on its own.
    pub(crate) batch: usize,
    /// Whether W2 (latency) runs it.
    pub(crate) latency: bool,
    /// How many idle plugins W3 attaches, or `None` to leave it out of W3.
    pub(crate) idle_plugins: Option<usize>,
    /// The most plugins W1 gives it: peers too slow at thousands of plugins
    /// to finish a run in reasonable time stop earlier.
    pub(crate) max_plugins: usize,
}

/// W3's plugin count for hosts with a task or a slot per plugin.
pub(crate) const IDLE_PLUGINS: usize = 10_000;
/// W3's plugin count for hosts with an OS thread per plugin.
pub(crate) const IDLE_THREADS: usize = 1_000;

impl Impl {
    fn new(name: &'static str, kind: Kind, make: MakeHost) -> Self {
        Impl {
            name,
            kind,
            make,
            batch: 1,
            latency: true,
            idle_plugins: Some(IDLE_PLUGINS),
            max_plugins: usize::MAX,
        }
    }

    /// W1 runs it at no more than `plugins` plugins.
    fn up_to(mut self, plugins: usize) -> Self {
        self.max_plugins = plugins;
        self
    }

    /// Whether W1 runs it at `plugins` plugins.
    pub(crate) fn runs_at(&self, plugins: usize) -> bool {
        plugins <= self.max_plugins
    }

    /// Runs one OS thread per plugin (W3 attaches fewer).
    fn thread_per_plugin(mut self) -> Self {
        self.idle_plugins = Some(IDLE_THREADS);
        self
    }

    /// A W1-only variant that sends in batches of `batch`.
    pub(crate) fn batched(mut self, batch: usize) -> Self {
        self.batch = batch;
        self.latency = false;
        self.idle_plugins = None;
        self
    }

    fn without_latency(mut self) -> Self {
        self.latency = false;
        self
    }

    fn without_memory(mut self) -> Self {
        self.idle_plugins = None;
        self
    }
}

/// The most plugins W1 gives the batched variants. The slower peers stop
/// at 1024 (`message_plugins` at 256, where it makes about 0.2 M
/// deliveries/s); the floor, crossbeam, tokio broadcast and every plugbus
/// host without a batch go on to the largest count.
const BATCHED_UP_TO: usize = 1024;

/// The name of the floor, which W1's `ratio_to_floor` divides by.
pub(crate) const FLOOR: &str = "floor";
/// The name of crossbeam fan-out, which the `ratio_to_crossbeam` fields divide by.
pub(crate) const CROSSBEAM: &str = "crossbeam";
/// The names the loaded and senders workloads need.
pub(crate) const PLUGBUS_STD: &str = "plugbus-std";
pub(crate) const PLUGBUS_TOKIO: &str = "plugbus-tokio";
pub(crate) const TOKIO_BROADCAST: &str = "tokio-broadcast";

/// Every implementation, in the order of the table.
///
/// To add a plugbus host: write its `BenchHost` adapter (see
/// [`plugbus`](crate::plugbus)) and add its entry here, plus a `.batched(64)`
/// entry for a host with `send_batch` (W1 only; the idle workload measures
/// each plugbus host once, through its entry without a batch).
pub(crate) fn implementations() -> Vec<Impl> {
    vec![
        Impl::new(FLOOR, Kind::Floor, || Box::new(Floor::default()))
            .without_latency()
            .without_memory(),
        Impl::new("plugbus-local", Kind::Plugbus, || {
            Box::new(LocalBench::new())
        }),
        Impl::new(PLUGBUS_STD, Kind::Plugbus, || Box::new(StdBench::new())).thread_per_plugin(),
        Impl::new("plugbus-std-batch64", Kind::Plugbus, || {
            Box::new(StdBench::new())
        })
        .batched(64)
        .up_to(BATCHED_UP_TO),
        Impl::new("plugbus-smol", Kind::Plugbus, || Box::new(SmolBench::new())),
        Impl::new("plugbus-smol-batch64", Kind::Plugbus, || {
            Box::new(SmolBench::new())
        })
        .batched(64)
        .up_to(BATCHED_UP_TO),
        Impl::new("plugbus-smol-async", Kind::Plugbus, || {
            Box::new(SmolBench::with_async_plugins())
        }),
        Impl::new(PLUGBUS_TOKIO, Kind::Plugbus, || Box::new(TokioBench::new())),
        Impl::new("plugbus-tokio-async", Kind::Plugbus, || {
            Box::new(TokioBench::with_async_plugins())
        }),
        Impl::new("plugbus-tokio-batch64", Kind::Plugbus, || {
            Box::new(TokioBench::new())
        })
        .batched(64)
        .up_to(BATCHED_UP_TO),
        Impl::new("message_plugins-q4", Kind::Peer, || {
            Box::new(Predecessor::default_queue())
        })
        .thread_per_plugin()
        .up_to(256),
        Impl::new("message_plugins-q1024", Kind::Peer, || {
            Box::new(Predecessor::with_capacity(1024))
        })
        .thread_per_plugin()
        .up_to(256),
        Impl::new(CROSSBEAM, Kind::Peer, || {
            Box::new(CrossbeamFanOut::default())
        })
        .thread_per_plugin(),
        Impl::new("tokio-mpsc", Kind::Peer, || Box::new(TokioMpsc::new())).up_to(1024),
        Impl::new(TOKIO_BROADCAST, Kind::Peer, || {
            Box::new(TokioBroadcast::new())
        }),
        Impl::new("smol-async-channel", Kind::Peer, || {
            Box::new(SmolChannel::new())
        })
        .up_to(1024),
        Impl::new("smol-async-broadcast", Kind::Peer, || {
            Box::new(SmolBroadcast::new())
        })
        .up_to(1024),
    ]
}
