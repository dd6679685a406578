//! A reader of the ring: what the ring keeps of each lane (its published
//! position, how it gates senders, its sleep bit and waker), the cursor a
//! lane owns, and the batch it reads through.

use core::fmt;
use core::ptr;
use core::sync::atomic::Ordering;
use core::task::Waker;

use super::pos::Pos;
use super::senders::Senders;
use super::storage::Slot;
use crate::message::Message;
use crate::sync::{AtomicBool, AtomicPtr, AtomicUsize, AtomicWaker};

/// How a reader holds senders back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Senders wait while the reader is `capacity` messages behind.
    Block,
    /// A send fails while the reader is `capacity` messages behind.
    Reject,
    /// The reader does not read the ring (a lossy lane with a queue of its
    /// own, fed in ring order): it never holds senders back.
    Feed,
}

impl Gate {
    fn code(self) -> usize {
        match self {
            Gate::Block => 0,
            Gate::Reject => 1,
            Gate::Feed => 2,
        }
    }

    fn from_code(code: usize) -> Gate {
        match code {
            0 => Gate::Block,
            1 => Gate::Reject,
            _ => Gate::Feed,
        }
    }
}

/// What the ring keeps of one lane. The lane's owner (the dispatch core's
/// record of a plugin) embeds it and gives it to the ring through
/// [`Owner`].
pub(crate) struct Reader {
    /// The first position the lane has not finished with, published once
    /// per batch (Release); senders read it (Acquire) to see which slots
    /// they may reuse.
    pub(super) position: AtomicUsize,
    /// How many messages the lane may be behind before its gate applies
    /// (at most the ring's capacity for a gating reader).
    pub(super) capacity: usize,
    /// A [`Gate`], which only changes under the ring's reader lock.
    gate: AtomicUsize,
    /// Set by the lane before it sleeps, taken by whoever wakes it.
    pub(super) sleeping: AtomicBool,
    /// Whether the lane is in a sleeper list that someone will go through
    /// (see `sleepers`).
    pub(super) listed: AtomicBool,
    /// The next reader in a sleeper list: a pointer from `Arc::into_raw` of
    /// the owner, type-erased.
    pub(super) next: AtomicPtr<()>,
    /// The lane's waker, registered before each sleep.
    waker: AtomicWaker,
    /// The ring this reader is registered with, for [`Cursor`]'s check.
    pub(super) ring: AtomicUsize,
}

impl Reader {
    /// A reader not yet registered with a ring.
    pub(crate) fn new(gate: Gate, capacity: usize) -> Self {
        Reader {
            position: AtomicUsize::new(0),
            capacity,
            gate: AtomicUsize::new(gate.code()),
            sleeping: AtomicBool::new(false),
            listed: AtomicBool::new(false),
            next: AtomicPtr::new(ptr::null_mut()),
            waker: AtomicWaker::new(),
            ring: AtomicUsize::new(0),
        }
    }

    /// How the reader gates senders now.
    pub(crate) fn gate(&self) -> Gate {
        // ORDERING: changed and read under the ring's reader lock.
        Gate::from_code(self.gate.load(Ordering::Relaxed))
    }

    pub(super) fn set_gate(&self, gate: Gate) {
        // ORDERING: under the ring's reader lock.
        self.gate.store(gate.code(), Ordering::Relaxed);
    }

    /// A lossy reader's first position: it is fed nothing claimed before.
    pub(crate) fn start(&self) -> Pos {
        // ORDERING: set under the feed lock before the reader is fed; read
        // under it.
        Pos::from_raw(self.position.load(Ordering::Relaxed))
    }

    /// The lane's published position.
    pub(super) fn position(&self) -> Pos {
        // ORDERING: Acquire pairs with the lane's Release store: a sender
        // that sees the position may reuse the slots below it.
        Pos::from_raw(self.position.load(Ordering::Acquire))
    }

    /// The position past which this reader holds senders back.
    pub(super) fn limit(&self) -> Pos {
        self.position().add(self.capacity)
    }

    /// Remembers the task or thread to wake; call before
    /// [`Ring::prepare_sleep`](super::Ring::prepare_sleep).
    pub(crate) fn register(&self, waker: &Waker) {
        self.waker.register(waker);
    }

    /// Whether the sleep bit is still set: nobody has woken the lane yet.
    pub(crate) fn is_sleeping(&self) -> bool {
        // ORDERING: Acquire pairs with the AcqRel swap of whoever woke it.
        self.sleeping.load(Ordering::Acquire)
    }

    /// Registers `waker` again, then says whether the sleep bit is still
    /// set. A thread that woke without its bit cleared (a spurious wake, or
    /// the late wake of an earlier sleep, which takes the registered waker
    /// with it) calls this before it parks again: whoever clears the bit
    /// then finds the waker, or cleared it before this registration, which
    /// then sees it cleared (the waker cell's wake and register
    /// synchronise).
    pub(crate) fn still_asleep(&self, waker: &Waker) -> bool {
        self.waker.register(waker);
        self.is_sleeping()
    }

    /// Wakes the lane if its sleep bit is still set. The swap decides who
    /// takes the bit (a publication, close, detach, or the lane itself
    /// cancelling its sleep), so each sleep is woken once. The caller has
    /// issued a SeqCst fence since what it wants the lane to see (see the
    /// module's "Sleep and wake-up").
    /// Returns whether the lane was asleep (and is woken now).
    pub(crate) fn notify(&self) -> bool {
        // ORDERING: AcqRel: the modification order of the bit decides; the
        // callers' fences order it with the lane's checks.
        let asleep = self.sleeping.swap(false, Ordering::AcqRel);
        if asleep {
            self.waker.wake();
        }
        asleep
    }

    /// Clears the sleep bit; returns whether it was still set (nobody woke
    /// the lane).
    pub(crate) fn cancel_sleep(&self) -> bool {
        // ORDERING: as in `notify`.
        self.sleeping.swap(false, Ordering::AcqRel)
    }
}

impl fmt::Debug for Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("position", &self.position())
            .field("capacity", &self.capacity)
            .field("gate", &self.gate())
            .finish_non_exhaustive()
    }
}

/// What owns a [`Reader`]: the dispatch core's record of a lane. The ring
/// keeps owners in `Arc`s (its lists of readers and of sleepers).
pub(crate) trait AsReader: Send + Sync + 'static {
    /// The reader inside.
    fn reader(&self) -> &Reader;
}

/// An owner the ring can also feed, if its reader is a lossy one.
pub(crate) trait Owner<M>: AsReader {
    /// Gives a lossy reader the message at `pos`: called in ring order,
    /// once per message published after the reader was registered, under
    /// the ring's feed lock.
    fn feed(&self, pos: Pos, message: &Message<M>);
}

/// A lane's place in the ring: where it reads next. Made only by
/// [`Ring::add_reader`](super::Ring::add_reader), once per reader, and not
/// `Clone`, so the lane that owns it is the only one that reads through its
/// reader and moves its position.
pub(crate) struct Cursor<R> {
    pub(super) owner: alloc::sync::Arc<R>,
    pub(super) pos: Pos,
    /// The ring it was made by.
    pub(super) ring: usize,
}

impl<R> Cursor<R> {
    /// The next position the lane reads.
    pub(crate) fn pos(&self) -> Pos {
        self.pos
    }

    /// The reader's owner.
    pub(crate) fn owner(&self) -> &alloc::sync::Arc<R> {
        &self.owner
    }
}

impl<R> fmt::Debug for Cursor<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cursor").field("pos", &self.pos).finish()
    }
}

/// Messages a lane takes in one go: those published from its cursor on, up
/// to a bound, one at a time ([`next`](Batch::next)). Each message is lent
/// for as long as the call that returned it borrows the batch. The batch
/// holds the lane's cursor; [`commit`](Batch::commit) moves it past what
/// was taken and publishes it, which lets senders reuse those slots.
pub(crate) struct Batch<'a, M, R: Owner<M>> {
    pub(super) slots: &'a [Slot<M>],
    pub(super) mask: usize,
    pub(super) cursor: &'a mut Cursor<R>,
    pub(super) senders: &'a Senders,
    /// The next position to take.
    pub(super) next: Pos,
    /// Where the batch stops at the latest.
    pub(super) end: Pos,
}

impl<M, R: Owner<M>> Batch<'_, M, R> {
    /// The next message, or `None` at the end of the batch: the bound, or
    /// the first message that was not published yet when the batch was
    /// taken (a sender between its claim and its publication).
    #[inline]
    pub(crate) fn next(&mut self) -> Option<&Message<M>> {
        if self.next == self.end {
            return None;
        }
        let slot = &self.slots[self.next.index(self.mask)];
        self.next = self.next.add(1);
        // SAFETY: `Ring::batch` saw the stamp that says the message for
        // this position is in the slot (Acquire), which its sender stored
        // after writing it (Release). No sender overwrites it before this
        // lane's published position passes it, which only `commit` does,
        // and the reference borrows the batch.
        let message = unsafe { (*slot.message.get()).as_ref() };
        debug_assert!(message.is_some(), "a published slot holds its message");
        message
    }

    /// How many messages the batch has taken.
    pub(crate) fn taken(&self) -> usize {
        self.cursor.pos.until(self.next)
    }

    /// The message taken last, if any: the one a handler panicked on.
    pub(crate) fn last(&self) -> Option<&Message<M>> {
        if self.next == self.cursor.pos {
            return None;
        }
        let slot = &self.slots[self.next.sub(1).index(self.mask)];
        // SAFETY: as in `next`: this lane took it and has not committed.
        unsafe { (*slot.message.get()).as_ref() }
    }

    /// Gives the message taken last back: the next batch starts with it,
    /// and `commit` leaves the lane's position before it, so its slot is
    /// not reused (an async plugin's handler still borrows it).
    pub(crate) fn unread_last(&mut self) {
        if self.next != self.cursor.pos {
            self.next = self.next.sub(1);
        }
    }

    /// Moves the cursor past what was taken and publishes the lane's
    /// position, then wakes senders waiting for room if there are any.
    /// Returns how many messages were taken.
    pub(crate) fn commit(self) -> usize {
        let taken = self.taken();
        if taken == 0 {
            return 0;
        }
        self.cursor.pos = self.next;
        // ORDERING: Release: a sender that sees the position may reuse the
        // slots below it, once this lane is done with their messages.
        self.cursor
            .owner
            .reader()
            .position
            .store(self.next.raw(), Ordering::Release);
        self.senders.wake_if_waiting();
        taken
    }
}

impl<M, R: Owner<M>> fmt::Debug for Batch<'_, M, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("next", &self.next)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}
