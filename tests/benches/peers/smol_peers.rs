//! smol fan-outs: tasks on smol's executor (`async-executor`, the one
//! `smol::spawn` uses) run by 2 threads, fed by an `async-channel`
//! `bounded(1024)` per plugin task, or by one `async-broadcast(1024)`
//! (which makes the sender wait for the slowest receiver by itself).

use std::ops::Range;
use std::sync::Arc;
use std::thread::JoinHandle;

use async_executor::{Executor, Task};
use futures_lite::future::block_on;

use crate::host::{BenchHost, Summer};

/// Capacity of each channel.
const CAPACITY: usize = 1024;
/// Threads running the executor, one per core of the machine.
const THREADS: usize = 2;

/// An executor run by [`THREADS`] threads until dropped.
#[derive(Debug)]
struct Runtime {
    executor: Arc<Executor<'static>>,
    stop: Option<async_channel::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl Runtime {
    fn new() -> Self {
        let executor = Arc::new(Executor::new());
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let threads = (0..THREADS)
            .map(|_| {
                let executor = executor.clone();
                let stopped = stopped.clone();
                std::thread::spawn(move || {
                    // Runs tasks until `stop` is dropped.
                    let _ = block_on(executor.run(stopped.recv()));
                })
            })
            .collect();
        Runtime {
            executor,
            stop: Some(stop),
            threads,
        }
    }

    fn spawn<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> Task<T> {
        self.executor.spawn(future)
    }

    fn join_all(&self, tasks: Vec<Task<u64>>) -> Vec<u64> {
        block_on(async {
            let mut handled = Vec::with_capacity(tasks.len());
            for task in tasks {
                handled.push(task.await);
            }
            handled
        })
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop = None;
        for thread in self.threads.drain(..) {
            thread.join().expect("an executor thread does not panic");
        }
    }
}

/// An `async_channel::bounded(1024)` per plugin task.
#[derive(Debug)]
pub(crate) struct SmolChannel {
    runtime: Runtime,
    senders: Vec<async_channel::Sender<Arc<u64>>>,
    tasks: Vec<Task<u64>>,
}

impl SmolChannel {
    pub(crate) fn new() -> Self {
        SmolChannel {
            runtime: Runtime::new(),
            senders: Vec::new(),
            tasks: Vec::new(),
        }
    }
}

impl BenchHost for SmolChannel {
    fn attach_sum_plugins(&mut self, summers: Vec<Summer>) {
        for mut summer in summers {
            let (sender, receiver) = async_channel::bounded::<Arc<u64>>(CAPACITY);
            self.senders.push(sender);
            self.tasks.push(self.runtime.spawn(async move {
                let mut handled = 0;
                while let Ok(message) = receiver.recv().await {
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
                .send_blocking(message.clone())
                .expect("a plugin task lives until shutdown");
        }
    }

    /// Sends from a task on the executor, as a smol user would.
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
        self.senders = block_on(task);
    }

    fn shutdown(mut self: Box<Self>) -> Option<Vec<u64>> {
        self.senders.clear();
        Some(self.runtime.join_all(std::mem::take(&mut self.tasks)))
    }
}

/// One `async_broadcast::broadcast(1024)` shared by every plugin task.
#[derive(Debug)]
pub(crate) struct SmolBroadcast {
    runtime: Runtime,
    sender: Option<async_broadcast::Sender<Arc<u64>>>,
    tasks: Vec<Task<u64>>,
}

impl SmolBroadcast {
    pub(crate) fn new() -> Self {
        SmolBroadcast {
            runtime: Runtime::new(),
            sender: None,
            tasks: Vec::new(),
        }
    }
}

impl BenchHost for SmolBroadcast {
    fn attach_sum_plugins(&mut self, summers: Vec<Summer>) {
        assert!(self.sender.is_none(), "attach once per run");
        let (sender, first) = async_broadcast::broadcast::<Arc<u64>>(CAPACITY);
        for mut summer in summers {
            let mut receiver = first.new_receiver();
            self.tasks.push(self.runtime.spawn(async move {
                let mut handled = 0;
                // Overflow is off, so a receiver never loses a message; an
                // error here is the channel closing.
                while let Ok(message) = receiver.recv_direct().await {
                    summer.add(*message);
                    handled += 1;
                }
                handled
            }));
        }
        // Only the plugins' receivers may hold the sender back.
        drop(first);
        self.sender = Some(sender);
    }

    fn send(&mut self, value: u64) {
        let sender = self.sender.as_ref().expect("attached before sending");
        let overflowed = sender
            .broadcast_blocking(Arc::new(value))
            .expect("the receivers live until shutdown");
        assert!(overflowed.is_none(), "overflow is off");
    }

    /// Sends from a task on the executor, as a smol user would.
    fn send_range(&mut self, values: Range<u64>, _batch: usize) {
        let sender = self.sender.take().expect("attached before sending");
        let task = self.runtime.spawn(async move {
            for value in values {
                let overflowed = sender
                    .broadcast_direct(Arc::new(value))
                    .await
                    .expect("the receivers live until shutdown");
                assert!(overflowed.is_none(), "overflow is off");
            }
            sender
        });
        self.sender = Some(block_on(task));
    }

    fn shutdown(mut self: Box<Self>) -> Option<Vec<u64>> {
        self.sender = None;
        Some(self.runtime.join_all(std::mem::take(&mut self.tasks)))
    }
}
