//! Loads plugins from dynamic libraries (`.so`, `.dylib`, `.dll`) built
//! with [`export_plugin!`](plugbus_core::export_plugin).
//!
//! [`load`] checks the file (its permissions, its format, and the plugin's
//! descriptor read from the file) before the system loader maps any of it,
//! loads it (by default from a private copy), confirms the mapped
//! descriptor, and builds the plugin: a [`DynamicPlugin`], which is a [`Plugin`](plugbus_core::Plugin)
//! like any other. Messages cross as envelopes whose clone and drop are
//! their creator's, so host and plugin may use different global allocators.
//!
//! The unsafe code of the host side of the boundary lives here.

mod copy;
mod error;
mod file;
mod find;
mod image;
mod inspect;
mod options;
mod permissions;
mod plugin;
mod reload;
#[cfg(feature = "watch")]
mod watch;

pub use error::{Exposure, LoadError, MessageType};
pub use find::{DirEntry, built_plugin, built_plugin_in, library_filename, load_dir};
pub use inspect::{Inspection, expectations, inspect};
pub use options::LoadOptions;
pub use plugin::{DynamicPlugin, Library, LibraryFactory, load, load_with};
pub use reload::{ReloadError, ReloadOptions, replacement};
#[cfg(feature = "watch")]
pub use watch::{DEFAULT_DEBOUNCE, Watch, WatchError, WatchEvent, watch};
