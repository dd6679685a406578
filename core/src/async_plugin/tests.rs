//! Async plugins on the poll-driven host: futures that complete at once,
//! yield, wait on an outside event, panic, or are dropped by a detach.
//! Small enough for miri.

extern crate std;

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};
use std::sync::Mutex;

use crate::lifecycle::Restart;
use crate::{Async, AsyncPlugin, AttachOptions, Exit, Flow, LocalHost, Message, Overflow};

/// Pending once (waking itself), then ready.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// An event the test sets from outside: pending until then.
#[derive(Default)]
struct Gate {
    open: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Gate {
    fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
        if let Some(waker) = self.waker.lock().unwrap().take() {
            waker.wake();
        }
    }
    fn wait(&self) -> impl Future<Output = ()> + Send + '_ {
        core::future::poll_fn(move |cx| {
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            if self.open.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }
}

struct Log {
    seen: Arc<Mutex<Vec<u32>>>,
    gate: Option<Arc<Gate>>,
    polls_while_closed: Arc<AtomicUsize>,
}

impl AsyncPlugin<u32> for Log {
    async fn handle_message(&mut self, message: &Message<u32>) -> Flow {
        YieldNow(false).await;
        if let Some(gate) = &self.gate {
            if !gate.open.load(Ordering::SeqCst) {
                self.polls_while_closed.fetch_add(1, Ordering::SeqCst);
            }
            gate.wait().await;
        }
        assert!(**message != 13, "unlucky");
        self.seen.lock().unwrap().push(**message);
        Flow::Continue
    }
}

fn log(gate: Option<Arc<Gate>>) -> (Log, Arc<Mutex<Vec<u32>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let plugin = Log {
        seen: seen.clone(),
        gate,
        polls_while_closed: Arc::default(),
    };
    (plugin, seen)
}

#[test]
fn yielding_handlers_see_every_message_in_order() {
    for overflow in [Overflow::Block, Overflow::DropNewest] {
        let mut host = LocalHost::with_capacity(8);
        let (a, seen_a) = log(None);
        let (b, seen_b) = log(None);
        host.attach_with(Async::new(a), AttachOptions::new().overflow(overflow))
            .unwrap();
        host.attach(Async::new(b)).unwrap();
        for i in 0..5 {
            host.send(i).unwrap();
        }
        let reports = host.shutdown();
        assert_eq!(*seen_a.lock().unwrap(), [0, 1, 2, 3, 4]);
        assert_eq!(*seen_b.lock().unwrap(), [0, 1, 2, 3, 4]);
        for report in reports {
            assert_eq!((report.stats.received, report.stats.handled), (5, 5));
            assert_eq!(report.exit, Exit::Shutdown);
        }
    }
}

#[test]
fn a_future_waiting_outside_is_polled_when_woken() {
    let gate = Arc::new(Gate::default());
    let mut host = LocalHost::with_capacity(8);
    let (plugin, seen) = log(Some(gate.clone()));
    let polls = plugin.polls_while_closed.clone();
    host.attach(Async::new(plugin)).unwrap();
    host.send(1).unwrap();
    host.send(2).unwrap();
    for _ in 0..10 {
        host.poll();
    }
    assert!(seen.lock().unwrap().is_empty());
    // Polled once past its yield, then not again until the gate opens.
    assert_eq!(polls.load(Ordering::SeqCst), 1);
    gate.open();
    host.run_until_idle();
    assert_eq!(*seen.lock().unwrap(), [1, 2]);
    assert_eq!(host.shutdown()[0].stats.handled, 2);
}

#[test]
fn a_panic_inside_the_future_is_caught_and_restarted() {
    let mut host = LocalHost::with_capacity(8);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let shared = seen.clone();
    let factory = move || {
        Async::new(Log {
            seen: shared.clone(),
            gate: None,
            polls_while_closed: Arc::default(),
        })
    };
    host.attach_supervised(factory, AttachOptions::new().restart(Restart::OnPanic))
        .unwrap();
    host.send_batch([12, 13, 14]).unwrap();
    let report = host.shutdown().remove(0);
    assert_eq!(*seen.lock().unwrap(), [12, 14]);
    assert_eq!(
        (
            report.stats.handled,
            report.stats.panicked,
            report.stats.restarts
        ),
        (2, 1, 1)
    );
    assert!(report.panics[0].contains("unlucky"));
}

/// Counts its drops: the future a detach cancels.
struct Dropped(Arc<AtomicUsize>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

struct Stuck {
    gate: Arc<Gate>,
    drops: Arc<AtomicUsize>,
}

impl AsyncPlugin<u32> for Stuck {
    async fn handle_message(&mut self, message: &Message<u32>) -> Flow {
        let _guard = Dropped(self.drops.clone());
        self.gate.wait().await;
        let _ = **message;
        Flow::Continue
    }
}

#[test]
fn a_detach_drops_the_pending_future() {
    let gate = Arc::new(Gate::default());
    let drops = Arc::new(AtomicUsize::new(0));
    let mut host = LocalHost::with_capacity(4);
    let id = host
        .attach(Async::new(Stuck {
            gate: gate.clone(),
            drops: drops.clone(),
        }))
        .unwrap();
    host.send(1).unwrap();
    host.poll();
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    assert!(host.detach(id));
    host.poll();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    let report = host.shutdown().remove(0);
    assert_eq!(report.exit, Exit::Removed);
    assert_eq!((report.stats.received, report.stats.handled), (1, 0));
}

#[test]
fn a_sync_plugin_runs_as_an_async_one() {
    struct Count(Arc<AtomicUsize>);
    impl crate::Plugin<u32> for Count {
        fn handle_message(&mut self, _: &Message<u32>) -> Flow {
            self.0.fetch_add(1, Ordering::SeqCst);
            Flow::Continue
        }
    }
    let count = Arc::new(AtomicUsize::new(0));
    let mut host = LocalHost::with_capacity(4);
    host.attach(Async::new(Count(count.clone()))).unwrap();
    host.send_batch(0..10).unwrap();
    assert_eq!(host.shutdown()[0].stats.handled, 10);
    assert_eq!(count.load(Ordering::SeqCst), 10);
}
