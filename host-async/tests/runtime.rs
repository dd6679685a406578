//! The async host on a runtime of the test's own (neither smol nor tokio):
//! that the host needs nothing from a runtime but `Runtime::spawn`, and
//! what `Runtime::stops_with_host` changes when the host is dropped.
//! smol and tokio run the shared scenarios in `plugbus-tests`.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use futures_lite::future::block_on;
use plugbus_host_async::{AttachOptions, Exit, Flow, Host, Message, Plugin, Runtime, SendError};

/// Every wait in these tests fails after this long instead of hanging.
const HANG: Duration = Duration::from_secs(10);

/// Each lane on a thread of its own, polled by `block_on`. When dropped,
/// it sends what `handled` counts then to `dropped`.
#[derive(Debug, Default)]
struct ThreadPerLane {
    stops_with_host: bool,
    handled: Arc<AtomicUsize>,
    dropped: Option<mpsc::Sender<usize>>,
}

impl Runtime for ThreadPerLane {
    fn spawn<F>(&self, lane: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        std::thread::spawn(move || block_on(lane));
    }

    fn stops_with_host(&self) -> bool {
        self.stops_with_host
    }
}

impl Drop for ThreadPerLane {
    fn drop(&mut self) {
        if let Some(dropped) = &self.dropped {
            let _ = dropped.send(self.handled.load(Ordering::SeqCst));
        }
    }
}

/// Adds up what it sees, and sends the total when it leaves.
struct Sum {
    sum: u64,
    done: mpsc::Sender<u64>,
}

impl Plugin<u64> for Sum {
    fn handle_message(&mut self, message: &Message<u64>) -> Flow {
        self.sum += **message;
        Flow::Continue
    }

    fn on_detach(&mut self, _: Exit) {
        let _ = self.done.send(self.sum);
    }
}

/// Waits for `gate` before each message, then counts it in `handled`.
struct Gated {
    gate: mpsc::Receiver<()>,
    handled: Arc<AtomicUsize>,
}

impl Gated {
    fn new(gate: mpsc::Receiver<()>) -> Self {
        Gated {
            gate,
            handled: Arc::default(),
        }
    }
}

impl Plugin<u64> for Gated {
    fn handle_message(&mut self, _: &Message<u64>) -> Flow {
        self.gate
            .recv_timeout(HANG)
            .expect("ThreadPerLane: the test opens the gate");
        self.handled.fetch_add(1, Ordering::SeqCst);
        Flow::Continue
    }
}

#[test]
fn a_runtime_of_ones_own_runs_the_host_with_every_call() {
    let (done, sums) = mpsc::channel();
    let host: Host<u64, ThreadPerLane> = Host::on_with_capacity(ThreadPerLane::default(), 16);
    let ids: Vec<_> = (0..3)
        .map(|_| {
            host.attach(Sum {
                sum: 0,
                done: done.clone(),
            })
            .unwrap()
        })
        .collect();
    let threaded = host
        .attach_on_thread(
            Sum {
                sum: 0,
                done: done.clone(),
            },
            AttachOptions::new(),
        )
        .unwrap();
    assert_eq!(host.send_batch_blocking(0..100).unwrap(), 100);
    host.send_blocking(100).unwrap();
    block_on(async {
        host.send(101).await.unwrap();
        assert_eq!(host.send_batch(102..110).await.unwrap(), 8);
    });
    assert!(host.detach(ids[0]));
    let sender = host.sender();
    let reports = host.shutdown_blocking();
    assert_eq!(reports.len(), 4);
    assert_eq!(reports[3].id, threaded);
    assert_eq!(reports[0].exit, Exit::Removed);
    assert!(reports[1..].iter().all(|r| r.exit == Exit::Shutdown));
    assert!(reports[1..].iter().all(|r| r.stats.handled == 110));
    let mut totals: Vec<u64> = (0..4)
        .map(|_| {
            sums.recv_timeout(HANG)
                .expect("ThreadPerLane: every plugin leaves")
        })
        .collect();
    totals.sort_unstable();
    assert_eq!(&totals[1..], [109 * 110 / 2; 3]);
    assert!(matches!(sender.send_blocking(1), Err(SendError::Closed(1))));
}

#[test]
fn dropping_a_host_whose_runtime_stops_with_it_waits_for_the_lanes() {
    let (dropped, handled_at_drop) = mpsc::channel();
    let (gate, gated) = mpsc::channel();
    let gated = Gated::new(gated);
    let runtime = ThreadPerLane {
        stops_with_host: true,
        handled: gated.handled.clone(),
        dropped: Some(dropped),
    };
    let host: Host<u64, ThreadPerLane> = Host::on_with_capacity(runtime, 64);
    host.attach(gated).unwrap();
    for n in 0..50 {
        host.try_send(n).unwrap();
    }
    // The gate opens only once the drop below has begun: a drop that did
    // not wait would drop the runtime while the lane still runs.
    let opener = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        for _ in 0..50 {
            gate.send(()).unwrap();
        }
    });
    drop(host);
    opener.join().unwrap();
    // The lane had drained before the runtime was dropped.
    let handled = handled_at_drop
        .recv_timeout(HANG)
        .expect("ThreadPerLane: the runtime is dropped with the host");
    assert_eq!(handled, 50);
}

#[test]
fn dropping_a_host_on_a_runtime_that_outlives_it_does_not_wait() {
    let (gate, gated) = mpsc::channel();
    let (done, sums) = mpsc::channel();
    let host: Host<u64, ThreadPerLane> = Host::on_with_capacity(ThreadPerLane::default(), 64);
    host.attach(Gated::new(gated)).unwrap();
    host.attach(Sum { sum: 0, done }).unwrap();
    for n in 0..10 {
        host.try_send(n).unwrap();
    }
    // The gated lane has not handled a message yet: a drop that waited for
    // it would never return, since the gate opens only after it.
    drop(host);
    for _ in 0..10 {
        gate.send(()).unwrap();
    }
    // The lanes drain on the runtime after the host is gone.
    assert_eq!(
        sums.recv_timeout(HANG)
            .expect("ThreadPerLane: the lane drains after the drop"),
        45
    );
}
