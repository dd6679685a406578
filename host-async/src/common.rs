//! What a plugin and a host need from `plugbus-core`: every host crate
//! re-exports this module whole (`pub use plugbus_host_async::common::*`),
//! so that one dependency suffices and every host offers the same names.
//!
//! ```
//! use plugbus_host_async::common::{Flow, Message, Plugin};
//!
//! struct Echo;
//! impl Plugin<String> for Echo {
//!     fn handle_message(&mut self, text: &Message<String>) -> Flow {
//!         println!("{}", **text);
//!         Flow::Continue
//!     }
//! }
//! ```

pub use plugbus_core::ask;
pub use plugbus_core::lifecycle;
pub use plugbus_core::{
    Async, AsyncPlugin, AttachError, AttachOptions, Exit, Fingerprint, Flow, Message, Outbox,
    OutboxFull, Overflow, Plugin, PluginId, PluginInfo, Replies, Report, SendError, Stats, Status,
    TrySendError, outbox,
};
