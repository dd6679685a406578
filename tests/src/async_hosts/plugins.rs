//! The plugins the async host scenarios attach, and what they record.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use plugbus_core::{Exit, Flow, Message, Plugin, Status};

/// How long a test waits for something that should happen at once before
/// it declares a hang. Not a timing assertion: only a guard against a test
/// that would otherwise never end.
pub const HANG: Duration = Duration::from_secs(60);

/// What a [`Recorder`] saw, kept when it detaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// How many messages it handled.
    pub count: u64,
    /// The sum of their values.
    pub sum: u64,
    /// Every message was the one after the previous (they are 0, 1, 2, ...).
    pub in_order: bool,
    /// Why it left.
    pub exit: Exit,
}

/// Counts and sums messages and checks their order; reports at detach.
#[derive(Debug)]
pub struct Recorder {
    count: u64,
    sum: u64,
    in_order: bool,
    /// Sleeps this long per message, to be slower than the sender.
    delay: Option<Duration>,
    records: mpsc::Sender<Record>,
}

impl Recorder {
    /// A recorder that sends its [`Record`] to `records`.
    pub fn new(records: &mpsc::Sender<Record>) -> Self {
        Recorder {
            count: 0,
            sum: 0,
            in_order: true,
            delay: None,
            records: records.clone(),
        }
    }

    /// A recorder that sleeps `delay` per message.
    pub fn slow(records: &mpsc::Sender<Record>, delay: Duration) -> Self {
        Recorder {
            delay: Some(delay),
            ..Recorder::new(records)
        }
    }
}

impl Plugin<u64> for Recorder {
    fn handle_message(&mut self, message: &Message<u64>) -> Flow {
        if **message != self.count {
            self.in_order = false;
        }
        self.count += 1;
        self.sum += **message;
        if let Some(delay) = self.delay {
            std::thread::sleep(delay);
        }
        Flow::Continue
    }

    fn on_detach(&mut self, exit: Exit) {
        let _ = self.records.send(Record {
            count: self.count,
            sum: self.sum,
            in_order: self.in_order,
            exit,
        });
    }
}

/// The sum of 0..n.
pub fn sum_below(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

/// Receives exactly `n` records, failing on a hang.
pub fn records(rx: &mpsc::Receiver<Record>, n: usize) -> Vec<Record> {
    (0..n)
        .map(|_| rx.recv_timeout(HANG).expect("a plugin never detached"))
        .collect()
}

/// The record of a plugin that saw `0..n` in order and was shut down.
pub fn complete(n: u64) -> Record {
    Record {
        count: n,
        sum: sum_below(n),
        in_order: true,
        exit: Exit::Shutdown,
    }
}

/// Counts its messages into a shared counter.
#[derive(Debug)]
pub struct Busy(pub Arc<AtomicU64>);

impl Plugin<u64> for Busy {
    fn handle_message(&mut self, _: &Message<u64>) -> Flow {
        self.0.fetch_add(1, Ordering::Relaxed);
        Flow::Continue
    }
}

/// Notes how far the [`Busy`] plugin had got when this one first ran.
#[derive(Debug)]
pub struct Watcher {
    /// The busy plugin's counter.
    pub busy: Arc<AtomicU64>,
    /// Where the count goes; starts at `u64::MAX`.
    pub first_seen: Arc<AtomicU64>,
}

impl Plugin<u64> for Watcher {
    fn handle_message(&mut self, _: &Message<u64>) -> Flow {
        let busy = self.busy.load(Ordering::Relaxed);
        let _ =
            self.first_seen
                .compare_exchange(u64::MAX, busy, Ordering::Relaxed, Ordering::Relaxed);
        Flow::Continue
    }
}

/// Blocks in its handler on its first message until `release` says go (or
/// the test hangs).
#[derive(Debug)]
pub struct Blocker {
    /// Says go.
    pub release: mpsc::Receiver<()>,
    /// Messages handled so far.
    pub handled: u64,
}

impl Plugin<u64> for Blocker {
    fn handle_message(&mut self, _: &Message<u64>) -> Flow {
        if self.handled == 0 {
            self.release
                .recv_timeout(HANG)
                .expect("the other plugins never got going");
        }
        self.handled += 1;
        Flow::Continue
    }
}

/// Releases a [`Blocker`] once it has handled `after` messages.
#[derive(Debug)]
pub struct Releaser {
    /// How many messages to handle first.
    pub after: u64,
    /// Messages handled so far.
    pub handled: u64,
    /// Where to say go.
    pub release: mpsc::Sender<()>,
}

impl Plugin<u64> for Releaser {
    fn handle_message(&mut self, _: &Message<u64>) -> Flow {
        self.handled += 1;
        if self.handled == self.after {
            let _ = self.release.send(());
        }
        Flow::Continue
    }
}

/// Panics on the message with this value.
#[derive(Debug)]
pub struct PanicsOn(pub u64);

impl Plugin<u64> for PanicsOn {
    fn handle_message(&mut self, message: &Message<u64>) -> Flow {
        if **message == self.0 {
            panic!("boom at {}", self.0);
        }
        Flow::Continue
    }
}

/// Leaves by itself with status 7 after `n` messages.
#[derive(Debug)]
pub struct Leaves(pub u64);

impl Plugin<u64> for Leaves {
    fn handle_message(&mut self, _: &Message<u64>) -> Flow {
        self.0 -= 1;
        if self.0 == 0 {
            Flow::Detach(Status(7))
        } else {
            Flow::Continue
        }
    }
}
