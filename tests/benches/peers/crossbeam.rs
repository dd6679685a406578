//! Crossbeam fan-out: one thread per plugin, each fed by its own
//! `crossbeam_channel::bounded(1024)`; the reference the targets divide by.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, bounded};

use crate::host::{BenchHost, Summer};

/// Capacity of each plugin's channel.
const CAPACITY: usize = 1024;

/// The fan-out most Rust code would write by hand.
#[derive(Debug, Default)]
pub(crate) struct CrossbeamFanOut {
    senders: Vec<Sender<Arc<u64>>>,
    threads: Vec<JoinHandle<u64>>,
}

impl CrossbeamFanOut {
    /// A copy of the senders, one per plugin, for another sending thread.
    pub(crate) fn senders(&self) -> Vec<Sender<Arc<u64>>> {
        self.senders.clone()
    }
}

impl BenchHost for CrossbeamFanOut {
    fn attach_sum_plugins(&mut self, summers: Vec<Summer>) {
        for mut summer in summers {
            let (sender, receiver) = bounded::<Arc<u64>>(CAPACITY);
            self.senders.push(sender);
            self.threads.push(std::thread::spawn(move || {
                let mut handled = 0;
                for message in receiver {
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
                .send(message.clone())
                .expect("a plugin thread lives until shutdown");
        }
    }

    fn shutdown(mut self: Box<Self>) -> Option<Vec<u64>> {
        self.senders.clear();
        Some(
            self.threads
                .drain(..)
                .map(|thread| thread.join().expect("a plugin thread does not panic"))
                .collect(),
        )
    }
}
