//! Waking a parked thread: the [`Wake`] the bus calls for a sleeping lane
//! or a sender waiting for room.

#![forbid(unsafe_code)]

use std::sync::{Arc, OnceLock};
use std::thread::{self, Thread};

use plugbus_core::ring::Wake;

/// Unparks one thread. The handle is stored by the thread itself when it
/// starts, so the waker can be handed to the bus before the thread exists.
///
/// No wake is lost when the handle is missing: the bus calls `wake` only
/// after it has cleared the sleeper's sleep bit, and a thread parks only
/// while its bit is set (`while lane.is_sleeping() { park() }`). A lane
/// thread stores its handle before its first `prepare_sleep`, so a wake
/// that took a bit the thread set always finds the handle (the SeqCst swap
/// on the bit orders the store before it); and if one ever came earlier,
/// the cleared bit keeps the thread from parking.
#[derive(Debug, Default)]
pub(crate) struct Unpark {
    thread: OnceLock<Thread>,
}

impl Unpark {
    /// A waker whose thread is not known yet.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Records the calling thread as the one to wake.
    pub(crate) fn register_current(&self) {
        // A second call (from the same thread) keeps the first handle.
        let _ = self.thread.set(thread::current());
    }
}

impl Wake for Unpark {
    fn wake(&self) {
        if let Some(thread) = self.thread.get() {
            // `unpark` leaves a token when the thread is not parked yet, so
            // a wake between its check and its `park` is not lost either.
            thread.unpark();
        }
    }
}

thread_local! {
    /// This thread's waker as a waiting sender, made once per thread rather
    /// than once per wait.
    static SENDER_WAKE: Arc<Unpark> = {
        let wake = Unpark::new();
        wake.register_current();
        Arc::new(wake)
    };
}

/// The calling thread's waker for waiting as a sender.
pub(crate) fn current_sender_wake() -> Arc<dyn Wake> {
    SENDER_WAKE
        .try_with(|wake| wake.clone() as Arc<dyn Wake>)
        // Sending from a thread-local destructor, after ours is gone.
        .unwrap_or_else(|_| {
            let wake = Unpark::new();
            wake.register_current();
            Arc::new(wake)
        })
}
