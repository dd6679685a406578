//! plugbus-host-tokio against its public API, on the multi-thread and the
//! current-thread runtime: broadcast counts, the `Block` policy with a slow
//! plugin, shutdown and drop draining, blocking plugins on their own
//! threads, panics, and an idle host's CPU use.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use plugbus_core::{
    AttachOptions, Exit, Flow, Message, Overflow, Plugin, SendError, Status, TrySendError,
};
use plugbus_host_tokio::{Builder, Host};
use tokio::runtime::{Builder as Runtime, Runtime as Rt};

/// How long a test waits for something that should happen at once before
/// it declares a hang. Not a timing assertion: only a guard against a test
/// that would otherwise never end.
const HANG: Duration = Duration::from_secs(60);

fn multi_thread() -> Rt {
    Runtime::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

fn current_thread() -> Rt {
    Runtime::new_current_thread().build().unwrap()
}

/// Both runtimes, named for failure messages.
fn runtimes() -> [(&'static str, Rt); 2] {
    [
        ("multi-thread", multi_thread()),
        ("current-thread", current_thread()),
    ]
}

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
    for (runtime_name, runtime) in runtimes() {
        let (tx, rx) = mpsc::channel();
        let reports = runtime.block_on(async {
            let host = Host::new();
            for _ in 0..64 {
                host.attach(Recorder::new(&tx)).unwrap();
            }
            for n in 0..3000 {
                host.send(n).await.unwrap();
            }
            assert_eq!(host.send_batch(3000..10_000).await.unwrap(), 7000);
            host.shutdown().await
        });
        assert_eq!(reports.len(), 64, "{runtime_name}");
        for (i, report) in reports.iter().enumerate() {
            assert_eq!(report.id.get(), i as u32, "{runtime_name}");
            assert_eq!(report.exit, Exit::Shutdown, "{runtime_name}");
            assert_eq!(report.stats.received, 10_000, "{runtime_name}");
            assert_eq!(report.stats.handled, 10_000, "{runtime_name}");
            assert_eq!(report.panic, None, "{runtime_name}");
        }
        assert_eq!(
            records(&rx, 64),
            vec![complete(10_000); 64],
            "{runtime_name}"
        );
    }
}

#[test]
fn block_loses_nothing_with_a_slow_plugin() {
    for (runtime_name, runtime) in runtimes() {
        let (tx, rx) = mpsc::channel();
        let reports = runtime.block_on(async {
            let host = Builder::new().capacity(8).build();
            host.attach(Recorder::slow(&tx, Duration::from_micros(50)))
                .unwrap();
            host.attach(Recorder::new(&tx)).unwrap();
            for n in 0..2000 {
                host.send(n).await.unwrap();
            }
            host.shutdown().await
        });
        for report in &reports {
            assert_eq!(report.stats.handled, 2000, "{runtime_name}");
            assert_eq!(report.stats.dropped, 0, "{runtime_name}");
            // Block never lets a plugin fall further behind than the ring.
            assert!(report.stats.lag_max <= 8, "{runtime_name}");
        }
        assert_eq!(records(&rx, 2), vec![complete(2000); 2], "{runtime_name}");
    }
}

#[test]
fn senders_in_several_tasks_are_all_delivered() {
    let (tx, rx) = mpsc::channel();
    let runtime = multi_thread();
    let host = Host::with_handle(runtime.handle().clone());
    host.attach(Recorder::slow(&tx, Duration::from_micros(5)))
        .unwrap();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let sender = host.sender();
            runtime.spawn(async move {
                for _ in 0..250 {
                    sender.send(1).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        runtime.block_on(task).unwrap();
    }
    let reports = host.shutdown_blocking();
    assert_eq!(reports[0].stats.handled, 1000);
    let record = rx.recv_timeout(HANG).unwrap();
    assert_eq!((record.count, record.sum), (1000, 1000));
}

#[test]
fn shutdown_drains_what_was_sent() {
    for (runtime_name, runtime) in runtimes() {
        let (tx, rx) = mpsc::channel();
        let reports = runtime.block_on(async {
            let host = Host::new();
            host.attach(Recorder::slow(&tx, Duration::from_micros(10)))
                .unwrap();
            host.attach(Recorder::new(&tx)).unwrap();
            // Nearly a ring's worth is still queued when shutdown starts.
            host.send_batch(0..1000).await.unwrap();
            host.shutdown().await
        });
        assert_eq!(reports.len(), 2, "{runtime_name}");
        assert!(reports.iter().all(|r| r.stats.handled == 1000));
        assert_eq!(records(&rx, 2), vec![complete(1000); 2], "{runtime_name}");
    }
}

#[test]
fn dropping_the_host_lets_lanes_drain_on_the_runtime() {
    for (runtime_name, runtime) in runtimes() {
        let (tx, rx) = mpsc::channel();
        let sender = runtime.block_on(async {
            let host = Host::new();
            host.attach(Recorder::slow(&tx, Duration::from_micros(10)))
                .unwrap();
            host.attach(Recorder::new(&tx)).unwrap();
            host.send_batch(0..500).await.unwrap();
            let sender = host.sender();
            drop(host);
            // The drop did not wait; the runtime runs the lanes to the end.
            let waiting = Instant::now();
            let mut seen = Vec::new();
            while seen.len() < 2 {
                match rx.try_recv() {
                    Ok(record) => seen.push(record),
                    Err(_) => {
                        assert!(waiting.elapsed() < HANG, "the lanes never drained");
                        tokio::task::yield_now().await;
                    }
                }
            }
            assert_eq!(seen, vec![complete(500); 2], "{runtime_name}");
            sender
        });
        match sender.send_blocking(7) {
            Err(SendError::Closed(7)) => {}
            other => panic!("{runtime_name}: expected Closed(7), got {other:?}"),
        }
    }
}

#[test]
fn dropping_the_host_then_the_runtime_drains_lanes_it_never_ran() {
    let (tx, rx) = mpsc::channel();
    let runtime = current_thread();
    let host = Host::with_handle(runtime.handle().clone());
    host.attach(Recorder::new(&tx)).unwrap();
    host.attach(Recorder::new(&tx)).unwrap();
    for n in 0..100 {
        host.try_send(n).unwrap();
    }
    drop(host);
    // Nothing has driven the runtime yet: the lanes have not started.
    assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Empty));
    drop(runtime);
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![complete(100); 2]);
}

#[test]
fn a_runtime_gone_before_the_host_shows_in_the_reports() {
    let (tx, rx) = mpsc::channel();
    let runtime = current_thread();
    let host = Host::with_handle(runtime.handle().clone());
    host.attach(Recorder::new(&tx)).unwrap();
    drop(tx);
    for n in 0..100 {
        host.try_send(n).unwrap();
    }
    // The host is still open, so the lane cannot drain: it is removed, and
    // says so, instead of leaving the host waiting for it.
    drop(runtime);
    let reports = host.shutdown_blocking();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].exit, Exit::Removed);
    assert_eq!(reports[0].stats.handled, 0);
    // It never ran: no hook was called on it either.
    assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Disconnected));
}

#[test]
fn try_send_says_full_and_hands_the_value_back() {
    let (tx, rx) = mpsc::channel();
    let runtime = current_thread();
    let host = Builder::new()
        .capacity(4)
        .build_on(runtime.handle().clone());
    host.attach(Recorder::new(&tx)).unwrap();
    for n in 0..4 {
        host.try_send(n).unwrap();
    }
    match host.try_send(4) {
        Err(TrySendError::Full(4)) => {}
        other => panic!("expected Full(4), got {other:?}"),
    }
    let reports = runtime.block_on(host.shutdown());
    assert_eq!(reports[0].stats.handled, 4);
    assert_eq!(rx.try_recv(), Ok(complete(4)));
}

#[test]
fn lossy_policies_count_what_they_drop() {
    let (tx, rx) = mpsc::channel();
    let runtime = current_thread();
    let host = Host::with_handle(runtime.handle().clone());
    let newest = AttachOptions::new()
        .overflow(Overflow::DropNewest)
        .capacity(2);
    let oldest = AttachOptions::new()
        .overflow(Overflow::DropOldest)
        .capacity(2);
    let keeps_first = host.attach_with(Recorder::new(&tx), newest).unwrap();
    let keeps_last = host.attach_with(Recorder::new(&tx), oldest).unwrap();
    // Nothing drives the runtime yet: each lane's queue fills, then its
    // policy applies to the other three.
    for n in 0..5 {
        host.try_send(n).unwrap();
    }
    let reports = runtime.block_on(host.shutdown());
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
    let busy = Arc::new(AtomicU64::new(0));
    let first_seen = Arc::new(AtomicU64::new(u64::MAX));
    // Attached inside the runtime, so both lanes start in its local queue,
    // the busy one first.
    let reports = current_thread().block_on(async {
        let host = Host::new();
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
}

impl Plugin<u64> for Blocker {
    fn handle_message(&mut self, message: &Message<u64>) -> Flow {
        if **message == 0 {
            self.release
                .recv_timeout(HANG)
                .expect("the other plugins never got going");
        }
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

#[test]
fn a_blocking_plugin_on_its_own_thread_keeps_the_others_going() {
    for (runtime_name, runtime) in runtimes() {
        let reports = runtime.block_on(async {
            let host = Host::new();
            let (release, released) = mpsc::channel();
            let blocker = Blocker { release: released };
            host.attach_on_thread(blocker, AttachOptions::new().name("blocker"))
                .unwrap();
            let releaser = Releaser {
                after: 100,
                handled: 0,
                release,
            };
            host.attach(releaser).unwrap();
            assert_eq!(host.plugins()[0].name, "blocker");
            // The blocker holds message 0 until the releaser, a task on the
            // runtime, has handled all 100: on the current-thread runtime
            // that needs this task to yield while the blocker blocks.
            for n in 0..100 {
                host.send(n).await.unwrap();
            }
            host.shutdown().await
        });
        assert_eq!(reports.len(), 2, "{runtime_name}");
        assert!(
            reports.iter().all(|r| r.stats.handled == 100),
            "{runtime_name}"
        );
    }
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
    for (runtime_name, runtime) in runtimes() {
        let (tx, rx) = mpsc::channel();
        let (panicky, reports) = runtime.block_on(async {
            let host = Host::new();
            let panicky = host.attach(PanicsOn(3)).unwrap();
            host.attach(Recorder::new(&tx)).unwrap();
            for n in 0..1000 {
                host.send(n).await.unwrap();
            }
            (panicky, host.shutdown().await)
        });
        assert_eq!(reports[0].id, panicky, "{runtime_name}");
        assert_eq!(reports[0].exit, Exit::Panicked, "{runtime_name}");
        assert_eq!(reports[0].panic.as_deref(), Some("boom at 3"));
        assert_eq!(reports[0].stats.received, 4, "{runtime_name}");
        assert_eq!(reports[0].stats.handled, 3, "{runtime_name}");
        assert_eq!(reports[0].stats.panicked, 1, "{runtime_name}");
        assert_eq!(reports[1].stats.handled, 1000, "{runtime_name}");
        assert_eq!(rx.try_recv(), Ok(complete(1000)), "{runtime_name}");
    }
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
    let runtime = multi_thread();
    let host = Host::with_handle(runtime.handle().clone());
    let leaves = host.attach(Leaves(5)).unwrap();
    let boxed: Box<dyn Plugin<u64>> = Box::new(Recorder::new(&tx));
    let removed = host.attach(boxed).unwrap();
    let stays = host.attach(Recorder::new(&tx)).unwrap();
    host.sender().send_batch_blocking(0..10).unwrap();
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
    let runtime = current_thread();
    let host = Host::<u64>::with_handle(runtime.handle().clone());
    let sender = host.sender();
    assert_eq!(runtime.block_on(host.shutdown()), Vec::new());
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
    let runtime = Runtime::new_multi_thread()
        .worker_threads(2)
        .thread_name("tokio-idle")
        .build()
        .unwrap();
    let host = Host::with_handle(runtime.handle().clone());
    let ids: Vec<_> = (0..16)
        .map(|_| host.attach(Recorder::new(&tx)).unwrap())
        .collect();
    host.sender().send_batch_blocking(0..1000).unwrap();
    // Wait until every lane has handled everything and gone idle.
    while ids.iter().any(|&id| host.stats(id).unwrap().handled < 1000) {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    let before = cpu_ticks("tokio-idle");
    std::thread::sleep(Duration::from_millis(500));
    let used = cpu_ticks("tokio-idle") - before;
    // A spinning lane would use about 50 ticks (500 ms) per worker.
    assert!(used <= 5, "idle workers used {used} ticks in 500 ms");
    let reports = host.shutdown_blocking();
    assert!(reports.iter().all(|r| r.stats.handled == 1000));
}

#[test]
fn hosts_senders_and_their_futures_can_cross_threads() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let runtime = current_thread();
    let host = Host::<u64>::with_handle(runtime.handle().clone());
    let sender = host.sender();
    send_sync(&host);
    send_sync(&sender);
    send(&host.send(1));
    send(&host.send_batch(vec![1]));
    send(&sender.send(1));
    let shutdown = host.shutdown();
    send(&shutdown);
    assert_eq!(runtime.block_on(shutdown), Vec::new());
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
    let runtime = multi_thread();
    let host = Builder::new()
        .capacity(8)
        .build_on(runtime.handle().clone());
    let id = host
        .attach(Recorder::slow(&tx, Duration::from_micros(2)))
        .unwrap();
    // Warm up: the first wait and batch leave their waker slot and buffer
    // behind, and `block_on` sets up this thread's parker.
    runtime.block_on(async {
        for n in 0..100 {
            host.send(n).await.unwrap();
        }
        host.send_batch(100..200).await.unwrap();
    });
    let ((), sent) = allocations(|| {
        runtime.block_on(async {
            for n in 200..1200 {
                host.send(n).await.unwrap();
            }
        })
    });
    let ((), batched) = allocations(|| {
        runtime.block_on(async {
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
