//! The shared ring's storage and the park/wake contract between the ring and
//! the hosts that run lanes.

mod padded;
mod storage;
mod wake;

pub(crate) use padded::CachePadded;
pub(crate) use storage::MAX_CAPACITY;
pub use storage::{Fixed, Heap, MAX_HEAP_CAPACITY, Slot, Storage};
pub(crate) use wake::NoWake;
pub use wake::{TaskWake, Wake};
