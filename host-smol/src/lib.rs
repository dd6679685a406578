//! A plugbus host on smol: one task per plugin, an async API.
//!
//! Every message is published once into a shared ring; each plugin's lane is
//! a task that takes everything new as one batch and sleeps through its
//! waker when there is nothing to do. The host runs on an executor you lend
//! it ([`Host::on`]), or on one it owns with threads of its own
//! ([`Builder`]).
//!
//! ```
//! use plugbus_host_smol::{Builder, Flow, Message, Plugin};
//!
//! struct Sum(u64);
//! impl Plugin<u64> for Sum {
//!     fn handle_message(&mut self, message: &Message<u64>) -> Flow {
//!         self.0 += **message;
//!         Flow::Continue
//!     }
//! }
//!
//! let host = Builder::new().threads(2).build()?;
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
//! The host is `plugbus-host-async`'s, written once for every runtime;
//! this crate adds the smol executor it runs on ([`Smol`]) and re-exports
//! what a plugin and a host need, so that one dependency suffices.
//!
//! # Features
//! - `loader`: re-exports `plugbus-host-std`'s loader (`load`,
//!   `load_with`, `DynamicPlugin`, `LoadOptions`, `LoadError`), which loads
//!   plugins from dynamic libraries; off by default, so that a host of
//!   static plugins builds neither `plugbus-host-std` nor `libloading`.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod builder;
mod error;
mod runtime;

pub use builder::Builder;
pub use error::StartError;
pub use runtime::Smol;

/// A plugbus host on smol: one task per plugin on an executor, an async API.
///
/// Make one on your executor with `Host::on(&executor)` (you keep running
/// it: the borrow makes it outlive the host), or with one the host owns
/// with [`Builder`]. The methods are those of every async host, with what
/// [`Host::attach_on_thread`] does for plugins that block and what dropping
/// does.
///
/// With smol, a plugin that blocks holds its executor thread: with one
/// thread (or a borrowed executor run by one thread) every lane, and every
/// other task on that executor, waits until its handler returns.
///
/// Dropping a host that owns its executor waits until every lane has
/// drained, then stops the executor's threads. On a borrowed executor the
/// lanes drain as the executor runs them, or while their tasks are dropped
/// if the executor is dropped first.
///
/// # Example
/// ```
/// use async_executor::Executor;
/// use plugbus_host_smol::{Flow, Host, Message, Plugin};
///
/// struct Count(u32);
/// impl Plugin<&'static str> for Count {
///     fn handle_message(&mut self, _: &Message<&'static str>) -> Flow {
///         self.0 += 1;
///         Flow::Continue
///     }
/// }
///
/// let executor = Executor::new();
/// let host = Host::on(&executor);
/// host.attach(Count(0))?;
/// let reports = futures_lite::future::block_on(executor.run(async {
///     host.send("ping").await?;
///     Ok::<_, Box<dyn std::error::Error>>(host.shutdown().await)
/// }))?;
/// assert_eq!(reports[0].stats.handled, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type Host<'ex, M> = plugbus_host_async::Host<M, Smol<'ex>>;

#[doc(inline)]
pub use plugbus_host_async::common::*;
pub use plugbus_host_async::metrics;
pub use plugbus_host_async::{DEFAULT_CAPACITY, Sender};

#[cfg(feature = "isolate")]
pub use plugbus_host_std::isolated;
#[cfg(feature = "loader")]
pub use plugbus_host_std::{DynamicPlugin, LoadError, LoadOptions, load, load_with};
