//! Loom models of the ring's protocol, run on the real ring and dispatch
//! code with loom's atomics and mutex swapped in:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p plugbus-core --features std --release --test loom
//! ```
//!
//! 1. Sleep and wake-up: a lane that finds nothing registers its waker,
//!    sets its sleep bit, pushes itself on the sleeper list and checks
//!    again; a sender publishes its stamps, fences, and wakes the listed
//!    lanes whose bits it takes. A lost wake-up leaves a lane parked for
//!    ever, which loom reports as a deadlock.
//! 2. Waiting senders: a sender that finds a `Block` lane full registers,
//!    fences and checks for room again; the lane publishes its position,
//!    fences, and wakes waiting senders.
//! 3. Two lanes asleep and one publication: the publication must wake both
//!    (a sender that woke only the first sleeper passed models 1 and 2,
//!    which have one lane). The bus is not closed until both lanes have
//!    handled the message, since closing wakes every lane and would hide a
//!    lost wake-up.
//! 4. Two senders claiming at once: each claims with a CAS and publishes its
//!    own slot; a lane sees both messages, each once, whatever the order of
//!    claims and publications, and never reads a slot before it is
//!    published (loom checks the slot's cell accesses for races).
//! 5. Wake-ups passed on: under loom a sender wakes one sleeping lane
//!    itself and leaves the others owed a wake (`WAKE_AT_ONCE` is 1), for
//!    the lane it woke to pass on. Two lanes that stay attached, one
//!    message: both must handle it before anyone closes the bus or leaves
//!    (either would wake every lane and hide a wake-up never passed on).
#![cfg(loom)]

use std::sync::Arc;
use std::task::Waker;

use loom::sync::Mutex;
use loom::thread;
use plugbus_core::ring::Fixed;
use plugbus_core::{AttachOptions, Bus, Flow, Lane, Message, Plugin, Status, Step};

/// Unparks a loom thread.
struct Unpark(loom::thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

fn thread_waker() -> Waker {
    Waker::from(Arc::new(Unpark(thread::current())))
}

struct Collect(Arc<Mutex<Vec<u32>>>);

impl Plugin<u32> for Collect {
    fn handle_message(&mut self, message: &Message<u32>) -> Flow {
        self.0.lock().unwrap().push(**message);
        Flow::Continue
    }
}

/// Leaves after `self.0` messages, so its lane's thread ends by itself.
struct Leave(u32);

impl Plugin<u32> for Leave {
    fn handle_message(&mut self, _: &Message<u32>) -> Flow {
        self.0 -= 1;
        if self.0 == 0 {
            Flow::Detach(Status::SUCCESS)
        } else {
            Flow::Continue
        }
    }
}

/// Runs a lane on the current loom thread until its plugin exits.
fn run_lane(mut lane: Lane<u32, Fixed<u32, 2>>) -> plugbus_core::Report {
    let waker = thread_waker();
    loop {
        match lane.run(8) {
            Step::Ran(_) => {}
            Step::Idle => {
                if lane.prepare_sleep(&waker) {
                    while lane.still_asleep(&waker) {
                        thread::park();
                    }
                }
            }
            Step::Done => return lane.finish(),
            Step::Wait(_) => unreachable!("the models attach no supervised plugin"),
        }
    }
}

/// Sends `value`, parking while a `Block` lane is full.
fn send(bus: &Bus<u32, Fixed<u32, 2>>, value: u32, waker: &Waker) {
    bus.send_with(value, |bus| {
        let key = bus.add_waiting_sender(waker);
        if !bus.has_room() {
            thread::park();
        }
        bus.remove_waiting_sender(key);
    })
    .unwrap();
}

fn builder(preemptions: usize) -> loom::model::Builder {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(preemptions);
    builder
}

/// One lane on a thread, the sender on the main thread.
fn model(messages: u32) {
    builder(3).check(move || {
        let bus = Bus::new(Fixed::<u32, 2>::new());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let lane = bus
            .attach(Collect(seen.clone()), AttachOptions::new())
            .unwrap();
        let lane_thread = thread::spawn(move || run_lane(lane));
        let me = thread_waker();
        for i in 0..messages {
            send(&bus, i, &me);
        }
        bus.close();
        let report = lane_thread.join().unwrap();
        assert_eq!(report.stats.handled, u64::from(messages));
        assert_eq!(*seen.lock().unwrap(), (0..messages).collect::<Vec<_>>());
    });
}

/// Model 1: two messages, a ring with room for both.
#[test]
fn lane_sleep_and_sender_wake() {
    model(2);
}

/// Models 1 and 2: three messages through a ring of two, so the sender
/// must wait for the lane at least once.
#[test]
fn sender_waits_for_a_full_lane() {
    model(3);
}

/// Model 3: two lanes that may both be asleep when the one message is
/// published; each must wake and handle it without the bus closing.
#[test]
fn one_publication_wakes_two_sleeping_lanes() {
    builder(2).check(|| {
        let bus = Bus::new(Fixed::<u32, 2>::new());
        let lanes: Vec<_> = (0..2)
            .map(|_| {
                let lane = bus.attach(Leave(1), AttachOptions::new()).unwrap();
                thread::spawn(move || run_lane(lane))
            })
            .collect();
        bus.try_send(7).unwrap();
        for lane in lanes {
            let report = lane.join().unwrap();
            assert_eq!(report.stats.handled, 1);
        }
        bus.close();
    });
}

/// Model 5: two lanes that stay attached may both sleep when the one
/// message is published; the sender wakes one, which must wake the other.
#[test]
fn a_woken_lane_passes_the_wake_up_on() {
    use loom::sync::atomic::{AtomicUsize, Ordering};
    struct Count(Arc<AtomicUsize>);
    impl Plugin<u32> for Count {
        fn handle_message(&mut self, _: &Message<u32>) -> Flow {
            self.0.fetch_add(1, Ordering::SeqCst);
            Flow::Continue
        }
    }
    builder(2).check(|| {
        let bus = Bus::new(Fixed::<u32, 2>::new());
        let handled = Arc::new(AtomicUsize::new(0));
        let lanes: Vec<_> = (0..2)
            .map(|_| {
                let lane = bus
                    .attach(Count(handled.clone()), AttachOptions::new())
                    .unwrap();
                thread::spawn(move || run_lane(lane))
            })
            .collect();
        bus.try_send(7).unwrap();
        // A wake-up never passed on leaves a lane parked and this loop
        // spinning: loom reports it (every other thread blocked).
        while handled.load(Ordering::SeqCst) < 2 {
            thread::yield_now();
        }
        bus.close();
        for lane in lanes {
            assert_eq!(lane.join().unwrap().stats.handled, 1);
        }
    });
}

/// Model 4: two senders claim at once; the lane sees each message once,
/// and each sender's in order, without the bus closing first.
#[test]
fn two_senders_claim_and_publish_at_once() {
    builder(2).check(|| {
        let bus = Bus::new(Fixed::<u32, 2>::new());
        let seen = Arc::new(Mutex::new(Vec::new()));
        struct CollectTwo(Arc<Mutex<Vec<u32>>>);
        impl Plugin<u32> for CollectTwo {
            fn handle_message(&mut self, message: &Message<u32>) -> Flow {
                let mut seen = self.0.lock().unwrap();
                seen.push(**message);
                if seen.len() == 2 {
                    Flow::Detach(Status::SUCCESS)
                } else {
                    Flow::Continue
                }
            }
        }
        let lane = bus
            .attach(CollectTwo(seen.clone()), AttachOptions::new())
            .unwrap();
        let lane = thread::spawn(move || run_lane(lane));
        let other = {
            let bus = bus.clone();
            thread::spawn(move || bus.try_send(2).unwrap())
        };
        bus.try_send(1).unwrap();
        other.join().unwrap();
        let report = lane.join().unwrap();
        assert_eq!(report.stats.handled, 2);
        let mut seen = seen.lock().unwrap().clone();
        seen.sort_unstable();
        assert_eq!(seen, [1, 2]);
        bus.close();
    });
}
