//! The host: plugins attached as lanes on a [`Runtime`], and the async API
//! that sends to them and shuts them down.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::future::or;
use plugbus_core::ask::{self, Answers, Asking, Request};

use plugbus_core::lifecycle::{Factory, ReplaceError, Replaced, Replacement};
use plugbus_core::task::{LaneTask, Reports};
use plugbus_core::{
    AttachError, AttachOptions, Bus, DEFAULT_CAPACITY, Plugin, PluginId, PluginInfo, Report,
    SendError, Stats, TrySendError,
};

use crate::deadline::{Deadlines, Sleep};
use crate::lane_thread::LaneThread;
use crate::park::park_until_room;
use crate::runtime::Runtime;
use crate::sender::Sender;
use crate::watch::Watch;

/// A plugbus host with an async API: one task per plugin on the runtime
/// `R` (an executor of smol, a handle of tokio, or any [`Runtime`]).
///
/// `plugbus-host-smol` and `plugbus-host-tokio` name it `Host` with their
/// runtime filled in; their docs say what each runtime adds.
///
/// Each plugin's lane takes what was sent since its last turn as one batch
/// (up to 256 messages), then yields to the runtime, so a busy plugin
/// cannot starve the others on a thread. A lane with nothing to do sleeps
/// through its waker: an idle host uses no CPU.
///
/// # Throughput
/// Send from a task on the runtime the lanes run on rather than from a
/// thread outside it: the task shares the threads with the lanes and yields
/// to them while the ring is full, where an outside thread competes with
/// them for cores and parks and wakes each time.
/// [`send_batch`](Host::send_batch) publishes once per batch, which pays
/// off most when lanes would otherwise go to sleep between messages. The
/// `async_throughput` example of the workspace's `plugbus-tests` measures
/// both, on smol and tokio.
///
/// # Plugins that block
/// `handle_message` is synchronous. While it runs, it holds the thread its
/// task runs on: with several threads the other lanes go on running on the
/// others (though a runtime may keep a lane queued behind the blocked one),
/// and with one thread every lane, and every other task of the runtime,
/// waits until the handler returns. Attach such a plugin with
/// [`attach_on_thread`](Host::attach_on_thread): its lane gets a thread of
/// its own and blocks nobody.
///
/// # Dropping
/// Dropping the host without [`shutdown`](Host::shutdown) closes it (every
/// [`Sender`] then fails with `Closed`) and lets every lane drain what was
/// sent to it; the reports are discarded. If the runtime stops with the
/// host ([`Runtime::stops_with_host`]: an executor the host owns), the drop
/// waits until the lanes have drained; otherwise it does not block, the
/// lanes drain as the runtime runs them, and a lane whose task the runtime
/// drops before it ran drains while it is dropped. Either way no message
/// sent under `Block` goes unhandled.
///
/// A runtime that drops a lane while the host is still open (it shut down
/// first) cannot leave it draining messages that may still come: the plugin
/// is detached with [`Exit::Removed`](plugbus_core::Exit::Removed), and its
/// report counts what it handled.
///
/// # Example
/// ```
/// # use plugbus_host_async::Runtime;
/// # #[derive(Debug)]
/// # struct ThreadPerLane;
/// # impl Runtime for ThreadPerLane {
/// #     fn spawn<F: Future<Output = ()> + Send + 'static>(&self, lane: F) {
/// #         std::thread::spawn(move || futures_lite::future::block_on(lane));
/// #     }
/// # }
/// # type Host<M> = plugbus_host_async::Host<M, ThreadPerLane>;
/// use plugbus_core::{Flow, Message, Plugin};
///
/// struct Sum(u64);
/// impl Plugin<u64> for Sum {
///     fn handle_message(&mut self, message: &Message<u64>) -> Flow {
///         self.0 += **message;
///         Flow::Continue
///     }
/// }
///
/// let host = Host::on(ThreadPerLane);
/// host.attach(Sum(0))?;
/// host.attach(Sum(0))?;
/// let reports = futures_lite::future::block_on(async {
///     for n in 0..100 {
///         host.send(n).await?;
///     }
///     Ok::<_, plugbus_core::SendError<u64>>(host.shutdown().await)
/// })?;
/// assert!(reports.iter().all(|r| r.stats.handled == 100));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Host<M: Send + Sync + 'static, R: Runtime> {
    sender: Sender<M>,
    reports: Reports,
    runtime: R,
}

impl<M: Send + Sync + 'static, R: Runtime + Default> Host<M, R> {
    /// A host on the runtime's default (for tokio, the current runtime),
    /// with a ring of [`DEFAULT_CAPACITY`] messages.
    pub fn new() -> Self {
        Self::on(R::default())
    }

    /// A host on the runtime's default whose ring holds at least `capacity`
    /// messages (rounded up to a power of two, at most
    /// [`MAX_HEAP_CAPACITY`](plugbus_core::ring::MAX_HEAP_CAPACITY)): how
    /// far a `Block` plugin may lag before senders wait.
    pub fn with_capacity(capacity: usize) -> Self {
        Self::on_with_capacity(R::default(), capacity)
    }
}

impl<M: Send + Sync + 'static, R: Runtime> Host<M, R> {
    /// A host whose lanes run on `runtime` (or on what converts into it: a
    /// smol executor, a tokio handle), with a ring of [`DEFAULT_CAPACITY`]
    /// messages.
    pub fn on(runtime: impl Into<R>) -> Self {
        Self::on_with_capacity(runtime, DEFAULT_CAPACITY)
    }

    /// A host whose lanes run on `runtime`, with a ring of at least
    /// `capacity` messages (see [`with_capacity`](Host::with_capacity)).
    ///
    /// # Example
    /// ```
    /// # use plugbus_host_async::Runtime;
    /// # #[derive(Debug)]
    /// # struct ThreadPerLane;
    /// # impl Runtime for ThreadPerLane {
    /// #     fn spawn<F: Future<Output = ()> + Send + 'static>(&self, lane: F) {
    /// #         std::thread::spawn(move || futures_lite::future::block_on(lane));
    /// #     }
    /// # }
    /// # type Host<M> = plugbus_host_async::Host<M, ThreadPerLane>;
    /// let host = Host::<u32>::on_with_capacity(ThreadPerLane, 100);
    /// assert_eq!(host.capacity(), 128);
    /// ```
    pub fn on_with_capacity(runtime: impl Into<R>, capacity: usize) -> Self {
        Host {
            sender: Sender::new(Bus::with_capacity(capacity)),
            reports: Reports::new(),
            runtime: runtime.into(),
        }
    }

    /// The runtime the lanes run on.
    pub fn runtime(&self) -> &R {
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

    /// Attaches an [`AsyncPlugin`](plugbus_core::AsyncPlugin) as a task
    /// on the runtime: the same as `attach(Async::new(plugin))` (see
    /// [`Async`](plugbus_core::Async); with options, or supervised, attach
    /// an `Async` with those calls). The lane's task awaits each handler's
    /// future and sleeps while it waits, so the runtime's timers and I/O
    /// work inside the handler.
    ///
    /// # Errors
    /// See [`attach_with`](Host::attach_with).
    pub fn attach_async(
        &self,
        plugin: impl plugbus_core::AsyncPlugin<M>,
    ) -> Result<PluginId, AttachError> {
        self.attach(plugbus_core::Async::new(plugin))
    }

    /// Attaches a plugin as a task on the runtime; it sees exactly the
    /// messages sent after this returns.
    ///
    /// # Example
    /// ```
    /// # use plugbus_host_async::Runtime;
    /// # #[derive(Debug)]
    /// # struct ThreadPerLane;
    /// # impl Runtime for ThreadPerLane {
    /// #     fn spawn<F: Future<Output = ()> + Send + 'static>(&self, lane: F) {
    /// #         std::thread::spawn(move || futures_lite::future::block_on(lane));
    /// #     }
    /// # }
    /// # type Host<M> = plugbus_host_async::Host<M, ThreadPerLane>;
    /// # struct Count;
    /// # impl plugbus_core::Plugin<u64> for Count {
    /// #     fn handle_message(&mut self, _: &plugbus_core::Message<u64>) -> plugbus_core::Flow {
    /// #         plugbus_core::Flow::Continue
    /// #     }
    /// # }
    /// use plugbus_core::{AttachOptions, Overflow};
    ///
    /// let host = Host::on(ThreadPerLane);
    /// let options = AttachOptions::new()
    ///     .capacity(16)
    ///     .overflow(Overflow::DropOldest)
    ///     .name("metrics");
    /// let id = host.attach_with(Count, options)?;
    /// assert_eq!(host.plugins()[0].id, id);
    /// assert_eq!(host.plugins()[0].name, "metrics");
    /// # Ok::<(), plugbus_core::AttachError>(())
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
        self.spawn_watched(options, |options, finish| {
            LaneTask::attach(self.bus(), plugin, options, finish)
        })
    }

    /// Attaches a supervised plugin: `factory` builds its first instance now
    /// and a fresh one each time its lane restarts it, as `options` say
    /// ([`AttachOptions::restart`], [`AttachOptions::intensity`],
    /// [`AttachOptions::backoff`]). The message whose handling panicked is
    /// not handed to the new instance (it is counted as dead-lettered);
    /// every other message is, in order. A backoff waits on a timer, never
    /// on the runtime's threads.
    ///
    /// # Errors
    /// As [`attach_with`](Host::attach_with); [`AttachError::Factory`] if
    /// the factory could not build the first instance.
    pub fn attach_supervised(
        &self,
        factory: impl Factory<M>,
        options: AttachOptions,
    ) -> Result<PluginId, AttachError> {
        self.spawn_watched(options, |options, finish| {
            LaneTask::attach_supervised(self.bus(), factory, options, finish)
        })
    }

    /// Attaches a lane with `attach` and spawns it under a [`Watch`] (its
    /// logs and metrics), with the host's timer for its backoff.
    fn spawn_watched(
        &self,
        options: AttachOptions,
        attach: impl FnOnce(AttachOptions, Finish) -> Result<LaneTask<M, Finish>, AttachError>,
    ) -> Result<PluginId, AttachError> {
        let sink = self.reports.sink().ok_or(AttachError::Closed)?;
        // The lane's watch is made once the bus has given it its id; the
        // lane cannot end before it is spawned, after the watch is set.
        let exit = Arc::new(OnceLock::<Watch>::new());
        let finish: Finish = {
            let exit = exit.clone();
            Box::new(move |report: Report| {
                if let Some(watch) = exit.get() {
                    watch.finished(&report);
                }
                sink(report);
            })
        };
        let (overflow, capacity) = (options.get_overflow(), options.get_capacity());
        let lane = attach(options, finish)?.timer(Arc::new(Deadlines));
        let id = lane.id();
        let capacity = capacity.unwrap_or(self.capacity());
        let watch = Watch::attached(id, lane.name().unwrap_or(""), overflow, capacity);
        let _ = exit.set(watch.clone());
        self.runtime.spawn(Watched { lane, watch });
        Ok(id)
    }

    /// Replaces a plugin's instance with `plugin`. Its lane makes the swap
    /// between two batches, so no message is handled twice, skipped or
    /// reordered (messages sent meanwhile wait in the ring); the old
    /// instance hands over its state and hears
    /// `on_detach(Exit::Replaced)`, the new one takes the state and
    /// `on_attach` with the same id. Resolves once the swap happened.
    ///
    /// # Errors
    /// [`ReplaceError::NotAttached`] if no such plugin is attached (or it
    /// left before its lane came to the swap); [`ReplaceError::Panicked`]
    /// if the new instance panicked as it started (the old one runs on).
    pub async fn replace(
        &self,
        id: PluginId,
        plugin: impl Plugin<M>,
    ) -> Result<Replaced, ReplaceError> {
        self.replace_with(id, Replacement::new(plugin)).await
    }

    /// [`replace`](Host::replace) with a new factory for later restarts,
    /// or a rollback (see [`Replacement`]).
    ///
    /// # Errors
    /// As [`replace`](Host::replace).
    pub async fn replace_with(
        &self,
        id: PluginId,
        replacement: Replacement<M>,
    ) -> Result<Replaced, ReplaceError> {
        self.bus().replace(id, replacement)?.await
    }

    /// [`replace`](Host::replace), blocking the calling thread.
    ///
    /// # Errors
    /// As [`replace`](Host::replace).
    pub fn replace_blocking(
        &self,
        id: PluginId,
        plugin: impl Plugin<M>,
    ) -> Result<Replaced, ReplaceError> {
        self.replace_with_blocking(id, Replacement::new(plugin))
    }

    /// [`replace_with`](Host::replace_with), blocking the calling thread.
    ///
    /// # Errors
    /// As [`replace`](Host::replace).
    pub fn replace_with_blocking(
        &self,
        id: PluginId,
        replacement: Replacement<M>,
    ) -> Result<Replaced, ReplaceError> {
        self.bus().replace(id, replacement)?.wait_blocking()
    }

    /// Attaches a plugin whose lane runs on a thread of its own instead of
    /// the runtime ([`LaneThread`]): for a plugin whose handler blocks (on
    /// I/O, a lock, a long computation), which would otherwise hold a
    /// thread of the runtime, or the only one. The thread is named
    /// `plugbus-<plugin name>` and parks while idle.
    ///
    /// # Example
    /// ```
    /// # use plugbus_host_async::Runtime;
    /// # #[derive(Debug)]
    /// # struct ThreadPerLane;
    /// # impl Runtime for ThreadPerLane {
    /// #     fn spawn<F: Future<Output = ()> + Send + 'static>(&self, lane: F) {
    /// #         std::thread::spawn(move || futures_lite::future::block_on(lane));
    /// #     }
    /// # }
    /// # type Host<M> = plugbus_host_async::Host<M, ThreadPerLane>;
    /// # struct Count;
    /// # impl plugbus_core::Plugin<u64> for Count {
    /// #     fn handle_message(&mut self, _: &plugbus_core::Message<u64>) -> plugbus_core::Flow {
    /// #         plugbus_core::Flow::Continue
    /// #     }
    /// # }
    /// use plugbus_core::AttachOptions;
    ///
    /// let host = Host::on(ThreadPerLane);
    /// host.attach_on_thread(Count, AttachOptions::new().name("disk"))?;
    /// host.send_blocking(1)?;
    /// assert_eq!(host.shutdown_blocking()[0].stats.handled, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
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
        let (id, _detached) = lane_thread.spawn(self.bus(), plugin, options, finish)?;
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
    /// # use plugbus_host_async::Runtime;
    /// # #[derive(Debug)]
    /// # struct ThreadPerLane;
    /// # impl Runtime for ThreadPerLane {
    /// #     fn spawn<F: Future<Output = ()> + Send + 'static>(&self, lane: F) {
    /// #         std::thread::spawn(move || futures_lite::future::block_on(lane));
    /// #     }
    /// # }
    /// # type Host<M> = plugbus_host_async::Host<M, ThreadPerLane>;
    /// # struct Count;
    /// # impl plugbus_core::Plugin<u64> for Count {
    /// #     fn handle_message(&mut self, _: &plugbus_core::Message<u64>) -> plugbus_core::Flow {
    /// #         plugbus_core::Flow::Continue
    /// #     }
    /// # }
    /// use plugbus_core::{AttachOptions, Overflow, SendError, TrySendError};
    ///
    /// let host = Host::on(ThreadPerLane);
    /// host.attach_with(Count, AttachOptions::new().overflow(Overflow::Reject).capacity(1))?;
    /// // Either the first message is still queued and the second is
    /// // refused, or the plugin already took it.
    /// host.try_send(1)?;
    /// match host.try_send(2) {
    ///     Ok(()) => {}
    ///     Err(TrySendError::Failed(SendError::Rejected { value, refused })) => {
    ///         assert_eq!((value, refused.len()), (2, 1));
    ///     }
    ///     Err(other) => panic!("{other}"),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`Sender::try_send`].
    pub fn try_send(&self, value: M) -> Result<(), TrySendError<M>> {
        self.sender.try_send(value)
    }

    /// Sends many messages in order, publishing them in batches; returns
    /// how many were sent. See [`Sender::send_batch`].
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

    /// The blocking twin of [`send_batch`](Host::send_batch); see
    /// [`Sender::send_blocking`] for the caveat.
    ///
    /// # Errors
    /// As [`Sender::send_batch`].
    pub fn send_batch_blocking<I>(&self, values: I) -> Result<usize, SendError<Vec<M>>>
    where
        I: IntoIterator<Item = M>,
    {
        self.sender.send_batch_blocking(values)
    }

    /// Asks every plugin a question and collects the answers, each with
    /// its plugin's id, for at most `timeout` (see
    /// [`plugbus_core::ask`] for who is waited for). `make` puts the
    /// [`Request`] into a message; it is sent as [`send`](Host::send)
    /// sends, awaiting room under `Block` (that wait counts in `timeout`).
    /// Returns as soon as every plugin asked has settled, or at the
    /// timeout, woken by a thread this crate keeps for deadlines (the
    /// runtime needs no timer).
    ///
    /// # Example
    /// ```
    /// # use std::future::Future;
    /// # #[derive(Debug)]
    /// # struct ThreadPerLane;
    /// # impl plugbus_host_async::Runtime for ThreadPerLane {
    /// #     fn spawn<F: Future<Output = ()> + Send + 'static>(&self, lane: F) {
    /// #         std::thread::spawn(move || futures_lite::future::block_on(lane));
    /// #     }
    /// # }
    /// use std::time::Duration;
    /// use plugbus_host_async::ask::Request;
    /// use plugbus_host_async::{Flow, Message, Plugin, PluginId};
    ///
    /// struct Square(Option<PluginId>);
    /// impl Plugin<Request<u64, u64>> for Square {
    ///     fn on_attach(&mut self, id: PluginId) {
    ///         self.0 = Some(id);
    ///     }
    ///     fn handle_message(&mut self, request: &Message<Request<u64, u64>>) -> Flow {
    ///         let n = *request.question();
    ///         let _ = request.answer(self.0.unwrap(), n * n);
    ///         Flow::Continue
    ///     }
    /// }
    ///
    /// let host = plugbus_host_async::Host::<_, ThreadPerLane>::on(ThreadPerLane);
    /// let id = host.attach(Square(None))?;
    /// let answers = futures_lite::future::block_on(
    ///     host.ask(|request| request, 12, Duration::from_secs(5)),
    /// )?;
    /// assert_eq!(answers.get(id), Some(&144));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`send`](Host::send), with the message `make` made.
    pub async fn ask<Q, A: Send + Sync + 'static>(
        &self,
        make: impl FnOnce(Request<Q, A>) -> M,
        question: Q,
        timeout: Duration,
    ) -> Result<Answers<A>, SendError<M>> {
        let deadline = Instant::now().checked_add(timeout);
        let (asking, message) = Asking::new(self.bus(), make, question, deadline);
        ask::send(self.bus(), message).await?;
        match deadline {
            Some(deadline) => or(asking.done(), Sleep::until(deadline)).await,
            None => asking.done().await,
        }
        Ok(asking.finish())
    }

    /// The blocking twin of [`ask`](Host::ask), for threads outside the
    /// runtime: waits for room and answers by parking the thread (no
    /// timer thread).
    ///
    /// # Errors
    /// As [`send`](Host::send), with the message `make` made.
    pub fn ask_blocking<Q, A: Send + Sync + 'static>(
        &self,
        make: impl FnOnce(Request<Q, A>) -> M,
        question: Q,
        timeout: Duration,
    ) -> Result<Answers<A>, SendError<M>> {
        let deadline = Instant::now().checked_add(timeout);
        let (asking, message) = Asking::new(self.bus(), make, question, deadline);
        ask::send_with(self.bus(), message, park_until_room)?;
        asking.wait_blocking();
        Ok(asking.finish())
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
    /// # use plugbus_host_async::Runtime;
    /// # #[derive(Debug)]
    /// # struct ThreadPerLane;
    /// # impl Runtime for ThreadPerLane {
    /// #     fn spawn<F: Future<Output = ()> + Send + 'static>(&self, lane: F) {
    /// #         std::thread::spawn(move || futures_lite::future::block_on(lane));
    /// #     }
    /// # }
    /// # type Host<M> = plugbus_host_async::Host<M, ThreadPerLane>;
    /// # struct Count;
    /// # impl plugbus_core::Plugin<u64> for Count {
    /// #     fn handle_message(&mut self, _: &plugbus_core::Message<u64>) -> plugbus_core::Flow {
    /// #         plugbus_core::Flow::Continue
    /// #     }
    /// # }
    /// let host = Host::on(ThreadPerLane);
    /// let id = host.attach(Count)?;
    /// assert_eq!(host.stats(id).map(|s| s.handled), Some(0));
    /// assert!(host.detach(id));
    /// let reports = host.shutdown_blocking();
    /// assert_eq!(reports[0].exit, plugbus_core::Exit::Removed);
    /// # Ok::<(), plugbus_core::AttachError>(())
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
    /// The runtime must keep running the lanes meanwhile.
    pub async fn shutdown(mut self) -> Vec<Report> {
        self.bus().close();
        self.reports.collect().await
    }

    /// The blocking twin of [`shutdown`](Host::shutdown), for threads
    /// outside async code. Call it only where the runtime keeps running the
    /// lanes meanwhile (not on its only thread).
    pub fn shutdown_blocking(mut self) -> Vec<Report> {
        self.bus().close();
        self.reports.collect_blocking()
    }
}

impl<M: Send + Sync + 'static, R: Runtime + Default> Default for Host<M, R> {
    /// As [`Host::new`]: a host on the runtime's default.
    fn default() -> Self {
        Self::new()
    }
}

impl<M: Send + Sync + 'static, R: Runtime> Drop for Host<M, R> {
    fn drop(&mut self) {
        // No more messages nor plugins: the lanes drain and report, and
        // collecting the reports ends once the last one has.
        self.bus().close();
        self.reports.close();
        if self.runtime.stops_with_host() {
            // The runtime's threads stop when it drops, right after this:
            // wait until every lane has drained, or messages would be lost
            // with them.
            drop(self.reports.collect_blocking());
        }
    }
}

impl<M: Send + Sync + 'static, R: Runtime + fmt::Debug> fmt::Debug for Host<M, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("bus", self.bus())
            .field("runtime", &self.runtime)
            .finish_non_exhaustive()
    }
}

/// What a lane of this host calls with its report when it ends.
type Finish = Box<dyn FnOnce(Report) + Send + 'static>;

/// A lane's task with its watch, which looks at the lane's counters after
/// each poll (see [`Watch`]: not per message).
struct Watched<M: Send + Sync + 'static, F: FnOnce(Report)> {
    lane: LaneTask<M, F>,
    watch: Watch,
}

impl<M: Send + Sync + 'static, F: FnOnce(Report)> Future for Watched<M, F> {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // `LaneTask` and `Watch` are `Unpin`.
        let this = self.get_mut();
        let poll = this.watch.within(|| Pin::new(&mut this.lane).poll(cx));
        if poll.is_pending() {
            this.watch.polled(|| this.lane.stats());
        }
        poll
    }
}
