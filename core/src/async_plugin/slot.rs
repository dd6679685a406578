//! The place where an async plugin's handler future lives while it runs:
//! one heap block, allocated for the future's type once and reused for
//! every message, so a handler that completes without waiting costs no
//! allocation.
//!
//! The future borrows the plugin and the message. Its type names those
//! borrows' lifetimes; the slot forgets them (its poll and drop functions
//! take a raw pointer), and [`Async`](super::Async) keeps what they borrow
//! alive and in place until the future is finished or dropped: the plugin
//! sits in its own heap block, and the lane keeps the message where it is
//! (see `Batch::unread_last`) until the future completes or is cancelled.

use alloc::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::ptr::NonNull;
use core::task::{Context, Poll};

use crate::plugin::Flow;

/// Polls the future of type `F` at `place`.
///
/// # Safety
/// `place` holds a live `F`, pinned there, whose borrows are still valid.
#[inline]
unsafe fn poll_at<F: Future<Output = Flow>>(
    place: NonNull<u8>,
    cx: &mut Context<'_>,
) -> Poll<Flow> {
    // SAFETY: the caller's contract: a live F that never moves (the slot
    // drops it in place).
    let future = unsafe { Pin::new_unchecked(&mut *place.cast::<F>().as_ptr()) };
    future.poll(cx)
}

/// Drops the future of type `F` at `place`.
///
/// # Safety
/// `place` holds a live `F`, which is not used again.
#[inline]
unsafe fn drop_at<F>(place: NonNull<u8>) {
    // SAFETY: the caller's contract.
    unsafe { place.cast::<F>().as_ptr().drop_in_place() }
}

/// A live future's poll and drop functions.
#[derive(Clone, Copy)]
struct Live {
    poll: unsafe fn(NonNull<u8>, &mut Context<'_>) -> Poll<Flow>,
    drop: unsafe fn(NonNull<u8>),
}

/// One future's place; see the module's notes.
pub(super) struct Slot {
    /// The block, once allocated, with its layout (dangling for a future
    /// of size zero).
    place: Option<(NonNull<u8>, Layout)>,
    /// Set while a future lives in the block.
    live: Option<Live>,
}

// SAFETY: the slot holds a future only of a type that is `Send` (its
// `start` requires it), and nothing else that is tied to a thread.
unsafe impl Send for Slot {}

impl Slot {
    pub(super) const fn new() -> Self {
        Slot {
            place: None,
            live: None,
        }
    }

    /// Whether a future lives in the slot (it returned `Pending`).
    pub(super) fn is_live(&self) -> bool {
        self.live.is_some()
    }

    /// A block for an `F`: the one allocated before (every future a slot
    /// holds is of one type: one slot per plugin type's handler).
    #[inline]
    fn place_for<F>(&mut self) -> NonNull<u8> {
        let layout = Layout::new::<F>();
        if let Some((place, had)) = self.place {
            debug_assert_eq!(had, layout, "one future type per slot");
            return place;
        }
        let place = if layout.size() == 0 {
            NonNull::<F>::dangling().cast()
        } else {
            // SAFETY: the layout's size is not zero.
            let raw = unsafe { alloc(layout) };
            NonNull::new(raw).unwrap_or_else(|| handle_alloc_error(layout))
        };
        self.place = Some((place, layout));
        place
    }

    /// Moves `future` into the slot and polls it once. If it is pending it
    /// stays (see [`resume`](Slot::resume)); once it completes it is
    /// dropped. A panic while it is polled leaves it live, for
    /// [`cancel`](Slot::cancel) to drop.
    ///
    /// # Safety
    /// No future is live. What `future` borrows stays valid and in place
    /// until it is dropped (it completes or is cancelled): the slot forgets
    /// its lifetimes.
    #[inline]
    pub(super) unsafe fn start<F>(&mut self, future: F, cx: &mut Context<'_>) -> Poll<Flow>
    where
        F: Future<Output = Flow> + Send,
    {
        debug_assert!(self.live.is_none(), "one future at a time");
        let place = self.place_for::<F>();
        // SAFETY: the block has F's layout and holds no live value.
        unsafe { place.cast::<F>().as_ptr().write(future) };
        // Live before the first poll: a panic in it leaves the future for
        // `cancel` to drop.
        self.live = Some(Live {
            poll: poll_at::<F>,
            drop: drop_at::<F>,
        });
        // The first poll calls F's functions directly (inlined): a handler
        // that completes at once pays no indirect call.
        // SAFETY: a live F, written in place just now; its borrows are the
        // caller's to keep valid.
        let poll = unsafe { poll_at::<F>(place, cx) };
        if poll.is_ready() {
            self.live = None;
            // SAFETY: the live F, not used again (`live` cleared first).
            unsafe { drop_at::<F>(place) };
        }
        poll
    }

    /// Polls the live future again; drops it once it completes.
    /// `Pending` if no future is live.
    ///
    /// # Safety
    /// What the live future borrows is still valid and in place.
    pub(super) unsafe fn resume(&mut self, cx: &mut Context<'_>) -> Poll<Flow> {
        let (Some(live), Some((place, _))) = (self.live, self.place) else {
            return Poll::Pending;
        };
        // SAFETY: `live` describes the future at `place` (set together in
        // `start`), still live; the caller keeps its borrows valid.
        let poll = unsafe { (live.poll)(place, cx) };
        if poll.is_ready() {
            self.live = None;
            // SAFETY: the live future, not used again (`live` is cleared
            // first, so a panic in its drop cannot drop it twice).
            unsafe { (live.drop)(place) };
        }
        poll
    }

    /// Drops the live future, if any.
    ///
    /// # Safety
    /// What the live future borrows is still valid (its drop may use it).
    pub(super) unsafe fn cancel(&mut self) {
        if let (Some(live), Some((place, _))) = (self.live.take(), self.place) {
            // SAFETY: the live future, not used again (`live` taken first).
            unsafe { (live.drop)(place) };
        }
    }
}

impl Slot {
    /// Forgets the live future, if any, without dropping it: for a future
    /// whose borrows may no longer be valid. Its block is reused.
    pub(super) fn abandon(&mut self) {
        self.live = None;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // `Async` cancels a live future while its borrows are valid, or
        // forgets it (`abandon`): a future still here is not dropped, and
        // freeing its block only leaks what it owned.
        if let Some((place, layout)) = self.place {
            if layout.size() != 0 {
                // SAFETY: allocated in `place_for` with this layout, and
                // holding no live value.
                unsafe { dealloc(place.as_ptr(), layout) };
            }
        }
    }
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("live", &self.live.is_some())
            .finish_non_exhaustive()
    }
}
