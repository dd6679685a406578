//! Example plugin: counts numbered [`Tick`](plugbus_commands::Tick)s per
//! sender, notes numbers that were skipped or came out of order, and hands
//! its count to the instance that replaces it, also to a new build loaded
//! from another library (`plugbus-tally-v2` is the same source built as
//! build 2).
//!
//! Configuration, space separated: `state-version=N` (the version of the
//! state it exports; default 1, the only one it reads), `fail` (the
//! constructor refuses), `panic` (the constructor panics). It panics on
//! purpose on a [`Tick::Poison`](plugbus_commands::Tick::Poison).
//!
//! ```
//! use plugbus_commands::Tick;
//! use plugbus_core::{Message, Plugin};
//! use plugbus_tally::Counter;
//!
//! let mut old = Counter::new("").unwrap();
//! let mut new = Counter::new("").unwrap();
//! for seq in 0..10 {
//!     let _ = old.handle_message(&Message::new(Tick::Seq { sender: 0, seq }));
//! }
//! // What a host does when it replaces one instance with the other.
//! new.import_state(&old.export_state().unwrap()).unwrap();
//! let _ = new.handle_message(&Message::new(Tick::Seq { sender: 0, seq: 10 }));
//! let tally = new.tally();
//! assert_eq!((tally.counted, tally.skipped, tally.handovers), (11, 0, 1));
//! ```

#![forbid(unsafe_code)]

/// Which build this is: 1 here, 2 in `plugbus-tally-v2`.
pub const BUILD: u32 = 1;

mod counter;

pub use counter::{Counter, CounterError};

plugbus_core::export_plugin! {
    plugin: Counter,
    message: plugbus_commands::Tick,
    construct: Counter::new,
}
