//! Plugins in a process of their own: a crash, an abort, a stack overflow
//! or an endless loop in the plugin takes down its child process, not the
//! host.
//!
//! [`Isolated`] is a plugin that forwards its lane's messages through
//! shared memory to a child process, which loads the plugin's library with
//! the loader's checks and handles them in order; attach it to any host
//! like any plugin, or with `attach_isolated`: [`Host::attach_isolated`](crate::Host::attach_isolated)
//! on this crate's host, [`AttachIsolated`] on the async hosts (smol and
//! tokio, with their `isolate` feature; it attaches on a lane thread, as
//! the proxy may wait for room in shared memory or for a restart). The child is the program
//! [`IsolateOptions::runner`] names, whose `main` calls [`run_child`] for
//! the host's message type; by default the host's own program.
//!
//! ```no_run
//! use plugbus_host_std::isolated::{IsolateOptions, run_child};
//! use plugbus_host_std::Host;
//! # #[derive(serde::Serialize, serde::Deserialize, plugbus_core::Fingerprint)] struct Job(u64);
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     run_child::<Job>(); // returns at once unless this process is a child
//!     let host = Host::new();
//!     let (id, plugin) = host.attach_isolated("plugins/libjob.so", "", IsolateOptions::new())?;
//!     host.send(Job(1))?;
//!     host.shutdown();
//!     println!("{id}: {:?}", plugin.stats());
//!     Ok(())
//! }
//! ```
//!
//! What is guaranteed, and what it costs: the README's "Isolated plugins".
//! Linux only (`memfd`, shared futexes, `pidfd`, `PR_SET_PDEATHSIG`);
//! elsewhere [`Isolated::spawn`] returns [`IsolateError::Unsupported`].

mod encoding;
mod error;
mod options;
mod stats;

#[cfg(target_os = "linux")]
mod attach;
#[cfg(target_os = "linux")]
mod child;
#[cfg(target_os = "linux")]
mod process;
#[cfg(target_os = "linux")]
mod proxy;
#[cfg(target_os = "linux")]
mod shm;

pub use encoding::{Encoding, Plain, Postcard};
pub use error::IsolateError;
pub use options::IsolateOptions;
pub use stats::{Death, IsolatedStats};

#[cfg(target_os = "linux")]
pub use attach::AttachIsolated;
#[cfg(target_os = "linux")]
pub use child::{run_child, run_child_with};
#[cfg(target_os = "linux")]
pub use proxy::{Isolated, IsolatedHandle};
