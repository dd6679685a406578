//! A lane on a thread of its own: how the thread starts, and the loop it
//! runs (batches while there is work, a short spin when there is none, then
//! sleep until the bus wakes it).

use std::hint;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::task::Waker;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use plugbus_core::lifecycle::Factory;
use plugbus_core::{
    AttachError, AttachOptions, Bus, Lane, Overflow, Plugin, PluginId, Report, Step,
};

use crate::park::Unpark;
use crate::watch::Watch;

/// Runs a plugin's lane on a thread of its own: the thread takes what was
/// published as one batch, spins and yields briefly when there is nothing,
/// then parks until the bus wakes it; it ends when the plugin exits, with
/// the plugin's report.
///
/// Every host that gives a plugin a thread runs this one loop: the thread
/// host of `plugbus-host-std` for each of its plugins, and
/// [`Host::attach_on_thread`](crate::Host::attach_on_thread) here.
///
/// # Example
/// ```
/// use plugbus_core::{AttachOptions, Bus, Flow, Message, Plugin};
/// use plugbus_host_async::LaneThread;
///
/// struct Count(u64);
/// impl Plugin<u64> for Count {
///     fn handle_message(&mut self, _: &Message<u64>) -> Flow {
///         self.0 += 1;
///         Flow::Continue
///     }
/// }
///
/// let bus = Bus::with_capacity(64);
/// let options = AttachOptions::new().name("counter");
/// let (id, thread) = LaneThread::new()
///     .name_prefix("lane-")
///     .spawn(&bus, Count(0), options, |report| report)?;
/// assert_eq!(thread.thread().name(), Some("lane-counter"));
/// for n in 0..10 {
///     bus.try_send(n).unwrap();
/// }
/// bus.close(); // the lane drains what was sent, then its thread ends
/// let report = thread.join().unwrap();
/// assert_eq!((report.id, report.stats.handled), (id, 10));
/// # Ok::<(), plugbus_core::AttachError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LaneThread {
    name_prefix: String,
    stack_size: Option<usize>,
    tuning: Tuning,
}

impl LaneThread {
    /// Threads named after their plugin, with the standard library's stack
    /// size and the default tuning (see [`batch`](LaneThread::batch),
    /// [`idle_checks`](LaneThread::idle_checks) and
    /// [`yield_after_batch`](LaneThread::yield_after_batch)).
    pub fn new() -> Self {
        LaneThread {
            name_prefix: String::new(),
            stack_size: None,
            tuning: Tuning::default(),
        }
    }

    /// Names each thread `<prefix><plugin name>` (a NUL in the name becomes
    /// U+FFFD, which a thread name can hold).
    pub fn name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.name_prefix = prefix.into();
        self
    }

    /// The stack size of each thread, in bytes. A size the system cannot
    /// give makes [`spawn`](LaneThread::spawn) fail with
    /// [`AttachError::Spawn`].
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// The most messages the lane handles before it publishes its progress
    /// (at least 1; by default everything available, at most the ring's
    /// capacity). Smaller batches free room for a waiting sender sooner;
    /// larger ones cost less per message.
    pub fn batch(mut self, messages: usize) -> Self {
        self.tuning.batch = messages.max(1);
        self
    }

    /// How many times an idle lane checks for work (spinning, then
    /// yielding its time slice) before its thread parks. Higher values
    /// shorten the delay of a message after a pause, at the cost of CPU
    /// while idle; a parked thread uses none.
    pub fn idle_checks(mut self, spins: u32, yields: u32) -> Self {
        self.tuning.spins = spins;
        self.tuning.yields = yields;
        self
    }

    /// Whether the thread yields its time slice after each batch (default
    /// true). On machines with fewer cores than busy threads this lets the
    /// sender get ahead, so batches grow and cost less per message.
    pub fn yield_after_batch(mut self, yield_after_batch: bool) -> Self {
        self.tuning.yield_after_batch = yield_after_batch;
        self
    }

    /// Attaches `plugin` to `bus` and starts a thread that runs its lane
    /// until the plugin exits, then returns `finish(report)` from the
    /// thread. The plugin sees exactly the messages sent after this
    /// returns. Returns the plugin's id and the thread's handle (dropping
    /// the handle detaches the thread; `finish` still runs).
    ///
    /// # Errors
    /// As [`Bus::attach`]; [`AttachError::Spawn`] with the system's reason
    /// if the thread cannot start (the plugin is dropped, and no message
    /// waits for it).
    pub fn spawn<M, P, T>(
        &self,
        bus: &Arc<Bus<M>>,
        plugin: P,
        options: AttachOptions,
        finish: impl FnOnce(Report) -> T + Send + 'static,
    ) -> Result<(PluginId, JoinHandle<T>), AttachError>
    where
        M: Send + Sync + 'static,
        P: Plugin<M>,
        T: Send + 'static,
    {
        let (overflow, capacity) = (options.get_overflow(), options.get_capacity());
        let lane = bus.attach(plugin, options)?;
        self.start(bus, lane, (overflow, capacity), finish)
    }

    /// [`spawn`](LaneThread::spawn) for a supervised plugin: `factory`
    /// builds its first instance now and a new one each time its lane
    /// restarts it (see [`Bus::attach_supervised`]).
    ///
    /// # Errors
    /// As [`Bus::attach_supervised`], and as [`spawn`](LaneThread::spawn).
    pub fn spawn_supervised<M, T>(
        &self,
        bus: &Arc<Bus<M>>,
        factory: impl Factory<M>,
        options: AttachOptions,
        finish: impl FnOnce(Report) -> T + Send + 'static,
    ) -> Result<(PluginId, JoinHandle<T>), AttachError>
    where
        M: Send + Sync + 'static,
        T: Send + 'static,
    {
        let (overflow, capacity) = (options.get_overflow(), options.get_capacity());
        let lane = bus.attach_supervised(factory, options)?;
        self.start(bus, lane, (overflow, capacity), finish)
    }

    /// Starts the thread of an attached lane; `policy` is its options'
    /// overflow and capacity, for its watch.
    fn start<M, T>(
        &self,
        bus: &Arc<Bus<M>>,
        lane: Lane<M>,
        (overflow, capacity): (Overflow, Option<usize>),
        finish: impl FnOnce(Report) -> T + Send + 'static,
    ) -> Result<(PluginId, JoinHandle<T>), AttachError>
    where
        M: Send + Sync + 'static,
        T: Send + 'static,
    {
        let id = lane.id();
        let capacity = capacity.unwrap_or(bus.capacity());
        // A thread name cannot hold NUL; the lane keeps the name as given.
        let name = format!("{}{}", self.name_prefix, lane.name()).replace('\0', "\u{fffd}");
        let mut builder = thread::Builder::new().name(name);
        if let Some(bytes) = self.stack_size {
            builder = builder.stack_size(bytes);
        }
        let tuning = self.tuning;
        let plugin = lane.name().to_owned();
        let watch = Watch::attached(id, &plugin, overflow, capacity);
        // On failure the closure is dropped with the lane, which leaves the
        // bus, so no sender waits for a plugin that never runs.
        let thread = builder
            .spawn(move || finish(run(lane, tuning, watch)))
            .map_err(|error| AttachError::Spawn {
                plugin,
                reason: error.to_string(),
            })?;
        Ok((id, thread))
    }
}

impl Default for LaneThread {
    fn default() -> Self {
        Self::new()
    }
}

/// How a lane thread waits and how much it takes at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tuning {
    /// The most messages a lane handles before publishing its cursor.
    batch: usize,
    /// Idle checks with a spin hint before yielding.
    spins: u32,
    /// Idle checks with a `yield_now` before sleeping.
    yields: u32,
    /// Yield once after each batch, so the sender gets ahead and the next
    /// batch is larger.
    yield_after_batch: bool,
}

/// The defaults, measured with `plugbus-host-std`'s `examples/throughput.rs`
/// (the thread host runs every plugin on this loop) on a 2-core VM
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
/// report.
fn run(mut lane: Lane<impl Send + Sync + 'static>, tuning: Tuning, mut watch: Watch) -> Report {
    let waker = Waker::from(Arc::new(Unpark::current()));
    let _bound = watch.bind();
    // Plugin panics are caught inside `Lane::run`; this catches a panic in
    // the loop itself, so the lane still leaves a report. The payload is
    // dropped under a second catch and a second payload forgotten, so even
    // a payload whose `Drop` panics cannot take the report with it.
    let driven = panic::catch_unwind(AssertUnwindSafe(|| {
        drive(&mut lane, &waker, tuning, &mut watch)
    }));
    if let Err(payload) = driven {
        if let Err(second) = panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            if let Err(third) = panic::catch_unwind(AssertUnwindSafe(move || drop(second))) {
                std::mem::forget(third);
            }
        }
    }
    let report = lane.finish();
    watch.finished(&report);
    report
}

fn drive<M: Send + Sync + 'static>(
    lane: &mut Lane<M>,
    waker: &Waker,
    tuning: Tuning,
    watch: &mut Watch,
) {
    let mut idle = 0u32;
    loop {
        match lane.run(tuning.batch) {
            Step::Done => return,
            Step::Ran(taken) => {
                watch.ran(taken, || lane.stats());
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
                watch.idle(|| lane.stats());
                if lane.prepare_sleep(waker) {
                    // Parking can wake spuriously, or for an earlier sleep;
                    // the bit is cleared only by whoever wakes this one.
                    while lane.still_asleep(waker) {
                        thread::park();
                    }
                }
            }
            Step::Wait(delay) => {
                // A supervised plugin's backoff: asleep until it ends, or
                // until a message, a detach, the shutdown or a replacement
                // wakes the lane (`run` then decides whether to go on
                // waiting).
                idle = 0;
                let until = Instant::now().checked_add(delay);
                if lane.prepare_sleep(waker) {
                    while lane.still_asleep(waker) {
                        match until.map(|t| t.saturating_duration_since(Instant::now())) {
                            Some(left) if left.is_zero() => break,
                            Some(left) => thread::park_timeout(left),
                            None => thread::park(),
                        }
                    }
                }
            }
        }
    }
}
