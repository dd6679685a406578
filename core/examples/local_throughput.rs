//! Rough LocalHost throughput against the single-thread floor, by hand:
//! `cargo run --release -p plugbus-core --example local_throughput`.
//! The benchmark in `tests/` is the measurement of record.

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use plugbus_core::{Flow, LocalHost, Message, Plugin};

struct Sum(u64);

impl Plugin<u64> for Sum {
    fn handle_message(&mut self, message: &Message<u64>) -> Flow {
        self.0 = self.0.wrapping_add(**message);
        Flow::Continue
    }
}

fn main() {
    const N: u64 = 2_000_000;
    for plugins in [1usize, 16, 64] {
        let start = Instant::now();
        let mut host = LocalHost::new();
        for _ in 0..plugins {
            host.attach(Sum(0)).unwrap();
        }
        for i in 0..N {
            host.send(i).unwrap();
        }
        let reports = host.shutdown();
        let local = (N as f64 * plugins as f64) / start.elapsed().as_secs_f64() / 1e6;
        assert!(reports.iter().all(|r| r.stats.handled == N));

        let start = Instant::now();
        let mut queues: Vec<VecDeque<Arc<u64>>> = (0..plugins).map(|_| VecDeque::new()).collect();
        let mut sums = vec![0u64; plugins];
        for chunk in 0..N / 1024 {
            for i in 0..1024 {
                let m = Arc::new(chunk * 1024 + i);
                for q in &mut queues {
                    q.push_back(m.clone());
                }
            }
            for (q, s) in queues.iter_mut().zip(&mut sums) {
                while let Some(m) = q.pop_front() {
                    *s = s.wrapping_add(*m);
                }
            }
        }
        black_box(&sums);
        let floor = (N as f64 * plugins as f64) / start.elapsed().as_secs_f64() / 1e6;
        println!(
            "plugins={plugins} local={local:.1}M/s floor={floor:.1}M/s ratio={:.2}",
            local / floor
        );
    }
}
