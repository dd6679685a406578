//! Counters stay exact under churn (issue 16): three threads send (single
//! messages and batches) while a fourth attaches and detaches plugins of
//! every policy, some with a filter, for a second per host. Afterwards, for
//! every plugin, `received + dropped` equals the number of messages sent
//! while it was attached, `received == handled + filtered + panicked`, and
//! `handled` is what the plugin itself counted.
//!
//! "Sent while attached" is known exactly because every send, attach and
//! detach goes through one lock around the host, with a count of the
//! messages sent so far; the lanes run concurrently all the same (on the
//! poll-driven host, whenever a send finds a `Block` plugin full).
//!
//! Every wait has a deadline and fails naming the host and what it waited
//! for: a lost wake-up or a stuck sender fails the test, it does not hang.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use plugbus_core::{AttachOptions, Flow, Message, Overflow, Plugin, PluginId, Report, SendError};
use plugbus_tests::conformance::{
    Family, Local, Smol, TestHost, Threads, TokioCurrent, TokioMulti,
};

/// How long the churn runs on each host: a workload's length, not a timing
/// assertion.
const CHURN: Duration = Duration::from_secs(1);
/// How long any one wait may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(20);
/// Plugins attached at once, at most.
const MAX_ATTACHED: usize = 8;
/// Attaches plus detaches the churn makes at least.
const MIN_CHANGES: usize = 40;

/// Counts what it handles; declines odd numbers if it filters.
struct Count {
    handled: Arc<AtomicU64>,
    filter: bool,
}

impl Plugin<u64> for Count {
    fn handle_message(&mut self, _: &Message<u64>) -> Flow {
        self.handled.fetch_add(1, Ordering::Relaxed);
        Flow::Continue
    }

    fn wants(&self, message: &u64) -> bool {
        !self.filter || message % 2 == 0
    }
}

/// One plugin's life, in messages sent so far.
struct Entry {
    id: PluginId,
    overflow: Overflow,
    attached_at: u64,
    detached_at: Option<u64>,
    handled: Arc<AtomicU64>,
}

/// The host and what the test knows about it, under one lock.
struct Ledger<H> {
    host: H,
    sent: u64,
    plugins: Vec<Entry>,
}

/// A small deterministic generator (xorshift), so a failure can be rerun.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `work` on a thread of its own and waits for it at most `PATIENCE`.
fn within<T: Send + 'static>(
    host: &str,
    what: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done, result) = mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(work());
    });
    match result.recv_timeout(PATIENCE) {
        Ok(value) => value,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{host}: timed out after {PATIENCE:?} waiting for {what}")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{host}: {what} panicked"),
    }
}

fn sender<H: TestHost<u64>>(ledger: &Mutex<Ledger<H>>, stop: &AtomicBool, seed: u64) {
    let mut rng = Rng(seed);
    while !stop.load(Ordering::Relaxed) {
        let mut ledger = lock(ledger);
        let value = rng.next() % 1000;
        if rng.next() % 4 == 0 {
            let batch: Vec<u64> = (value..value + 1 + rng.next() % 16).collect();
            let len = batch.len() as u64;
            match ledger.host.send_batch(batch) {
                Ok(n) => ledger.sent += n as u64,
                Err(SendError::Rejected { value, .. }) => ledger.sent += len - value.len() as u64,
                Err(other) => panic!("send_batch: {other}"),
            }
        } else {
            match ledger.host.send(value) {
                Ok(()) => ledger.sent += 1,
                Err(SendError::Rejected { .. }) => {}
                Err(other) => panic!("send: {other}"),
            }
        }
        drop(ledger);
        // Lets the churn thread have the lock now and then.
        thread::yield_now();
    }
}

fn churner<H: TestHost<u64>>(ledger: &Mutex<Ledger<H>>, stop: &AtomicBool) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let policies = [
        Overflow::Block,
        Overflow::Reject,
        Overflow::DropNewest,
        Overflow::DropOldest,
    ];
    while !stop.load(Ordering::Relaxed) {
        {
            let mut ledger = lock(ledger);
            let attached: Vec<usize> = (0..ledger.plugins.len())
                .filter(|&i| ledger.plugins[i].detached_at.is_none())
                .collect();
            if attached.len() < MAX_ATTACHED && rng.next() % 2 == 0 {
                let overflow = policies[(rng.next() % 4) as usize];
                let capacity = if matches!(overflow, Overflow::Block | Overflow::Reject) {
                    1 + (rng.next() % 64) as usize
                } else {
                    1 + (rng.next() % 8) as usize
                };
                let handled = Arc::new(AtomicU64::new(0));
                let plugin = Count {
                    handled: handled.clone(),
                    filter: rng.next() % 3 == 0,
                };
                let options = AttachOptions::new().capacity(capacity).overflow(overflow);
                let id = ledger
                    .host
                    .attach_with(Box::new(plugin), options)
                    .expect("attach");
                let attached_at = ledger.sent;
                ledger.plugins.push(Entry {
                    id,
                    overflow,
                    attached_at,
                    detached_at: None,
                    handled,
                });
            } else if !attached.is_empty() {
                let i = attached[(rng.next() % attached.len() as u64) as usize];
                let id = ledger.plugins[i].id;
                assert!(ledger.host.detach(id), "detach {id}");
                ledger.plugins[i].detached_at = Some(ledger.sent);
            }
        }
        thread::sleep(Duration::from_micros(200));
    }
}

fn churn<F: Family>()
where
    F::Host<u64>: Send + 'static,
{
    let ledger = Arc::new(Mutex::new(Ledger {
        host: F::host::<u64>(64),
        sent: 0,
        plugins: Vec::new(),
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for seed in 1..=3u64 {
        let (ledger, stop) = (ledger.clone(), stop.clone());
        threads.push(thread::spawn(move || sender(&ledger, &stop, seed * 7919)));
    }
    {
        let (ledger, stop) = (ledger.clone(), stop.clone());
        threads.push(thread::spawn(move || churner(&ledger, &stop)));
    }
    // At least `CHURN` and `MIN_CHANGES` attaches and detaches, so a loaded
    // machine that starves the churn thread still exercises it.
    let start = Instant::now();
    loop {
        let changes = {
            let ledger = lock(&ledger);
            ledger.plugins.len()
                + ledger
                    .plugins
                    .iter()
                    .filter(|p| p.detached_at.is_some())
                    .count()
        };
        if start.elapsed() >= CHURN && changes >= MIN_CHANGES {
            break;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{}: timed out waiting for {MIN_CHANGES} attaches and detaches ({changes} so far)",
            F::NAME
        );
        thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    within(
        F::NAME,
        "the senders and the churn thread to stop",
        move || {
            for thread in threads {
                thread.join().expect("a test thread panicked");
            }
        },
    );
    let ledger = Arc::into_inner(ledger).expect("every thread has ended");
    let Ledger {
        host,
        sent,
        plugins,
    } = ledger.into_inner().unwrap_or_else(PoisonError::into_inner);
    let reports: Vec<Report> = within(F::NAME, "shutdown", move || host.shutdown());
    assert!(
        sent > 0 && plugins.len() > 10,
        "{}: too little churn",
        F::NAME
    );
    let detached = plugins.iter().filter(|p| p.detached_at.is_some()).count();
    println!(
        "{}: {sent} messages sent, {} plugins attached, {detached} detached while sending",
        F::NAME,
        plugins.len()
    );
    for plugin in &plugins {
        let report = reports
            .iter()
            .find(|r| r.id == plugin.id)
            .unwrap_or_else(|| panic!("{}: no report for {}", F::NAME, plugin.id));
        let s = report.stats;
        let while_attached = plugin.detached_at.unwrap_or(sent) - plugin.attached_at;
        let what = format!(
            "{}: plugin {} ({:?}, attached at {}, detached at {:?}, exit {}): {s:?}",
            F::NAME,
            plugin.id,
            plugin.overflow,
            plugin.attached_at,
            plugin.detached_at,
            report.exit
        );
        assert_eq!(
            s.received + s.dropped,
            while_attached,
            "{what}: received + dropped"
        );
        assert_eq!(
            s.received,
            s.handled + s.filtered + s.panicked,
            "{what}: received"
        );
        assert_eq!(
            s.handled,
            plugin.handled.load(Ordering::Relaxed),
            "{what}: handled"
        );
        if !matches!(plugin.overflow, Overflow::Reject) {
            assert_eq!(s.rejected, 0, "{what}: rejected");
        }
    }
}

#[test]
fn local() {
    churn::<Local>();
}

#[test]
fn threads() {
    churn::<Threads>();
}

#[test]
fn smol() {
    churn::<Smol>();
}

#[test]
fn tokio_multi_thread() {
    churn::<TokioMulti>();
}

#[test]
fn tokio_current_thread() {
    churn::<TokioCurrent>();
}
