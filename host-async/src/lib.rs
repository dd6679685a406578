//! The plugbus async host, written once: one task per plugin on any async
//! runtime, which plugs in through the small [`Runtime`] trait (spawn a
//! lane). `plugbus-host-smol` and `plugbus-host-tokio` are this [`Host`]
//! with their runtime filled in; use one of them, or implement [`Runtime`]
//! for another executor.
//!
//! Every message is published once into a shared ring; each plugin's lane
//! is a task that takes everything new as one batch and sleeps through its
//! waker when there is nothing to do. A plugin whose handler blocks gets a
//! thread of its own instead ([`Host::attach_on_thread`]), running the
//! same [`LaneThread`] loop as every plugin of `plugbus-host-std`'s thread
//! host, which uses this crate for it.
//!
//! ```
//! use std::future::Future;
//!
//! use plugbus_host_async::{Flow, Message, Plugin, Runtime};
//!
//! /// Every lane on a thread of its own, polled by `block_on`.
//! #[derive(Debug)]
//! struct ThreadPerLane;
//!
//! /// The host on it, named as `plugbus-host-smol` and `plugbus-host-tokio`
//! /// name theirs.
//! type Host<M> = plugbus_host_async::Host<M, ThreadPerLane>;
//!
//! impl Runtime for ThreadPerLane {
//!     fn spawn<F>(&self, lane: F)
//!     where
//!         F: Future<Output = ()> + Send + 'static,
//!     {
//!         std::thread::spawn(move || futures_lite::future::block_on(lane));
//!     }
//! }
//!
//! struct Sum(u64);
//! impl Plugin<u64> for Sum {
//!     fn handle_message(&mut self, message: &Message<u64>) -> Flow {
//!         self.0 += **message;
//!         Flow::Continue
//!     }
//! }
//!
//! let host = Host::on(ThreadPerLane);
//! for _ in 0..4 {
//!     host.attach(Sum(0))?;
//! }
//! let reports = futures_lite::future::block_on(async {
//!     host.send_batch(0..1000).await?;
//!     host.send(1000).await?;
//!     Ok::<_, Box<dyn std::error::Error>>(host.shutdown().await)
//! })?;
//! assert_eq!(reports.len(), 4);
//! assert!(reports.iter().all(|r| r.stats.handled == 1001));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The crate re-exports what a plugin and a host need from `plugbus-core`,
//! so that one dependency suffices.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod common;
mod deadline;
mod host;
mod lane_thread;
pub mod metrics;
mod park;
mod runtime;
mod sender;
mod watch;

pub use host::Host;
pub use lane_thread::LaneThread;
pub use park::park_until_room;
pub use runtime::Runtime;
pub use sender::Sender;

#[doc(inline)]
pub use common::*;
pub use plugbus_core::DEFAULT_CAPACITY;
