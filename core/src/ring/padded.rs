//! Keeps hot atomics on cache lines of their own.

use core::ops::Deref;

/// Aligned to 128 bytes: adjacent-line prefetch on x86_64 pairs 64-byte
/// lines, so two counters written by different cores must be 128 apart.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}
