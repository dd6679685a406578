//! The single-thread floor: no other thread, one `Arc` per message cloned
//! into a `VecDeque` per plugin, drained once the queues hold 1024.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::host::{BenchHost, Summer};

/// Queue length at which the floor drains, the capacity the peers use.
const CAPACITY: usize = 1024;

/// One thread doing what a fan-out must do at the least: a counted value per
/// message, one reference per delivery, one queue per plugin.
#[derive(Debug, Default)]
pub(crate) struct Floor {
    plugins: Vec<Queue>,
}

/// One plugin of the floor: its queue, its state, and how many messages it
/// took out of the queue (counted once per drain, not per message).
#[derive(Debug)]
struct Queue {
    messages: VecDeque<Arc<u64>>,
    summer: Summer,
    handled: u64,
}

impl Floor {
    fn drain(&mut self) {
        for queue in &mut self.plugins {
            queue.handled += queue.messages.len() as u64;
            while let Some(message) = queue.messages.pop_front() {
                queue.summer.add(*message);
            }
        }
    }
}

impl BenchHost for Floor {
    fn attach_sum_plugins(&mut self, summers: Vec<Summer>) {
        self.plugins.extend(summers.into_iter().map(|summer| Queue {
            messages: VecDeque::with_capacity(CAPACITY),
            summer,
            handled: 0,
        }));
    }

    fn send(&mut self, value: u64) {
        let message = Arc::new(value);
        for queue in &mut self.plugins {
            queue.messages.push_back(message.clone());
        }
        drop(message);
        if self
            .plugins
            .first()
            .is_some_and(|queue| queue.messages.len() >= CAPACITY)
        {
            self.drain();
        }
    }

    fn settle(&mut self) {
        self.drain();
    }

    fn shutdown(mut self: Box<Self>) -> Option<Vec<u64>> {
        self.drain();
        Some(self.plugins.drain(..).map(|queue| queue.handled).collect())
    }
}
