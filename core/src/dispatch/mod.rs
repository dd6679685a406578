//! The dispatch core every host shares: the registry of plugins on a bus,
//! their policies and counters, sending, and the lane loop. The ring it
//! calls through a small API lives in [`ring`](crate::ring).

mod bus;
pub(crate) mod guard;
mod instance;
mod lane;
mod runner;
mod shared;
mod stats;
pub(crate) mod supervisor;

pub(crate) use bus::into_value;
pub use bus::{Bus, PluginInfo};
pub(crate) use instance::{Erased, Make, erase};
pub use lane::{Lane, Step};
#[allow(unreachable_pub)] // named only by `Plugin`'s hidden methods
pub use runner::{QueueWork, RingWork};
pub(crate) use runner::{run_queue, run_ring};
pub(crate) use stats::Local;
pub use stats::{Report, Stats};

#[cfg(test)]
mod tests;
