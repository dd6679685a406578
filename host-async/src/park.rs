//! Waiting on a thread: the [`Wake`] the bus calls for a parked lane
//! thread or a parked sender, and how a sending thread waits for room under
//! [`Overflow::Block`](plugbus_core::Overflow::Block).

use std::sync::Arc;
use std::task::{Wake, Waker};
use std::thread::{self, Thread};

use plugbus_core::Bus;

/// How often a full sender yields, re-checking for room, before it parks.
/// Lanes usually free room within a few time slices; parking costs a wake
/// from every lane that moves on meanwhile.
const YIELDS_BEFORE_PARK: u32 = 8;

/// Unparks one thread: the waker of a lane on a thread of its own, or of a
/// sender waiting for room.
///
/// No wake is lost: the bus wakes a sleeper only after it has cleared its
/// sleep bit (or, for a sender, after a lane moved on), and a thread parks
/// only while its condition holds, re-registering its waker each time; and
/// `unpark` leaves a token when the thread is not parked yet, so a wake
/// between its check and its `park` is not lost either.
#[derive(Debug)]
pub(crate) struct Unpark {
    thread: Thread,
}

impl Unpark {
    /// A waker for the calling thread.
    pub(crate) fn current() -> Self {
        Unpark {
            thread: thread::current(),
        }
    }
}

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.thread.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.thread.unpark();
    }
}

thread_local! {
    /// This thread's waker as a waiting sender, made once per thread rather
    /// than once per wait.
    static SENDER_WAKER: Waker = Waker::from(Arc::new(Unpark::current()));
}

/// The calling thread's waker for waiting as a sender.
fn current_sender_waker() -> Waker {
    SENDER_WAKER
        .try_with(Waker::clone)
        // Sending from a thread-local destructor, after ours is gone.
        .unwrap_or_else(|_| Waker::from(Arc::new(Unpark::current())))
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
    let key = bus.add_waiting_sender(&current_sender_waker());
    while !bus.has_room() {
        thread::park();
    }
    bus.remove_waiting_sender(key);
}
