//! Build 2 of the tally example plugin: the source of `plugbus-tally`
//! (which see), built as a library of its own, so a host can reload one
//! build over the other and back.

#![forbid(unsafe_code)]

/// Which build this is.
pub const BUILD: u32 = 2;

#[path = "../../tally/src/counter.rs"]
mod counter;

pub use counter::{Counter, CounterError};

plugbus_core::export_plugin! {
    plugin: Counter,
    message: plugbus_commands::Tick,
    construct: Counter::new,
}
