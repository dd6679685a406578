//! Adapters of the hosts to [`TestHost`].

use std::time::Duration;

use plugbus_core::ask::{Answers, Request};
use plugbus_core::lifecycle::{Factory, ReplaceError, Replaced, Replacement};
use plugbus_core::{
    AttachError, AttachOptions, LocalHost, Plugin, PluginId, Report, SendError, Stats, TrySendError,
};

use super::{Family, SendFn, TestHost};
use crate::watch::waiting;

/// The poll-driven [`LocalHost`], the reference semantics.
#[derive(Debug)]
pub struct Local;

impl Family for Local {
    const NAME: &'static str = "LocalHost";
    const CONCURRENT: bool = false;
    type Host<M: Send + Sync + 'static> = LocalHost<M>;
    fn host<M: Send + Sync + 'static>(capacity: usize) -> LocalHost<M> {
        LocalHost::with_capacity(capacity)
    }
}

impl<M: Send + Sync + 'static> TestHost<M> for LocalHost<M> {
    fn attach_with(
        &mut self,
        plugin: Box<dyn Plugin<M>>,
        options: AttachOptions,
    ) -> Result<PluginId, AttachError> {
        LocalHost::attach_with(self, plugin, options)
    }
    fn send(&mut self, value: M) -> Result<(), SendError<M>> {
        let _wait = waiting("a send (the lanes to make room)");
        LocalHost::send(self, value)
    }
    fn try_send(&mut self, value: M) -> Result<(), TrySendError<M>> {
        LocalHost::try_send(self, value)
    }
    fn sender(&self) -> Option<SendFn<M>> {
        None
    }
    fn send_batch(&mut self, values: Vec<M>) -> Result<usize, SendError<Vec<M>>> {
        let _wait = waiting("a batch send (the lanes to make room)");
        LocalHost::send_batch(self, values)
    }
    fn run_pending(&mut self) {
        let _wait = waiting("the lanes to run until idle");
        self.run_until_idle();
    }
    fn detach(&mut self, id: PluginId) -> bool {
        LocalHost::detach(self, id)
    }
    fn stats(&self, id: PluginId) -> Option<Stats> {
        LocalHost::stats(self, id)
    }
    fn shutdown(self) -> Vec<Report> {
        let _wait = waiting("shutdown (every lane to drain and finish)");
        LocalHost::shutdown(self)
    }
    fn ask<Q, A: Send + Sync + 'static>(
        &mut self,
        make: impl FnOnce(Request<Q, A>) -> M,
        question: Q,
        timeout: Duration,
    ) -> Result<Answers<A>, SendError<M>> {
        let _wait = waiting("ask to return");
        LocalHost::ask(self, make, question, timeout)
    }
    fn attach_supervised(
        &mut self,
        factory: impl Factory<M>,
        options: AttachOptions,
    ) -> Result<PluginId, AttachError> {
        LocalHost::attach_supervised(self, factory, options)
    }
    fn replace_with(
        &mut self,
        id: PluginId,
        replacement: Replacement<M>,
    ) -> Result<Replaced, ReplaceError> {
        LocalHost::replace_with(self, id, replacement)
    }
}

/// Implements [`TestHost`] for an adapter whose `host` field has the std,
/// smol or tokio host's blocking API.
macro_rules! blocking_adapter {
    ($adapter:ident) => {
        impl<M: Send + Sync + 'static> TestHost<M> for $adapter<M> {
            fn attach_with(
                &mut self,
                plugin: Box<dyn Plugin<M>>,
                options: AttachOptions,
            ) -> Result<PluginId, AttachError> {
                self.host().attach_with(plugin, options)
            }
            fn send(&mut self, value: M) -> Result<(), SendError<M>> {
                let _wait = waiting("a send (a lane to make room)");
                self.host().send_blocking(value)
            }
            fn try_send(&mut self, value: M) -> Result<(), TrySendError<M>> {
                self.host().try_send(value)
            }
            fn sender(&self) -> Option<SendFn<M>> {
                let sender = self.host().sender();
                Some(Box::new(move |value| sender.send_blocking(value)))
            }
            fn send_batch(&mut self, values: Vec<M>) -> Result<usize, SendError<Vec<M>>> {
                let _wait = waiting("a batch send (a lane to make room)");
                self.host().send_batch_blocking(values)
            }
            fn run_pending(&mut self) {}
            fn detach(&mut self, id: PluginId) -> bool {
                self.host().detach(id)
            }
            fn stats(&self, id: PluginId) -> Option<Stats> {
                self.host().stats(id)
            }
            fn shutdown(mut self) -> Vec<Report> {
                let host = self.host.take().expect("shut down once");
                let _wait = waiting("shutdown (every lane to drain and report)");
                host.shutdown_blocking()
            }
            fn ask<Q, A: Send + Sync + 'static>(
                &mut self,
                make: impl FnOnce(Request<Q, A>) -> M,
                question: Q,
                timeout: Duration,
            ) -> Result<Answers<A>, SendError<M>> {
                let _wait = waiting("ask to return");
                futures_lite::future::block_on(self.host().ask(make, question, timeout))
            }
            fn ask_blocking<Q, A: Send + Sync + 'static>(
                &mut self,
                make: impl FnOnce(Request<Q, A>) -> M,
                question: Q,
                timeout: Duration,
            ) -> Result<Answers<A>, SendError<M>> {
                let _wait = waiting("ask_blocking to return");
                self.host().ask_blocking(make, question, timeout)
            }
            fn attach_supervised(
                &mut self,
                factory: impl Factory<M>,
                options: AttachOptions,
            ) -> Result<PluginId, AttachError> {
                self.host().attach_supervised(factory, options)
            }
            fn replace_with(
                &mut self,
                id: PluginId,
                replacement: Replacement<M>,
            ) -> Result<Replaced, ReplaceError> {
                let _wait = waiting("replace_with_blocking to return");
                self.host().replace_with_blocking(id, replacement)
            }
        }
    };
}

/// `plugbus-host-smol` on an executor it owns, with two threads.
#[derive(Debug)]
pub struct Smol;

/// A smol host under test.
#[derive(Debug)]
pub struct SmolHost<M: Send + Sync + 'static> {
    host: Option<plugbus_host_smol::Host<'static, M>>,
}

impl<M: Send + Sync + 'static> SmolHost<M> {
    fn host(&self) -> &plugbus_host_smol::Host<'static, M> {
        self.host.as_ref().expect("not shut down")
    }
}

impl Family for Smol {
    const NAME: &'static str = "host-smol (2 executor threads)";
    const CONCURRENT: bool = true;
    type Host<M: Send + Sync + 'static> = SmolHost<M>;
    fn host<M: Send + Sync + 'static>(capacity: usize) -> SmolHost<M> {
        let host = plugbus_host_smol::Builder::new()
            .capacity(capacity)
            .threads(2)
            .build()
            .expect("start a smol executor");
        SmolHost { host: Some(host) }
    }
}

blocking_adapter!(SmolHost);

/// `plugbus-host-tokio` on a multi-thread runtime with two workers.
#[derive(Debug)]
pub struct TokioMulti;

/// `plugbus-host-tokio` on a current-thread runtime, driven by one thread
/// of its own (the test thread sends from outside it).
#[derive(Debug)]
pub struct TokioCurrent;

/// A tokio host under test, with the runtime it runs on.
#[derive(Debug)]
pub struct TokioHost<M: Send + Sync + 'static> {
    host: Option<plugbus_host_tokio::Host<M>>,
    /// Stops the thread that drives a current-thread runtime.
    driver: Option<(
        tokio::sync::oneshot::Sender<()>,
        std::thread::JoinHandle<()>,
    )>,
    runtime: std::sync::Arc<tokio::runtime::Runtime>,
}

impl<M: Send + Sync + 'static> TokioHost<M> {
    fn host(&self) -> &plugbus_host_tokio::Host<M> {
        self.host.as_ref().expect("not shut down")
    }

    fn on(runtime: tokio::runtime::Runtime, capacity: usize, drive: bool) -> Self {
        let runtime = std::sync::Arc::new(runtime);
        let driver = drive.then(|| {
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let rt = runtime.clone();
            let thread = std::thread::Builder::new()
                .name("current-thread runtime".into())
                .spawn(move || {
                    let _ = rt.block_on(stopped);
                })
                .expect("spawn the runtime's driver");
            (stop, thread)
        });
        let host = plugbus_host_tokio::Host::on_with_capacity(runtime.handle().clone(), capacity);
        TokioHost {
            host: Some(host),
            driver,
            runtime,
        }
    }
}

impl<M: Send + Sync + 'static> Drop for TokioHost<M> {
    fn drop(&mut self) {
        if let Some(host) = self.host.take() {
            drop(host.shutdown_blocking());
        }
        if let Some((stop, thread)) = self.driver.take() {
            let _ = stop.send(());
            let _ = thread.join();
        }
        let _ = &self.runtime;
    }
}

impl Family for TokioMulti {
    const NAME: &'static str = "host-tokio (multi-thread, 2 workers)";
    const CONCURRENT: bool = true;
    type Host<M: Send + Sync + 'static> = TokioHost<M>;
    fn host<M: Send + Sync + 'static>(capacity: usize) -> TokioHost<M> {
        const WORKERS: usize = 2;
        let started = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = started.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .on_thread_start(move || {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            })
            .build()
            .expect("start a tokio runtime");
        // Every worker thread running before the host is used: on a loaded
        // machine a worker may start only after the first messages went
        // through the other one, and its thread start-up (the standard
        // library allocates the thread's name for its stack-overflow
        // handler) then fell inside `tests/allocations.rs`'s measurement.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while started.load(std::sync::atomic::Ordering::SeqCst) < WORKERS {
            assert!(
                std::time::Instant::now() < deadline,
                "{}: timed out waiting for the runtime's worker threads to start",
                Self::NAME
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        TokioHost::on(runtime, capacity, false)
    }
}

impl Family for TokioCurrent {
    const NAME: &'static str = "host-tokio (current-thread)";
    const CONCURRENT: bool = true;
    type Host<M: Send + Sync + 'static> = TokioHost<M>;
    fn host<M: Send + Sync + 'static>(capacity: usize) -> TokioHost<M> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("start a tokio runtime");
        TokioHost::on(runtime, capacity, true)
    }
}

blocking_adapter!(TokioHost);

/// `plugbus-host-std`: one OS thread per plugin.
#[derive(Debug)]
pub struct Threads;

impl Family for Threads {
    const NAME: &'static str = "host-std (threads)";
    const CONCURRENT: bool = true;
    type Host<M: Send + Sync + 'static> = plugbus_host_std::Host<M>;
    fn host<M: Send + Sync + 'static>(capacity: usize) -> plugbus_host_std::Host<M> {
        plugbus_host_std::Host::with_capacity(capacity)
    }
}

impl<M: Send + Sync + 'static> TestHost<M> for plugbus_host_std::Host<M> {
    fn attach_with(
        &mut self,
        plugin: Box<dyn Plugin<M>>,
        options: AttachOptions,
    ) -> Result<PluginId, AttachError> {
        plugbus_host_std::Host::attach_with(self, plugin, options)
    }
    fn send(&mut self, value: M) -> Result<(), SendError<M>> {
        let _wait = waiting("a send (a lane to make room)");
        plugbus_host_std::Host::send(self, value)
    }
    fn try_send(&mut self, value: M) -> Result<(), TrySendError<M>> {
        plugbus_host_std::Host::try_send(self, value)
    }
    fn sender(&self) -> Option<SendFn<M>> {
        let sender = plugbus_host_std::Host::sender(self);
        Some(Box::new(move |value| sender.send(value)))
    }
    fn send_batch(&mut self, values: Vec<M>) -> Result<usize, SendError<Vec<M>>> {
        let _wait = waiting("a batch send (a lane to make room)");
        plugbus_host_std::Host::send_batch(self, values)
    }
    fn run_pending(&mut self) {}
    fn detach(&mut self, id: PluginId) -> bool {
        plugbus_host_std::Host::detach(self, id)
    }
    fn stats(&self, id: PluginId) -> Option<Stats> {
        plugbus_host_std::Host::stats(self, id)
    }
    fn shutdown(self) -> Vec<Report> {
        let _wait = waiting("shutdown (every lane to drain and its thread to end)");
        plugbus_host_std::Host::shutdown(self)
    }
    fn ask<Q, A: Send + Sync + 'static>(
        &mut self,
        make: impl FnOnce(Request<Q, A>) -> M,
        question: Q,
        timeout: Duration,
    ) -> Result<Answers<A>, SendError<M>> {
        let _wait = waiting("ask to return");
        plugbus_host_std::Host::ask(self, make, question, timeout)
    }
    fn attach_supervised(
        &mut self,
        factory: impl Factory<M>,
        options: AttachOptions,
    ) -> Result<PluginId, AttachError> {
        plugbus_host_std::Host::attach_supervised(self, factory, options)
    }
    fn replace_with(
        &mut self,
        id: PluginId,
        replacement: Replacement<M>,
    ) -> Result<Replaced, ReplaceError> {
        let _wait = waiting("replace_with to return");
        plugbus_host_std::Host::replace_with(self, id, replacement)
    }
}
