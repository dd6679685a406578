//! The ring's slots in a `static`, so that the host's ring takes no heap.
//!
//! `LocalHost::with_storage(Fixed::new())` moves the slots into the bus,
//! which lives in one heap allocation; a firmware that sizes RAM at link
//! time wants them in `.bss`, where the linker counts them. `Storage` is
//! implemented here for a `&'static mut` borrow of a `Fixed`, which
//! `cortex_m::singleton!` hands out at most once.

use plugbus_core::ring::{Fixed, Slot, Storage};

/// A [`Fixed`] ring in a `static`, borrowed for the rest of the program by
/// one host.
///
/// ```ignore
/// let slots = cortex_m::singleton!(: Fixed<Reading, 64> = Fixed::new()).unwrap();
/// let host = LocalHost::with_storage(StaticRing::new(slots));
/// ```
#[derive(Debug)]
pub struct StaticRing<M: 'static, const N: usize>(&'static Fixed<M, N>);

impl<M, const N: usize> StaticRing<M, N> {
    /// Takes the slots for good: the `&'static mut` proves no other ring
    /// uses them, now or later.
    pub fn new(slots: &'static mut Fixed<M, N>) -> Self {
        StaticRing(slots)
    }
}

// SAFETY: `slots` returns the slice of the same `Fixed` every time, for the
// whole program (`'static`), and a `Fixed`'s length is `N`, a power of two
// (its constructor asserts it). The exclusive borrow taken in `new` means no
// other storage shares these slots; the bus is their only user from then on.
unsafe impl<M: Send + Sync, const N: usize> Storage<M> for StaticRing<M, N> {
    fn slots(&self) -> &[Slot<M>] {
        self.0.slots()
    }
}
