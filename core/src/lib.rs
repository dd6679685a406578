//! The `no_std` core of plugbus: plugins that talk by message passing.
//!
//! A host broadcasts each message, as one counted [`Message`], to every
//! attached [`Plugin`]. Each plugin runs sequentially on its own lane, so it
//! mutates its state freely while plugins run side by side. This crate holds
//! everything a plugin needs and a host with no threads, [`LocalHost`];
//! `plugbus-host-std`, `plugbus-host-smol` and `plugbus-host-tokio` run the
//! same plugins on threads or tasks; [`task`] holds the futures the async
//! hosts share.
//!
//! ```
//! use plugbus_core::{Flow, LocalHost, Message, Plugin};
//!
//! #[derive(Default)]
//! struct Longest(String);
//!
//! impl Plugin<String> for Longest {
//!     fn handle_message(&mut self, word: &Message<String>) -> Flow {
//!         if word.len() > self.0.len() {
//!             self.0 = (**word).clone();
//!         }
//!         Flow::Continue
//!     }
//! }
//!
//! let mut host = LocalHost::new();
//! host.attach(Longest::default()).unwrap();
//! for word in ["plug", "plugbus", "bus"] {
//!     host.send(word.to_string()).unwrap();
//! }
//! let reports = host.shutdown();
//! assert_eq!(reports[0].stats.handled, 3);
//! ```
//!
//! # Features
//! - `std`: catch a plugin's panics at its lane (the plugin is detached and
//!   the panic reported; the host and the other plugins go on), and the
//!   blocking waits `Replies::recv_blocking` and
//!   `task::Reports::collect_blocking`. Without it the crate is `no_std` +
//!   `alloc`, and a panic follows the target's panic handler. Also the
//!   thunks of [`export_plugin!`], which catch a dynamic plugin's panics.
//! - `derive`: `#[derive(Fingerprint)]` for message types that cross a
//!   dynamic-library boundary (see [`ffi`]).
//! - `tracing`: a lane's lifecycle events (restart, replacement, rollback,
//!   giving up; see [`lifecycle::Event`]) through the `tracing` facade as
//!   the lane records them, target `plugbus`, fields `plugin`, `id` and
//!   `event`; `no_std` too. The std-based hosts turn it on with theirs.
//! - `crossing` (implies `std`): `Serialize`/`Deserialize` for
//!   [`ask::Request`] and [`Outbox`], so a plugin in another process
//!   answers and replies as in process; see [`crossing`] (plugbus-host-std's
//!   isolated plugins turn it on).

#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

extern crate alloc;

pub mod ask;
mod async_plugin;
#[cfg(feature = "crossing")]
pub mod crossing;
mod dispatch;
mod error;
pub mod ffi;
pub mod lifecycle;
mod local;
mod message;
mod outbox;
mod plugin;
mod policy;
pub mod registry;
pub mod ring;
mod sync;
pub mod task;

#[doc(hidden)]
pub use async_plugin::polled as __polled;
/// What a lane lends a plugin's hidden batch methods; not part of the API.
#[doc(hidden)]
pub mod dispatch_work {
    pub use crate::dispatch::{QueueWork, RingWork};
}
pub use async_plugin::{Async, AsyncPlugin};
pub use dispatch::{Bus, Lane, PluginInfo, Report, Stats, Step};
pub use error::{AttachError, SendError, TrySendError};
pub use ffi::Fingerprint;
pub use local::{DEFAULT_CAPACITY, LocalHost};
pub use message::{ImageOwner, Message};
pub use outbox::{Outbox, OutboxFull, Recv, Replies, outbox};
/// Derives [`Fingerprint`] from the type's definition (feature `derive`).
///
/// ```
/// use plugbus_core::Fingerprint;
///
/// #[derive(Fingerprint)]
/// enum Command {
///     Say(String),
///     Stop,
/// }
///
/// #[derive(Fingerprint)]
/// enum Reordered {
///     Stop,
///     Say(String),
/// }
///
/// assert!(Command::NAME.ends_with("::Command"));
/// assert_ne!(Command::FINGERPRINT, Reordered::FINGERPRINT);
/// ```
#[cfg(feature = "derive")]
pub use plugbus_derive::Fingerprint;
pub use plugin::{Exit, Flow, Plugin, PluginId, Status};
pub use policy::{AttachOptions, Overflow};
pub use ring::WaiterKey;
