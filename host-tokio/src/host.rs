//! The host: plugins attached as tasks on a tokio runtime, and the async API
//! that sends to them and shuts them down.

use std::fmt;
use std::sync::Arc;

use plugbus_core::task::{LaneTask, Reports};
use plugbus_core::{
    AttachError, AttachOptions, Bus, DEFAULT_CAPACITY, Plugin, PluginId, PluginInfo, Report,
    SendError, Stats, TrySendError,
};
use plugbus_host_std::LaneThread;
use tokio::runtime::Handle;

use crate::sender::Sender;

/// A plugbus host on tokio: one task per plugin on a runtime, an async API.
///
/// The lanes run on the runtime of the handle given at construction (the
/// current one for [`Host::new`]), multi-thread or current-thread. Each
/// lane takes what was sent since its last turn as one batch (up to 256
/// messages), then yields to the runtime, so a busy plugin cannot starve the
/// others on a worker. A lane with nothing to do sleeps through its waker:
/// an idle host uses no CPU.
///
/// # Throughput
/// Send from a task on the same runtime (`tokio::spawn`) rather than from a thread
/// outside it: the task shares the threads with the lanes and yields to them
/// while the ring is full, where an outside thread competes with them for
/// cores and parks and wakes each time. [`send_batch`](Host::send_batch)
/// publishes once per batch, which pays off most when lanes would otherwise
/// go to sleep between messages. The `async_throughput` example of the
/// workspace's `plugbus-tests` measures both, on both async hosts.
///
/// # Plugins that block
/// `handle_message` is synchronous. While it runs, it holds the worker
/// thread its task runs on.
/// - On the multi-thread runtime the other workers go on running the other
///   lanes, but a lane queued on the blocked worker itself (tokio keeps the
///   task a worker woke last in a slot other workers cannot steal) waits
///   until the handler returns.
/// - On the current-thread runtime there is one thread: every lane, and
///   every other task of the runtime, including the one sending, waits
///   until the handler returns. A handler that waits for another task of
///   the same runtime deadlocks it.
///
/// Attach such a plugin with [`attach_on_thread`](Host::attach_on_thread):
/// its lane gets a thread of its own and blocks nobody.
///
/// # Dropping
/// Dropping the host without [`shutdown`](Host::shutdown) does not block:
/// it closes the host (every [`Sender`] then fails with `Closed`), and every
/// lane drains what was sent to it on the runtime and exits; the reports
/// are discarded. If the runtime shuts down after the host was dropped but
/// before a lane finished, that lane drains while tokio drops its task.
/// Either way no message sent under `Block` goes unhandled and no task is
/// left behind.
///
/// A runtime that shuts down while the host is still open cannot leave
/// lanes draining that may still receive messages: each plugin is detached
/// with [`Exit::Removed`](plugbus_core::Exit::Removed), and its report (from
/// [`shutdown_blocking`](Host::shutdown_blocking)) counts what it handled.
///
/// # Example
/// ```
/// use plugbus_core::{Flow, Message, Plugin};
/// use plugbus_host_tokio::Host;
///
/// struct Sum(u64);
/// impl Plugin<u64> for Sum {
///     fn handle_message(&mut self, message: &Message<u64>) -> Flow {
///         self.0 += **message;
///         Flow::Continue
///     }
/// }
///
/// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let reports = runtime.block_on(async {
///     let host = Host::new();
///     host.attach(Sum(0)).unwrap();
///     host.attach(Sum(0)).unwrap();
///     for n in 0..100 {
///         host.send(n).await.unwrap();
///     }
///     host.shutdown().await
/// });
/// assert!(reports.iter().all(|r| r.stats.handled == 100));
/// ```
pub struct Host<M: Send + Sync + 'static> {
    sender: Sender<M>,
    runtime: Handle,
    reports: Reports,
}

/// Settings for a [`Host`] other than the defaults: the ring capacity.
///
/// # Example
/// ```
/// use plugbus_host_tokio::Builder;
///
/// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let host = Builder::new().capacity(64).build_on::<u32>(runtime.handle().clone());
/// assert_eq!(host.capacity(), 64);
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    capacity: usize,
}

impl Builder {
    /// A ring of [`DEFAULT_CAPACITY`] messages.
    pub fn new() -> Self {
        Builder {
            capacity: DEFAULT_CAPACITY,
        }
    }

    /// The ring holds at least this many messages (rounded up to a power of
    /// two, at most [`MAX_HEAP_CAPACITY`](plugbus_core::ring::MAX_HEAP_CAPACITY)):
    /// how far a `Block` plugin may lag before senders wait.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// A host on the current runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime, like `tokio::spawn`; use
    /// [`build_on`](Builder::build_on) there.
    pub fn build<M: Send + Sync + 'static>(self) -> Host<M> {
        self.build_on(Handle::current())
    }

    /// A host on the runtime of `runtime`.
    pub fn build_on<M: Send + Sync + 'static>(self, runtime: Handle) -> Host<M> {
        Host {
            sender: Sender::new(Bus::with_capacity(self.capacity)),
            runtime,
            reports: Reports::new(),
        }
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: Send + Sync + 'static> Host<M> {
    /// A host on the current runtime, with a ring of [`DEFAULT_CAPACITY`].
    ///
    /// # Panics
    /// Outside a tokio runtime, like `tokio::spawn`; use
    /// [`with_handle`](Host::with_handle) there.
    pub fn new() -> Self {
        Builder::new().build()
    }

    /// A host on the runtime of `runtime`, with a ring of
    /// [`DEFAULT_CAPACITY`]. Works from any thread.
    pub fn with_handle(runtime: Handle) -> Self {
        Builder::new().build_on(runtime)
    }

    /// The handle of the runtime the lanes run on.
    pub fn runtime(&self) -> &Handle {
        &self.runtime
    }

    /// How many messages the ring holds.
    pub fn capacity(&self) -> usize {
        self.bus().capacity()
    }

    fn bus(&self) -> &Arc<Bus<M>> {
        self.sender.bus()
    }

    /// Attaches a plugin with the default options ([`Overflow::Block`],
    /// the ring's capacity) as a task on the runtime.
    ///
    /// [`Overflow::Block`]: plugbus_core::Overflow::Block
    ///
    /// # Errors
    /// See [`attach_with`](Host::attach_with).
    pub fn attach(&self, plugin: impl Plugin<M>) -> Result<PluginId, AttachError> {
        self.attach_with(plugin, AttachOptions::new())
    }

    /// Attaches a plugin as a task on the runtime; it sees exactly the
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
    /// use plugbus_host_tokio::Host;
    ///
    /// let runtime = tokio::runtime::Builder::new_multi_thread().build().unwrap();
    /// let host = Host::with_handle(runtime.handle().clone());
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
        let finish = self.reports.sink().ok_or(AttachError::Closed)?;
        let task = LaneTask::attach(self.bus(), Box::new(plugin), options, finish)?;
        let id = task.id();
        // Detached: the lane leaves its report in `reports` when it ends. On a
        // runtime that is shutting down tokio drops the task at once, and
        // the lane reports `Exit::Removed`.
        drop(self.runtime.spawn(task));
        Ok(id)
    }

    /// Attaches a plugin whose lane runs on a thread of its own instead of
    /// the runtime: for a plugin whose handler blocks (on I/O, a lock, a
    /// long computation), which would otherwise hold a worker thread, or
    /// the only thread of a current-thread runtime. The thread is named
    /// `plugbus-<plugin name>` and parks while idle.
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
    /// use plugbus_host_tokio::Host;
    ///
    /// let runtime = tokio::runtime::Builder::new_multi_thread().build().unwrap();
    /// let host = Host::with_handle(runtime.handle().clone());
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
    /// use plugbus_host_tokio::Host;
    ///
    /// let runtime = tokio::runtime::Builder::new_multi_thread().build().unwrap();
    /// let host = Host::with_handle(runtime.handle().clone());
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

    /// The blocking twin of [`send`](Host::send), for threads outside the
    /// runtime; see [`Sender::send_blocking`] for the caveat.
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
    /// use plugbus_host_tokio::Host;
    ///
    /// let runtime = tokio::runtime::Builder::new_multi_thread().build().unwrap();
    /// let host = Host::with_handle(runtime.handle().clone());
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
    pub async fn shutdown(mut self) -> Vec<Report> {
        self.bus().close();
        self.reports.collect().await
    }

    /// The blocking twin of [`shutdown`](Host::shutdown), for threads
    /// outside the runtime (on a current-thread runtime, the lanes only run
    /// while some thread drives it, so call this only where one does).
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

impl<M: Send + Sync + 'static> Default for Host<M> {
    /// As [`Host::new`]: a host on the current runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    fn default() -> Self {
        Self::new()
    }
}

impl<M: Send + Sync + 'static> Drop for Host<M> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<M: Send + Sync + 'static> fmt::Debug for Host<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("bus", self.bus())
            .finish_non_exhaustive()
    }
}
