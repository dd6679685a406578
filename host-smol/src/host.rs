//! The host: plugins attached as tasks on a smol executor, and the async API
//! that sends to them and shuts them down.

use std::fmt;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use async_executor::Executor;
use plugbus_core::task::{LaneTask, Reports};
use plugbus_core::{
    AttachError, AttachOptions, Bus, DEFAULT_CAPACITY, Plugin, PluginId, PluginInfo, Report,
    SendError, Stats, TrySendError,
};
use plugbus_host_std::LaneThread;

use crate::error::StartError;
use crate::sender::Sender;

/// A plugbus host on smol: one task per plugin on an executor, an async API.
///
/// The executor is either one you hand in ([`Host::on`], so plugbus runs
/// inside an application that already has one; you keep running it) or one
/// the host owns with threads of its own ([`Host::with_threads`]).
///
/// Each plugin's lane takes what was sent since its last turn as one batch
/// (up to 256 messages), then yields to the executor, so a busy plugin
/// cannot starve the others on a thread. A lane with nothing to do sleeps
/// through its waker: an idle host uses no CPU.
///
/// # Throughput
/// Send from a task on the host's executor ([`Host::executor`]) rather than from a thread
/// outside it: the task shares the threads with the lanes and yields to them
/// while the ring is full, where an outside thread competes with them for
/// cores and parks and wakes each time. [`send_batch`](Host::send_batch)
/// publishes once per batch, which pays off most when lanes would otherwise
/// go to sleep between messages. The `async_throughput` example of the
/// workspace's `plugbus-tests` measures both, on both async hosts.
///
/// # Plugins that block
/// `handle_message` is synchronous. While it runs, it holds the executor
/// thread its task runs on. With several executor threads the other lanes go
/// on running on the others; with one thread (or a borrowed executor run by
/// one thread) every lane, and every other task on that executor, waits
/// until the handler returns. Attach such a plugin with
/// [`attach_on_thread`](Host::attach_on_thread): its lane gets a thread of
/// its own and blocks nobody.
///
/// # Dropping
/// Dropping the host without [`shutdown`](Host::shutdown) closes it (every
/// [`Sender`] then fails with `Closed`) and lets every lane drain what was
/// sent to it; the reports are discarded. A host that owns its executor
/// waits in `drop` until its lanes have drained, then stops its threads. On
/// a borrowed executor the lanes drain as the executor runs them, and if the
/// executor is dropped after the host, each lane drains while its task is
/// dropped. Either way no message sent under `Block` goes unhandled.
///
/// A borrowed executor outlives the host (the borrow says so), so a lane
/// is never cut off while messages can still reach it.
///
/// # Example
/// ```
/// use plugbus_core::{Flow, Message, Plugin};
/// use plugbus_host_smol::Host;
///
/// struct Sum(u64);
/// impl Plugin<u64> for Sum {
///     fn handle_message(&mut self, message: &Message<u64>) -> Flow {
///         self.0 += **message;
///         Flow::Continue
///     }
/// }
///
/// let host = Host::with_threads(2).unwrap();
/// host.attach(Sum(0)).unwrap();
/// host.attach(Sum(0)).unwrap();
/// futures_lite::future::block_on(async {
///     for n in 0..100 {
///         host.send(n).await.unwrap();
///     }
///     let reports = host.shutdown().await;
///     assert!(reports.iter().all(|r| r.stats.handled == 100));
/// });
/// ```
pub struct Host<'ex, M: Send + Sync + 'static> {
    sender: Sender<M>,
    runner: Runner<'ex, M>,
    reports: Reports,
}

/// What a lane task does with its report when it ends: leave it in the
/// host's [`Reports`]. Boxed, so that [`SpawnLane`] can name the task type.
type Finish = Box<dyn FnOnce(Report) + Send>;

/// Where the lanes run.
enum Runner<'ex, M: Send + Sync + 'static> {
    /// The caller's executor, whatever its own lifetime: lane tasks are
    /// `'static`, so they fit on any.
    Borrowed(&'ex (dyn SpawnLane<M> + 'ex)),
    Owned(Owned),
}

/// Spawns a lane on an executor of any lifetime.
trait SpawnLane<M: Send + Sync + 'static>: Sync {
    fn spawn_lane(&self, task: LaneTask<M, Finish>);
}

impl<M: Send + Sync + 'static> SpawnLane<M> for Executor<'_> {
    fn spawn_lane(&self, task: LaneTask<M, Finish>) {
        // Detached: the lane leaves its report in `reports` when it ends.
        self.spawn(task).detach();
    }
}

/// An executor the host owns, and the threads that run it until `stop` closes.
struct Owned {
    executor: Arc<Executor<'static>>,
    stop: async_channel::Sender<()>,
    threads: Vec<JoinHandle<()>>,
}

/// Settings for a [`Host`]: the ring capacity and, for an executor the host
/// owns, its number of threads.
///
/// # Example
/// ```
/// use plugbus_host_smol::Builder;
///
/// let host = Builder::new().capacity(64).threads(1).build::<u32>().unwrap();
/// assert_eq!(host.capacity(), 64);
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    capacity: usize,
    threads: Option<usize>,
    thread_name: String,
}

impl Builder {
    /// A ring of [`DEFAULT_CAPACITY`] messages and, when the host owns its
    /// executor, one thread per available core.
    pub fn new() -> Self {
        Builder {
            capacity: DEFAULT_CAPACITY,
            threads: None,
            thread_name: String::from("plugbus-smol"),
        }
    }

    /// The ring holds at least this many messages (rounded up to a power of
    /// two, at most [`MAX_HEAP_CAPACITY`](plugbus_core::ring::MAX_HEAP_CAPACITY)):
    /// how far a `Block` plugin may lag before senders wait.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// How many threads run an executor the host owns (ignored by
    /// [`build_on`](Builder::build_on)).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// Threads of an executor the host owns are named `<name>-N`, counting
    /// from 0; the default name is `plugbus-smol`.
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.thread_name = name.into();
        self
    }

    /// A host that owns its executor and runs it on threads of its own.
    ///
    /// # Errors
    /// [`StartError::NoThreads`] for zero threads; [`StartError::Thread`]
    /// when a thread cannot start.
    pub fn build<M: Send + Sync + 'static>(self) -> Result<Host<'static, M>, StartError> {
        let threads = match self.threads {
            Some(0) => return Err(StartError::NoThreads),
            Some(n) => n,
            None => thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let owned = Owned::start(threads, &self.thread_name)?;
        Ok(Host::from_parts(self.capacity, Runner::Owned(owned)))
    }

    /// A host whose lanes run on `executor`, which the caller keeps running
    /// (for example with `executor.run(..)` on threads of its own).
    pub fn build_on<'ex, M: Send + Sync + 'static>(
        self,
        executor: &'ex Executor<'_>,
    ) -> Host<'ex, M> {
        Host::from_parts(self.capacity, Runner::Borrowed(executor))
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: Send + Sync + 'static> Host<'static, M> {
    /// A host that owns an executor with one thread per available core.
    ///
    /// # Errors
    /// [`StartError::Thread`] when a thread cannot start.
    pub fn new() -> Result<Self, StartError> {
        Builder::new().build()
    }

    /// A host that owns an executor with `threads` threads.
    ///
    /// # Errors
    /// [`StartError::NoThreads`] for zero threads; [`StartError::Thread`]
    /// when a thread cannot start.
    pub fn with_threads(threads: usize) -> Result<Self, StartError> {
        Builder::new().threads(threads).build()
    }
}

impl<'ex, M: Send + Sync + 'static> Host<'ex, M> {
    /// A host whose lanes run on `executor`, which the caller keeps running.
    ///
    /// # Example
    /// ```
    /// use async_executor::Executor;
    /// use plugbus_core::{Flow, Message, Plugin};
    /// use plugbus_host_smol::Host;
    ///
    /// struct Count(u32);
    /// impl Plugin<&'static str> for Count {
    ///     fn handle_message(&mut self, _: &Message<&'static str>) -> Flow {
    ///         self.0 += 1;
    ///         Flow::Continue
    ///     }
    /// }
    ///
    /// let executor = Executor::new();
    /// let host = Host::on(&executor);
    /// host.attach(Count(0)).unwrap();
    /// let reports = futures_lite::future::block_on(executor.run(async {
    ///     host.send("ping").await.unwrap();
    ///     host.shutdown().await
    /// }));
    /// assert_eq!(reports[0].stats.handled, 1);
    /// ```
    pub fn on(executor: &'ex Executor<'_>) -> Self {
        Builder::new().build_on(executor)
    }

    fn from_parts(capacity: usize, runner: Runner<'ex, M>) -> Self {
        Host {
            sender: Sender::new(Bus::with_capacity(capacity)),
            runner,
            reports: Reports::new(),
        }
    }

    fn spawn(&self, task: LaneTask<M, Finish>) {
        match &self.runner {
            Runner::Borrowed(executor) => executor.spawn_lane(task),
            Runner::Owned(owned) => owned.executor.spawn_lane(task),
        }
    }

    /// The executor this host owns, to run tasks of your own (a sending
    /// loop, say) on the same threads as the lanes; `None` for a host on a
    /// borrowed executor, which you hold already.
    ///
    /// # Example
    /// ```
    /// use plugbus_host_smol::Host;
    ///
    /// let host = Host::<u64>::with_threads(2).unwrap();
    /// let sender = host.sender();
    /// let executor = host.executor().unwrap();
    /// let task = executor.spawn(async move { sender.send_batch(0..10).await });
    /// assert_eq!(futures_lite::future::block_on(task).unwrap(), 10);
    /// ```
    pub fn executor(&self) -> Option<&Arc<Executor<'static>>> {
        match &self.runner {
            Runner::Borrowed(_) => None,
            Runner::Owned(owned) => Some(&owned.executor),
        }
    }

    /// How many messages the ring holds.
    pub fn capacity(&self) -> usize {
        self.bus().capacity()
    }

    fn bus(&self) -> &Arc<Bus<M>> {
        self.sender.bus()
    }

    /// Attaches a plugin with the default options ([`Overflow::Block`],
    /// the ring's capacity) as a task on the executor.
    ///
    /// [`Overflow::Block`]: plugbus_core::Overflow::Block
    ///
    /// # Errors
    /// See [`attach_with`](Host::attach_with).
    pub fn attach(&self, plugin: impl Plugin<M>) -> Result<PluginId, AttachError> {
        self.attach_with(plugin, AttachOptions::new())
    }

    /// Attaches a plugin as a task on the executor; it sees exactly the
    /// messages sent after this returns.
    ///
    /// # Example
    /// ```
    /// # use plugbus_core::{Flow, Message, Plugin};
    /// # struct Count;
    /// # impl Plugin<u64> for Count {
    /// #     fn handle_message(&mut self, _: &Message<u64>) -> Flow {
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// use plugbus_host_smol::Host;
    ///
    /// let host = Host::with_threads(1).unwrap();
    /// use plugbus_core::{AttachOptions, Overflow};
    /// let options = AttachOptions::new()
    ///     .capacity(16)
    ///     .overflow(Overflow::DropOldest)
    ///     .name("metrics");
    /// let id = host.attach_with(Count, options).unwrap();
    /// assert_eq!(host.plugins()[0].id, id);
    /// assert_eq!(host.plugins()[0].name, "metrics");
    /// ```
    ///
    /// # Errors
    /// [`AttachError::Capacity`] for a capacity the ring cannot give;
    /// [`AttachError::Closed`] once the host is shutting down.
    pub fn attach_with(
        &self,
        plugin: impl Plugin<M>,
        options: AttachOptions,
    ) -> Result<PluginId, AttachError> {
        let finish: Finish = Box::new(self.reports.sink().ok_or(AttachError::Closed)?);
        let task = LaneTask::attach(self.bus(), Box::new(plugin), options, finish)?;
        let id = task.id();
        self.spawn(task);
        Ok(id)
    }

    /// Attaches a plugin whose lane runs on a thread of its own instead of
    /// the executor: for a plugin whose handler blocks (on I/O, a lock, a
    /// long computation), which would otherwise hold an executor thread.
    /// The thread is named `plugbus-<plugin name>` and parks while idle.
    ///
    /// # Example
    /// ```
    /// # use plugbus_core::{Flow, Message, Plugin};
    /// # struct Count;
    /// # impl Plugin<u64> for Count {
    /// #     fn handle_message(&mut self, _: &Message<u64>) -> Flow {
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// use plugbus_host_smol::Host;
    ///
    /// let host = Host::with_threads(1).unwrap();
    /// use plugbus_core::AttachOptions;
    /// host.attach_on_thread(Count, AttachOptions::new().name("disk"))
    ///     .unwrap();
    /// host.send_blocking(1).unwrap();
    /// assert_eq!(host.shutdown_blocking()[0].stats.handled, 1);
    /// ```
    ///
    /// # Errors
    /// As [`attach_with`](Host::attach_with), and [`AttachError::Spawn`] when
    /// the thread cannot start.
    pub fn attach_on_thread(
        &self,
        plugin: impl Plugin<M>,
        options: AttachOptions,
    ) -> Result<PluginId, AttachError> {
        let finish = self.reports.sink().ok_or(AttachError::Closed)?;
        let lane_thread = LaneThread::new().name_prefix("plugbus-");
        let (id, _detached) = lane_thread.spawn(self.bus(), Box::new(plugin), options, finish)?;
        Ok(id)
    }

    /// Sends a message to every plugin, waiting while a plugin with
    /// [`Overflow::Block`](plugbus_core::Overflow::Block) is full.
    ///
    /// # Errors
    /// As [`Sender::send`].
    pub async fn send(&self, value: M) -> Result<(), SendError<M>> {
        self.sender.send(value).await
    }

    /// Sends a message without waiting.
    ///
    /// # Example
    /// ```
    /// # use plugbus_core::{Flow, Message, Plugin};
    /// # struct Count;
    /// # impl Plugin<u64> for Count {
    /// #     fn handle_message(&mut self, _: &Message<u64>) -> Flow {
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// use plugbus_host_smol::Host;
    ///
    /// let host = Host::with_threads(1).unwrap();
    /// use plugbus_core::{AttachOptions, Overflow, SendError, TrySendError};
    /// host.attach_with(Count, AttachOptions::new().overflow(Overflow::Reject).capacity(1))
    ///     .unwrap();
    /// // Either the first message is still queued and the second is
    /// // refused, or the plugin already took it.
    /// host.try_send(1).unwrap();
    /// match host.try_send(2) {
    ///     Ok(()) => {}
    ///     Err(TrySendError::Failed(SendError::Rejected { value, refused })) => {
    ///         assert_eq!((value, refused.len()), (2, 1));
    ///     }
    ///     Err(other) => panic!("{other}"),
    /// }
    /// ```
    ///
    /// # Errors
    /// As [`Sender::try_send`].
    pub fn try_send(&self, value: M) -> Result<(), TrySendError<M>> {
        self.sender.try_send(value)
    }

    /// Sends many messages, publishing them in batches; see
    /// [`Sender::send_batch`].
    ///
    /// # Errors
    /// As [`Sender::send_batch`].
    pub async fn send_batch<I>(&self, values: I) -> Result<usize, SendError<Vec<M>>>
    where
        I: IntoIterator<Item = M>,
    {
        self.sender.send_batch(values).await
    }

    /// The blocking twin of [`send`](Host::send), for threads outside async
    /// code; see [`Sender::send_blocking`] for the caveat.
    ///
    /// # Errors
    /// As [`Sender::send`].
    pub fn send_blocking(&self, value: M) -> Result<(), SendError<M>> {
        self.sender.send_blocking(value)
    }

    /// A cloneable handle that sends to this host's plugins.
    pub fn sender(&self) -> Sender<M> {
        self.sender.clone()
    }

    /// Asks a plugin to leave before its next message; it exits with
    /// [`Exit::Removed`](plugbus_core::Exit::Removed) and its report comes
    /// with [`shutdown`](Host::shutdown). Returns false if it is not attached.
    ///
    /// # Example
    /// ```
    /// # use plugbus_core::{Flow, Message, Plugin};
    /// # struct Count;
    /// # impl Plugin<u64> for Count {
    /// #     fn handle_message(&mut self, _: &Message<u64>) -> Flow {
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// use plugbus_host_smol::Host;
    ///
    /// let host = Host::with_threads(1).unwrap();
    /// let id = host.attach(Count).unwrap();
    /// assert_eq!(host.stats(id).unwrap().handled, 0);
    /// assert!(host.detach(id));
    /// let reports = host.shutdown_blocking();
    /// assert_eq!(reports[0].exit, plugbus_core::Exit::Removed);
    /// ```
    pub fn detach(&self, id: PluginId) -> bool {
        self.bus().detach(id)
    }

    /// A snapshot of an attached plugin's counters.
    pub fn stats(&self, id: PluginId) -> Option<Stats> {
        self.bus().stats(id)
    }

    /// Every attached plugin with its counters, by id.
    pub fn plugins(&self) -> Vec<PluginInfo> {
        self.bus().plugins()
    }

    /// Closes the host, lets every plugin drain what was sent to it, waits
    /// for every lane, and returns one report per plugin ever attached
    /// (including those that exited earlier), by id.
    ///
    /// On a borrowed executor, the executor must keep running meanwhile.
    pub async fn shutdown(mut self) -> Vec<Report> {
        self.bus().close();
        self.reports.collect().await
    }

    /// The blocking twin of [`shutdown`](Host::shutdown), for threads
    /// outside async code. On a borrowed executor, call it only where the
    /// executor keeps running on other threads.
    pub fn shutdown_blocking(mut self) -> Vec<Report> {
        self.bus().close();
        self.reports.collect_blocking()
    }

    /// Stops accepting messages and plugins. The lanes drain and report;
    /// collecting the reports ends once the last one has.
    fn close(&mut self) {
        self.bus().close();
        self.reports.close();
    }
}

impl<M: Send + Sync + 'static> Drop for Host<'_, M> {
    fn drop(&mut self) {
        self.close();
        if let Runner::Owned(owned) = &mut self.runner {
            // Our threads run the lanes, and stop when we drop: wait until
            // every lane has drained, or messages would be lost with them.
            drop(self.reports.collect_blocking());
            owned.stop();
        }
    }
}

impl Owned {
    fn start(threads: usize, name: &str) -> Result<Self, StartError> {
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let mut owned = Owned {
            executor: Arc::new(Executor::new()),
            stop,
            threads: Vec::with_capacity(threads),
        };
        for index in 0..threads {
            let executor = owned.executor.clone();
            let stopped = stopped.clone();
            let thread = thread::Builder::new()
                .name(format!("{}-{index}", name.replace('\0', " ")))
                .spawn(move || {
                    futures_lite::future::block_on(executor.run(stopped.recv())).ok();
                });
            match thread {
                Ok(thread) => owned.threads.push(thread),
                Err(source) => {
                    owned.stop();
                    return Err(StartError::Thread { index, source });
                }
            }
        }
        Ok(owned)
    }

    /// Ends every thread's run and joins it.
    fn stop(&mut self) {
        self.stop.close();
        for thread in self.threads.drain(..) {
            // A thread only ends by `stop`; a panic in a task is caught by
            // the executor, so there is nothing to report here.
            let _ = thread.join();
        }
    }
}

impl<M: Send + Sync + 'static> fmt::Debug for Host<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let executor = match &self.runner {
            Runner::Borrowed(_) => "borrowed",
            Runner::Owned(_) => "owned",
        };
        f.debug_struct("Host")
            .field("bus", self.bus())
            .field("executor", &executor)
            .finish_non_exhaustive()
    }
}
