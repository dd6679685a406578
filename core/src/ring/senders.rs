//! Senders waiting for room: registered with their waker while a `Block`
//! lane is a whole capacity behind, woken when a lane moves on, leaves, or
//! the ring closes.

use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::Ordering;
use core::task::Waker;

use crate::sync::{AtomicUsize, Mutex, fence};

/// Identifies a sender registered with
/// [`Bus::add_waiting_sender`](crate::Bus::add_waiting_sender).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaiterKey(usize);

/// The waiting senders. Registering and leaving take a lock, but only a
/// sender that found no room does either; a lane that moves on reads one
/// counter, and takes the lock only if someone waits.
pub(crate) struct Senders {
    /// How many are registered.
    waiting: AtomicUsize,
    list: Mutex<List>,
}

struct List {
    next: usize,
    wakers: Vec<(usize, Waker)>,
}

impl Senders {
    pub(super) fn new() -> Self {
        Senders {
            waiting: AtomicUsize::new(0),
            // Room for a few waiting senders up front, so that a sender's
            // first wait does not allocate on the send path.
            list: Mutex::new(List {
                next: 0,
                wakers: Vec::with_capacity(4),
            }),
        }
    }

    /// Registers a sender; it must check for room afterwards and before it
    /// sleeps (the fence here pairs with the one in `wake_if_waiting`).
    pub(crate) fn add(&self, waker: &Waker) -> WaiterKey {
        let mut list = self.list.lock();
        list.next = list.next.wrapping_add(1);
        let key = list.next;
        list.wakers.push((key, waker.clone()));
        drop(list);
        // ORDERING: the count, then the SeqCst fence, pairs with a lane's
        // position store, fence, and load of the count: either the lane
        // sees us waiting and wakes us, or our check for room that follows
        // sees its new position.
        self.waiting.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        WaiterKey(key)
    }

    /// How many senders are registered.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        // ORDERING: a test's snapshot.
        self.waiting.load(Ordering::Relaxed)
    }

    /// Replaces the waker of a registered sender (an async sender polled by
    /// another task's waker).
    pub(crate) fn update(&self, key: WaiterKey, waker: &Waker) {
        let mut list = self.list.lock();
        if let Some((_, old)) = list.wakers.iter_mut().find(|(k, _)| *k == key.0) {
            if !old.will_wake(waker) {
                old.clone_from(waker);
            }
        }
    }

    /// Removes a registered sender.
    pub(crate) fn remove(&self, key: WaiterKey) {
        let mut list = self.list.lock();
        if let Some(i) = list.wakers.iter().position(|(k, _)| *k == key.0) {
            let (_, waker) = list.wakers.swap_remove(i);
            drop(list);
            // ORDERING: a stale non-zero count only costs a spurious wake.
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            drop(waker);
        }
    }

    /// Called by a lane right after it published a new position (Release).
    pub(crate) fn wake_if_waiting(&self) {
        // ORDERING: see `add`.
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) != 0 {
            self.wake_all();
        }
    }

    /// Wakes every waiting sender. The first few wakers are cloned out and
    /// woken after the lock is released: waking is a futex call or a task
    /// schedule, and a sender woken under the lock would find it held.
    /// Cloning a waker allocates nothing.
    pub(crate) fn wake_all(&self) {
        let mut outside: [Option<Waker>; 4] = Default::default();
        {
            let list = self.list.lock();
            for (slot, (_, waker)) in outside.iter_mut().zip(&list.wakers) {
                *slot = Some(waker.clone());
            }
            for (_, waker) in list.wakers.iter().skip(outside.len()) {
                waker.wake_by_ref();
            }
        }
        for waker in outside.into_iter().flatten() {
            waker.wake();
        }
    }
}

impl fmt::Debug for Senders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Senders")
            // ORDERING: a snapshot for debugging.
            .field("waiting", &self.waiting.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
