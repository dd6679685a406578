//! The lanes that went to sleep: a list with no lock. A lane pushes itself
//! before it sleeps; a sender that published takes the whole list at once
//! and wakes everyone on it.

use alloc::sync::Arc;
use core::fmt;
use core::marker::PhantomData;
use core::ptr;
use core::sync::atomic::Ordering;

use super::reader::AsReader;
use crate::sync::{AtomicPtr, fence};

/// A stack of sleeping readers' owners (a Treiber stack, only ever emptied
/// whole, so it has no ABA problem: nothing is popped one by one).
///
/// Each entry is an `Arc<R>` turned into a raw pointer, so a lane that
/// leaves while listed stays allocated until the list is gone through. A
/// reader is in at most one list: `listed` is set when it is pushed and
/// cleared by whoever goes through the list, after reading its `next`.
pub(super) struct Sleepers<R: AsReader> {
    head: AtomicPtr<()>,
    _owners: PhantomData<Arc<R>>,
}

impl<R: AsReader> Sleepers<R> {
    pub(super) fn new() -> Self {
        Sleepers {
            head: AtomicPtr::new(ptr::null_mut()),
            _owners: PhantomData,
        }
    }

    /// Lists `owner` unless it is listed already (then a list that someone
    /// will go through holds it). The lane fences after this and then
    /// checks for work (see `Ring::prepare_sleep`).
    pub(super) fn push(&self, owner: &Arc<R>) {
        let reader = owner.reader();
        // ORDERING: Acquire pairs with the Release that cleared it after
        // the last read of our `next`; a reader already listed is woken by
        // whoever goes through its list, after its own fence.
        if reader.listed.swap(true, Ordering::Acquire) {
            return;
        }
        let entry = Arc::into_raw(owner.clone()).cast_mut().cast::<()>();
        // ORDERING: Relaxed to start; the CAS orders.
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // ORDERING: published by the Release half of the CAS below;
            // nobody else writes `next` while `listed` is ours.
            reader.next.store(head, Ordering::Relaxed);
            // ORDERING: Release publishes `next` to whoever takes the list;
            // the lane's fence after the push orders it with the senders'.
            match self
                .head
                .compare_exchange_weak(head, entry, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }

    /// Whether anyone is listed. The sender calls it after its SeqCst fence.
    pub(super) fn is_empty(&self) -> bool {
        // ORDERING: Relaxed after the caller's SeqCst fence, which orders it
        // with the fence a lane issues after its push.
        self.head.load(Ordering::Relaxed).is_null()
    }

    /// Takes the whole list and wakes every reader on it whose sleep bit is
    /// set.
    pub(super) fn wake_all(&self) {
        // ORDERING: Acquire pairs with the pushes' Release, so the `next`
        // fields of the entries are visible.
        let mut entry = self.head.swap(ptr::null_mut(), Ordering::AcqRel);
        while !entry.is_null() {
            // SAFETY: every entry came from `Arc::into_raw` of an `Arc<R>` in
            // `push`, and taking the list made this the only owner of that
            // reference.
            let owner = unsafe { Arc::from_raw(entry.cast_const().cast::<R>()) };
            let reader = owner.reader();
            // ORDERING: see `push`; read before the reader can be listed
            // again, which it can only after `listed` is cleared.
            entry = reader.next.load(Ordering::Relaxed);
            // ORDERING: Release: a lane that sees `listed` false (Acquire
            // swap in `push`) may push again and write `next`, after our
            // read of it.
            reader.listed.store(false, Ordering::Release);
            // ORDERING: between clearing `listed` and swapping the bit; pairs
            // with the lane's fence between setting its bit and looking at
            // `listed` (see `Ring::prepare_sleep`): a lane that still saw
            // itself listed, and so did not push again, has its bit seen by
            // this swap.
            fence(Ordering::SeqCst);
            reader.notify();
        }
    }
}

impl<R: AsReader> Drop for Sleepers<R> {
    fn drop(&mut self) {
        // ORDERING: `&mut self`: every push happened before.
        let mut entry = self.head.swap(ptr::null_mut(), Ordering::Relaxed);
        while !entry.is_null() {
            // SAFETY: as in `wake_all`; with `&mut self` nobody else takes
            // the list.
            let owner = unsafe { Arc::from_raw(entry.cast_const().cast::<R>()) };
            // ORDERING: `&mut self`: every push happened before.
            entry = owner.reader().next.load(Ordering::Relaxed);
        }
    }
}

impl<R: AsReader> fmt::Debug for Sleepers<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleepers")
            .field("empty", &self.is_empty())
            .finish()
    }
}
