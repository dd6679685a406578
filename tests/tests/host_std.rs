//! What is specific to the std host: real threads, several sending threads,
//! waiting senders, draining and joining at shutdown and drop, thread spawn
//! failures, idle CPU use, and panics on a plugin's own thread. The shared
//! behaviour of every host is in the conformance suite.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use plugbus_host_std::{
    AttachError, AttachOptions, Exit, Flow, Host, Message, Overflow, Plugin, PluginId, SendError,
    Sender, Status, TrySendError,
};

/// A message from one of several sending threads: `(sender, sequence)`.
type Tagged = (u32, u64);

/// Counts messages, sums their sequence numbers, and checks that each
/// sender's messages arrive in the order sent.
#[derive(Default)]
struct Checker {
    count: u64,
    sum: u64,
    next: HashMap<u32, u64>,
    out_of_order: u64,
    result: Arc<Mutex<Vec<(u64, u64, u64)>>>,
}

impl Plugin<Tagged> for Checker {
    fn handle_message(&mut self, message: &Message<Tagged>) -> Flow {
        let (sender, seq) = **message;
        let next = self.next.entry(sender).or_insert(0);
        if seq != *next {
            self.out_of_order += 1;
        }
        *next = seq + 1;
        self.count += 1;
        self.sum += seq;
        Flow::Continue
    }

    fn name(&self) -> &str {
        "checker"
    }

    fn on_detach(&mut self, _: Exit) {
        let mut result = self.result.lock().unwrap();
        result.push((self.count, self.sum, self.out_of_order));
    }
}

#[test]
fn broadcast_from_several_threads_reaches_every_plugin_exactly_once_in_order() {
    plugbus_tests::watch::run(
        "host-std",
        "broadcast_from_several_threads_reaches_every_plugin_exactly_once_in_order",
        || {
            const PLUGINS: usize = 8;
            const SENDERS: u32 = 4;
            const EACH: u64 = 20_000;
            // A small ring, so senders really wait for the lanes.
            let host = Host::with_capacity(64);
            let result = Arc::new(Mutex::new(Vec::new()));
            for _ in 0..PLUGINS {
                host.attach(Checker {
                    result: result.clone(),
                    ..Checker::default()
                })
                .unwrap();
            }
            let threads: Vec<_> = (0..SENDERS)
                .map(|tag| {
                    let sender = host.sender();
                    thread::spawn(move || {
                        for seq in 0..EACH {
                            sender.send((tag, seq)).unwrap();
                        }
                    })
                })
                .collect();
            for thread in threads {
                thread.join().unwrap();
            }
            let reports = host.shutdown();
            assert_eq!(reports.len(), PLUGINS);
            let total = u64::from(SENDERS) * EACH;
            for report in &reports {
                assert_eq!(report.exit, Exit::Shutdown);
                assert_eq!(report.stats.received, total);
                assert_eq!(report.stats.handled, total);
                assert_eq!(report.stats.dropped, 0);
            }
            let result = result.lock().unwrap();
            assert_eq!(result.len(), PLUGINS);
            let sum = u64::from(SENDERS) * (EACH * (EACH - 1) / 2);
            for &(count, got, out_of_order) in result.iter() {
                assert_eq!((count, got, out_of_order), (total, sum, 0));
            }
        },
    );
}

#[test]
fn send_batch_delivers_every_message_in_order() {
    plugbus_tests::watch::run(
        "host-std",
        "send_batch_delivers_every_message_in_order",
        || {
            let host = Host::with_capacity(16);
            let result = Arc::new(Mutex::new(Vec::new()));
            for _ in 0..3 {
                host.attach(Checker {
                    result: result.clone(),
                    ..Checker::default()
                })
                .unwrap();
            }
            // Batches larger than the ring are split over several publications.
            for start in (0..10_000u64).step_by(100) {
                let sent = host.send_batch((start..start + 100).map(|seq| (7, seq)));
                assert_eq!(sent.unwrap(), 100);
            }
            let reports = host.shutdown();
            assert!(reports.iter().all(|r| r.stats.handled == 10_000));
            let result = result.lock().unwrap();
            assert_eq!(*result, vec![(10_000, 10_000 * 9_999 / 2, 0); 3]);
        },
    );
}

/// Sleeps in every handler, so the sender must wait for it.
struct Slow {
    seen: Arc<AtomicU64>,
}

impl Plugin<u64> for Slow {
    fn handle_message(&mut self, _: &Message<u64>) -> Flow {
        thread::sleep(Duration::from_micros(100));
        self.seen.fetch_add(1, Ordering::Relaxed);
        Flow::Continue
    }
}

/// Counts into a shared counter, readable after the plugin is gone.
struct Count(Arc<AtomicU64>);

impl Plugin<u64> for Count {
    fn handle_message(&mut self, _: &Message<u64>) -> Flow {
        self.0.fetch_add(1, Ordering::Relaxed);
        Flow::Continue
    }
}

#[test]
fn threads_sharing_the_host_attach_and_send_through_it() {
    plugbus_tests::watch::run(
        "host-std",
        "threads_sharing_the_host_attach_and_send_through_it",
        || {
            // `attach` takes `&self`, as on every host: a shared host needs no lock.
            let host = Host::<u64>::with_capacity(64);
            let count = Arc::new(AtomicU64::new(0));
            thread::scope(|scope| {
                for _ in 0..4 {
                    scope.spawn(|| {
                        host.attach(Count(count.clone())).unwrap();
                        assert_eq!(host.send_batch(0..10).unwrap(), 10);
                    });
                }
            });
            let reports = host.shutdown();
            assert_eq!(reports.len(), 4);
            // Each plugin sees what was sent after it attached: from 10 to 40.
            let handled: u64 = reports.iter().map(|r| r.stats.handled).sum();
            assert_eq!(handled, count.load(Ordering::Relaxed));
            assert!(reports.iter().all(|r| (10..=40).contains(&r.stats.handled)));
            assert!(reports.iter().any(|r| r.stats.handled == 40));
        },
    );
}

#[test]
fn block_never_loses_a_message_under_a_slow_plugin() {
    plugbus_tests::watch::run(
        "host-std",
        "block_never_loses_a_message_under_a_slow_plugin",
        || {
            const SENT: u64 = 1_000;
            let host = Host::with_capacity(8);
            let slow = Arc::new(AtomicU64::new(0));
            let fast = Arc::new(AtomicU64::new(0));
            let slow_id = host.attach(Slow { seen: slow.clone() }).unwrap();
            host.attach(Count(fast.clone())).unwrap();
            let sender = host.sender();
            let other = thread::spawn(move || {
                for i in 0..SENT {
                    sender.send(i).unwrap();
                }
            });
            for i in 0..SENT {
                host.send(i).unwrap();
            }
            other.join().unwrap();
            let reports = host.shutdown();
            assert_eq!(slow.load(Ordering::Relaxed), 2 * SENT);
            assert_eq!(fast.load(Ordering::Relaxed), 2 * SENT);
            let slow_report = reports.iter().find(|r| r.id == slow_id).unwrap();
            assert_eq!(slow_report.stats.handled, 2 * SENT);
            assert_eq!(slow_report.stats.dropped, 0);
            // The ring held at most its capacity for the slow plugin.
            assert!(slow_report.stats.lag_max <= 8, "{:?}", slow_report.stats);
        },
    );
}

/// Waits in its first handler until the test opens the gate, so messages
/// pile up behind it.
struct Gated {
    gate: Option<mpsc::Receiver<()>>,
    count: Arc<AtomicU64>,
    alive: Arc<()>,
}

impl Gated {
    fn new(count: Arc<AtomicU64>, alive: Arc<()>) -> (Self, mpsc::Sender<()>) {
        let (open, gate) = mpsc::channel();
        (
            Gated {
                gate: Some(gate),
                count,
                alive,
            },
            open,
        )
    }
}

impl Plugin<u64> for Gated {
    fn handle_message(&mut self, _: &Message<u64>) -> Flow {
        if let Some(gate) = self.gate.take() {
            let _ = gate.recv();
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let _ = &self.alive;
        Flow::Continue
    }

    fn name(&self) -> &str {
        "gated"
    }
}

/// Waits until the host behind `sender` has closed its input.
fn wait_closed(sender: &Sender<u64>) {
    while !sender.is_closed() {
        thread::yield_now();
    }
}

#[test]
fn shutdown_drains_what_was_queued_before_it() {
    plugbus_tests::watch::run(
        "host-std",
        "shutdown_drains_what_was_queued_before_it",
        || {
            const SENT: u64 = 500;
            let host = Host::with_capacity(1024);
            let count = Arc::new(AtomicU64::new(0));
            let (plugin, open) = Gated::new(count.clone(), Arc::new(()));
            let id = host.attach(plugin).unwrap();
            for i in 0..SENT {
                host.send(i).unwrap();
            }
            let sender = host.sender();
            let shutdown = thread::spawn(move || host.shutdown());
            // Open the gate only once the host is closed: everything still queued
            // must be drained, not dropped.
            wait_closed(&sender);
            assert_eq!(count.load(Ordering::Relaxed), 0);
            open.send(()).unwrap();
            let reports = shutdown.join().unwrap();
            assert_eq!(count.load(Ordering::Relaxed), SENT);
            assert_eq!(reports.len(), 1);
            assert_eq!(reports[0].id, id);
            assert_eq!(reports[0].exit, Exit::Shutdown);
            assert_eq!(reports[0].stats.handled, SENT);
            assert!(matches!(sender.send(1), Err(SendError::Closed(1))));
        },
    );
}

/// The names of this process's threads (Linux truncates them to 15 bytes).
#[cfg(target_os = "linux")]
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_string())
        .collect()
}

#[test]
fn drop_without_shutdown_drains_and_joins() {
    plugbus_tests::watch::run("host-std", "drop_without_shutdown_drains_and_joins", || {
        const SENT: u64 = 300;
        const NAME: &str = "drop-joins";
        let host = Host::new();
        let count = Arc::new(AtomicU64::new(0));
        let alive = Arc::new(());
        let (plugin, open) = Gated::new(count.clone(), alive.clone());
        host.attach_with(plugin, AttachOptions::new().name(NAME))
            .unwrap();
        let plain = Arc::new(AtomicU64::new(0));
        host.attach(Count(plain.clone())).unwrap();
        for i in 0..SENT {
            host.send(i).unwrap();
        }
        let sender = host.sender();
        let dropper = thread::spawn(move || drop(host));
        wait_closed(&sender);
        open.send(()).unwrap();
        dropper.join().unwrap();
        // Drained: every message sent before the drop was handled.
        assert_eq!(count.load(Ordering::Relaxed), SENT);
        assert_eq!(plain.load(Ordering::Relaxed), SENT);
        // Joined: the plugin was dropped on its thread before `drop` returned,
        // and its thread is gone.
        assert_eq!(Arc::strong_count(&alive), 1);
        #[cfg(target_os = "linux")]
        assert!(!thread_names().iter().any(|name| name == NAME));
    });
}

#[test]
fn a_thread_that_cannot_be_spawned_is_an_attach_error() {
    plugbus_tests::watch::run(
        "host-std",
        "a_thread_that_cannot_be_spawned_is_an_attach_error",
        || {
            // The seam: a stack no system can map makes the OS refuse the thread,
            // as it does past the thread limit (EAGAIN from pthread_create).
            let stack: usize = if cfg!(target_pointer_width = "64") {
                1 << 50
            } else {
                usize::MAX / 2
            };
            let host = Host::<u64>::builder().capacity(4).stack_size(stack).build();
            let alive = Arc::new(());
            let (plugin, _open) = Gated::new(Arc::new(AtomicU64::new(0)), alive.clone());
            match host.attach(plugin) {
                Err(AttachError::Spawn { plugin, reason }) => {
                    assert_eq!(plugin, "gated");
                    assert!(!reason.is_empty());
                    let display = AttachError::Spawn {
                        plugin,
                        reason: reason.clone(),
                    }
                    .to_string();
                    assert_eq!(
                        display,
                        format!("cannot start a lane for plugin `gated`: {reason}")
                    );
                }
                other => panic!("expected a spawn error, got {other:?}"),
            }
            // The plugin was dropped and left the bus: nothing waits for it, so a
            // ring of 4 takes any number of sends.
            assert_eq!(Arc::strong_count(&alive), 1);
            assert!(host.plugins().is_empty());
            for i in 0..100 {
                host.try_send(i).unwrap();
            }
            assert!(host.shutdown().is_empty());
        },
    );
}

#[test]
fn try_send_reports_full_without_waiting() {
    plugbus_tests::watch::run("host-std", "try_send_reports_full_without_waiting", || {
        let host = Host::with_capacity(4);
        let count = Arc::new(AtomicU64::new(0));
        let (plugin, open) = Gated::new(count.clone(), Arc::new(()));
        host.attach(plugin).unwrap();
        // The plugin holds its cursor at 0 while it waits in its first handler,
        // so exactly the ring's capacity fits.
        for i in 0..4 {
            host.try_send(i).unwrap();
        }
        assert!(matches!(host.try_send(4), Err(TrySendError::Full(4))));
        open.send(()).unwrap();
        // `send` waits for room instead.
        host.send(4).unwrap();
        let reports = host.shutdown();
        assert_eq!(reports[0].stats.handled, 5);
        assert_eq!(count.load(Ordering::Relaxed), 5);
    });
}

/// Records the name of the thread it runs on.
struct WhereAmI(Arc<Mutex<Vec<Option<String>>>>);

impl Plugin<u64> for WhereAmI {
    fn handle_message(&mut self, _: &Message<u64>) -> Flow {
        Flow::Continue
    }

    fn name(&self) -> &str {
        "where-am-i"
    }

    fn on_attach(&mut self, _: PluginId) {
        let name = thread::current().name().map(str::to_string);
        self.0.lock().unwrap().push(name);
    }
}

#[test]
fn each_plugin_runs_on_a_thread_named_after_it() {
    plugbus_tests::watch::run(
        "host-std",
        "each_plugin_runs_on_a_thread_named_after_it",
        || {
            let names = Arc::new(Mutex::new(Vec::new()));
            let host = Host::new();
            host.attach(WhereAmI(names.clone())).unwrap();
            host.attach_with(
                WhereAmI(names.clone()),
                AttachOptions::new().name("renamed"),
            )
            .unwrap();
            // A NUL cannot be in a thread name; the report keeps the name as given.
            let odd = host
                .attach_with(
                    WhereAmI(names.clone()),
                    AttachOptions::new().name("nul\0name"),
                )
                .unwrap();
            let reports = host.shutdown();
            let mut names = names.lock().unwrap().clone();
            names.sort();
            assert_eq!(
                names,
                vec![
                    Some("nul\u{fffd}name".to_string()),
                    Some("renamed".to_string()),
                    Some("where-am-i".to_string()),
                ]
            );
            let odd = reports.iter().find(|r| r.id == odd).unwrap();
            assert_eq!(odd.name, "nul\0name");
        },
    );
}

/// Panics in the chosen method.
#[derive(Clone, Copy, PartialEq)]
enum Panic {
    InAttach,
    AtThirdMessage,
    InDrop,
}

struct Panicker(Panic, u64);

impl Plugin<u64> for Panicker {
    fn handle_message(&mut self, _: &Message<u64>) -> Flow {
        self.1 += 1;
        if self.0 == Panic::AtThirdMessage && self.1 == 3 {
            panic!("third message");
        }
        Flow::Continue
    }

    fn on_attach(&mut self, _: PluginId) {
        if self.0 == Panic::InAttach {
            panic!("attach hook");
        }
    }
}

impl Drop for Panicker {
    fn drop(&mut self) {
        if self.0 == Panic::InDrop && !thread::panicking() {
            panic!("drop");
        }
    }
}

#[test]
fn panics_are_caught_on_the_plugin_thread_and_reported() {
    plugbus_tests::watch::run(
        "host-std",
        "panics_are_caught_on_the_plugin_thread_and_reported",
        || {
            const SENT: u64 = 10;
            let host = Host::new();
            let attach = host.attach(Panicker(Panic::InAttach, 0)).unwrap();
            let third = host.attach(Panicker(Panic::AtThirdMessage, 0)).unwrap();
            let on_drop = host.attach(Panicker(Panic::InDrop, 0)).unwrap();
            let count = Arc::new(AtomicU64::new(0));
            let healthy = host.attach(Count(count.clone())).unwrap();
            for i in 0..SENT {
                host.send(i).unwrap();
            }
            let reports = host.shutdown();
            assert_eq!(count.load(Ordering::Relaxed), SENT);
            let by_id = |id: PluginId| reports.iter().find(|r| r.id == id).unwrap();

            let r = by_id(attach);
            assert_eq!(r.exit, Exit::Panicked);
            assert_eq!(r.panic.as_deref(), Some("attach hook"));
            // A hook's panic is no message's: not counted in `panicked`.
            assert_eq!((r.stats.handled, r.stats.panicked), (0, 0));

            let r = by_id(third);
            assert_eq!(r.exit, Exit::Panicked);
            assert_eq!(r.panic.as_deref(), Some("third message"));
            assert_eq!(
                (r.stats.received, r.stats.handled, r.stats.panicked),
                (3, 2, 1)
            );

            let r = by_id(on_drop);
            assert_eq!(r.exit, Exit::Panicked);
            assert_eq!(r.panic.as_deref(), Some("drop"));
            assert_eq!((r.stats.handled, r.stats.panicked), (SENT, 0));

            let r = by_id(healthy);
            assert_eq!(
                (r.exit, r.stats.handled, r.panic.as_deref()),
                (Exit::Shutdown, SENT, None)
            );
        },
    );
}

/// Detaches itself after `limit` messages.
struct Quitter(u64);

impl Plugin<u64> for Quitter {
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
fn shutdown_reports_every_plugin_by_id_also_those_that_left_earlier() {
    plugbus_tests::watch::run(
        "host-std",
        "shutdown_reports_every_plugin_by_id_also_those_that_left_earlier",
        || {
            let host = Host::with_capacity(8);
            let quitter = host.attach(Quitter(3)).unwrap();
            let removed = host.attach(Count(Arc::new(AtomicU64::new(0)))).unwrap();
            for i in 0..5 {
                host.send(i).unwrap();
            }
            // Removing a plugin; the ring keeps moving without it.
            assert!(host.detach(removed));
            while host
                .plugins()
                .iter()
                .any(|p| p.id == quitter || p.id == removed)
            {
                thread::yield_now();
            }
            // Attaching joins the finished threads; their reports are kept.
            let count = Arc::new(AtomicU64::new(0));
            let late = host.attach(Count(count.clone())).unwrap();
            assert_eq!(host.plugins().len(), 1);
            for i in 0..20 {
                host.send(i).unwrap();
            }
            assert_eq!(host.stats(quitter), None);
            assert!(!host.detach(quitter));
            let reports = host.shutdown();
            let ids: Vec<PluginId> = reports.iter().map(|r| r.id).collect();
            assert_eq!(ids, vec![quitter, removed, late]);
            assert_eq!(reports[0].exit, Exit::Detached(Status(7)));
            assert_eq!(reports[0].stats.handled, 3);
            assert_eq!(reports[1].exit, Exit::Removed);
            assert_eq!(reports[2].exit, Exit::Shutdown);
            assert_eq!(reports[2].stats.handled, 20);
            assert_eq!(count.load(Ordering::Relaxed), 20);
        },
    );
}

#[test]
fn stats_and_plugins_read_a_running_host() {
    plugbus_tests::watch::run("host-std", "stats_and_plugins_read_a_running_host", || {
        let host = Host::new();
        let a = host
            .attach_with(
                Count(Arc::new(AtomicU64::new(0))),
                AttachOptions::new()
                    .name("a")
                    .overflow(Overflow::DropNewest)
                    .capacity(10_000),
            )
            .unwrap();
        let b = host
            .attach_with(
                Count(Arc::new(AtomicU64::new(0))),
                AttachOptions::new().name("b"),
            )
            .unwrap();
        for i in 0..100 {
            host.send(i).unwrap();
        }
        while [a, b]
            .iter()
            .any(|&id| host.stats(id).map(|s| s.handled) != Some(100))
        {
            thread::yield_now();
        }
        let plugins = host.plugins();
        assert_eq!(plugins.len(), 2);
        assert_eq!((plugins[0].id, plugins[0].name.as_str()), (a, "a"));
        assert_eq!(plugins[0].overflow, Overflow::DropNewest);
        assert_eq!((plugins[1].id, plugins[1].name.as_str()), (b, "b"));
        assert!(plugins.iter().all(|p| p.stats.handled == 100));
    });
}

#[test]
fn a_sender_outliving_its_host_gets_its_values_back() {
    plugbus_tests::watch::run(
        "host-std",
        "a_sender_outliving_its_host_gets_its_values_back",
        || {
            let host = Host::<u64>::new();
            let sender = host.sender();
            drop(host);
            assert!(sender.is_closed());
            assert!(matches!(sender.send(3), Err(SendError::Closed(3))));
            assert!(matches!(
                sender.try_send(4),
                Err(TrySendError::Failed(SendError::Closed(4)))
            ));
            match sender.send_batch([5, 6, 7]) {
                Err(SendError::Closed(values)) => assert_eq!(values, vec![5, 6, 7]),
                other => panic!("expected closed, got {other:?}"),
            }
        },
    );
}

/// CPU time consumed so far by this process's threads whose name starts
/// with `prefix`, in nanoseconds (from the scheduler's per-thread count).
#[cfg(target_os = "linux")]
fn cpu_ns_of_threads(prefix: &str) -> (u64, usize) {
    let mut total = 0;
    let mut threads = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = task.unwrap().path();
        let Ok(name) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        if !name.starts_with(prefix) {
            continue;
        }
        let schedstat = std::fs::read_to_string(path.join("schedstat")).unwrap();
        let ns: u64 = schedstat
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        total += ns;
        threads += 1;
    }
    (total, threads)
}

#[test]
#[cfg(target_os = "linux")]
fn an_idle_host_uses_no_cpu() {
    const PLUGINS: usize = 16;
    const PREFIX: &str = "idle-cpu";
    let host = Host::new();
    let count = Arc::new(AtomicU64::new(0));
    for _ in 0..PLUGINS {
        host.attach_with(Count(count.clone()), AttachOptions::new().name(PREFIX))
            .unwrap();
    }
    for i in 0..100 {
        host.send(i).unwrap();
    }
    while count.load(Ordering::Relaxed) != 100 * PLUGINS as u64 {
        thread::yield_now();
    }
    // Let the lanes finish their short spin and fall asleep.
    thread::sleep(Duration::from_millis(50));
    let (before, threads) = cpu_ns_of_threads(PREFIX);
    assert_eq!(threads, PLUGINS);
    thread::sleep(Duration::from_millis(500));
    let (after, _) = cpu_ns_of_threads(PREFIX);
    let used = after - before;
    // Asleep, the threads use nothing; one spinning thread would use the
    // whole 500 ms. The bound leaves room for stray wake-ups only.
    assert!(
        used < 2_000_000,
        "idle plugin threads used {used} ns of CPU in 0.5 s"
    );
    // Still responsive after sleeping.
    host.send(0).unwrap();
    let reports = host.shutdown();
    assert!(reports.iter().all(|r| r.stats.handled == 101));
}

#[test]
fn handles_are_send_and_sync() {
    plugbus_tests::watch::run("host-std", "handles_are_send_and_sync", || {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Host<u64>>();
        send_sync::<Sender<u64>>();
    });
}
