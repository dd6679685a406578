//! The dispatch core every host shares: the bus, lanes, and counters.

mod bus;
pub(crate) mod guard;
mod lane;
mod stats;

pub(crate) use bus::into_value;
pub use bus::{Bus, PluginInfo, WaiterKey};
pub use lane::{Lane, Step};
pub use stats::{Report, Stats};

#[cfg(test)]
mod tests;
