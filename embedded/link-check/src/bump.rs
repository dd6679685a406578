//! The link check's own global allocator: a bump allocator over a static
//! arena that never frees. Written here rather than taken from a crate so the
//! check depends on `plugbus-core` alone; it only has to link, and the
//! binary is never run.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Hands out `N` bytes, then null (an allocation failure).
pub(crate) struct Bump<const N: usize> {
    arena: UnsafeCell<[u8; N]>,
    /// Offset of the first free byte in `arena`.
    next: AtomicUsize,
}

impl<const N: usize> Bump<N> {
    pub(crate) const fn new() -> Self {
        Bump {
            arena: UnsafeCell::new([0; N]),
            next: AtomicUsize::new(0),
        }
    }
}

// SAFETY: the arena is only reached through `alloc`, which gives each caller
// a disjoint range by advancing `next` atomically; no range is handed out
// twice, so sharing the allocator between threads shares no byte.
unsafe impl<const N: usize> Sync for Bump<N> {}

// SAFETY: `alloc` returns null or a range inside `arena`, aligned to
// `layout.align()` and `layout.size()` long, that no other call returned
// (see `Sync`); `dealloc` frees nothing, which is allowed.
unsafe impl<const N: usize> GlobalAlloc for Bump<N> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let base = self.arena.get().cast::<u8>();
        let mut claimed = 0;
        // ORDERING: Relaxed: the offset is the only shared state, and the
        // bytes it hands out are not published through it.
        let reserved = self
            .next
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |next| {
                let start = (base as usize + next).next_multiple_of(layout.align()) - base as usize;
                let end = start.checked_add(layout.size())?;
                claimed = start;
                (end <= N).then_some(end)
            });
        match reserved {
            // SAFETY: `claimed + size <= N`, so the range lies in the arena.
            Ok(_) => unsafe { base.add(claimed) },
            Err(_) => ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}
