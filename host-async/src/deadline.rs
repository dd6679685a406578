//! Waking a task at a deadline, on any runtime: one thread for the whole
//! process, started on first use, sleeping until the earliest deadline.
//!
//! An async [`Host::ask`](crate::Host::ask) waits for answers or its
//! timeout, whichever comes first, and the [`Runtime`](crate::Runtime)
//! trait has no timer (a tokio runtime built without `enable_time` has
//! none). The timer crates that need no runtime (`futures-timer`,
//! `async-io`'s `Timer`) wake their thread each time a timer is made or
//! dropped: two thread wake-ups for every question, most of which are
//! answered long before their timeout. Here registering a deadline wakes
//! the thread only if it is earlier than the one the thread sleeps until,
//! and cancelling never does; a stream of questions with the same timeout
//! wakes it about once per timeout.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// The deadlines of the process, and the thread that keeps them.
struct Timers {
    state: Mutex<State>,
    changed: Condvar,
}

struct State {
    /// By deadline, then by the order they were made.
    wakers: BTreeMap<(Instant, u64), Waker>,
    next: u64,
    /// When the thread wakes next by itself; `None` while it waits to be
    /// told. Set under the lock right before it waits.
    planned: Option<Instant>,
}

fn timers() -> &'static Timers {
    static TIMERS: OnceLock<&'static Timers> = OnceLock::new();
    TIMERS.get_or_init(|| {
        let timers: &'static Timers = Box::leak(Box::new(Timers {
            state: Mutex::new(State {
                wakers: BTreeMap::new(),
                next: 0,
                planned: None,
            }),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("plugbus-deadlines".into())
            .spawn(move || timers.run())
            .expect("spawn the thread that keeps the deadlines");
        timers
    })
}

impl Timers {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics under the lock but a waker's clone; the map is
        // whole even then.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn run(&self) {
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            let mut due = Vec::new();
            while let Some(entry) = state.wakers.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                due.push(entry.remove());
            }
            if !due.is_empty() {
                // Woken outside the lock; the loop then plans again from
                // what is registered by then.
                drop(state);
                due.into_iter().for_each(Waker::wake);
                state = self.lock();
                continue;
            }
            state.planned = state.wakers.first_key_value().map(|(&(at, _), _)| at);
            state = match state.planned {
                Some(at) => {
                    let wait = at.saturating_duration_since(now);
                    self.changed
                        .wait_timeout(state, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

/// Wakes `waker` at `at`, once; nothing cancels it (a wake after the
/// waiter has gone on is a spurious wake, which a task tolerates).
pub(crate) fn wake_at(at: Instant, waker: &Waker) {
    let timers = timers();
    let mut state = timers.lock();
    let key = state.next;
    state.next = state.next.wrapping_add(1);
    state.wakers.insert((at, key), waker.clone());
    if state.planned.is_none_or(|planned| at < planned) {
        state.planned = Some(at);
        drop(state);
        timers.changed.notify_one();
    }
}

/// The deadline thread as the timer that ends a lane task's backoff.
#[derive(Debug, Default)]
pub(crate) struct Deadlines;

impl plugbus_core::task::Timer for Deadlines {
    fn wake_after(&self, delay: std::time::Duration, waker: &Waker) {
        // A time too far to name is a backoff that outlasts the process.
        if let Some(at) = Instant::now().checked_add(delay) {
            wake_at(at, waker);
        }
    }
}

/// Resolves at `at`; registers with the deadline thread only when polled
/// before then, and deregisters when dropped.
#[must_use = "futures do nothing unless polled"]
pub(crate) struct Sleep {
    at: Instant,
    key: Option<u64>,
}

impl Sleep {
    pub(crate) fn until(at: Instant) -> Self {
        Sleep { at, key: None }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.at {
            return Poll::Ready(());
        }
        let timers = timers();
        let mut state = timers.lock();
        let key = match self.key {
            Some(key) => key,
            None => {
                let key = state.next;
                state.next = state.next.wrapping_add(1);
                self.key = Some(key);
                key
            }
        };
        match state.wakers.get_mut(&(self.at, key)) {
            Some(waker) => waker.clone_from(cx.waker()),
            None => {
                state.wakers.insert((self.at, key), cx.waker().clone());
            }
        }
        if state.planned.is_none_or(|planned| self.at < planned) {
            state.planned = Some(self.at);
            drop(state);
            timers.changed.notify_one();
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            timers().lock().wakers.remove(&(self.at, key));
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep").field("at", &self.at).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn sleeps_end_in_order_and_a_dropped_one_never_fires() {
        let start = Instant::now();
        let late = Sleep::until(start + Duration::from_millis(60));
        let early = Sleep::until(start + Duration::from_millis(20));
        let dropped = Sleep::until(start + Duration::from_millis(10));
        futures_lite::future::block_on(async {
            let mut dropped = Box::pin(dropped);
            // Registered, then dropped: its entry goes with it.
            assert!(
                futures_lite::future::poll_once(&mut dropped)
                    .await
                    .is_none()
            );
            drop(dropped);
            early.await;
            assert!(start.elapsed() >= Duration::from_millis(20));
            late.await;
            assert!(start.elapsed() >= Duration::from_millis(60));
        });
        assert!(timers().lock().wakers.is_empty());
    }
}
