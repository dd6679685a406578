//! Tests fail, they do not hang: a test runs on a thread of its own while
//! the test's thread watches what it waits for, and fails it, naming the
//! host and the wait, when one wait takes longer than [`WAIT`], or the
//! whole test (with what it does outside marked waits, such as dropping a
//! host that drains) longer than [`TEST`].
//!
//! The code under test marks each wait that could block for good (a send
//! that waits for room, a shutdown that drains and joins, a lane to catch
//! up) with [`waiting`]; the mark lasts until the guard it returns is
//! dropped. A wait that never ends (a lost wake-up, a lane that never frees
//! room, a sender that overruns a lane) fails the test after [`WAIT`] with
//! `"<host>: <test>: timed out after 5s waiting for <what>"`, instead of
//! eating CI's time limit; the stuck thread is left behind, and the test
//! binary ends with the other tests.

use std::cell::RefCell;
use std::fmt::Display;
use std::panic;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// How long one wait may take. Every wait in the suite normally ends in
/// microseconds, and the slowest (a drain through a plugin that sleeps in
/// every handler) in well under a second on a loaded machine.
#[cfg(not(miri))]
pub const WAIT: Duration = Duration::from_secs(5);
/// Under miri everything runs a thousand times slower.
#[cfg(miri)]
pub const WAIT: Duration = Duration::from_secs(600);

/// How long a whole watched test may take.
#[cfg(not(miri))]
pub const TEST: Duration = Duration::from_secs(30);
/// Under miri everything runs a thousand times slower.
#[cfg(miri)]
pub const TEST: Duration = Duration::from_secs(3000);

/// What the watched thread waits for: the innermost wait last, each with
/// when it started and how long it may take.
type Slot = Arc<Mutex<Vec<(String, Instant, Duration)>>>;

thread_local! {
    static CURRENT: RefCell<Option<Slot>> = const { RefCell::new(None) };
}

/// Marks a wait on the current thread until the returned guard is dropped.
/// Outside [`run`] it does nothing.
#[must_use = "the wait is watched until the guard is dropped"]
pub fn waiting(what: impl Display) -> Waiting {
    let slot = CURRENT.with(|current| current.borrow().clone());
    if let Some(slot) = &slot {
        lock(slot).push((what.to_string(), Instant::now(), WAIT));
    }
    Waiting { slot }
}

/// The mark of a wait; dropping it ends the wait.
#[derive(Debug)]
pub struct Waiting {
    slot: Option<Slot>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(slot) = &self.slot {
            lock(slot).pop();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `test` on a thread of its own and fails, naming `host` and `name`,
/// if any wait it marks lasts longer than [`WAIT`]. A panic of the test is
/// passed on as it is.
pub fn run(host: &str, name: &str, test: impl FnOnce() + Send + 'static) {
    let slot: Slot = Arc::new(Mutex::new(vec![(
        String::from("the test to end (and drop what it made)"),
        Instant::now(),
        TEST,
    )]));
    let (done, finished) = mpsc::channel();
    let watched = slot.clone();
    let worker = thread::Builder::new()
        .name(format!("{host}: {name}"))
        .spawn(move || {
            CURRENT.with(|current| *current.borrow_mut() = Some(watched));
            let outcome = panic::catch_unwind(panic::AssertUnwindSafe(test));
            let _ = done.send(outcome);
        })
        .expect("spawn the test's thread");
    loop {
        match finished.recv_timeout(Duration::from_millis(50)) {
            Ok(Ok(())) => {
                let _ = worker.join();
                return;
            }
            Ok(Err(payload)) => {
                let _ = worker.join();
                panic::resume_unwind(payload);
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!("{host}: {name}: the test's thread ended without a result")
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Some((what, since, limit)) = lock(&slot).last() {
                    assert!(
                        since.elapsed() < *limit,
                        "{host}: {name}: timed out after {limit:?} waiting for {what}"
                    );
                }
            }
        }
    }
}
