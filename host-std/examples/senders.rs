//! What a second sending thread costs: the same messages to 16 plugins, sent
//! by one thread, then split between two (each `Sender` shares the bus's send
//! lock). Medians of 3 alternating runs, in M deliveries/s:
//!
//! ```text
//! cargo run --release -p plugbus-host-std --example senders
//! ```

use std::time::Instant;

use plugbus_host_std::{Flow, Host, Message, Plugin};

struct Sum(u64);

impl Plugin<u64> for Sum {
    fn handle_message(&mut self, message: &Message<u64>) -> Flow {
        self.0 = self.0.wrapping_add(**message);
        Flow::Continue
    }
}

const PLUGINS: usize = 16;
const MESSAGES: u64 = 2_000_000;

fn run(senders: u64) -> f64 {
    let host = Host::new();
    for _ in 0..PLUGINS {
        host.attach(Sum(0)).expect("attach");
    }
    let start = Instant::now();
    std::thread::scope(|scope| {
        for s in 0..senders {
            let sender = host.sender();
            scope.spawn(move || {
                for i in (s..MESSAGES).step_by(senders as usize) {
                    sender.send(i).expect("send");
                }
            });
        }
    });
    let reports = host.shutdown();
    let seconds = start.elapsed().as_secs_f64();
    assert!(
        reports.iter().all(|r| r.stats.handled == MESSAGES),
        "lost messages"
    );
    (MESSAGES as f64 * PLUGINS as f64) / seconds / 1e6
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let (mut one, mut two) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        one.push(run(1));
        two.push(run(2));
    }
    let (one, two) = (median(one), median(two));
    println!(
        "plugins={PLUGINS} one_sender={one:.1}M/s two_senders={two:.1}M/s ratio={:.2}",
        two / one
    );
}
