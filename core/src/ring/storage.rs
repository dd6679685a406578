//! Where the ring keeps its slots: allocated once, or inline with a size
//! fixed at compile time.

use alloc::boxed::Box;
use core::cell::UnsafeCell;
use core::fmt;

use crate::message::Message;
use crate::sync::AtomicUsize;

/// One slot of the ring: the message it holds and the stamp that says
/// which message that is and that it is published. Only the ring reads or
/// writes it, under its protocol (see the [module](super)); storage only
/// keeps it.
pub struct Slot<M> {
    /// [`Pos::stamp`](super::pos::Pos::stamp) of the message published in
    /// the slot; set by the ring when it takes the storage.
    pub(super) stamp: AtomicUsize,
    /// `None` until the first message is written.
    pub(super) message: UnsafeCell<Option<Message<M>>>,
}

impl<M> Slot<M> {
    /// An empty slot.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Slot {
            stamp: AtomicUsize::new(0),
            message: UnsafeCell::new(None),
        }
    }

    /// An empty slot (loom's atomics are not `const`).
    #[cfg(loom)]
    pub fn new() -> Self {
        Slot {
            stamp: AtomicUsize::new(0),
            message: UnsafeCell::new(None),
        }
    }
}

impl<M> Default for Slot<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M> fmt::Debug for Slot<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Slot")
    }
}

// SAFETY: a slot's message is written only by the sender that claimed its
// position, once every lane that could read the previous message has moved
// past it, and read only by lanes between their cursor and a stamp that says
// it is published (the ring's protocol). Sharing a slot is therefore sharing
// `Message<M>`, which needs `M: Send + Sync`.
unsafe impl<M: Send + Sync> Sync for Slot<M> {}
// SAFETY: moving a slot moves at most a `Message<M>`.
unsafe impl<M: Send + Sync> Send for Slot<M> {}

/// The ring's storage: a fixed slice of slots.
///
/// # Safety
/// `slots` must return the same slice on every call for the storage's whole
/// life, and its length must be a power of two. The bus indexes it with a
/// mask and relies on slots never moving or changing number.
pub unsafe trait Storage<M>: Send + Sync {
    /// The slots.
    fn slots(&self) -> &[Slot<M>];
}

/// Slots allocated once on the heap; the capacity is chosen at run time.
///
/// # Example
/// ```
/// use plugbus_core::ring::{Heap, Storage};
///
/// let ring = Heap::<u32>::with_capacity(1000);
/// assert_eq!(ring.slots().len(), 1024); // rounded up to a power of two
/// ```
pub struct Heap<M>(Box<[Slot<M>]>);

impl<M> Heap<M> {
    /// Slots for `capacity` messages rounded up to a power of two, at least
    /// 1 and at most [`MAX_HEAP_CAPACITY`]: a capacity read from a user's
    /// configuration cannot make the allocation fail.
    pub fn with_capacity(capacity: usize) -> Self {
        Heap((0..heap_len(capacity)).map(|_| Slot::new()).collect())
    }
}

/// The most slots [`Heap::with_capacity`] allocates: 4,194,304 (32 MiB of
/// slots on a 64-bit target), far beyond what any lane can usefully lag.
pub const MAX_HEAP_CAPACITY: usize = 1 << 22;

/// The number of slots `Heap::with_capacity(capacity)` allocates.
fn heap_len(capacity: usize) -> usize {
    capacity.clamp(1, MAX_HEAP_CAPACITY).next_power_of_two()
}

/// The largest capacity a lane may have: positions wrap, and a lane's lag
/// must stay far below a quarter of the position space for wrapping
/// comparisons to hold (see `Pos`).
pub(crate) const MAX_CAPACITY: usize = 1 << (usize::BITS - 4);

impl<M> fmt::Debug for Heap<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Heap")
            .field("capacity", &self.0.len())
            .finish()
    }
}

// SAFETY: the boxed slice is created once and never replaced; its length is a
// power of two by construction.
unsafe impl<M: Send + Sync> Storage<M> for Heap<M> {
    fn slots(&self) -> &[Slot<M>] {
        &self.0
    }
}

/// `N` slots stored inline, with no allocation of their own: for targets
/// that size everything at compile time. `N` must be a power of two.
///
/// # Example
/// ```
/// use plugbus_core::ring::{Fixed, Storage};
///
/// let ring = Fixed::<u32, 64>::new();
/// assert_eq!(ring.slots().len(), 64);
/// ```
pub struct Fixed<M, const N: usize>([Slot<M>; N]);

impl<M, const N: usize> Fixed<M, N> {
    const POWER_OF_TWO: () = assert!(
        N.is_power_of_two() && N <= MAX_CAPACITY,
        "Fixed ring size must be a power of two"
    );

    /// Empty slots.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::POWER_OF_TWO;
        Fixed([const { Slot::new() }; N])
    }

    /// Empty slots (loom's atomics are not `const`).
    #[cfg(loom)]
    pub fn new() -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::POWER_OF_TWO;
        Fixed(core::array::from_fn(|_| Slot::new()))
    }
}

impl<M, const N: usize> Default for Fixed<M, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M, const N: usize> fmt::Debug for Fixed<M, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fixed").field("capacity", &N).finish()
    }
}

// SAFETY: an array never changes length and `new` asserts N is a power of two.
unsafe impl<M: Send + Sync, const N: usize> Storage<M> for Fixed<M, N> {
    fn slots(&self) -> &[Slot<M>] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_HEAP_CAPACITY, heap_len};

    #[test]
    fn heap_capacity_is_a_bounded_power_of_two() {
        assert_eq!(heap_len(0), 1);
        assert_eq!(heap_len(1), 1);
        assert_eq!(heap_len(1000), 1024);
        assert_eq!(heap_len(1024), 1024);
        assert_eq!(heap_len(MAX_HEAP_CAPACITY + 1), MAX_HEAP_CAPACITY);
        assert_eq!(heap_len(usize::MAX), MAX_HEAP_CAPACITY);
    }
}
