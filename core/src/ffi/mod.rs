//! The plugin side of the dynamic-library boundary.
//!
//! A plugin crate built as a `cdylib` calls
//! [`export_plugin!`](crate::export_plugin), which exports two statics,
//! named after the crate so that statically linked plugin crates do not
//! collide:
//! - `plugbus_descriptor_<crate>`, a [`PluginDescriptor`]: integers and
//!   fixed-size byte arrays only (magic, ABI version, size, the compiler and
//!   plugbus-core versions, the message type's name, size, alignment and
//!   [`Fingerprint`], the plugin's name and version). A loader checks it
//!   before it runs any code of the library;
//! - `plugbus_vtable_<crate>`, a [`PluginVTable`] of `extern "C"` thunks
//!   that construct, drive and destroy the plugin. Each catches the plugin's
//!   panics and returns a [`Code`]; text comes back through the host's
//!   [`ByteSink`], copied, never as memory the host must free.
//!
//! Messages cross as [`Message`](crate::Message) envelopes, whose clone and
//! drop are their creator's; the plugin is dropped by its own `destroy`
//! thunk; envelopes the plugin creates retain its library through the
//! [`ImageOwner`](crate::ImageOwner) the loader installs. The loader itself
//! (dlopen, checks, `DynamicPlugin`) lives in `plugbus-host-std`.
//!
//! Everything here but the thunks and the macro is `no_std`; those need the
//! `std` feature to catch panics.

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
mod descriptor;
mod export;
pub mod fingerprint;
mod reply;
#[cfg(feature = "std")]
mod thunks;
mod vtable;
mod waker;

pub use descriptor::{
    ABI_VERSION, CORE_VERSION, DESCRIPTOR_PREFIX, DescriptorHeader, MAGIC, PluginDescriptor,
    RUSTC_VERSION, VTABLE_PREFIX,
};
pub use export::Constructor;
pub use fingerprint::Fingerprint;
pub use reply::ReplyTo;
#[cfg(feature = "std")]
pub use thunks::Export;
pub use vtable::{ByteSink, BytesSink, Code, PluginVTable, RawExit, RawFlow, RawImport};
pub use waker::{FfiWaker, FfiWakerVTable};
