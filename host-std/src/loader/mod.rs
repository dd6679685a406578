//! Loads plugins from dynamic libraries (`.so`, `.dylib`, `.dll`) built
//! with [`export_plugin!`](plugbus_core::export_plugin).
//!
//! [`load`] checks the file, opens it (by default from a private copy),
//! checks the plugin's descriptor before any of its code runs, and builds
//! the plugin: a [`DynamicPlugin`], which is a [`Plugin`](plugbus_core::Plugin)
//! like any other. Messages cross as envelopes whose clone and drop are
//! their creator's, so host and plugin may use different global allocators.
//!
//! The unsafe code of the host side of the boundary lives here.

mod elf;
mod error;
mod image;
mod options;
mod plugin;

pub use error::{LoadError, MessageType};
pub use options::LoadOptions;
pub use plugin::{DynamicPlugin, load, load_with};
