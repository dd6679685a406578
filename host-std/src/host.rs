//! The host: one OS thread per plugin, on the core's shared ring.

#![forbid(unsafe_code)]

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use plugbus_core::ask::{self, Answers, Asking, Request};
use plugbus_core::lifecycle::{Factory, ReplaceError, Replaced, Replacement};

use plugbus_core::{
    AttachError, AttachOptions, Bus, Plugin, PluginId, PluginInfo, Report, SendError, Stats,
    TrySendError,
};
use plugbus_host_async::{LaneThread, park_until_room};

use crate::sender::Sender;

/// A host that runs each plugin on an OS thread of its own.
///
/// Every message is written once into a shared ring; each plugin's thread
/// takes everything published since it last looked as one batch, and
/// sleeps (using no CPU) when there is nothing left. Senders wake only the
/// threads that sleep.
///
/// Shutting down — [`shutdown`](Host::shutdown), or dropping the host —
/// closes the input, lets every plugin drain what was sent to it, and joins
/// every thread: no plugin thread outlives its host.
///
/// # Example
/// ```
/// use plugbus_host_std::{Exit, Flow, Host, Message, Plugin};
///
/// struct Sum(u64);
///
/// impl Plugin<u64> for Sum {
///     fn handle_message(&mut self, n: &Message<u64>) -> Flow {
///         self.0 += **n;
///         Flow::Continue
///     }
///     fn name(&self) -> &str {
///         "sum"
///     }
/// }
///
/// let host = Host::new();
/// let a = host.attach(Sum(0))?;
/// let b = host.attach(Sum(0))?;
/// for n in 1..=10 {
///     host.send(n)?;
/// }
/// let reports = host.shutdown();
/// assert_eq!(reports.len(), 2);
/// assert_eq!((reports[0].id, reports[1].id), (a, b));
/// assert!(reports.iter().all(|r| r.stats.handled == 10 && r.exit == Exit::Shutdown));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Host<M: Send + Sync + 'static> {
    sender: Sender<M>,
    /// Behind a lock so that attaching takes `&self`, as on every host; held
    /// only to push or reap a handle, never while a plugin runs.
    lanes: Mutex<Lanes>,
    /// How a new lane's thread starts.
    lane_thread: LaneThread,
}

/// The threads of the lanes not joined yet, and the reports of those joined.
#[derive(Default)]
struct Lanes {
    running: Vec<JoinHandle<Report>>,
    reports: Vec<Report>,
}

/// Configures a [`Host`] before it starts.
///
/// # Example
/// ```
/// use plugbus_host_std::Host;
///
/// let host: Host<String> = Host::builder()
///     .capacity(4096)
///     .stack_size(256 * 1024)
///     .build();
/// assert_eq!(host.capacity(), 4096);
/// ```
pub struct Builder<M> {
    capacity: usize,
    lane_thread: LaneThread,
    _message: PhantomData<fn() -> M>,
}

/// The ring capacity of a thread host unless told otherwise: 4096 messages,
/// four times the core's [`plugbus_core::DEFAULT_CAPACITY`]. With more plugin
/// threads than cores each lane runs about once per ring's worth of
/// messages, so the ring bounds the batch and thus the context switches per
/// message. Measured with `cargo run --release -p plugbus-host-std --example
/// throughput -- --variant=ring=4096 16 64`: 4.6-5.1x crossbeam fan-out at 16
/// plugins with 1024 against 6.2-7.5x with 4096, and 6.0-6.7x against
/// 8.3-9.4x at 64. The cost: 32 KiB of slots, and up to 4096 sent messages
/// kept alive until the ring comes round.
pub const DEFAULT_CAPACITY: usize = 4096;

impl<M: Send + Sync + 'static> Builder<M> {
    /// The defaults: a ring of [`DEFAULT_CAPACITY`] messages, the standard
    /// library's stack size for plugin threads.
    pub fn new() -> Self {
        Builder {
            capacity: DEFAULT_CAPACITY,
            lane_thread: LaneThread::new(),
            _message: PhantomData,
        }
    }

    /// How many messages the ring holds (rounded up to a power of two, at most
    /// [`MAX_HEAP_CAPACITY`](plugbus_core::ring::MAX_HEAP_CAPACITY)): how
    /// far a blocking plugin may fall behind before senders wait.
    ///
    /// With more plugins than cores, a larger ring means larger batches and
    /// fewer context switches per message, so more throughput; but a slot
    /// keeps its message (and what the message owns) alive until the ring
    /// comes round to it again, so a ring of N may hold N sent messages.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// The stack size of each plugin thread, in bytes. A size the system
    /// cannot give makes [`attach`](Host::attach) fail with
    /// [`AttachError::Spawn`].
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.lane_thread = self.lane_thread.stack_size(bytes);
        self
    }

    /// The most messages a plugin thread handles before it publishes its
    /// progress (at least 1; by default everything available, at most the
    /// ring's capacity). Smaller batches free room for a waiting sender
    /// sooner; larger ones cost less per message.
    pub fn batch(mut self, messages: usize) -> Self {
        self.lane_thread = self.lane_thread.batch(messages);
        self
    }

    /// How many times an idle plugin thread checks for work (spinning, then
    /// yielding its time slice) before it goes to sleep. Higher values
    /// shorten the delay of a message after a pause, at the cost of CPU
    /// while idle; an idle thread asleep uses none.
    pub fn idle_checks(mut self, spins: u32, yields: u32) -> Self {
        self.lane_thread = self.lane_thread.idle_checks(spins, yields);
        self
    }

    /// Whether a plugin thread yields its time slice after each batch
    /// (default true). On machines with fewer cores than busy threads this
    /// lets the sender get ahead, so batches grow and cost less per message.
    pub fn yield_after_batch(mut self, yield_after_batch: bool) -> Self {
        self.lane_thread = self.lane_thread.yield_after_batch(yield_after_batch);
        self
    }

    /// Creates the host.
    pub fn build(self) -> Host<M> {
        Host {
            sender: Sender::new(Bus::with_capacity(self.capacity)),
            lanes: Mutex::new(Lanes::default()),
            lane_thread: self.lane_thread,
        }
    }
}

impl<M: Send + Sync + 'static> Default for Builder<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: Send + Sync + 'static> Host<M> {
    /// A host with a ring of [`DEFAULT_CAPACITY`] messages.
    pub fn new() -> Self {
        Builder::new().build()
    }

    /// A host whose ring holds at least `capacity` messages (rounded up to a power of two, at most
    /// [`MAX_HEAP_CAPACITY`](plugbus_core::ring::MAX_HEAP_CAPACITY)).
    pub fn with_capacity(capacity: usize) -> Self {
        Builder::new().capacity(capacity).build()
    }

    /// Configures a host: ring capacity, thread stack size, lane tuning.
    pub fn builder() -> Builder<M> {
        Builder::new()
    }

    /// How many messages the ring holds.
    pub fn capacity(&self) -> usize {
        self.sender.bus().capacity()
    }

    /// Attaches a plugin with the default options.
    ///
    /// # Errors
    /// See [`attach_with`](Host::attach_with).
    pub fn attach(&self, plugin: impl Plugin<M>) -> Result<PluginId, AttachError> {
        self.attach_with(plugin, AttachOptions::new())
    }

    /// Starts the plugin in the library at `path` in a child process of its
    /// own ([`Isolated`](crate::isolated::Isolated), with `config` for its
    /// constructor) and attaches it with the lane options in `options`.
    /// Returns its id and a handle on the child's counters.
    ///
    /// # Errors
    /// An [`IsolateError`](crate::isolated::IsolateError): the library
    /// refused, the child not started, or the attach refused.
    #[cfg(all(feature = "isolate", target_os = "linux"))]
    pub fn attach_isolated(
        &self,
        path: impl AsRef<std::path::Path>,
        config: &str,
        options: crate::isolated::IsolateOptions,
    ) -> Result<(PluginId, crate::isolated::IsolatedHandle), crate::isolated::IsolateError>
    where
        M: plugbus_core::Fingerprint + serde::Serialize + serde::de::DeserializeOwned,
    {
        let lane = options.lane_options();
        let plugin = crate::isolated::Isolated::<M>::spawn(path, config, options)?;
        let handle = plugin.handle();
        let id = self
            .attach_with(plugin, lane)
            .map_err(crate::isolated::IsolateError::Attach)?;
        Ok((id, handle))
    }

    /// Attaches an [`AsyncPlugin`](plugbus_core::AsyncPlugin) on a new
    /// thread: the same as `attach(Async::new(plugin))` (see
    /// [`Async`](plugbus_core::Async); with options, or supervised, attach
    /// an `Async` with those calls). The thread blocks on each handler's
    /// future: it parks while the future waits and the future's waker
    /// unparks it; whatever the future waits on must make progress without
    /// this thread (another runtime's timer or I/O, another thread).
    ///
    /// # Errors
    /// See [`attach_with`](Host::attach_with).
    pub fn attach_async(
        &self,
        plugin: impl plugbus_core::AsyncPlugin<M>,
    ) -> Result<PluginId, AttachError> {
        self.attach(plugbus_core::Async::new(plugin))
    }

    /// Attaches a plugin on a new thread named after it; it sees exactly the
    /// messages sent after this returns.
    ///
    /// # Errors
    /// [`AttachError::Capacity`] for a capacity the ring cannot give;
    /// [`AttachError::Spawn`] with the system's reason if the thread cannot
    /// be started (the plugin is dropped, and no message waits for it).
    pub fn attach_with(
        &self,
        plugin: impl Plugin<M>,
        options: AttachOptions,
    ) -> Result<PluginId, AttachError> {
        let bus = self.sender.bus();
        let (id, thread) = self.lane_thread.spawn(bus, plugin, options, |r| r)?;
        let mut lanes = self.lanes();
        lanes.reap();
        lanes.running.push(thread);
        Ok(id)
    }

    /// Attaches a supervised plugin on a new thread: `factory` builds its
    /// first instance now and a fresh one each time its lane restarts it,
    /// as `options` say ([`AttachOptions::restart`],
    /// [`AttachOptions::intensity`], [`AttachOptions::backoff`]). The
    /// message whose handling panicked is not handed to the new instance
    /// (it is counted as dead-lettered); every other message is, in order.
    /// During a backoff the thread sleeps; a detach or the shutdown wakes
    /// it.
    ///
    /// # Example
    /// ```
    /// use plugbus_host_std::lifecycle::Restart;
    /// use plugbus_host_std::{AttachOptions, Flow, Host, Message, Plugin};
    ///
    /// struct Parse;
    /// impl Plugin<String> for Parse {
    ///     fn handle_message(&mut self, m: &Message<String>) -> Flow {
    ///         let _: u32 = m.parse().expect("a number");
    ///         Flow::Continue
    ///     }
    /// }
    ///
    /// let host = Host::new();
    /// host.attach_supervised(|| Parse, AttachOptions::new().restart(Restart::OnPanic))?;
    /// for text in ["1", "two", "3"] {
    ///     host.send(text.to_string())?;
    /// }
    /// let reports = host.shutdown();
    /// assert_eq!((reports[0].stats.handled, reports[0].stats.restarts), (2, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`attach_with`](Host::attach_with); [`AttachError::Factory`] if
    /// the factory could not build the first instance.
    pub fn attach_supervised(
        &self,
        factory: impl Factory<M>,
        options: AttachOptions,
    ) -> Result<PluginId, AttachError> {
        let bus = self.sender.bus();
        let (id, thread) = self
            .lane_thread
            .spawn_supervised(bus, factory, options, |r| r)?;
        let mut lanes = self.lanes();
        lanes.reap();
        lanes.running.push(thread);
        Ok(id)
    }

    /// Replaces a plugin's instance with `plugin` and returns once its lane
    /// made the swap, between two batches: no message is handled twice,
    /// skipped or reordered (messages sent meanwhile wait in the ring).
    /// The old instance hands over its state
    /// ([`Plugin::export_state`]) and hears `on_detach(Exit::Replaced)`;
    /// the new one takes the state, then `on_attach` with the same id.
    ///
    /// Waits while the plugin's handler runs; calling it from that plugin's
    /// own handler would wait for ever.
    ///
    /// # Errors
    /// [`ReplaceError::NotAttached`] if no such plugin is attached (or it
    /// left before its lane came to the swap); [`ReplaceError::Panicked`]
    /// if the new instance panicked as it started (the old one runs on).
    pub fn replace(&self, id: PluginId, plugin: impl Plugin<M>) -> Result<Replaced, ReplaceError> {
        self.replace_with(id, Replacement::new(plugin))
    }

    /// [`replace`](Host::replace) with a new factory for later restarts,
    /// or a rollback (see [`Replacement`]).
    ///
    /// # Errors
    /// As [`replace`](Host::replace).
    pub fn replace_with(
        &self,
        id: PluginId,
        replacement: Replacement<M>,
    ) -> Result<Replaced, ReplaceError> {
        self.sender.bus().replace(id, replacement)?.wait_blocking()
    }

    /// Sends a message to every plugin, waiting while a plugin with
    /// [`Overflow::Block`](plugbus_core::Overflow::Block) is full.
    ///
    /// # Errors
    /// See [`Sender::send`].
    pub fn send(&self, value: M) -> Result<(), SendError<M>> {
        self.sender.send(value)
    }

    /// Sends a message if every blocking plugin has room, without waiting.
    ///
    /// # Errors
    /// See [`Sender::try_send`].
    pub fn try_send(&self, value: M) -> Result<(), TrySendError<M>> {
        self.sender.try_send(value)
    }

    /// Sends many messages in order, as few publications as fit the ring;
    /// returns how many were sent.
    ///
    /// # Errors
    /// See [`Sender::send_batch`].
    pub fn send_batch(
        &self,
        values: impl IntoIterator<Item = M>,
    ) -> Result<usize, SendError<Vec<M>>> {
        self.sender.send_batch(values)
    }

    /// Asks every plugin a question and collects the answers, each with
    /// its plugin's id, for at most `timeout` (see
    /// [`plugbus_core::ask`] for who is waited for). `make` puts the
    /// [`Request`] into a message; it is sent as [`send`](Host::send)
    /// sends, waiting for room under `Block` (that wait counts in
    /// `timeout`). Blocks the calling thread until every plugin asked has
    /// settled, or the timeout.
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// use plugbus_host_std::ask::Request;
    /// use plugbus_host_std::{Flow, Host, Message, Plugin, PluginId};
    ///
    /// enum Command {
    ///     Add(u64),
    ///     Total(Request<(), u64>),
    /// }
    ///
    /// #[derive(Default)]
    /// struct Sum {
    ///     id: Option<PluginId>,
    ///     total: u64,
    /// }
    ///
    /// impl Plugin<Command> for Sum {
    ///     fn on_attach(&mut self, id: PluginId) {
    ///         self.id = Some(id);
    ///     }
    ///     fn handle_message(&mut self, message: &Message<Command>) -> Flow {
    ///         match (&**message, self.id) {
    ///             (Command::Add(n), _) => self.total += n,
    ///             (Command::Total(request), Some(id)) => {
    ///                 let _ = request.answer(id, self.total);
    ///             }
    ///             (Command::Total(_), None) => {}
    ///         }
    ///         Flow::Continue
    ///     }
    /// }
    ///
    /// let host = Host::new();
    /// let sum = host.attach(Sum::default())?;
    /// host.send(Command::Add(40))?;
    /// host.send(Command::Add(2))?;
    /// let answers = host.ask(Command::Total, (), Duration::from_secs(5))?;
    /// assert_eq!(answers.get(sum), Some(&42));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`send`](Host::send), with the message `make` made.
    pub fn ask<Q, A: Send + Sync + 'static>(
        &self,
        make: impl FnOnce(Request<Q, A>) -> M,
        question: Q,
        timeout: Duration,
    ) -> Result<Answers<A>, SendError<M>> {
        let deadline = Instant::now().checked_add(timeout);
        let bus = self.sender.bus();
        let (asking, message) = Asking::new(bus, make, question, deadline);
        ask::send_with(bus, message, park_until_room)?;
        asking.wait_blocking();
        Ok(asking.finish())
    }

    /// A handle for sending from other threads.
    pub fn sender(&self) -> Sender<M> {
        self.sender.clone()
    }

    /// Asks a plugin to leave before its next message; its thread ends and
    /// its report comes with [`shutdown`](Host::shutdown). Returns false if
    /// it is not attached.
    pub fn detach(&self, id: PluginId) -> bool {
        self.sender.bus().detach(id)
    }

    /// A snapshot of an attached plugin's counters.
    pub fn stats(&self, id: PluginId) -> Option<Stats> {
        self.sender.bus().stats(id)
    }

    /// Every attached plugin with its counters, by id.
    pub fn plugins(&self) -> Vec<PluginInfo> {
        self.sender.bus().plugins()
    }

    /// Closes the host, lets every plugin drain what was sent to it, joins
    /// every thread, and returns one report per plugin ever attached, by id
    /// (also those that left earlier).
    ///
    /// A plugin that never returns from a handler keeps this waiting.
    pub fn shutdown(mut self) -> Vec<Report> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> Vec<Report> {
        self.sender.bus().close();
        let lanes = self.lanes.get_mut().unwrap_or_else(PoisonError::into_inner);
        let current = thread::current().id();
        for lane in lanes.running.drain(..) {
            // A plugin that owns its host and drops it on its own thread
            // cannot join itself; it is finishing already.
            if lane.thread().id() == current {
                continue;
            }
            if let Ok(report) = lane.join() {
                lanes.reports.push(report);
            }
        }
        let mut reports = std::mem::take(&mut lanes.reports);
        reports.sort_by_key(|r| r.id);
        reports
    }

    fn lanes(&self) -> MutexGuard<'_, Lanes> {
        // Nothing panics while the lock is held (pushing a handle, joining
        // a finished thread); if something did, the list is still whole.
        self.lanes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Lanes {
    /// Joins the threads of plugins that have already left, keeping their
    /// reports, so a host that attaches and detaches often holds no dead
    /// threads.
    fn reap(&mut self) {
        let mut i = 0;
        while i < self.running.len() {
            if self.running[i].is_finished() {
                let lane = self.running.swap_remove(i);
                if let Ok(report) = lane.join() {
                    self.reports.push(report);
                }
            } else {
                i += 1;
            }
        }
    }
}

impl<M: Send + Sync + 'static> Default for Host<M> {
    fn default() -> Self {
        Self::new()
    }
}

// Derives would require `M: Clone` and `M: Debug`.
impl<M> Clone for Builder<M> {
    fn clone(&self) -> Self {
        Builder {
            capacity: self.capacity,
            lane_thread: self.lane_thread.clone(),
            _message: PhantomData,
        }
    }
}

impl<M> fmt::Debug for Builder<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("capacity", &self.capacity)
            .field("lane_thread", &self.lane_thread)
            .finish()
    }
}

impl<M: Send + Sync + 'static> Drop for Host<M> {
    /// Dropping the host shuts it down like [`shutdown`](Host::shutdown):
    /// every plugin drains, every thread is joined; the reports are dropped.
    fn drop(&mut self) {
        self.shut_down();
    }
}

impl<M: Send + Sync + 'static> fmt::Debug for Host<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("bus", self.sender.bus())
            .field("threads", &self.lanes().running.len())
            .finish_non_exhaustive()
    }
}
