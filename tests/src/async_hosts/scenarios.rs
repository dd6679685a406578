//! The scenarios both async hosts share. Each asserts exact counts; a
//! failure message names the bed (host and runtime) it ran on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use plugbus_core::{
    AttachOptions, DEFAULT_CAPACITY, Exit, Overflow, Plugin, SendError, Status, TrySendError,
};

use super::{
    AsyncTestHost, Bed, Blocker, Busy, HANG, IdleBed, Leaves, PanicsOn, Recorder, Releaser,
    RunsItself, TestSender, Watcher, allocations, complete, cpu_ticks, records, sum_below,
};

/// 64 plugins each see all 10,000 messages, sent one by one and in a batch,
/// in order, and report a clean shutdown.
pub fn broadcast_reaches_every_plugin_exactly_once<B: Bed>(bed: &B) {
    let on = B::NAME;
    let (tx, rx) = mpsc::channel();
    let host = bed.host(DEFAULT_CAPACITY);
    for _ in 0..64 {
        host.attach(Recorder::new(&tx)).unwrap();
    }
    let reports = bed.block_on(async {
        for n in 0..3000 {
            host.send(n).await.unwrap();
        }
        assert_eq!(host.send_batch(3000..10_000).await.unwrap(), 7000, "{on}");
        host.shutdown().await
    });
    assert_eq!(reports.len(), 64, "{on}");
    for (i, report) in reports.iter().enumerate() {
        assert_eq!(report.id.get(), i as u64, "{on}");
        assert_eq!(report.exit, Exit::Shutdown, "{on}");
        assert_eq!(report.stats.received, 10_000, "{on}");
        assert_eq!(report.stats.handled, 10_000, "{on}");
        assert_eq!(report.stats.dropped, 0, "{on}");
        assert_eq!(report.panic, None, "{on}");
    }
    assert_eq!(records(&rx, 64), vec![complete(10_000); 64], "{on}");
}

/// Under `Block`, a plugin slower than the sender loses nothing and never
/// lags more than the ring.
pub fn block_loses_nothing_with_a_slow_plugin<B: Bed>(bed: &B) {
    let on = B::NAME;
    let (tx, rx) = mpsc::channel();
    let host = bed.host(8);
    host.attach(Recorder::slow(&tx, Duration::from_micros(50)))
        .unwrap();
    host.attach(Recorder::new(&tx)).unwrap();
    let reports = bed.block_on(async {
        for n in 0..2000 {
            host.send(n).await.unwrap();
        }
        host.shutdown().await
    });
    assert_eq!(reports.len(), 2, "{on}");
    for report in &reports {
        assert_eq!(report.stats.handled, 2000, "{on}");
        assert_eq!(report.stats.dropped, 0, "{on}");
        // Block never lets a plugin fall further behind than the ring.
        assert!(
            report.stats.lag_max <= 8,
            "{on}: lag {}",
            report.stats.lag_max
        );
    }
    assert_eq!(records(&rx, 2), vec![complete(2000); 2], "{on}");
}

/// Shutdown lets every plugin handle what was still queued.
pub fn shutdown_drains_what_was_sent<B: Bed>(bed: &B) {
    let on = B::NAME;
    let (tx, rx) = mpsc::channel();
    let host = bed.host(1024);
    host.attach(Recorder::slow(&tx, Duration::from_micros(10)))
        .unwrap();
    host.attach(Recorder::new(&tx)).unwrap();
    let reports = bed.block_on(async {
        // Nearly a ring's worth is still queued when shutdown starts.
        host.send_batch(0..1000).await.unwrap();
        host.shutdown().await
    });
    assert_eq!(reports.len(), 2, "{on}");
    assert!(reports.iter().all(|r| r.stats.handled == 1000), "{on}");
    assert_eq!(records(&rx, 2), vec![complete(1000); 2], "{on}");
}

/// A plugin that blocks on a thread of its own keeps no lane of the
/// runtime waiting: it holds its first message until a task lane has
/// handled all 100, which on a one-thread runtime needs the sending task to
/// yield while it blocks.
pub fn a_blocking_plugin_on_its_own_thread_keeps_the_others_going<B: Bed>(bed: &B) {
    let on = B::NAME;
    let host = bed.host(DEFAULT_CAPACITY);
    let (release, released) = mpsc::channel();
    let blocker = Blocker {
        release: released,
        handled: 0,
    };
    host.attach_on_thread(blocker, AttachOptions::new().name("blocker"))
        .unwrap();
    let releaser = Releaser {
        after: 100,
        handled: 0,
        release,
    };
    host.attach(releaser).unwrap();
    assert_eq!(host.plugins().len(), 2, "{on}");
    assert_eq!(host.plugins()[0].name, "blocker", "{on}");
    let reports = bed.block_on(async {
        for n in 0..100 {
            host.send(n).await.unwrap();
        }
        host.shutdown().await
    });
    assert_eq!(reports.len(), 2, "{on}");
    assert!(reports.iter().all(|r| r.stats.handled == 100), "{on}");
}

/// A panicking plugin is reported with its message and counts; the others
/// handle everything.
pub fn a_panic_is_reported_and_the_others_go_on<B: Bed>(bed: &B) {
    let on = B::NAME;
    let (tx, rx) = mpsc::channel();
    let host = bed.host(DEFAULT_CAPACITY);
    let panicky = host.attach(PanicsOn(3)).unwrap();
    host.attach(Recorder::new(&tx)).unwrap();
    let reports = bed.block_on(async {
        for n in 0..1000 {
            host.send(n).await.unwrap();
        }
        host.shutdown().await
    });
    assert_eq!(reports[0].id, panicky, "{on}");
    assert_eq!(reports[0].exit, Exit::Panicked, "{on}");
    assert_eq!(reports[0].panic.as_deref(), Some("boom at 3"), "{on}");
    assert_eq!(reports[0].stats.received, 4, "{on}");
    assert_eq!(reports[0].stats.handled, 3, "{on}");
    assert_eq!(reports[0].stats.panicked, 1, "{on}");
    assert_eq!(reports[1].stats.handled, 1000, "{on}");
    assert_eq!(rx.try_recv(), Ok(complete(1000)), "{on}");
}

/// Shutdown reports every plugin ever attached, by id: one that left by
/// itself, a boxed one the host removed, and one that stayed.
pub fn reports_cover_plugins_that_left_earlier_and_boxed_plugins<B: Bed>(bed: &B) {
    let on = B::NAME;
    let (tx, rx) = mpsc::channel();
    let host = bed.host(DEFAULT_CAPACITY);
    let leaves = host.attach(Leaves(5)).unwrap();
    let boxed: Box<dyn Plugin<u64>> = Box::new(Recorder::new(&tx));
    let removed = host.attach(boxed).unwrap();
    let stays = host.attach(Recorder::new(&tx)).unwrap();
    bed.block_on(host.send_batch(0..10)).unwrap();
    assert!(host.detach(removed), "{on}");
    let reports = bed.block_on(host.shutdown());
    assert_eq!(reports.len(), 3, "{on}");
    assert_eq!(reports[0].id, leaves, "{on}");
    assert_eq!(reports[0].exit, Exit::Detached(Status(7)), "{on}");
    assert_eq!(reports[0].stats.handled, 5, "{on}");
    assert_eq!(reports[1].id, removed, "{on}");
    assert_eq!(reports[1].exit, Exit::Removed, "{on}");
    assert_eq!(reports[2].id, stays, "{on}");
    assert_eq!(reports[2].stats.handled, 10, "{on}");
    // The removed plugin handled some prefix of the messages, in order
    // (maybe all ten: told apart by how it left, not by its count).
    let (removed, stayed): (Vec<_>, Vec<_>) = records(&rx, 2)
        .into_iter()
        .partition(|r| r.exit == Exit::Removed);
    assert_eq!(removed.len(), 1, "{on}");
    assert_eq!(removed[0].count, reports[1].stats.handled, "{on}");
    assert_eq!(removed[0].sum, sum_below(removed[0].count), "{on}");
    assert!(removed[0].in_order, "{on}");
    assert_eq!(stayed, vec![complete(10)], "{on}");
}

/// After shutdown a sender hands its values back as `Closed`.
pub fn a_sender_fails_with_its_values_once_the_host_is_shut_down<B: Bed>(bed: &B) {
    let on = B::NAME;
    let host = bed.host::<u64>(DEFAULT_CAPACITY);
    let sender = host.sender();
    assert!(!sender.is_closed(), "{on}");
    assert_eq!(bed.block_on(host.shutdown()), Vec::new(), "{on}");
    assert!(sender.is_closed(), "{on}");
    match sender.send_batch_blocking(vec![1, 2, 3]) {
        Err(SendError::Closed(values)) => assert_eq!(values, vec![1, 2, 3], "{on}"),
        other => panic!("{on}: expected Closed, got {other:?}"),
    }
    match sender.try_send(4) {
        Err(TrySendError::Failed(SendError::Closed(4))) => {}
        other => panic!("{on}: expected Closed(4), got {other:?}"),
    }
}

/// Hosts, senders and the futures of their async calls are `Send` (hosts
/// and senders `Sync` too), so they can be moved to and shared with other
/// threads and spawned on multi-thread runtimes. The bounds of
/// [`AsyncTestHost`] and [`TestSender`] hold this for every message type,
/// so the impls for both hosts compile only while it holds; this gives it
/// a name and runs the futures' owner to the end.
pub fn hosts_senders_and_their_futures_can_cross_threads<B: Bed>(bed: &B) {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let host = bed.host::<u64>(DEFAULT_CAPACITY);
    let sender = host.sender();
    send_sync(&host);
    send_sync(&sender);
    send(&host.send(1));
    send(&host.send_batch(vec![1]));
    send(&sender.send(1));
    let shutdown = host.shutdown();
    send(&shutdown);
    assert_eq!(bed.block_on(shutdown), Vec::new(), "{}", B::NAME);
}

/// Threads outside the runtime send with `send_blocking` and wait for a
/// slow plugin; every message arrives.
pub fn send_blocking_waits_for_a_slow_plugin_from_other_threads<B: RunsItself>(bed: &B) {
    let on = B::NAME;
    let (tx, rx) = mpsc::channel();
    let host = bed.host(4);
    host.attach(Recorder::slow(&tx, Duration::from_micros(20)))
        .unwrap();
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let sender = host.sender();
            std::thread::spawn(move || {
                for _ in 0..250 {
                    sender.send_blocking(1).unwrap();
                }
            })
        })
        .collect();
    for sender in senders {
        sender.join().unwrap();
    }
    let reports = host.shutdown_blocking();
    assert_eq!(reports[0].stats.handled, 1000, "{on}");
    let record = rx.recv_timeout(HANG).unwrap();
    assert_eq!((record.count, record.sum), (1000, 1000), "{on}");
}

/// With nothing running the lanes, a full `Block` plugin makes `try_send`
/// hand the value back as `Full`.
pub fn try_send_says_full_and_hands_the_value_back<B: IdleBed>(bed: &B) {
    let on = B::NAME;
    let (tx, rx) = mpsc::channel();
    let host = bed.host(4);
    host.attach(Recorder::new(&tx)).unwrap();
    for n in 0..4 {
        host.try_send(n).unwrap();
    }
    match host.try_send(4) {
        Err(TrySendError::Full(4)) => {}
        other => panic!("{on}: expected Full(4), got {other:?}"),
    }
    let reports = bed.block_on(host.shutdown());
    assert_eq!(reports[0].stats.handled, 4, "{on}");
    assert_eq!(rx.try_recv(), Ok(complete(4)), "{on}");
}

/// `DropNewest` and `DropOldest` keep their capacity's worth and count the
/// rest.
pub fn lossy_policies_count_what_they_drop<B: IdleBed>(bed: &B) {
    let on = B::NAME;
    let (tx, rx) = mpsc::channel();
    let host = bed.host(DEFAULT_CAPACITY);
    let newest = AttachOptions::new()
        .overflow(Overflow::DropNewest)
        .capacity(2);
    let oldest = AttachOptions::new()
        .overflow(Overflow::DropOldest)
        .capacity(2);
    let keeps_first = host.attach_with(Recorder::new(&tx), newest).unwrap();
    let keeps_last = host.attach_with(Recorder::new(&tx), oldest).unwrap();
    // Nothing runs the lanes yet: each lane's queue fills, then its policy
    // applies to the other three.
    for n in 0..5 {
        host.try_send(n).unwrap();
    }
    let reports = bed.block_on(host.shutdown());
    assert_eq!(reports[0].id, keeps_first, "{on}");
    let (handled, dropped) = (reports[0].stats.handled, reports[0].stats.dropped);
    assert_eq!((handled, dropped), (2, 3), "{on}");
    assert_eq!(reports[1].id, keeps_last, "{on}");
    let (handled, dropped) = (reports[1].stats.handled, reports[1].stats.dropped);
    assert_eq!((handled, dropped), (2, 3), "{on}");
    let mut sums: Vec<u64> = rx.try_iter().map(|r| r.sum).collect();
    sums.sort_unstable();
    // DropNewest kept 0 and 1 (sum 1); DropOldest kept 3 and 4 (sum 7).
    assert_eq!(sums, vec![1, 7], "{on}");
}

/// On one thread, a lane with much to do yields after a batch, so the other
/// lane runs before the busy one has handled everything.
pub fn a_busy_plugin_yields_so_others_on_the_same_thread_run<B: IdleBed>(bed: &B) {
    let on = B::NAME;
    let host = bed.host(DEFAULT_CAPACITY);
    let busy = Arc::new(AtomicU64::new(0));
    let first_seen = Arc::new(AtomicU64::new(u64::MAX));
    // Attached inside the runtime, so both lanes start in the queue of the
    // thread that runs them (tokio's current-thread runtime looks at tasks
    // spawned from outside only every few dozen turns), the busy one first.
    let reports = bed.block_on(async {
        host.attach(Busy(busy.clone())).unwrap();
        let watcher = Watcher {
            busy: busy.clone(),
            first_seen: first_seen.clone(),
        };
        host.attach(watcher).unwrap();
        for n in 0..1000 {
            host.try_send(n).unwrap();
        }
        host.shutdown().await
    });
    assert!(reports.iter().all(|r| r.stats.handled == 1000), "{on}");
    let seen = first_seen.load(Ordering::Relaxed);
    assert!(
        seen < 1000,
        "{on}: the watcher waited for all {seen} busy messages"
    );
}

/// Dropping the host, then the runtime that never ran its lanes: each lane
/// drains while its task is dropped, so nothing sent is lost.
pub fn dropping_the_host_then_the_runtime_drains_lanes_it_never_ran<B: IdleBed>(bed: B) {
    let on = B::NAME;
    let (tx, rx) = mpsc::channel();
    let host = bed.host(DEFAULT_CAPACITY);
    host.attach(Recorder::new(&tx)).unwrap();
    host.attach(Recorder::new(&tx)).unwrap();
    for n in 0..100 {
        host.try_send(n).unwrap();
    }
    drop(host);
    // Nothing has run the lanes yet.
    assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Empty), "{on}");
    drop(bed);
    let records: Vec<_> = rx.try_iter().collect();
    assert_eq!(records, vec![complete(100); 2], "{on}");
}

/// An idle host's threads (named `threads…`) use no CPU once every lane
/// has handled everything: lanes sleep instead of spinning.
pub fn an_idle_host_uses_no_cpu(host: impl AsyncTestHost<u64>, threads: &str) {
    let (tx, _rx) = mpsc::channel();
    let ids: Vec<_> = (0..16)
        .map(|_| host.attach(Recorder::new(&tx)).unwrap())
        .collect();
    host.sender()
        .send_batch_blocking((0..1000).collect())
        .unwrap();
    // Wait until every lane has handled everything and gone idle.
    while ids.iter().any(|&id| host.stats(id).unwrap().handled < 1000) {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    let before = cpu_ticks(threads);
    std::thread::sleep(Duration::from_millis(500));
    let used = cpu_ticks(threads) - before;
    // A spinning lane would use about 50 ticks (500 ms) per thread.
    assert!(
        used <= 5,
        "idle {threads} threads used {used} ticks in 500 ms"
    );
    let reports = host.shutdown_blocking();
    assert!(reports.iter().all(|r| r.stats.handled == 1000));
}

/// Where the slow plugin of
/// [`sending_allocates_once_per_message_waiting_included`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlowLane {
    /// A task on the runtime (`attach`).
    Task,
    /// A thread of its own (`attach_on_thread`).
    Thread,
}

/// Once warm, each message costs one allocation on the sending thread, also
/// when the sender waits for room and when it sends in batches. The test
/// binary must install [`Counting`](super::Counting) as its allocator.
pub fn sending_allocates_once_per_message_waiting_included<B: RunsItself>(bed: &B, lane: SlowLane) {
    let on = B::NAME;
    let (tx, _rx) = mpsc::channel();
    let host = bed.host(8);
    let slow = Recorder::slow(&tx, Duration::from_micros(2));
    let id = match lane {
        SlowLane::Task => host.attach(slow),
        SlowLane::Thread => host.attach_on_thread(slow, AttachOptions::new()),
    }
    .unwrap();
    // Warm up: the first wait and batch leave their waker slot and buffer
    // behind, and `block_on` sets up this thread's parker.
    bed.block_on(async {
        for n in 0..100 {
            host.send(n).await.unwrap();
        }
        host.send_batch(100..200).await.unwrap();
    });
    let ((), sent) = allocations(|| {
        bed.block_on(async {
            for n in 200..1200 {
                host.send(n).await.unwrap();
            }
        })
    });
    let ((), batched) = allocations(|| {
        bed.block_on(async {
            for start in (1200..2224).step_by(64) {
                host.send_batch(start..start + 64).await.unwrap();
            }
        })
    });
    // The plugin fell a whole ring behind, so the sender did wait.
    assert_eq!(host.stats(id).unwrap().lag_max, 8, "{on}");
    assert_eq!(sent, 1000, "{on}");
    assert_eq!(batched, 1024, "{on}");
    let reports = host.shutdown_blocking();
    assert_eq!(reports[0].stats.handled, 2224, "{on}");
}
