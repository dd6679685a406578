//! Plugbus host on std threads: one OS thread per plugin, and the dynamic-library loader.

// Unsafe code is allowed only in the loader (`deny` rather than `forbid`, so
// that module can opt in).
#![deny(unsafe_code)]

#[cfg(feature = "loader")]
#[allow(unsafe_code)]
pub mod loader;

#[cfg(feature = "loader")]
pub use loader::{DynamicPlugin, LoadError, LoadOptions, load, load_with};
