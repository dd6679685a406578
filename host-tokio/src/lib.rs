//! A plugbus host on tokio: one task per plugin, an async API.
//!
//! Every message is published once into a shared ring; each plugin's lane is
//! a tokio task that takes everything new as one batch and sleeps through
//! its waker when there is nothing to do. The host runs on the current
//! runtime ([`Host::new`]) or on the one of a handle (`Host::on(handle)`),
//! multi-thread or current-thread.
//!
//! ```
//! use plugbus_host_tokio::{Flow, Host, Message, Plugin};
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
//!     .build()?;
//! let reports = runtime.block_on(async {
//!     let host = Host::new();
//!     for _ in 0..4 {
//!         host.attach(Sum(0))?;
//!     }
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
//! this crate adds the tokio runtime it runs on ([`Tokio`]) and re-exports
//! what a plugin and a host need, so that one dependency suffices.
//!
//! # Features
//! - `loader`: re-exports `plugbus-host-std`'s loader (`load`,
//!   `load_with`, `DynamicPlugin`, `LoadOptions`, `LoadError`), which loads
//!   plugins from dynamic libraries; off by default, so that a host of
//!   static plugins builds neither `plugbus-host-std` nor `libloading`.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod runtime;

pub use runtime::Tokio;

/// A plugbus host on tokio: one task per plugin on a runtime, an async API.
///
/// Make one inside a runtime with [`Host::new`] (or `Host::with_capacity`),
/// or from anywhere on the runtime of a handle with `Host::on(handle)` (or
/// `Host::on_with_capacity`). The methods are those of every async host,
/// with what [`Host::attach_on_thread`] does for plugins that block and
/// what dropping does.
///
/// With tokio, a plugin that blocks holds its worker thread:
/// - on the multi-thread runtime the other workers go on running the other
///   lanes, but a lane queued on the blocked worker itself (tokio keeps the
///   task a worker woke last in a slot other workers cannot steal) waits
///   until the handler returns;
/// - on the current-thread runtime every lane, and every other task of the
///   runtime, including the one sending, waits until the handler returns; a
///   handler that waits for another task of the same runtime deadlocks it.
///
/// Dropping the host does not block: the lanes drain on the runtime, or
/// while tokio drops their tasks if the runtime shuts down first. A runtime
/// that shuts down while the host is still open detaches each plugin with
/// [`Exit::Removed`]; `shutdown_blocking` still returns their reports.
///
/// # Example
/// ```
/// use plugbus_host_tokio::{Flow, Host, Message, Plugin};
///
/// struct Sum(u64);
/// impl Plugin<u64> for Sum {
///     fn handle_message(&mut self, message: &Message<u64>) -> Flow {
///         self.0 += **message;
///         Flow::Continue
///     }
/// }
///
/// let runtime = tokio::runtime::Builder::new_current_thread().build()?;
/// let reports = runtime.block_on(async {
///     let host = Host::new();
///     host.attach(Sum(0))?;
///     host.attach(Sum(0))?;
///     for n in 0..100 {
///         host.send(n).await?;
///     }
///     Ok::<_, Box<dyn std::error::Error>>(host.shutdown().await)
/// })?;
/// assert!(reports.iter().all(|r| r.stats.handled == 100));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type Host<M> = plugbus_host_async::Host<M, Tokio>;

#[doc(inline)]
pub use plugbus_host_async::common::*;
pub use plugbus_host_async::metrics;
pub use plugbus_host_async::{DEFAULT_CAPACITY, Sender};

#[cfg(feature = "isolate")]
pub use plugbus_host_std::isolated;
#[cfg(feature = "loader")]
pub use plugbus_host_std::{DynamicPlugin, LoadError, LoadOptions, load, load_with};
