//! plugbus-host-smol against its public API: broadcast counts, the `Block`
//! policy with a slow plugin, shutdown and drop draining, blocking plugins
//! on their own threads, panics, and an idle host's CPU use.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use async_executor::Executor;
use futures_lite::future::block_on;
use plugbus_core::{
    AttachOptions, Exit, Flow, Message, Overflow, Plugin, SendError, Status, TrySendError,
};
use plugbus_host_smol::{Builder, Host};

/// How long a test waits for something that should happen at once before
/// it declares a hang. Not a timing assertion: only a guard against a test
/// that would otherwise never end.
const HANG: Duration = Duration::from_secs(60);

/// What a [`Recorder`] saw, kept when it detaches.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    count: u64,
    sum: u64,
    /// Every message was the one after the previous (they are 0, 1, 2, ...).
    in_order: bool,
    exit: Exit,
}

/// Counts and sums messages and checks their order; reports at detach.
struct Recorder {
    count: u64,
    sum: u64,
    in_order: bool,
    /// Sleeps this long per message, to be slower than the sender.
    delay: Option<Duration>,
    records: mpsc::Sender<Record>,
}

impl Recorder {
    fn new(records: &mpsc::Sender<Record>) -> Self {
        Recorder {
            count: 0,
            sum: 0,
            in_order: true,
            delay: None,
            records: records.clone(),
        }
    }

    fn slow(records: &mpsc::Sender<Record>, delay: Duration) -> Self {
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
fn sum_below(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

/// Receives exactly `n` records, failing on a hang.
fn records(rx: &mpsc::Receiver<Record>, n: usize) -> Vec<Record> {
    (0..n)
        .map(|_| rx.recv_timeout(HANG).expect("a plugin never detached"))
        .collect()
}

fn complete(n: u64) -> Record {
    Record {
        count: n,
        sum: sum_below(n),
        in_order: true,
        exit: Exit::Shutdown,
    }
}

#[test]
fn broadcast_reaches_every_plugin_exactly_once() {
    let (tx, rx) = mpsc::channel();
    let host = Host::with_threads(2).unwrap();
    for _ in 0..64 {
        host.attach(Recorder::new(&tx)).unwrap();
    }
    let reports = block_on(async {
        for n in 0..3000 {
            host.send(n).await.unwrap();
        }
        assert_eq!(host.send_batch(3000..10_000).await.unwrap(), 7000);
        host.shutdown().await
    });
    assert_eq!(reports.len(), 64);
    for (i, report) in reports.iter().enumerate() {
        assert_eq!(report.id.get(), i as u32);
        assert_eq!(report.exit, Exit::Shutdown);
        assert_eq!(report.stats.received, 10_000);
        assert_eq!(report.stats.handled, 10_000);
        assert_eq!(report.stats.dropped, 0);
        assert_eq!(report.panic, None);
    }
    assert_eq!(records(&rx, 64), vec![complete(10_000); 64]);
}

#[test]
fn block_loses_nothing_with_a_slow_plugin() {
    let (tx, rx) = mpsc::channel();
    let host = Builder::new().capacity(8).threads(2).build().unwrap();
    host.attach(Recorder::slow(&tx, Duration::from_micros(50)))
        .unwrap();
    host.attach(Recorder::new(&tx)).unwrap();
    let reports = block_on(async {
        for n in 0..2000 {
            host.send(n).await.unwrap();
        }
        host.shutdown().await
    });
    for report in &reports {
        assert_eq!(report.stats.handled, 2000);
        assert_eq!(report.stats.dropped, 0);
        // Block never lets a plugin fall further behind than the ring.
        assert!(report.stats.lag_max <= 8, "lag {}", report.stats.lag_max);
    }
    assert_eq!(records(&rx, 2), vec![complete(2000); 2]);
}

#[test]
fn send_blocking_waits_for_a_slow_plugin_from_another_thread() {
    let (tx, rx) = mpsc::channel();
    let host = Builder::new().capacity(4).threads(1).build().unwrap();
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
    assert_eq!(reports[0].stats.handled, 1000);
    let record = rx.recv_timeout(HANG).unwrap();
    assert_eq!((record.count, record.sum), (1000, 1000));
}

#[test]
fn shutdown_drains_what_was_sent() {
    let (tx, rx) = mpsc::channel();
    let host = Builder::new().capacity(1024).threads(2).build().unwrap();
    host.attach(Recorder::slow(&tx, Duration::from_micros(10)))
        .unwrap();
    host.attach(Recorder::new(&tx)).unwrap();
    // Nearly a ring's worth is still queued when shutdown starts.
    block_on(host.send_batch(0..1000)).unwrap();
    let reports = host.shutdown_blocking();
    assert_eq!(reports.len(), 2);
    assert!(reports.iter().all(|r| r.stats.handled == 1000));
    assert_eq!(records(&rx, 2), vec![complete(1000); 2]);
}

#[test]
fn dropping_a_host_that_owns_its_executor_drains_before_returning() {
    let (tx, rx) = mpsc::channel();
    let host = Builder::new().capacity(64).threads(1).build().unwrap();
    host.attach(Recorder::slow(&tx, Duration::from_micros(20)))
        .unwrap();
    let sender = host.sender();
    block_on(host.send_batch(0..500)).unwrap();
    drop(host);
    // The drop waited: every record is there already.
    assert_eq!(rx.try_recv(), Ok(complete(500)));
    assert!(sender.is_closed());
    match sender.send_blocking(7) {
        Err(SendError::Closed(7)) => {}
        other => panic!("expected Closed(7), got {other:?}"),
    }
}

#[test]
fn dropping_a_host_on_a_borrowed_executor_lets_lanes_drain_there() {
    let (tx, rx) = mpsc::channel();
    let executor = Executor::new();
    let host = Host::on(&executor);
    host.attach(Recorder::new(&tx)).unwrap();
    host.attach(Recorder::new(&tx)).unwrap();
    for n in 0..100 {
        host.try_send(n).unwrap();
    }
    // Nothing has run the executor: the lanes have not started.
    assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Empty));
    drop(host);
    while executor.try_tick() {}
    assert_eq!(records(&rx, 2), vec![complete(100); 2]);
}

#[test]
fn dropping_the_executor_drains_lanes_it_never_ran() {
    let (tx, rx) = mpsc::channel();
    let executor = Executor::new();
    let host = Host::on(&executor);
    host.attach(Recorder::new(&tx)).unwrap();
    for n in 0..100 {
        host.try_send(n).unwrap();
    }
    drop(host);
    drop(executor);
    assert_eq!(rx.try_recv(), Ok(complete(100)));
}

#[test]
fn try_send_says_full_and_hands_the_value_back() {
    let (tx, rx) = mpsc::channel();
    let executor = Executor::new();
    let host = Builder::new().capacity(4).build_on(&executor);
    host.attach(Recorder::new(&tx)).unwrap();
    for n in 0..4 {
        host.try_send(n).unwrap();
    }
    match host.try_send(4) {
        Err(TrySendError::Full(4)) => {}
        other => panic!("expected Full(4), got {other:?}"),
    }
    let reports = block_on(executor.run(host.shutdown()));
    assert_eq!(reports[0].stats.handled, 4);
    assert_eq!(rx.try_recv(), Ok(complete(4)));
}

#[test]
fn lossy_policies_count_what_they_drop() {
    let (tx, rx) = mpsc::channel();
    let executor = Executor::new();
    let host = Host::on(&executor);
    let newest = AttachOptions::new()
        .overflow(Overflow::DropNewest)
        .capacity(2);
    let oldest = AttachOptions::new()
        .overflow(Overflow::DropOldest)
        .capacity(2);
    let keeps_first = host.attach_with(Recorder::new(&tx), newest).unwrap();
    let keeps_last = host.attach_with(Recorder::new(&tx), oldest).unwrap();
    // The executor has not run: each lane's queue fills, then its policy
    // applies to the other three.
    for n in 0..5 {
        host.try_send(n).unwrap();
    }
    let reports = block_on(executor.run(host.shutdown()));
    assert_eq!(reports[0].id, keeps_first);
    assert_eq!((reports[0].stats.handled, reports[0].stats.dropped), (2, 3));
    assert_eq!(reports[1].id, keeps_last);
    assert_eq!((reports[1].stats.handled, reports[1].stats.dropped), (2, 3));
    let mut sums: Vec<u64> = rx.try_iter().map(|r| r.sum).collect();
    sums.sort_unstable();
    // DropNewest kept 0 and 1 (sum 1); DropOldest kept 3 and 4 (sum 7).
    assert_eq!(sums, vec![1, 7]);
}

/// Counts its messages into a shared counter.
struct Busy(Arc<AtomicU64>);

impl Plugin<u64> for Busy {
    fn handle_message(&mut self, _: &Message<u64>) -> Flow {
        self.0.fetch_add(1, Ordering::Relaxed);
        Flow::Continue
    }
}

/// Notes how far the [`Busy`] plugin had got when this one first ran.
struct Watcher {
    busy: Arc<AtomicU64>,
    first_seen: Arc<AtomicU64>,
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

#[test]
fn a_busy_plugin_yields_so_others_on_the_same_thread_run() {
    let executor = Executor::new();
    let host = Host::on(&executor);
    let busy = Arc::new(AtomicU64::new(0));
    let first_seen = Arc::new(AtomicU64::new(u64::MAX));
    host.attach(Busy(busy.clone())).unwrap();
    let watcher = Watcher {
        busy: busy.clone(),
        first_seen: first_seen.clone(),
    };
    host.attach(watcher).unwrap();
    for n in 0..1000 {
        host.try_send(n).unwrap();
    }
    // One thread runs both lanes; the busy one was spawned first.
    let reports = block_on(executor.run(host.shutdown()));
    assert!(reports.iter().all(|r| r.stats.handled == 1000));
    let seen = first_seen.load(Ordering::Relaxed);
    assert!(
        seen < 1000,
        "the watcher waited for all {seen} busy messages"
    );
}

/// Blocks in its handler until `release` says go (or the test hangs).
struct Blocker {
    release: mpsc::Receiver<()>,
    handled: u64,
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
struct Releaser {
    after: u64,
    handled: u64,
    release: mpsc::Sender<()>,
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

fn blocked_plugin_on_its_own_thread_keeps_others_going(host: &Host<'_, u64>) {
    let (release, released) = mpsc::channel();
    let blocker = Blocker {
        release: released,
        handled: 0,
    };
    let on_thread = host
        .attach_on_thread(blocker, AttachOptions::new().name("blocker"))
        .unwrap();
    let releaser = host
        .attach(Releaser {
            after: 100,
            handled: 0,
            release,
        })
        .unwrap();
    assert_eq!(host.plugins().len(), 2);
    assert_eq!(host.plugins()[0].name, "blocker");
    for n in 0..100 {
        // The blocker holds the first message until the releaser, a task on
        // the executor, has handled all 100.
        host.try_send(n).unwrap();
    }
    let _ = (on_thread, releaser);
}

#[test]
fn a_blocking_plugin_on_its_own_thread_leaves_a_one_thread_executor_free() {
    let host = Host::with_threads(1).unwrap();
    blocked_plugin_on_its_own_thread_keeps_others_going(&host);
    let reports = host.shutdown_blocking();
    assert_eq!(reports.len(), 2);
    assert!(reports.iter().all(|r| r.stats.handled == 100));
}

#[test]
fn a_blocking_plugin_on_its_own_thread_leaves_the_callers_executor_free() {
    // The application's executor runs on this thread alone.
    let executor = Executor::new();
    let host = Host::on(&executor);
    blocked_plugin_on_its_own_thread_keeps_others_going(&host);
    let reports = block_on(executor.run(host.shutdown()));
    assert_eq!(reports.len(), 2);
    assert!(reports.iter().all(|r| r.stats.handled == 100));
}

/// Panics on the message with this value.
struct PanicsOn(u64);

impl Plugin<u64> for PanicsOn {
    fn handle_message(&mut self, message: &Message<u64>) -> Flow {
        if **message == self.0 {
            panic!("boom at {}", self.0);
        }
        Flow::Continue
    }
}

#[test]
fn a_panic_is_reported_and_the_others_go_on() {
    let (tx, rx) = mpsc::channel();
    let host = Host::with_threads(2).unwrap();
    let panicky = host.attach(PanicsOn(3)).unwrap();
    host.attach(Recorder::new(&tx)).unwrap();
    let reports = block_on(async {
        for n in 0..1000 {
            host.send(n).await.unwrap();
        }
        host.shutdown().await
    });
    assert_eq!(reports[0].id, panicky);
    assert_eq!(reports[0].exit, Exit::Panicked);
    assert_eq!(reports[0].panic.as_deref(), Some("boom at 3"));
    assert_eq!(reports[0].stats.received, 4);
    assert_eq!(reports[0].stats.handled, 3);
    assert_eq!(reports[0].stats.panicked, 1);
    assert_eq!(reports[1].stats.handled, 1000);
    assert_eq!(rx.try_recv(), Ok(complete(1000)));
}

/// Leaves by itself after `n` messages.
struct Leaves(u64);

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

#[test]
fn reports_cover_plugins_that_left_earlier_and_boxed_plugins() {
    let (tx, rx) = mpsc::channel();
    let host = Host::with_threads(2).unwrap();
    let leaves = host.attach(Leaves(5)).unwrap();
    let boxed: Box<dyn Plugin<u64>> = Box::new(Recorder::new(&tx));
    let removed = host.attach(boxed).unwrap();
    let stays = host.attach(Recorder::new(&tx)).unwrap();
    block_on(host.send_batch(0..10)).unwrap();
    assert!(host.detach(removed));
    let reports = host.shutdown_blocking();
    assert_eq!(reports.len(), 3);
    assert_eq!(reports[0].id, leaves);
    assert_eq!(reports[0].exit, Exit::Detached(Status(7)));
    assert_eq!(reports[0].stats.handled, 5);
    assert_eq!(reports[1].id, removed);
    assert_eq!(reports[1].exit, Exit::Removed);
    assert_eq!(reports[2].id, stays);
    assert_eq!(reports[2].stats.handled, 10);
    // The removed plugin handled some prefix of the messages, in order.
    let mut records = records(&rx, 2);
    records.sort_by_key(|r| r.count);
    assert_eq!(records[0].exit, Exit::Removed);
    assert_eq!(records[0].count, reports[1].stats.handled);
    assert_eq!(records[0].sum, sum_below(records[0].count));
    assert_eq!(records[1], complete(10));
}

#[test]
fn a_sender_fails_with_its_values_once_the_host_is_shut_down() {
    let host = Host::<u64>::with_threads(1).unwrap();
    let sender = host.sender();
    assert_eq!(host.shutdown_blocking(), Vec::new());
    match sender.send_batch_blocking(vec![1, 2, 3]) {
        Err(SendError::Closed(values)) => assert_eq!(values, vec![1, 2, 3]),
        other => panic!("expected Closed, got {other:?}"),
    }
    match sender.try_send(4) {
        Err(TrySendError::Failed(SendError::Closed(4))) => {}
        other => panic!("expected Closed(4), got {other:?}"),
    }
}

/// CPU time (user + system, in clock ticks) of this process's threads whose
/// name starts with `prefix`.
fn cpu_ticks(prefix: &str) -> u64 {
    let mut ticks = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = task.unwrap().path();
        let Ok(name) = std::fs::read_to_string(path.join("comm")) else {
            continue; // the thread ended meanwhile
        };
        if !name.starts_with(prefix) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        // Fields after the parenthesised name: state is the first, utime
        // the 12th and stime the 13th.
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        ticks += fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    }
    ticks
}

#[test]
fn an_idle_host_uses_no_cpu() {
    let (tx, _rx) = mpsc::channel();
    let host = Builder::new()
        .threads(2)
        .thread_name("smol-idle")
        .build()
        .unwrap();
    let ids: Vec<_> = (0..16)
        .map(|_| host.attach(Recorder::new(&tx)).unwrap())
        .collect();
    block_on(host.send_batch(0..1000)).unwrap();
    // Wait until every lane has handled everything and gone idle.
    while ids.iter().any(|&id| host.stats(id).unwrap().handled < 1000) {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    let before = cpu_ticks("smol-idle");
    std::thread::sleep(Duration::from_millis(500));
    let used = cpu_ticks("smol-idle") - before;
    // A spinning lane would use about 50 ticks (500 ms) per thread.
    assert!(
        used <= 5,
        "idle executor threads used {used} ticks in 500 ms"
    );
    let reports = host.shutdown_blocking();
    assert!(reports.iter().all(|r| r.stats.handled == 1000));
}

#[test]
fn hosts_senders_and_their_futures_can_cross_threads() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let host = Host::<u64>::with_threads(1).unwrap();
    let sender = host.sender();
    send_sync(&host);
    send_sync(&sender);
    send(&host.send(1));
    send(&host.send_batch(vec![1]));
    send(&sender.send(1));
    let shutdown = host.shutdown();
    send(&shutdown);
    assert_eq!(block_on(shutdown), Vec::new());
}

/// The allocations of the threads that ask for them to be counted.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<Option<u64>> = const { Cell::new(None) };
}

fn note_allocation() {
    // `try_with`: the allocator also runs while thread-locals are torn down.
    let _ = ALLOCATIONS.try_with(|count| {
        if let Some(n) = count.get() {
            count.set(Some(n + 1));
        }
    });
}

// SAFETY: every call goes to the system allocator unchanged; counting
// touches only a thread-local `Cell` that needs no allocation.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: as for `dealloc`, and the caller upholds `realloc`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns how many allocations this thread made meanwhile.
fn allocations<T>(f: impl FnOnce() -> T) -> (T, u64) {
    ALLOCATIONS.with(|count| count.set(Some(0)));
    let out = f();
    let count = ALLOCATIONS.with(|count| count.replace(None));
    (out, count.unwrap_or(0))
}

#[test]
fn sending_allocates_once_per_message_waiting_included() {
    let (tx, _rx) = mpsc::channel();
    let host = Builder::new().capacity(8).threads(1).build().unwrap();
    // On its own thread, the lane is woken by an unpark. A task lane would
    // be woken through async-executor's queue, which allocates a block per
    // 31 wakes on the waking thread: the executor's cost, not per message.
    let slow = Recorder::slow(&tx, Duration::from_micros(2));
    let id = host.attach_on_thread(slow, AttachOptions::new()).unwrap();
    // Warm up: the first wait and batch leave their waker slot and buffer
    // behind, and `block_on` sets up its thread's parker.
    block_on(async {
        for n in 0..100 {
            host.send(n).await.unwrap();
        }
        host.send_batch(100..200).await.unwrap();
    });
    let ((), sent) = allocations(|| {
        block_on(async {
            for n in 200..1200 {
                host.send(n).await.unwrap();
            }
        })
    });
    let ((), batched) = allocations(|| {
        block_on(async {
            for start in (1200..2224).step_by(64) {
                host.send_batch(start..start + 64).await.unwrap();
            }
        })
    });
    // The plugin fell a whole ring behind, so the sender did wait.
    assert_eq!(host.stats(id).unwrap().lag_max, 8);
    assert_eq!(sent, 1000);
    assert_eq!(batched, 1024);
    let reports = host.shutdown_blocking();
    assert_eq!(reports[0].stats.handled, 2224);
}
