//! Loom models of the ring's two handshakes, run on the real dispatch code
//! with loom's atomics and mutex swapped in:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p plugbus-core --features std --release --test loom
//! ```
//!
//! 1. A lane that finds nothing sets its sleep bit and lists itself under
//!    the send lock, then re-checks; the sender publishes under that lock
//!    and wakes the listed lanes whose bits it takes. A lost wake-up leaves
//!    the lane parked forever, which loom reports as a deadlock.
//! 2. A sender that finds a `Block` lane full registers as waiting, fences,
//!    and re-checks for room; the lane publishes its cursor, fences, and
//!    wakes waiting senders.
//! 3. Two lanes asleep and one publication: the publication must wake both
//!    (a sender that woke only the first sleeper passed models 1 and 2,
//!    which have one lane; this one deadlocks on it). The bus is not closed
//!    until both lanes have handled the message, since closing wakes every
//!    lane and would hide a lost wake-up.
#![cfg(loom)]

use std::sync::Arc;

use loom::sync::Mutex;
use loom::thread;
use plugbus_core::ring::{Fixed, Wake};
use plugbus_core::{AttachOptions, Bus, Flow, Message, Plugin, Step};

struct Unpark(loom::thread::Thread);

impl Wake for Unpark {
    fn wake(&self) {
        self.0.unpark();
    }
}

struct Collect(Arc<Mutex<Vec<u32>>>);

impl Plugin<u32> for Collect {
    fn handle_message(&mut self, message: &Message<u32>) -> Flow {
        self.0.lock().unwrap().push(**message);
        Flow::Continue
    }
}

fn model(messages: u32) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(move || {
        let bus = Bus::new(Fixed::<u32, 2>::new());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = loom::sync::mpsc::channel();
        let lane_thread = thread::spawn(move || {
            let mut lane: plugbus_core::Lane<u32, Fixed<u32, 2>> = rx.recv().unwrap();
            loop {
                match lane.run(8) {
                    Step::Ran(_) => {}
                    Step::Idle => {
                        if lane.prepare_sleep() {
                            while lane.is_sleeping() {
                                thread::park();
                            }
                        }
                    }
                    Step::Done => return lane.finish(),
                }
            }
        });
        let waker = Arc::new(Unpark(lane_thread.thread().clone()));
        let lane = bus
            .attach(Box::new(Collect(seen.clone())), AttachOptions::new(), waker)
            .unwrap();
        tx.send(lane).unwrap();
        let me: Arc<dyn Wake> = Arc::new(Unpark(thread::current()));
        for i in 0..messages {
            bus.send_with(i, |bus| {
                let key = bus.add_waiting_sender(me.clone());
                if !bus.has_room() {
                    thread::park();
                }
                bus.remove_waiting_sender(key);
            })
            .unwrap();
        }
        bus.close();
        let report = lane_thread.join().unwrap();
        assert_eq!(report.stats.handled, u64::from(messages));
        assert_eq!(*seen.lock().unwrap(), (0..messages).collect::<Vec<_>>());
    });
}

/// Sleep/wake: two messages, a ring with room for both.
#[test]
fn lane_sleep_and_sender_wake() {
    model(2);
}

/// Both handshakes: three messages through a ring of two, so the sender
/// must wait for the lane at least once.
#[test]
fn sender_waits_for_a_full_lane() {
    model(3);
}

/// Leaves after its first message, so its lane's thread ends by itself.
struct Once;

impl Plugin<u32> for Once {
    fn handle_message(&mut self, _: &Message<u32>) -> Flow {
        Flow::Detach(plugbus_core::Status::SUCCESS)
    }
}

/// Model 3: two lanes that may both be asleep when the one message is
/// published; each must wake and handle it without the bus closing.
#[test]
fn one_publication_wakes_two_sleeping_lanes() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(|| {
        let bus = Bus::new(Fixed::<u32, 2>::new());
        let mut lanes = Vec::new();
        for _ in 0..2 {
            let (tx, rx) = loom::sync::mpsc::channel();
            let lane_thread = thread::spawn(move || {
                let mut lane: plugbus_core::Lane<u32, Fixed<u32, 2>> = rx.recv().unwrap();
                loop {
                    match lane.run(8) {
                        Step::Ran(_) => {}
                        Step::Idle => {
                            if lane.prepare_sleep() {
                                while lane.is_sleeping() {
                                    thread::park();
                                }
                            }
                        }
                        Step::Done => return lane.finish(),
                    }
                }
            });
            let waker = Arc::new(Unpark(lane_thread.thread().clone()));
            let lane = bus
                .attach(Box::new(Once), AttachOptions::new(), waker)
                .unwrap();
            tx.send(lane).unwrap();
            lanes.push(lane_thread);
        }
        bus.try_send(7).unwrap();
        for lane in lanes {
            let report = lane.join().unwrap();
            assert_eq!(report.stats.handled, 1);
        }
        bus.close();
    });
}
