//! The firmware's global allocator: `embedded-alloc`'s linked-list heap
//! over a static arena, which also remembers the most bytes it ever had in
//! use, so the firmware can print its peak heap.

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering};

use embedded_alloc::LlffHeap;

/// A heap that records its high-water mark.
pub struct PeakHeap {
    heap: LlffHeap,
    peak: AtomicUsize,
    allocations: AtomicUsize,
}

impl PeakHeap {
    /// An empty heap; [`init`](PeakHeap::init) gives it memory.
    pub const fn empty() -> Self {
        PeakHeap {
            heap: LlffHeap::empty(),
            peak: AtomicUsize::new(0),
            allocations: AtomicUsize::new(0),
        }
    }

    /// Gives the heap its memory.
    ///
    /// # Safety
    /// As [`LlffHeap::init`]: call it once, before the first allocation, with
    /// `size` bytes at `start` that nothing else uses for the rest of the
    /// program.
    pub unsafe fn init(&self, start: usize, size: usize) {
        // SAFETY: the caller keeps `LlffHeap::init`'s contract.
        unsafe { self.heap.init(start, size) }
    }

    /// Bytes in use now.
    pub fn used(&self) -> usize {
        self.heap.used()
    }

    /// The most bytes ever in use at once.
    pub fn peak(&self) -> usize {
        // ORDERING: a statistic, read on the one core that allocates.
        self.peak.load(Ordering::Relaxed)
    }

    /// How many allocations were made so far.
    pub fn allocations(&self) -> usize {
        // ORDERING: a statistic.
        self.allocations.load(Ordering::Relaxed)
    }
}

impl core::fmt::Debug for PeakHeap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PeakHeap")
            .field("used", &self.used())
            .field("peak", &self.peak())
            .finish()
    }
}

// SAFETY: every call is forwarded to `LlffHeap`, a correct allocator, with
// the caller's arguments; the counters only observe.
unsafe impl GlobalAlloc for PeakHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded under the caller's `GlobalAlloc::alloc` contract.
        let ptr = unsafe { self.heap.alloc(layout) };
        if !ptr.is_null() {
            // ORDERING: statistics; nothing is published through them.
            self.allocations.fetch_add(1, Ordering::Relaxed);
            self.peak.fetch_max(self.heap.used(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded under the caller's `GlobalAlloc::dealloc`
        // contract; `ptr` came from `alloc` above, that is from `self.heap`.
        unsafe { self.heap.dealloc(ptr, layout) }
    }
}
