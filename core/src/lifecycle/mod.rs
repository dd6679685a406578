//! What outlives a plugin instance on its lane: restart policies, the
//! factory that builds a fresh instance, the clock the restart limits are
//! measured with, the state one instance hands to the next, and what a
//! lane reports about it.
//!
//! A lane (its id, name, position and counters) is apart from the plugin
//! instance it runs. A supervised plugin ([`Restart::OnPanic`] or
//! [`Restart::Always`] in its [`AttachOptions`](crate::AttachOptions)) gets
//! a new instance from its [`Factory`] after a panic: the message whose
//! handling panicked is not handed to it again (it is counted as
//! dead-lettered, and given to a dead-letter outbox if one was set), every
//! other message is, in order. [`Intensity`] limits how often, [`Backoff`]
//! spaces the restarts.
//!
//! ```
//! use core::time::Duration;
//! use plugbus_core::lifecycle::{Backoff, Intensity, Restart};
//! use plugbus_core::AttachOptions;
//!
//! let options = AttachOptions::new()
//!     .restart(Restart::OnPanic)
//!     .intensity(Intensity::new(3, Duration::from_secs(1)))
//!     .backoff(Backoff::exponential(Duration::from_millis(1), Duration::from_millis(50)));
//! assert_eq!(options.get_restart(), Restart::OnPanic);
//! ```

pub(crate) mod clock;
mod dead_letter;
mod event;
mod factory;
mod policy;
pub(crate) mod replace;
mod state;

pub use clock::Clock;
#[cfg(feature = "std")]
pub use clock::StdClock;
pub use dead_letter::DeadLetter;
pub use event::Event;
pub use factory::Factory;
pub use policy::{Backoff, Intensity, Restart};
pub use replace::{Handover, ReplaceError, Replaced, Replacement, Replacing};
pub use state::{State, StateError};
