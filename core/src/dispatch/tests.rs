//! Private invariants of the ring: slots are freed exactly once, lanes never
//! read a slot the sender reuses, and the sleep/wake handshake loses no
//! wake-up. Run under miri too (`cargo +nightly miri test -p plugbus-core
//! --features std`), which checks the threaded ones for data races.

extern crate std;

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;

use super::{Bus, Lane, Step};
use crate::message::Message;
use crate::plugin::{Flow, Plugin};
use crate::policy::{AttachOptions, Overflow};
use crate::ring::{Fixed, NoWake, Wake};

/// Messages whose drops are counted.
struct Counted(u64, Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::Relaxed);
    }
}

struct Collect(Arc<Mutex<Vec<u64>>>);

impl Plugin<Counted> for Collect {
    fn handle_message(&mut self, message: &Message<Counted>) -> Flow {
        self.0.lock().unwrap().push(message.0);
        Flow::Continue
    }
}

type Log = Arc<Mutex<Vec<u64>>>;

fn collector() -> (Box<dyn Plugin<Counted>>, Log) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    (Box::new(Collect(seen.clone())), seen)
}

#[test]
fn wrapping_ring_frees_each_message_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let bus = Bus::new(Fixed::<Counted, 4>::new());
    let (plugin, seen) = collector();
    let mut lane = bus
        .attach(plugin, AttachOptions::new(), Arc::new(NoWake))
        .unwrap();
    for i in 0..10 {
        let mut value = Counted(i, drops.clone());
        loop {
            match bus.try_send(value) {
                Ok(()) => break,
                Err(e) => {
                    value = e.into_inner();
                    assert!(matches!(lane.run(2), Step::Ran(_)));
                }
            }
        }
    }
    bus.close();
    while lane.run(3) != Step::Done {}
    let report = lane.finish();
    assert_eq!(report.stats.handled, 10);
    assert_eq!(*seen.lock().unwrap(), (0..10).collect::<Vec<_>>());
    // Ten messages sent, four still in the ring.
    assert_eq!(drops.load(Ordering::Relaxed), 6);
    drop(bus);
    assert_eq!(drops.load(Ordering::Relaxed), 10);
}

#[test]
fn a_full_block_lane_refuses_and_the_value_comes_back_intact() {
    let drops = Arc::new(AtomicUsize::new(0));
    let bus = Bus::new(Fixed::<Counted, 2>::new());
    let (plugin, _) = collector();
    let lane = bus
        .attach(plugin, AttachOptions::new(), Arc::new(NoWake))
        .unwrap();
    bus.try_send(Counted(0, drops.clone())).unwrap();
    bus.try_send(Counted(1, drops.clone())).unwrap();
    let back = bus
        .try_send(Counted(2, drops.clone()))
        .unwrap_err()
        .into_inner();
    assert_eq!(back.0, 2);
    assert_eq!(drops.load(Ordering::Relaxed), 0);
    drop(back);
    drop(lane);
    // The dropped lane no longer gates: the ring accepts again.
    bus.try_send(Counted(3, drops.clone())).unwrap();
    assert_eq!(drops.load(Ordering::Relaxed), 2);
}

#[test]
fn lossy_queue_keeps_newest_and_counts() {
    let drops = Arc::new(AtomicUsize::new(0));
    let bus = Bus::new(Fixed::<Counted, 4>::new());
    let (plugin, seen) = collector();
    let options = AttachOptions::new()
        .capacity(2)
        .overflow(Overflow::DropOldest);
    let mut lane = bus.attach(plugin, options, Arc::new(NoWake)).unwrap();
    for i in 0..5 {
        bus.try_send(Counted(i, drops.clone())).unwrap();
    }
    bus.close();
    while lane.run(8) != Step::Done {}
    let report = lane.finish();
    assert_eq!(*seen.lock().unwrap(), [3, 4]);
    assert_eq!((report.stats.received, report.stats.dropped), (2, 3));
}

/// Wakes a lane or sender parked on a std thread.
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(&self) {
        self.0.unpark();
    }
}

fn run_on_thread(mut lane: Lane<Counted, Fixed<Counted, 8>>) -> crate::Report {
    loop {
        match lane.run(3) {
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
}

/// Two lanes on threads, two sender threads, a ring of 8: every message
/// arrives once, in each sender's order, and no wake-up is lost (a lost one
/// would hang the test).
#[test]
fn threads_lose_no_message_and_no_wakeup() {
    const PER_SENDER: u64 = if cfg!(miri) { 40 } else { 5_000 };
    let drops = Arc::new(AtomicUsize::new(0));
    let bus = Bus::new(Fixed::<Counted, 8>::new());
    let mut handles = Vec::new();
    let mut seens = Vec::new();
    for _ in 0..2 {
        let (plugin, seen) = collector();
        seens.push(seen);
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = thread::spawn(move || {
            let lane: Lane<Counted, Fixed<Counted, 8>> = rx.recv().unwrap();
            run_on_thread(lane)
        });
        let waker = Arc::new(Unpark(handle.thread().clone()));
        tx.send(bus.attach(plugin, AttachOptions::new(), waker).unwrap())
            .unwrap();
        handles.push(handle);
    }
    let senders: Vec<_> = (0..2u64)
        .map(|s| {
            let bus = bus.clone();
            let drops = drops.clone();
            thread::spawn(move || {
                let waker: Arc<dyn Wake> = Arc::new(Unpark(thread::current()));
                for i in 0..PER_SENDER {
                    bus.send_with(Counted(s * 1_000_000 + i, drops.clone()), |bus| {
                        let key = bus.add_waiting_sender(waker.clone());
                        if !bus.has_room() {
                            thread::park();
                        }
                        bus.remove_waiting_sender(key);
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for sender in senders {
        sender.join().unwrap();
    }
    bus.close();
    for handle in handles {
        let report = handle.join().unwrap();
        assert_eq!(report.stats.handled, 2 * PER_SENDER);
    }
    for seen in seens {
        let seen = seen.lock().unwrap();
        for s in 0..2u64 {
            let mine: Vec<u64> = seen
                .iter()
                .copied()
                .filter(|v| v / 1_000_000 == s)
                .collect();
            let expected: Vec<u64> = (0..PER_SENDER).map(|i| s * 1_000_000 + i).collect();
            assert_eq!(mine, expected);
        }
    }
    drop(bus);
    assert_eq!(drops.load(Ordering::Relaxed), 2 * PER_SENDER as usize);
}

/// A lane's shared record costs one allocation of a few cache lines: it is
/// what an idle plugin costs the core (W3 allows 1 KiB per idle plugin for
/// the whole host).
#[test]
fn lane_records_stay_small() {
    let shared = core::mem::size_of::<super::bus::LaneShared<u64>>();
    assert_eq!(core::mem::align_of::<super::bus::LaneShared<u64>>(), 64);
    assert!(shared <= 256, "LaneShared is {shared} bytes");
    let lane = core::mem::size_of::<Lane<u64>>();
    assert!(lane <= 128, "Lane is {lane} bytes");
}
