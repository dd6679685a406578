//! The lanes that went to sleep: a list with no lock. A lane pushes itself
//! before it sleeps; a sender that published takes the whole list at once,
//! wakes the first [`WAKE_AT_ONCE`] sleepers on it and leaves the rest
//! owed a wake, which the lanes it woke pass on (a tree of wake-ups, so a
//! sender pays for a few wake-ups per message whatever the plugin count).

use alloc::sync::Arc;
use core::fmt;
use core::marker::PhantomData;
use core::ptr;
use core::sync::atomic::Ordering;

use super::reader::AsReader;
use crate::sync::{AtomicPtr, fence};

/// How many sleeping lanes one waker wakes itself; it leaves the others
/// owed a wake, for the lanes it woke to pass on. With 4,096 lanes on two
/// cores, a sender that woke every sleeper itself spent its time slice in
/// `futex_wake` while the lanes it woke took one message each.
/// Under loom it is 1, so that two sleeping lanes exercise owing and
/// passing on.
#[cfg(not(loom))]
pub(super) const WAKE_AT_ONCE: usize = 32;
#[cfg(loom)]
pub(super) const WAKE_AT_ONCE: usize = 1;

/// Two stacks of sleeping readers' owners (Treiber stacks): `head`, the
/// lanes waiting for the next message, and `owed`, lanes that a message
/// was published for but that nobody has woken yet. A stack is only ever
/// taken whole (a swap to null) or put back whole onto an empty stack (a
/// compare-exchange from null), so it has no ABA problem: nothing is
/// popped one by one.
///
/// Each entry is an `Arc<R>` turned into a raw pointer, so a lane that
/// leaves while listed stays allocated until the list is gone through. A
/// reader is in at most one list: `listed` is set when it is pushed and
/// cleared by whoever wakes it, after reading its `next`.
///
/// Whoever puts entries on `owed` has, after that, a lane to wake that will
/// pass the wake-ups on: it wakes (or finds awake) at least one lane whose
/// sleep bit it saw set, and that lane calls [`help`](Sleepers::help) on
/// its next step or before it sleeps again (`Ring::prepare_sleep`), or
/// wakes every owed lane when it leaves the ring.
pub(super) struct Sleepers<R: AsReader> {
    head: AtomicPtr<()>,
    owed: AtomicPtr<()>,
    _owners: PhantomData<Arc<R>>,
}

impl<R: AsReader> Sleepers<R> {
    pub(super) fn new() -> Self {
        Sleepers {
            head: AtomicPtr::new(ptr::null_mut()),
            owed: AtomicPtr::new(ptr::null_mut()),
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

    /// Whether lanes are owed a wake. Relaxed: a lane that must pass the
    /// wake-ups on was woken (or saw its bit cleared) after the entries
    /// were put on `owed`, so it sees them.
    pub(super) fn owes(&self) -> bool {
        // ORDERING: see above; a stale "no" only skips a chance to help.
        !self.owed.load(Ordering::Relaxed).is_null()
    }

    /// Takes the list of sleepers, wakes the first [`WAKE_AT_ONCE`] of them
    /// whose sleep bit is set (and any unset ones before them) and leaves
    /// the rest owed a wake. The sender calls it after publishing.
    pub(super) fn wake(&self) {
        // ORDERING: Acquire pairs with the pushes' Release, so the `next`
        // fields of the entries are visible.
        let list = self.head.swap(ptr::null_mut(), Ordering::AcqRel);
        self.wake_from(list, WAKE_AT_ONCE);
    }

    /// Passes owed wake-ups on: takes the owed list and wakes up to
    /// [`WAKE_AT_ONCE`] sleepers on it, leaving the rest owed.
    pub(super) fn help(&self) {
        if self.owes() {
            // ORDERING: as in `wake`, for the entries put back (Release).
            let list = self.owed.swap(ptr::null_mut(), Ordering::AcqRel);
            self.wake_from(list, WAKE_AT_ONCE);
        }
    }

    /// Wakes every lane owed a wake: a lane leaving the ring calls it, as
    /// it will pass nothing on after.
    pub(super) fn settle(&self) {
        loop {
            // ORDERING: as in `help`.
            let list = self.owed.swap(ptr::null_mut(), Ordering::AcqRel);
            if list.is_null() {
                return;
            }
            self.wake_from(list, usize::MAX);
        }
    }

    /// Wakes the entries of `list` (taken whole, so ours) up to and
    /// including the `limit`th whose sleep bit is set, after putting the
    /// entries beyond it on `owed`. If it put entries on `owed` but woke
    /// nobody (every bit it saw set was cleared meanwhile, by the lane
    /// itself or by a detach), it passes the owed wake-ups on itself, so
    /// some woken lane always remains to pass them on.
    fn wake_from(&self, mut list: *mut (), limit: usize) {
        while !list.is_null() {
            // Choose first, put the rest back, then wake: a lane we wake can
            // only look at `owed` after the rest is there.
            let mut end = list;
            let mut chosen = 0;
            while !end.is_null() && chosen < limit {
                // SAFETY: every entry came from `Arc::into_raw` of an
                // `Arc<R>` in `push`, and taking the list made us its only
                // owner; the borrow ends before the entry is given away.
                let reader = unsafe { &*end.cast_const().cast::<R>() }.reader();
                if reader.is_sleeping() {
                    chosen += 1;
                }
                // ORDERING: see `push`; read while the entry is ours.
                end = reader.next.load(Ordering::Relaxed);
            }
            if !end.is_null() {
                self.owe(end);
            }
            let mut woken = 0;
            let mut entry = list;
            while entry != end {
                // SAFETY: as above: an entry before `end` is still ours
                // alone, and this takes back the reference `push` gave the
                // list.
                let owner = unsafe { Arc::from_raw(entry.cast_const().cast::<R>()) };
                let reader = owner.reader();
                // ORDERING: see `push`; read before the reader can be
                // listed again, which it can only after `listed` is cleared.
                entry = reader.next.load(Ordering::Relaxed);
                // ORDERING: Release: a lane that sees `listed` false
                // (Acquire swap in `push`) may push again and write `next`,
                // after our read of it.
                reader.listed.store(false, Ordering::Release);
                // ORDERING: between clearing `listed` and swapping the bit;
                // pairs with the lane's fence between setting its bit and
                // looking at `listed` (see `Ring::prepare_sleep`): a lane
                // that still saw itself listed, and so did not push again,
                // has its bit seen by this swap.
                fence(Ordering::SeqCst);
                woken += usize::from(reader.notify());
            }
            if end.is_null() || woken > 0 {
                return;
            }
            // ORDERING: as in `help`.
            list = self.owed.swap(ptr::null_mut(), Ordering::AcqRel);
        }
    }

    /// Puts the chain starting at `chain` (ours, ending in null) on `owed`.
    fn owe(&self, mut chain: *mut ()) {
        loop {
            // ORDERING: Release publishes the chain's `next` fields to
            // whoever takes `owed` (Acquire).
            match self.owed.compare_exchange(
                ptr::null_mut(),
                chain,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(_) => {
                    // Someone else owes wakes too: take theirs, and put both
                    // back as one chain (theirs first, then ours).
                    // ORDERING: as in `help`.
                    let other = self.owed.swap(ptr::null_mut(), Ordering::AcqRel);
                    if other.is_null() {
                        continue;
                    }
                    let mut tail = other;
                    loop {
                        // SAFETY: `other` was taken whole, so its entries are
                        // ours; the borrow ends within this iteration.
                        let reader = unsafe { &*tail.cast_const().cast::<R>() }.reader();
                        // ORDERING: see `push`.
                        let next = reader.next.load(Ordering::Relaxed);
                        if next.is_null() {
                            // ORDERING: published by the Release of the
                            // compare-exchange that puts the chain back.
                            reader.next.store(chain, Ordering::Relaxed);
                            break;
                        }
                        tail = next;
                    }
                    chain = other;
                }
            }
        }
    }
}

impl<R: AsReader> Drop for Sleepers<R> {
    fn drop(&mut self) {
        for list in [&self.head, &self.owed] {
            // ORDERING: `&mut self`: every push happened before.
            let entry = list.swap(ptr::null_mut(), Ordering::Relaxed);
            Self::release(entry);
        }
    }
}

impl<R: AsReader> Sleepers<R> {
    /// Gives back the references a list held (the list's drop).
    fn release(mut entry: *mut ()) {
        while !entry.is_null() {
            // SAFETY: as in `wake_from`; the list's drop is the only one
            // left to take it.
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

#[cfg(test)]
mod tests {
    extern crate std;

    use alloc::sync::Arc;
    use alloc::vec::Vec;
    use core::sync::atomic::{AtomicUsize, Ordering};
    use core::task::Waker;

    use super::{Sleepers, WAKE_AT_ONCE};
    use crate::ring::reader::{AsReader, Gate, Reader};

    /// A reader whose waker counts its wake-ups.
    struct Sleeper {
        reader: Reader,
        woken: Arc<Woken>,
    }

    struct Woken(AtomicUsize);

    impl std::task::Wake for Woken {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl AsReader for Sleeper {
        fn reader(&self) -> &Reader {
            &self.reader
        }
    }

    fn sleepers(n: usize) -> Vec<Arc<Sleeper>> {
        (0..n)
            .map(|_| {
                let woken = Arc::new(Woken(AtomicUsize::new(0)));
                let sleeper = Arc::new(Sleeper {
                    reader: Reader::new(Gate::Block, 8),
                    woken: woken.clone(),
                });
                sleeper.reader.register(&Waker::from(woken));
                sleeper
            })
            .collect()
    }

    /// Sets the bit and lists the sleeper, as `Ring::prepare_sleep` does.
    fn sleep(list: &Sleepers<Sleeper>, sleeper: &Arc<Sleeper>) {
        sleeper.reader.sleeping.swap(true, Ordering::SeqCst);
        list.push(sleeper);
    }

    fn woken(all: &[Arc<Sleeper>]) -> usize {
        all.iter()
            .filter(|s| s.woken.0.load(Ordering::SeqCst) > 0)
            .count()
    }

    /// A sender wakes `WAKE_AT_ONCE` sleepers; each `help` passes on as
    /// many more; `settle` wakes the rest; nobody is woken twice.
    #[test]
    fn wakes_are_passed_on_and_settled() {
        let n = 3 * WAKE_AT_ONCE + 5;
        let all = sleepers(n);
        let list = Sleepers::new();
        for s in &all {
            sleep(&list, s);
        }
        list.wake();
        assert_eq!(woken(&all), WAKE_AT_ONCE);
        assert!(list.owes() && list.is_empty());
        list.help();
        assert_eq!(woken(&all), 2 * WAKE_AT_ONCE);
        list.settle();
        assert_eq!(woken(&all), n);
        assert!(!list.owes());
        assert!(all.iter().all(|s| s.woken.0.load(Ordering::SeqCst) == 1));
        assert!(all.iter().all(|s| !s.reader.listed.load(Ordering::SeqCst)));
    }

    /// Two owed chains at once are joined into one, and entries whose bit
    /// is already clear are let go without counting as woken.
    #[test]
    fn owed_chains_join_and_awake_entries_pass() {
        let first = sleepers(WAKE_AT_ONCE + 3);
        let second = sleepers(WAKE_AT_ONCE + 4);
        let list = Sleepers::new();
        for s in &first {
            sleep(&list, s);
        }
        list.wake(); // owes 3
        for s in &second {
            sleep(&list, s);
        }
        // Woke by itself (found work): its bit is clear, it stays listed.
        assert!(second[WAKE_AT_ONCE + 3].reader.cancel_sleep());
        list.wake(); // lets the awake one go, wakes WAKE_AT_ONCE, owes 3
        assert_eq!(woken(&first), WAKE_AT_ONCE);
        assert_eq!(woken(&second), WAKE_AT_ONCE);
        list.settle();
        assert_eq!(woken(&first), WAKE_AT_ONCE + 3);
        assert_eq!(woken(&second), WAKE_AT_ONCE + 3);
        assert!(
            first
                .iter()
                .chain(&second)
                .all(|s| !s.reader.listed.load(Ordering::SeqCst))
        );
    }

    /// A list dropped with entries owed gives their references back.
    #[test]
    fn a_list_dropped_with_owed_entries_frees_them() {
        let all = sleepers(WAKE_AT_ONCE + 2);
        let list = Sleepers::new();
        for s in &all {
            sleep(&list, s);
        }
        list.wake();
        drop(list);
        assert!(all.iter().all(|s| Arc::strong_count(s) == 1));
    }
}
