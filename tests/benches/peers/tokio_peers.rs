//! Tokio fan-outs on a multi-thread runtime with 2 workers: an
//! `mpsc::channel(1024)` per plugin task, and one `broadcast::channel(1024)`
//! with credit-based flow control (a broadcast channel overwrites what a slow
//! receiver has not read, so the sender waits for credit instead).

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::runtime::{Builder, Runtime};
use tokio::sync::{Notify, broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::host::{BenchHost, Summer};

/// Capacity of each channel.
const CAPACITY: usize = 1024;
/// Worker threads of the runtime, one per core of the machine.
const WORKERS: usize = 2;

fn runtime() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .build()
        .expect("a tokio runtime starts")
}

/// Waits for every task; each returns how many messages it handled.
fn join_all(runtime: &Runtime, tasks: Vec<JoinHandle<u64>>) -> Vec<u64> {
    runtime.block_on(async {
        let mut handled = Vec::with_capacity(tasks.len());
        for task in tasks {
            handled.push(task.await.expect("a plugin task does not panic"));
        }
        handled
    })
}

/// An `mpsc::channel(1024)` per plugin task.
#[derive(Debug)]
pub(crate) struct TokioMpsc {
    runtime: Runtime,
    senders: Vec<mpsc::Sender<Arc<u64>>>,
    tasks: Vec<JoinHandle<u64>>,
}

impl TokioMpsc {
    pub(crate) fn new() -> Self {
        TokioMpsc {
            runtime: runtime(),
            senders: Vec::new(),
            tasks: Vec::new(),
        }
    }
}

impl BenchHost for TokioMpsc {
    fn attach_sum_plugins(&mut self, summers: Vec<Summer>) {
        for mut summer in summers {
            let (sender, mut receiver) = mpsc::channel::<Arc<u64>>(CAPACITY);
            self.senders.push(sender);
            self.tasks.push(self.runtime.spawn(async move {
                let mut handled = 0;
                while let Some(message) = receiver.recv().await {
                    summer.add(*message);
                    handled += 1;
                }
                handled
            }));
        }
    }

    fn send(&mut self, value: u64) {
        let message = Arc::new(value);
        for sender in &self.senders {
            sender
                .blocking_send(message.clone())
                .expect("a plugin task lives until shutdown");
        }
    }

    /// Sends from a task on the runtime, as a tokio user would.
    fn send_range(&mut self, values: Range<u64>, _batch: usize) {
        let senders = std::mem::take(&mut self.senders);
        let task = self.runtime.spawn(async move {
            for value in values {
                let message = Arc::new(value);
                for sender in &senders {
                    sender
                        .send(message.clone())
                        .await
                        .expect("a plugin task lives until shutdown");
                }
            }
            senders
        });
        self.senders = self
            .runtime
            .block_on(task)
            .expect("the sending task does not panic");
    }

    fn shutdown(mut self: Box<Self>) -> Option<Vec<u64>> {
        self.senders.clear();
        Some(join_all(&self.runtime, std::mem::take(&mut self.tasks)))
    }
}

/// How far each receiver of the broadcast has read, so the sender never
/// runs more than the channel's capacity ahead of the slowest one.
#[derive(Debug)]
struct Credits {
    /// Messages each receiver has handled, published every [`REPORT`]
    /// messages and when it stops.
    progress: Vec<AtomicU64>,
    /// Set by a sender about to wait for `notify`.
    waiting: AtomicBool,
    notify: Notify,
}

/// How often a receiver publishes its progress. Smaller than the capacity,
/// so a receiver that has caught up always leaves the sender room.
const REPORT: u64 = 64;

impl Credits {
    fn report(&self, receiver: usize, handled: u64) {
        // ORDERING: SeqCst on this store and the load of `waiting`, and on
        // the sender's store of `waiting` and its loads of `progress`: of a
        // receiver reporting and a sender going to sleep, at least one sees
        // the other, so the sender is either not asleep or notified.
        self.progress[receiver].store(handled, Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) {
            self.notify.notify_one();
        }
    }

    fn slowest(&self) -> u64 {
        self.progress
            .iter()
            // ORDERING: SeqCst, see `report`.
            .map(|progress| progress.load(Ordering::SeqCst))
            .min()
            .unwrap_or(u64::MAX)
    }
}

/// The sending side of [`TokioBroadcast`]: movable into a task.
#[derive(Debug)]
struct BroadcastSender {
    sender: broadcast::Sender<Arc<u64>>,
    credits: Arc<Credits>,
    sent: u64,
    /// The slowest receiver's progress when last read.
    slowest: u64,
}

impl BroadcastSender {
    fn has_credit(&self) -> bool {
        self.sent.saturating_sub(self.slowest) < CAPACITY as u64
    }

    async fn send(&mut self, value: u64) {
        while !self.has_credit() {
            self.slowest = self.credits.slowest();
            if self.has_credit() {
                break;
            }
            // ORDERING: SeqCst, see `Credits::report`.
            self.credits.waiting.store(true, Ordering::SeqCst);
            self.slowest = self.credits.slowest();
            if !self.has_credit() {
                self.credits.notify.notified().await;
            }
            self.credits.waiting.store(false, Ordering::SeqCst);
        }
        self.sender
            .send(Arc::new(value))
            .expect("the receivers live until shutdown");
        self.sent += 1;
    }
}

/// One `broadcast::channel(1024)` shared by every plugin task, with
/// credit-based flow control so no receiver ever lags (a lagged receiver
/// would lose messages, which the tally would catch).
#[derive(Debug)]
pub(crate) struct TokioBroadcast {
    runtime: Runtime,
    sender: Option<BroadcastSender>,
    tasks: Vec<JoinHandle<u64>>,
}

impl TokioBroadcast {
    pub(crate) fn new() -> Self {
        TokioBroadcast {
            runtime: runtime(),
            sender: None,
            tasks: Vec::new(),
        }
    }
}

impl BenchHost for TokioBroadcast {
    fn attach_sum_plugins(&mut self, summers: Vec<Summer>) {
        assert!(self.sender.is_none(), "attach once per run");
        let (sender, _) = broadcast::channel::<Arc<u64>>(CAPACITY);
        let credits = Arc::new(Credits {
            progress: summers.iter().map(|_| AtomicU64::new(0)).collect(),
            waiting: AtomicBool::new(false),
            notify: Notify::new(),
        });
        for (index, mut summer) in summers.into_iter().enumerate() {
            let mut receiver = sender.subscribe();
            let credits = credits.clone();
            self.tasks.push(self.runtime.spawn(async move {
                let mut handled = 0;
                // A lag ends the loop early; the tally reports the loss.
                while let Ok(message) = receiver.recv().await {
                    summer.add(*message);
                    handled += 1;
                    if handled % REPORT == 0 {
                        credits.report(index, handled);
                    }
                }
                credits.report(index, u64::MAX);
                handled
            }));
        }
        self.sender = Some(BroadcastSender {
            sender,
            credits,
            sent: 0,
            slowest: 0,
        });
    }

    fn send(&mut self, value: u64) {
        let sender = self.sender.as_mut().expect("attached before sending");
        futures_lite::future::block_on(sender.send(value));
    }

    /// Sends from a task on the runtime, as a tokio user would.
    fn send_range(&mut self, values: Range<u64>, _batch: usize) {
        let mut sender = self.sender.take().expect("attached before sending");
        let task = self.runtime.spawn(async move {
            for value in values {
                sender.send(value).await;
            }
            sender
        });
        self.sender = Some(
            self.runtime
                .block_on(task)
                .expect("the sending task does not panic"),
        );
    }

    fn shutdown(mut self: Box<Self>) -> Option<Vec<u64>> {
        self.sender = None;
        Some(join_all(&self.runtime, std::mem::take(&mut self.tasks)))
    }
}
