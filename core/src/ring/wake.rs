//! How the ring wakes a sleeping lane or a waiting sender, without knowing
//! whether it is a thread or a task.

use core::fmt;
use core::task::Waker;

/// Wakes one sleeper: a parked thread, a pending task, or nothing at all on
/// a poll-driven host. The ring calls it only after it has taken the
/// sleeper's sleep bit, so each sleep is woken once.
///
/// # Example
/// ```
/// use plugbus_core::ring::Wake;
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// struct Count(AtomicUsize);
/// impl Wake for Count {
///     fn wake(&self) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
/// }
/// let count = Count(AtomicUsize::new(0));
/// count.wake();
/// assert_eq!(count.0.load(Ordering::Relaxed), 1);
/// ```
pub trait Wake: Send + Sync {
    /// Makes the sleeper run again.
    fn wake(&self);
}

/// A no-op waker for hosts that never sleep (the poll-driven [`LocalHost`]).
///
/// [`LocalHost`]: crate::LocalHost
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct NoWake;

impl Wake for NoWake {
    fn wake(&self) {}
}

/// A [`Wake`] for async hosts: holds the `Waker` of the task that sleeps
/// last, registered before it sets its sleep bit.
///
/// # Example
/// ```
/// use plugbus_core::ring::{TaskWake, Wake};
///
/// let wake = TaskWake::new();
/// wake.register(std::task::Waker::noop());
/// wake.wake(); // wakes the registered task, once
/// ```
#[derive(Default)]
pub struct TaskWake {
    waker: spin::Mutex<Option<Waker>>,
}

impl TaskWake {
    /// No task registered yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Remembers the task to wake, replacing an earlier one.
    pub fn register(&self, waker: &Waker) {
        let mut slot = self.waker.lock();
        match &*slot {
            Some(old) if old.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }
}

impl Wake for TaskWake {
    fn wake(&self) {
        let waker = self.waker.lock().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl fmt::Debug for TaskWake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskWake").finish_non_exhaustive()
    }
}
