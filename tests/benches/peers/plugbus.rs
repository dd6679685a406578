//! The plugbus hosts as benchmark implementations: `LocalHost`, the std
//! host (one OS thread per plugin) and the smol and tokio hosts (one task
//! per plugin on an executor or runtime with 2 threads).
//!
//! Each host needs one `impl BenchHost` and one entry in
//! [`implementations`](crate::impls::implementations); the plugin is always
//! [`SumPlugin`]. The std host sends from the calling thread, as crossbeam
//! fan-out does. The async hosts send with `send_blocking` where a workload
//! sends one message from the main thread (W2, W3, the idle workload), and
//! run W1's whole sending loop as one task on their own executor or runtime
//! ([`BenchHost::send_range`]), as their users would and as the async peers
//! do, one `send(value).await` per message or one `send_batch` per batch.

use std::ops::Range;

use futures_lite::future::block_on;
use plugbus_core::{Async, AsyncPlugin, Flow, LocalHost, Message, Plugin, Report};
use tokio::runtime::Runtime;

use crate::host::{BenchHost, Summer};

/// Threads of the executor or runtime an async host runs on: one per core
/// of the machine, as for the async peers.
const THREADS: usize = 2;

/// The benchmark plugin on every plugbus host: adds each payload into its
/// summer, reading the message through the lent envelope.
#[derive(Debug)]
pub(crate) struct SumPlugin(pub(crate) Summer);

impl Plugin<u64> for SumPlugin {
    #[inline]
    fn handle_message(&mut self, message: &Message<u64>) -> Flow {
        self.0.add(**message);
        Flow::Continue
    }

    fn name(&self) -> &str {
        "sum"
    }
}

/// The benchmark plugin as an async one whose handler completes without
/// waiting: what the async machinery costs where it is not needed
/// (`plugbus-smol-async` and `plugbus-tokio-async` against their sync
/// twins in the same run).
#[derive(Debug)]
pub(crate) struct AsyncSumPlugin(pub(crate) Summer);

impl AsyncPlugin<u64> for AsyncSumPlugin {
    async fn handle_message(&mut self, message: &Message<u64>) -> Flow {
        self.0.add(**message);
        Flow::Continue
    }

    fn name(&self) -> &str {
        "async-sum"
    }
}

/// Attaches the sum plugins, async ones if `async_plugins`.
macro_rules! attach_sums {
    ($host:expr, $summers:expr, $async_plugins:expr) => {
        for summer in $summers {
            if $async_plugins {
                $host.attach(Async::new(AsyncSumPlugin(summer)))
            } else {
                $host.attach(SumPlugin(summer))
            }
            .expect("the default options always fit the ring");
        }
    };
}

/// Each plugin's handled count, from a host's shutdown reports.
pub(crate) fn handled(reports: Vec<Report>) -> Option<Vec<u64>> {
    Some(reports.iter().map(|report| report.stats.handled).collect())
}

/// `LocalHost`: no threads; lanes run when the ring is full, when the
/// workload waits ([`settle`](BenchHost::settle)), and at shutdown.
#[derive(Debug)]
pub(crate) struct LocalBench(Option<LocalHost<u64>>);

impl LocalBench {
    pub(crate) fn new() -> Self {
        LocalBench(Some(LocalHost::new()))
    }

    fn host(&mut self) -> &mut LocalHost<u64> {
        self.0.as_mut().expect("the host is live until shutdown")
    }
}

impl BenchHost for LocalBench {
    fn attach_sum_plugins(&mut self, summers: Vec<Summer>) {
        let host = self.host();
        for summer in summers {
            host.attach(SumPlugin(summer))
                .expect("the default options always fit the ring");
        }
    }

    fn send(&mut self, value: u64) {
        self.host()
            .send(value)
            .expect("a host whose plugins all block never rejects");
    }

    fn settle(&mut self) {
        self.host().run_until_idle();
    }

    fn shutdown(mut self: Box<Self>) -> Option<Vec<u64>> {
        handled(self.0.take().expect("shut down once").shutdown())
    }
}

/// `plugbus_host_std::Host`: one OS thread per plugin; sends from the
/// calling thread.
#[derive(Debug)]
pub(crate) struct StdBench(Option<plugbus_host_std::Host<u64>>);

impl StdBench {
    pub(crate) fn new() -> Self {
        StdBench(Some(plugbus_host_std::Host::new()))
    }

    fn host(&mut self) -> &mut plugbus_host_std::Host<u64> {
        self.0.as_mut().expect("the host is live until shutdown")
    }
}

impl BenchHost for StdBench {
    fn attach_sum_plugins(&mut self, summers: Vec<Summer>) {
        let host = self.host();
        for summer in summers {
            host.attach(SumPlugin(summer))
                .expect("a plugin thread starts");
        }
    }

    fn send(&mut self, value: u64) {
        self.host()
            .send(value)
            .expect("a host whose plugins all block never rejects");
    }

    fn send_batch(&mut self, values: &[u64]) {
        self.host()
            .send_batch(values.iter().copied())
            .expect("a host whose plugins all block never rejects");
    }

    fn shutdown(mut self: Box<Self>) -> Option<Vec<u64>> {
        handled(self.0.take().expect("shut down once").shutdown())
    }
}

/// `values` cut into ranges of at most `batch` values, in order.
fn batches(values: Range<u64>, batch: usize) -> impl Iterator<Item = Range<u64>> {
    let batch = batch.max(1) as u64;
    (values.start..values.end)
        .step_by(batch as usize)
        .map(move |start| start..values.end.min(start + batch))
}

/// `plugbus_host_smol::Host` on an executor it owns, run by [`THREADS`]
/// threads.
#[derive(Debug)]
pub(crate) struct SmolBench(Option<plugbus_host_smol::Host<'static, u64>>, bool);

impl SmolBench {
    pub(crate) fn new() -> Self {
        let host = plugbus_host_smol::Builder::new()
            .threads(THREADS)
            .build()
            .expect("a smol executor starts");
        SmolBench(Some(host), false)
    }

    /// With async plugins ([`AsyncSumPlugin`]).
    pub(crate) fn with_async_plugins() -> Self {
        SmolBench(Self::new().0.take(), true)
    }

    fn host(&mut self) -> &mut plugbus_host_smol::Host<'static, u64> {
        self.0.as_mut().expect("the host is live until shutdown")
    }
}

impl BenchHost for SmolBench {
    fn attach_sum_plugins(&mut self, summers: Vec<Summer>) {
        let async_plugins = self.1;
        attach_sums!(self.host(), summers, async_plugins);
    }

    fn send(&mut self, value: u64) {
        self.host()
            .send_blocking(value)
            .expect("a host whose plugins all block never rejects");
    }

    fn send_batch(&mut self, values: &[u64]) {
        block_on(self.host().send_batch(values.iter().copied()))
            .expect("a host whose plugins all block never rejects");
    }

    /// Sends from a task on the host's executor, as a smol user would.
    fn send_range(&mut self, values: Range<u64>, batch: usize) {
        let host = self.host();
        let sender = host.sender();
        let executor = host
            .runtime()
            .executor()
            .expect("the host owns its executor");
        let task = executor.spawn(async move {
            if batch <= 1 {
                for value in values {
                    sender
                        .send(value)
                        .await
                        .expect("a host whose plugins all block never rejects");
                }
            } else {
                for range in batches(values, batch) {
                    sender
                        .send_batch(range)
                        .await
                        .expect("a host whose plugins all block never rejects");
                }
            }
        });
        block_on(task);
    }

    fn shutdown(mut self: Box<Self>) -> Option<Vec<u64>> {
        handled(self.0.take().expect("shut down once").shutdown_blocking())
    }
}

/// `plugbus_host_tokio::Host` on a multi-thread runtime with [`THREADS`]
/// workers.
#[derive(Debug)]
pub(crate) struct TokioBench {
    /// Declared before the runtime: shut down (or dropped) first.
    host: Option<plugbus_host_tokio::Host<u64>>,
    runtime: Runtime,
    async_plugins: bool,
}

impl TokioBench {
    pub(crate) fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(THREADS)
            .build()
            .expect("a tokio runtime starts");
        TokioBench {
            host: Some(plugbus_host_tokio::Host::on(runtime.handle().clone())),
            runtime,
            async_plugins: false,
        }
    }

    /// With async plugins ([`AsyncSumPlugin`]).
    pub(crate) fn with_async_plugins() -> Self {
        TokioBench {
            async_plugins: true,
            ..Self::new()
        }
    }

    fn host(&mut self) -> &mut plugbus_host_tokio::Host<u64> {
        self.host.as_mut().expect("the host is live until shutdown")
    }
}

impl BenchHost for TokioBench {
    fn attach_sum_plugins(&mut self, summers: Vec<Summer>) {
        let async_plugins = self.async_plugins;
        attach_sums!(self.host(), summers, async_plugins);
    }

    fn send(&mut self, value: u64) {
        self.host()
            .send_blocking(value)
            .expect("a host whose plugins all block never rejects");
    }

    fn send_batch(&mut self, values: &[u64]) {
        block_on(self.host().send_batch(values.iter().copied()))
            .expect("a host whose plugins all block never rejects");
    }

    /// Sends from a task on the runtime, as a tokio user would.
    fn send_range(&mut self, values: Range<u64>, batch: usize) {
        let sender = self.host().sender();
        let task = self.runtime.spawn(async move {
            if batch <= 1 {
                for value in values {
                    sender
                        .send(value)
                        .await
                        .expect("a host whose plugins all block never rejects");
                }
            } else {
                for range in batches(values, batch) {
                    sender
                        .send_batch(range)
                        .await
                        .expect("a host whose plugins all block never rejects");
                }
            }
        });
        self.runtime
            .block_on(task)
            .expect("the sending task does not panic");
    }

    fn shutdown(mut self: Box<Self>) -> Option<Vec<u64>> {
        let host = self.host.take().expect("shut down once");
        handled(host.shutdown_blocking())
    }
}
