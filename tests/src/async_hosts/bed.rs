//! The runtimes the scenarios run on, and the API both async hosts share.

use std::future::Future;

use async_executor::Executor;
use plugbus_core::{
    AttachError, AttachOptions, Plugin, PluginId, PluginInfo, Report, SendError, Stats,
    TrySendError,
};
use plugbus_host_async::{Host, Runtime, Sender};

/// A runtime with the scenarios' view of it: how to start it, put a host on
/// it, and drive it.
pub trait Bed: Sized {
    /// Names the host and runtime in failure messages.
    const NAME: &'static str;
    /// The host on this runtime, for message type `M`.
    type Host<'a, M: Send + Sync + 'static>: AsyncTestHost<M>
    where
        Self: 'a;
    /// A fresh runtime.
    fn start() -> Self;
    /// A host on this runtime whose ring holds `capacity` messages.
    fn host<M: Send + Sync + 'static>(&self, capacity: usize) -> Self::Host<'_, M>;
    /// Runs `future` to the end on this thread, driving the runtime
    /// meanwhile if nothing else does.
    fn block_on<T>(&self, future: impl Future<Output = T>) -> T;
}

/// A runtime that runs on threads of its own: lanes make progress while
/// the caller blocks outside it.
pub trait RunsItself: Bed {}

/// A runtime that runs only inside [`Bed::block_on`], on the caller's
/// thread alone: what is spawned before waits until then.
pub trait IdleBed: Bed {}

/// What the scenarios call on a host: the API of the async host, which
/// smol's and tokio's are.
pub trait AsyncTestHost<M: Send + Sync + 'static>: Send + Sync + Sized {
    /// The host's cloneable sending handle.
    type Sender: TestSender<M>;
    /// Attaches a plugin with the default options, as a task.
    fn attach(&self, plugin: impl Plugin<M>) -> Result<PluginId, AttachError>;
    /// Attaches a plugin as a task.
    fn attach_with(
        &self,
        plugin: impl Plugin<M>,
        options: AttachOptions,
    ) -> Result<PluginId, AttachError>;
    /// Attaches a plugin whose lane runs on a thread of its own.
    fn attach_on_thread(
        &self,
        plugin: impl Plugin<M>,
        options: AttachOptions,
    ) -> Result<PluginId, AttachError>;
    /// Sends, waiting under `Block`.
    fn send(&self, value: M) -> impl Future<Output = Result<(), SendError<M>>> + Send;
    /// Sends a batch, waiting under `Block`.
    fn send_batch<I>(
        &self,
        values: I,
    ) -> impl Future<Output = Result<usize, SendError<Vec<M>>>> + Send
    where
        I: IntoIterator<Item = M> + Send,
        I::IntoIter: Send;
    /// Sends without waiting.
    fn try_send(&self, value: M) -> Result<(), TrySendError<M>>;
    /// The host's sending handle.
    fn sender(&self) -> Self::Sender;
    /// Asks a plugin to leave.
    fn detach(&self, id: PluginId) -> bool;
    /// A plugin's counters now.
    fn stats(&self, id: PluginId) -> Option<Stats>;
    /// Every attached plugin.
    fn plugins(&self) -> Vec<PluginInfo>;
    /// Shuts down, draining, and returns the reports by id.
    fn shutdown(self) -> impl Future<Output = Vec<Report>> + Send;
    /// The blocking twin of `shutdown`.
    fn shutdown_blocking(self) -> Vec<Report>;
}

/// What the scenarios call on a host's sending handle.
pub trait TestSender<M: Send + Sync + 'static>: Clone + Send + Sync + 'static {
    /// Sends, waiting under `Block`.
    fn send(&self, value: M) -> impl Future<Output = Result<(), SendError<M>>> + Send;
    /// Sends without waiting.
    fn try_send(&self, value: M) -> Result<(), TrySendError<M>>;
    /// The blocking twin of `send`.
    fn send_blocking(&self, value: M) -> Result<(), SendError<M>>;
    /// Sends a batch from outside async code.
    fn send_batch_blocking(&self, values: Vec<M>) -> Result<usize, SendError<Vec<M>>>;
    /// Whether the host is shut down.
    fn is_closed(&self) -> bool;
}

impl<M: Send + Sync + 'static, R: Runtime> AsyncTestHost<M> for Host<M, R> {
    type Sender = Sender<M>;
    fn attach(&self, plugin: impl Plugin<M>) -> Result<PluginId, AttachError> {
        Host::attach(self, plugin)
    }
    fn attach_with(
        &self,
        plugin: impl Plugin<M>,
        options: AttachOptions,
    ) -> Result<PluginId, AttachError> {
        Host::attach_with(self, plugin, options)
    }
    fn attach_on_thread(
        &self,
        plugin: impl Plugin<M>,
        options: AttachOptions,
    ) -> Result<PluginId, AttachError> {
        Host::attach_on_thread(self, plugin, options)
    }
    fn send(&self, value: M) -> impl Future<Output = Result<(), SendError<M>>> + Send {
        Host::send(self, value)
    }
    fn send_batch<I>(
        &self,
        values: I,
    ) -> impl Future<Output = Result<usize, SendError<Vec<M>>>> + Send
    where
        I: IntoIterator<Item = M> + Send,
        I::IntoIter: Send,
    {
        Host::send_batch(self, values)
    }
    fn try_send(&self, value: M) -> Result<(), TrySendError<M>> {
        Host::try_send(self, value)
    }
    fn sender(&self) -> Sender<M> {
        Host::sender(self)
    }
    fn detach(&self, id: PluginId) -> bool {
        Host::detach(self, id)
    }
    fn stats(&self, id: PluginId) -> Option<Stats> {
        Host::stats(self, id)
    }
    fn plugins(&self) -> Vec<PluginInfo> {
        Host::plugins(self)
    }
    fn shutdown(self) -> impl Future<Output = Vec<Report>> + Send {
        Host::shutdown(self)
    }
    fn shutdown_blocking(self) -> Vec<Report> {
        Host::shutdown_blocking(self)
    }
}

impl<M: Send + Sync + 'static> TestSender<M> for Sender<M> {
    fn send(&self, value: M) -> impl Future<Output = Result<(), SendError<M>>> + Send {
        Sender::send(self, value)
    }
    fn try_send(&self, value: M) -> Result<(), TrySendError<M>> {
        Sender::try_send(self, value)
    }
    fn send_blocking(&self, value: M) -> Result<(), SendError<M>> {
        Sender::send_blocking(self, value)
    }
    fn send_batch_blocking(&self, values: Vec<M>) -> Result<usize, SendError<Vec<M>>> {
        Sender::send_batch_blocking(self, values)
    }
    fn is_closed(&self) -> bool {
        Sender::is_closed(self)
    }
}

/// `plugbus-host-smol` on an executor it owns, run by threads of its own.
#[derive(Debug, Clone, Copy)]
pub struct SmolOwned {
    threads: usize,
}

impl SmolOwned {
    /// An executor with `threads` threads for each host.
    pub fn with_threads(threads: usize) -> Self {
        SmolOwned { threads }
    }
}

impl Bed for SmolOwned {
    const NAME: &'static str = "host-smol (owned executor)";
    type Host<'a, M: Send + Sync + 'static> = plugbus_host_smol::Host<'static, M>;
    /// Two executor threads.
    fn start() -> Self {
        Self::with_threads(2)
    }
    fn host<M: Send + Sync + 'static>(&self, capacity: usize) -> Self::Host<'_, M> {
        plugbus_host_smol::Builder::new()
            .capacity(capacity)
            .threads(self.threads)
            .build()
            .expect("start a smol executor")
    }
    fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        futures_lite::future::block_on(future)
    }
}

impl RunsItself for SmolOwned {}

/// `plugbus-host-smol` on the caller's executor, run by the caller's
/// thread alone inside [`Bed::block_on`].
#[derive(Debug)]
pub struct SmolBorrowed {
    executor: Executor<'static>,
}

impl Bed for SmolBorrowed {
    const NAME: &'static str = "host-smol (borrowed executor, one thread)";
    type Host<'a, M: Send + Sync + 'static> = plugbus_host_smol::Host<'a, M>;
    fn start() -> Self {
        SmolBorrowed {
            executor: Executor::new(),
        }
    }
    fn host<M: Send + Sync + 'static>(&self, capacity: usize) -> Self::Host<'_, M> {
        plugbus_host_smol::Host::on_with_capacity(&self.executor, capacity)
    }
    fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        futures_lite::future::block_on(self.executor.run(future))
    }
}

impl IdleBed for SmolBorrowed {}

/// `plugbus-host-tokio` on a multi-thread runtime with two workers.
#[derive(Debug)]
pub struct TokioMultiThread(tokio::runtime::Runtime);

impl Bed for TokioMultiThread {
    const NAME: &'static str = "host-tokio (multi-thread, 2 workers)";
    type Host<'a, M: Send + Sync + 'static> = plugbus_host_tokio::Host<M>;
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .expect("start a tokio runtime");
        TokioMultiThread(runtime)
    }
    /// Made on the current runtime (`Host::with_capacity`), as inside it.
    fn host<M: Send + Sync + 'static>(&self, capacity: usize) -> Self::Host<'_, M> {
        let _inside = self.0.enter();
        plugbus_host_tokio::Host::with_capacity(capacity)
    }
    fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        self.0.block_on(future)
    }
}

impl RunsItself for TokioMultiThread {}

/// `plugbus-host-tokio` on a current-thread runtime, run by the caller's
/// thread inside [`Bed::block_on`].
#[derive(Debug)]
pub struct TokioCurrentThread(tokio::runtime::Runtime);

impl Bed for TokioCurrentThread {
    const NAME: &'static str = "host-tokio (current-thread)";
    type Host<'a, M: Send + Sync + 'static> = plugbus_host_tokio::Host<M>;
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("start a tokio runtime");
        TokioCurrentThread(runtime)
    }
    /// Made on the runtime's handle (`Host::on_with_capacity`).
    fn host<M: Send + Sync + 'static>(&self, capacity: usize) -> Self::Host<'_, M> {
        plugbus_host_tokio::Host::on_with_capacity(self.0.handle().clone(), capacity)
    }
    fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        self.0.block_on(future)
    }
}

impl IdleBed for TokioCurrentThread {}
