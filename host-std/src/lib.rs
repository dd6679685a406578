//! Plugbus host on std threads: one OS thread per plugin, and the
//! dynamic-library loader.
//!
//! ```
//! use plugbus_host_std::{Flow, Host, Message, Plugin};
//!
//! struct Shout;
//!
//! impl Plugin<String> for Shout {
//!     fn handle_message(&mut self, text: &Message<String>) -> Flow {
//!         println!("{}", text.to_uppercase());
//!         Flow::Continue
//!     }
//! }
//!
//! let host = Host::new();
//! host.attach(Shout)?;
//! host.send("hello".to_string())?;
//! let reports = host.shutdown(); // drains, then joins the plugin's thread
//! assert_eq!(reports[0].stats.handled, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//! - `loader` (default): load plugins from dynamic libraries.
//! - `isolate`: run a plugin in a child process of its own (the `isolated`
//!   module, Linux only).
//! - `watch`: reload a plugin when its library file changes
//!   (`Host::watch`, `loader::watch`; the `notify` crate, which needs
//!   Rust 1.77).

#![deny(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod host;
mod sender;

// Unsafe code is allowed only in the loader (`deny` rather than `forbid` at
// the root, so that module can opt in; the others `forbid` it).
#[cfg(feature = "loader")]
#[allow(unsafe_code)]
pub mod loader;

// Unsafe code in the shared memory and the child's start only.
#[cfg(feature = "isolate")]
#[allow(unsafe_code)]
pub mod isolated;

pub use host::{Builder, DEFAULT_CAPACITY, Host};
pub use plugbus_host_async::LaneThread;
pub use sender::Sender;

#[cfg(feature = "loader")]
pub use loader::{
    DynamicPlugin, Exposure, Library, LoadError, LoadOptions, ReloadError, ReloadOptions, load,
    load_with, replacement,
};

#[doc(inline)]
pub use plugbus_host_async::common::*;
pub use plugbus_host_async::metrics;
