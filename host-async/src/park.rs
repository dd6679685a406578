//! Waiting on a thread: the [`Wake`] the bus calls for a parked lane
//! thread or a parked sender, and how a sending thread waits for room under
//! [`Overflow::Block`](plugbus_core::Overflow::Block).

use std::sync::{Arc, OnceLock};
use std::thread::{self, Thread};

use plugbus_core::Bus;
use plugbus_core::ring::Wake;

/// How often a full sender yields, re-checking for room, before it parks.
/// Lanes usually free room within a few time slices; parking costs a wake
/// from every lane that moves on meanwhile.
const YIELDS_BEFORE_PARK: u32 = 8;

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
fn current_sender_wake() -> Arc<dyn Wake> {
    SENDER_WAKE
        .try_with(|wake| wake.clone() as Arc<dyn Wake>)
        // Sending from a thread-local destructor, after ours is gone.
        .unwrap_or_else(|_| {
            let wake = Unpark::new();
            wake.register_current();
            Arc::new(wake)
        })
}

/// Blocks the calling thread until `bus` may have room for every
/// [`Overflow::Block`](plugbus_core::Overflow::Block) lane (or has closed,
/// or lost the lane that was full): the `wait` a thread passes to
/// [`Bus::send_with`] and [`Bus::send_batch_with`], which retry the send
/// after it returns. It yields a few times first, then parks until a lane
/// that moves on wakes it.
///
/// # Example
/// ```
/// use plugbus_core::Bus;
/// use plugbus_host_async::park_until_room;
///
/// let bus = Bus::<u32>::with_capacity(8);
/// // No plugin gates the ring: there is room at once.
/// bus.send_with(1, park_until_room).unwrap();
/// ```
pub fn park_until_room<M: Send + Sync + 'static>(bus: &Bus<M>) {
    for _ in 0..YIELDS_BEFORE_PARK {
        thread::yield_now();
        if bus.has_room() {
            return;
        }
    }
    // Register first, then check: a lane that moves on after the check
    // sees the registration and unparks us (the unpark token covers a wake
    // that lands before `park`).
    let key = bus.add_waiting_sender(current_sender_wake());
    while !bus.has_room() {
        thread::park();
    }
    bus.remove_waiting_sender(key);
}
