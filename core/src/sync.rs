//! The atomics, the lock and the waker cell the ring and the dispatch core
//! use. Normally `core`'s atomics; loom's under `--cfg loom`, so that the
//! model checker explores every interleaving of the ring's handshakes
//! (`tests/loom.rs`).
//!
//! The lock is the standard library's `Mutex` with the `std` feature (every
//! thread and async host enables it): a thread that finds it held sleeps in
//! the kernel instead of spinning, so a holder that the scheduler took off
//! its core costs the waiter nothing. Without `std` it is `spin`'s, which
//! only a `no_std` target with no scheduler uses. Nothing on the send path
//! or a lane's path takes it: it guards the plugin registry, the list of
//! waiting senders, and the slow path of a claim (see `ring`).

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, fence};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, fence};

#[cfg(any(feature = "std", loom))]
extern crate std;

/// A mutex whose `lock` returns the guard directly. A panic while it is held
/// does not poison it: every structure it guards stays consistent at each
/// step (the guarded code only pushes, removes and reads).
#[derive(Debug, Default)]
pub(crate) struct Mutex<T> {
    #[cfg(all(feature = "std", not(loom)))]
    inner: std::sync::Mutex<T>,
    #[cfg(all(not(feature = "std"), not(loom)))]
    inner: spin::Mutex<T>,
    #[cfg(loom)]
    inner: loom::sync::Mutex<T>,
}

#[cfg(all(feature = "std", not(loom)))]
pub(crate) type MutexGuard<'a, T> = std::sync::MutexGuard<'a, T>;
#[cfg(all(not(feature = "std"), not(loom)))]
pub(crate) type MutexGuard<'a, T> = spin::MutexGuard<'a, T>;
#[cfg(loom)]
pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Mutex {
            #[cfg(all(feature = "std", not(loom)))]
            inner: std::sync::Mutex::new(value),
            #[cfg(all(not(feature = "std"), not(loom)))]
            inner: spin::Mutex::new(value),
            #[cfg(loom)]
            inner: loom::sync::Mutex::new(value),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(all(not(feature = "std"), not(loom)))]
        {
            self.inner.lock()
        }
        #[cfg(any(feature = "std", loom))]
        {
            self.inner
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        }
    }

    /// Takes the lock if it is free.
    pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        #[cfg(all(not(feature = "std"), not(loom)))]
        {
            self.inner.try_lock()
        }
        #[cfg(any(feature = "std", loom))]
        {
            match self.inner.try_lock() {
                Ok(guard) => Some(guard),
                Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            }
        }
    }

    pub(crate) fn get_mut(&mut self) -> &mut T {
        #[cfg(all(not(feature = "std"), not(loom)))]
        {
            self.inner.get_mut()
        }
        #[cfg(any(feature = "std", loom))]
        {
            self.inner
                .get_mut()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        }
    }
}

#[cfg(any(feature = "std", loom))]
use std::sync::TryLockError;

/// Holds the `Waker` of a lane or a task that may sleep, registered and
/// woken without a lock: `atomic-waker`'s cell, or under loom one behind
/// loom's mutex (the crate has no loom build; the models check the ring's
/// protocol, not the cell).
#[cfg(not(loom))]
pub(crate) use atomic_waker::AtomicWaker;

#[cfg(loom)]
#[derive(Debug, Default)]
pub(crate) struct AtomicWaker {
    waker: loom::sync::Mutex<Option<core::task::Waker>>,
}

#[cfg(loom)]
impl AtomicWaker {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn register(&self, waker: &core::task::Waker) {
        let mut slot = self.waker.lock().unwrap();
        match &*slot {
            Some(old) if old.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    pub(crate) fn wake(&self) {
        let waker = self.waker.lock().unwrap().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}
