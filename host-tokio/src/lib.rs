//! A plugbus host on tokio: one task per plugin, an async API.
//!
//! Every message is published once into a shared ring; each plugin's lane is
//! a tokio task that takes everything new as one batch and sleeps through
//! its waker when there is nothing to do. The host runs on the current
//! runtime or on the one of a handle you pass, multi-thread or
//! current-thread.
//!
//! ```
//! use plugbus_core::{Flow, Message, Plugin};
//! use plugbus_host_tokio::Host;
//!
//! struct Sum(u64);
//! impl Plugin<u64> for Sum {
//!     fn handle_message(&mut self, message: &Message<u64>) -> Flow {
//!         self.0 += **message;
//!         Flow::Continue
//!     }
//! }
//!
//! let runtime = tokio::runtime::Builder::new_multi_thread()
//!     .worker_threads(2)
//!     .build()
//!     .unwrap();
//! let reports = runtime.block_on(async {
//!     let host = Host::new();
//!     for _ in 0..4 {
//!         host.attach(Sum(0)).unwrap();
//!     }
//!     host.send_batch(0..1000).await.unwrap();
//!     host.send(1000).await.unwrap();
//!     host.shutdown().await
//! });
//! assert_eq!(reports.len(), 4);
//! assert!(reports.iter().all(|r| r.stats.handled == 1001));
//! ```
//!
//! A plugin's `handle_message` is synchronous: see [`Host`] for what a
//! plugin that blocks does to each runtime, and [`Host::attach_on_thread`]
//! for the way out. Dynamic plugins loaded by `plugbus-host-std`'s loader
//! are plugins like any other.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod host;
mod sender;

pub use host::{Builder, Host};
pub use sender::Sender;
