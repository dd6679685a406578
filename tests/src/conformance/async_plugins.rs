//! Async plugins (`Async`, `AsyncPlugin`) on every host: handlers that
//! await a timer or a yield between messages, a shutdown that waits for
//! pending futures, a panic inside a future, and a future that waits on a
//! channel the test feeds. The waits here are runtime-agnostic (a timer
//! thread of the test's own, a hand-written channel), so one definition
//! runs on the poll-driven host, the thread host and both task hosts.

use std::collections::{BinaryHeap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use plugbus_core::lifecycle::Restart;
use plugbus_core::{Async, AsyncPlugin, AttachOptions, Exit, Flow, Message, PluginId};

use super::scenarios::{report, wait_until};
use super::{Family, TestHost};

/// A timer for any host: one thread of the test's wakes each sleeper at
/// its deadline.
struct Timers {
    due: Mutex<BinaryHeap<std::cmp::Reverse<(Instant, u64)>>>,
    wakers: Mutex<std::collections::HashMap<u64, Waker>>,
    changed: Condvar,
}

fn timers() -> &'static Timers {
    static TIMERS: OnceLock<&'static Timers> = OnceLock::new();
    TIMERS.get_or_init(|| {
        let timers: &'static Timers = Box::leak(Box::new(Timers {
            due: Mutex::default(),
            wakers: Mutex::default(),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("test-timers".into())
            .spawn(move || {
                let mut due = timers.due.lock().unwrap();
                loop {
                    let now = Instant::now();
                    match due.peek().map(|next| next.0) {
                        Some((at, key)) if at <= now => {
                            due.pop();
                            if let Some(waker) = timers.wakers.lock().unwrap().remove(&key) {
                                waker.wake();
                            }
                        }
                        Some((at, _)) => {
                            due = timers.changed.wait_timeout(due, at - now).unwrap().0
                        }
                        None => due = timers.changed.wait(due).unwrap(),
                    }
                }
            })
            .expect("the test's timer thread starts");
        timers
    })
}

/// Completes `after` from its first poll.
#[derive(Debug)]
pub struct Sleep {
    at: Option<Instant>,
    after: Duration,
    key: u64,
}

/// A sleep on the test's timer thread.
pub fn sleep(after: Duration) -> Sleep {
    static KEYS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    Sleep {
        at: None,
        after,
        key: KEYS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if cfg!(miri) {
            // Under miri (`.ci/run` runs the LocalHost scenarios there) a
            // sleep is a yield: the timer thread would outlive the test.
            if self.at.is_some() {
                return Poll::Ready(());
            }
            self.at = Some(Instant::now());
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let after = self.after;
        let at = *self.at.get_or_insert_with(|| Instant::now() + after);
        if Instant::now() >= at {
            return Poll::Ready(());
        }
        let timers = timers();
        timers
            .wakers
            .lock()
            .unwrap()
            .insert(self.key, cx.waker().clone());
        timers
            .due
            .lock()
            .unwrap()
            .push(std::cmp::Reverse((at, self.key)));
        timers.changed.notify_one();
        Poll::Pending
    }
}

/// Pending once (waking itself at once), then ready.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
}

/// Records the messages it handled; waits between them as told.
struct Waiter {
    wait: Wait,
    seen: Arc<Mutex<Vec<u64>>>,
    /// Panics on 13, after its wait.
    fragile: bool,
}

#[derive(Clone, Copy)]
enum Wait {
    Yield,
    /// Sleeps this long before every `every`-th message.
    Timer(Duration, u64),
}

impl AsyncPlugin<u64> for Waiter {
    async fn handle_message(&mut self, message: &Message<u64>) -> Flow {
        match self.wait {
            Wait::Yield => yield_now().await,
            Wait::Timer(after, every) => {
                if **message % every == 0 {
                    sleep(after).await;
                }
            }
        }
        assert!(!self.fragile || **message != 13, "thirteen");
        self.seen.lock().unwrap().push(**message);
        Flow::Continue
    }
}

fn waiter(wait: Wait) -> (Async<Waiter>, Arc<Mutex<Vec<u64>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let plugin = Waiter {
        wait,
        seen: seen.clone(),
        fragile: true,
    };
    (Async::new(plugin), seen)
}

/// 16 async plugins, half awaiting a timer, half a yield between
/// messages: each sees every message, in order, exactly once, also when
/// the ring wraps and the sender waits for them.
pub fn async_ordering<F: Family>() {
    // Fewer under miri (`.ci/run` runs the LocalHost scenarios there).
    let n: u64 = if cfg!(miri) { 40 } else { 400 };
    let mut host = F::host::<u64>(32);
    let mut seen = Vec::new();
    for i in 0..16 {
        let wait = if i % 2 == 0 {
            Wait::Timer(Duration::from_millis(1), 40 + i)
        } else {
            Wait::Yield
        };
        let (plugin, s) = waiter(wait);
        let id = host
            .attach_with(Box::new(plugin), AttachOptions::new())
            .unwrap();
        seen.push((id, s));
    }
    let values: Vec<u64> = (0..n).filter(|v| *v != 13).collect();
    for &value in &values {
        host.send(value).unwrap();
    }
    let reports = host.shutdown();
    assert_eq!(reports.len(), 16, "{}", F::NAME);
    for (id, s) in &seen {
        let r = report(&reports, *id);
        assert_eq!(
            *s.lock().unwrap(),
            values,
            "{}: {} saw another sequence",
            F::NAME,
            r.name
        );
        let n = values.len() as u64;
        assert_eq!(
            (r.stats.received, r.stats.handled),
            (n, n),
            "{}: {}",
            F::NAME,
            r.name
        );
        assert_eq!(
            (r.stats.dropped, r.stats.panicked),
            (0, 0),
            "{}: {}",
            F::NAME,
            r.name
        );
        assert_eq!(r.exit, Exit::Shutdown, "{}: {}", F::NAME, r.name);
    }
}

/// Shutdown waits for every pending future: each message handled, on a
/// ring lane and on a lossy lane.
pub fn async_shutdown_drains<F: Family>() {
    let mut host = F::host::<u64>(64);
    let (block, seen_block) = waiter(Wait::Timer(Duration::from_millis(2), 1));
    let (lossy, seen_lossy) = waiter(Wait::Timer(Duration::from_millis(2), 1));
    let a = host
        .attach_with(Box::new(block), AttachOptions::new())
        .unwrap();
    let options = AttachOptions::new()
        .overflow(plugbus_core::Overflow::DropNewest)
        .capacity(64);
    let b = host.attach_with(Box::new(lossy), options).unwrap();
    for value in 0..10 {
        host.send(value).unwrap();
    }
    let reports = host.shutdown();
    for (id, seen) in [(a, seen_block), (b, seen_lossy)] {
        let r = report(&reports, id);
        assert_eq!(
            *seen.lock().unwrap(),
            (0..10).collect::<Vec<u64>>(),
            "{}: {}",
            F::NAME,
            r.name
        );
        assert_eq!(
            (r.stats.handled, r.stats.dropped),
            (10, 0),
            "{}: {}",
            F::NAME,
            r.name
        );
        assert_eq!(r.exit, Exit::Shutdown, "{}: {}", F::NAME, r.name);
    }
}

/// A panic inside a future, after it waited, is caught and counted; a
/// supervised plugin is restarted and goes on with the next message, an
/// unsupervised one leaves; the other plugins see everything.
pub fn async_panic_restarts<F: Family>() {
    let mut host = F::host::<u64>(32);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let shared = seen.clone();
    let supervised = host
        .attach_supervised(
            move || {
                Async::new(Waiter {
                    wait: Wait::Yield,
                    seen: shared.clone(),
                    fragile: true,
                })
            },
            AttachOptions::new().restart(Restart::OnPanic),
        )
        .unwrap();
    let (plain, seen_plain) = waiter(Wait::Timer(Duration::from_millis(1), 5));
    let left = host
        .attach_with(Box::new(plain), AttachOptions::new())
        .unwrap();
    let seen_other = Arc::new(Mutex::new(Vec::new()));
    let other = Async::new(Waiter {
        wait: Wait::Yield,
        seen: seen_other.clone(),
        fragile: false,
    });
    let other_id = host
        .attach_with(Box::new(other), AttachOptions::new())
        .unwrap();
    let values: Vec<u64> = (10..20).collect();
    for &value in &values {
        host.send(value).unwrap();
    }
    // The unsupervised plugin leaves at 13; the host's lanes go on.
    wait_until::<F, u64>(&mut host, "the async plugins to handle 19", |_| {
        seen.lock().unwrap().last() == Some(&19)
    });
    let reports = host.shutdown();
    let without_13: Vec<u64> = values.iter().copied().filter(|v| *v != 13).collect();
    let r = report(&reports, supervised);
    assert_eq!(*seen.lock().unwrap(), without_13, "{}: supervised", F::NAME);
    assert_eq!(
        (
            r.stats.handled,
            r.stats.panicked,
            r.stats.restarts,
            r.stats.dead_lettered
        ),
        (9, 1, 1, 1),
        "{}: supervised",
        F::NAME
    );
    assert!(
        r.panics[0].contains("thirteen"),
        "{}: {:?}",
        F::NAME,
        r.panics
    );
    let r = report(&reports, left);
    assert_eq!(
        *seen_plain.lock().unwrap(),
        [10, 11, 12],
        "{}: unsupervised",
        F::NAME
    );
    assert_eq!(
        (r.exit, r.stats.panicked, r.stats.handled),
        (Exit::Panicked, 1, 3),
        "{}",
        F::NAME
    );
    let r = report(&reports, other_id);
    assert_eq!(
        *seen_other.lock().unwrap(),
        values,
        "{}: the other plugin",
        F::NAME
    );
    assert_eq!(r.stats.handled, 10, "{}", F::NAME);
}

/// A channel the test feeds: `recv` waits for the next value.
#[derive(Default)]
struct Feed {
    values: Mutex<(VecDeque<u64>, Option<Waker>)>,
}

impl Feed {
    fn push(&self, value: u64) {
        let mut inner = self.values.lock().unwrap();
        inner.0.push_back(value);
        if let Some(waker) = inner.1.take() {
            drop(inner);
            waker.wake();
        }
    }
    async fn recv(&self) -> u64 {
        std::future::poll_fn(|cx| {
            let mut inner = self.values.lock().unwrap();
            match inner.0.pop_front() {
                Some(value) => Poll::Ready(value),
                None => {
                    inner.1 = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }
}

/// Pairs each message with the next value of the feed.
struct Paired {
    feed: Arc<Feed>,
    pairs: Arc<Mutex<Vec<(u64, u64)>>>,
}

impl AsyncPlugin<u64> for Paired {
    async fn handle_message(&mut self, message: &Message<u64>) -> Flow {
        let value = self.feed.recv().await;
        self.pairs.lock().unwrap().push((**message, value));
        Flow::Continue
    }
}

/// A plugin whose future waits on something outside the host (a channel
/// the test feeds) is run again when that wakes it, and only then; on
/// `LocalHost` by `poll` alone, with no executor.
pub fn async_waits_on_a_channel<F: Family>() {
    let mut host = F::host::<u64>(8);
    let feed = Arc::new(Feed::default());
    let pairs = Arc::new(Mutex::new(Vec::new()));
    let plugin = Paired {
        feed: feed.clone(),
        pairs: pairs.clone(),
    };
    let id: PluginId = host
        .attach_with(Box::new(Async::new(plugin)), AttachOptions::new())
        .unwrap();
    for value in 1..=3 {
        host.send(value).unwrap();
    }
    host.run_pending();
    assert!(
        pairs.lock().unwrap().is_empty(),
        "{}: handled before the feed",
        F::NAME
    );
    for (k, value) in [100, 200, 300].into_iter().enumerate() {
        feed.push(value);
        wait_until::<F, u64>(&mut host, "the plugin to take a value of the feed", |_| {
            pairs.lock().unwrap().len() == k + 1
        });
        let stats = host.stats(id).expect("attached");
        assert_eq!(stats.handled, k as u64 + 1, "{}", F::NAME);
    }
    let reports = host.shutdown();
    assert_eq!(
        *pairs.lock().unwrap(),
        [(1, 100), (2, 200), (3, 300)],
        "{}",
        F::NAME
    );
    assert_eq!(report(&reports, id).exit, Exit::Shutdown, "{}", F::NAME);
}

/// An async plugin from a dynamic library (`plugbus-waiter`, exported as
/// `Async<Waiter>` by the same `export_plugin!` as a synchronous one):
/// its handler's future stays in the library, polled through the `poll`
/// thunk with the lane's waker lent across (woken by reference, cloned and
/// kept past a poll, woken by value); a panic inside it is caught in the
/// library and the future dropped there; a supervised instance restarts;
/// an answer comes from inside an async handler.
pub fn async_dynamic<F: Family>() {
    use plugbus_commands::Tick;
    use plugbus_host_std::{Library, LoadOptions};

    let mut host = F::host::<Tick>(64);
    let path = crate::dylib::library("plugbus_waiter");
    // SAFETY: this workspace's own plugin, built by cargo for the tests.
    let library = unsafe { Library::<Tick>::open(&path, &LoadOptions::new()) }
        .unwrap_or_else(|e| panic!("{}: load plugbus_waiter: {e}", F::NAME));
    let supervised = host
        .attach_supervised(
            library.factory(""),
            AttachOptions::new().restart(Restart::OnPanic),
        )
        .unwrap();
    let plain = host
        .attach_with(
            Box::new(library.instance("").unwrap()),
            AttachOptions::new(),
        )
        .unwrap();
    for seq in 0..200 {
        let tick = if seq == 100 {
            Tick::Poison { sender: 0, seq }
        } else {
            Tick::Seq { sender: 0, seq }
        };
        host.send(tick).unwrap();
    }
    wait_until::<F, Tick>(
        &mut host,
        "the unsupervised plugin to leave at 100",
        |host| host.stats(plain).is_none(),
    );
    let answers = host
        .ask(Tick::Tally, (), super::scenarios::PATIENCE)
        .unwrap_or_else(|e| panic!("{}: ask: {e}", F::NAME));
    let tally = answers
        .get(supervised)
        .copied()
        .unwrap_or_else(|| panic!("{}: no answer from the supervised plugin", F::NAME));
    // The restarted instance counts from 101; it expected 0.
    assert_eq!((tally.counted, tally.out_of_order), (99, 1), "{}", F::NAME);
    let reports = host.shutdown();
    let r = report(&reports, supervised);
    assert_eq!(
        (
            r.stats.handled,
            r.stats.panicked,
            r.stats.restarts,
            r.stats.dead_lettered
        ),
        (200, 1, 1, 1),
        "{}: supervised (199 ticks and the question)",
        F::NAME
    );
    assert!(
        r.panics[0].contains("poisoned at tick 100"),
        "{}: {:?}",
        F::NAME,
        r.panics
    );
    let r = report(&reports, plain);
    assert_eq!(
        (r.exit, r.stats.handled, r.stats.panicked),
        (Exit::Panicked, 100, 1),
        "{}",
        F::NAME
    );
    assert!(
        r.panic
            .as_deref()
            .is_some_and(|p| p.contains("poisoned at tick 100")),
        "{}: {:?}",
        F::NAME,
        r.panic
    );
}
