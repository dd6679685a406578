//! Hosts joined across processes and machines over [zenoh]: a publishing
//! plugin, a source that sends what arrives into a local host, and a small
//! header that makes the network exactly-once.
//!
//! A host whose message type is [`Net<T>`] attaches a [`Publisher`] like any
//! plugin; it puts every local message on a key expression as
//! `(origin, sequence)` plus the value encoded with postcard. A [`Source`]
//! subscribes and sends what arrives into the host through the host's own
//! send, so its overflow policies apply. Receivers never take their own
//! origin's messages (no echo), take each (origin, sequence) once (no
//! duplicates, also through relays), and count the sequence numbers that
//! never came (gaps: never silent).
//!
//! ```no_run
//! use plugbus_core::{Flow, Message, Plugin};
//! use plugbus_host_std::Host;
//! use plugbus_zenoh::{Config, Link, Net};
//!
//! struct Print;
//! impl Plugin<Net<u64>> for Print {
//!     fn handle_message(&mut self, n: &Message<Net<u64>>) -> Flow {
//!         println!("{} from {:?}", ***n, n.header());
//!         Flow::Continue
//!     }
//! }
//!
//! // Process A listens; process B runs the same with `connect` instead.
//! let link = Link::open(Config::new().key("demo/n").listen("tcp/127.0.0.1:7447"))?;
//! let host = Host::new();
//! host.attach(Print)?;
//! host.attach(link.publisher::<u64>()?)?;
//! let sender = host.sender();
//! let source = link.source(move |batch| sender.send_batch(batch))?;
//! link.wait_for_subscribers(std::time::Duration::from_secs(5))?;
//! host.send(Net::local(42))?; // printed here, and by B
//! let stats = source.shutdown();
//! host.shutdown();
//! link.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`wire`] is the encoding alone (header plus postcard), for other
//! transports.
//!
//! # As a dynamic plugin
//! The crate builds as a `cdylib` exporting a `Publisher<u64>` (for hosts of
//! `Net<u64>`), configured by text such as
//! `key=demo/n connect=tcp/127.0.0.1:7447 origin=00c0ffee00c0ffee`
//! (see [`Config`]); [`export_publisher!`] exports one for another message
//! type from a crate of your own.
//!
//! [zenoh]: https://zenoh.io

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod link;
mod net;
mod publisher;
mod source;
mod window;

/// The encoding alone (header plus postcard), shared with other transports.
pub use plugbus_wire as wire;

pub use config::{Config, ConfigError, Congestion, Mode};
pub use link::{Link, LinkError};
pub use net::Net;
#[doc(hidden)]
pub use publisher::__construct_publisher;
pub use publisher::{Publisher, PublisherStats};
pub use source::{Deliver, OriginStats, Source, SourceError, SourceStats};
pub use wire::{DecodeError, EncodeError, Header, Origin};

/// Exports a [`Publisher<T>`] for hosts of `Net<T>` from a `cdylib` crate
/// of your own, built from its configuration text
/// ([`Publisher::from_config`]). `T` implements `Serialize` and
/// [`Fingerprint`](plugbus_core::Fingerprint).
///
/// ```ignore
/// plugbus_zenoh::export_publisher!(my_messages::Reading);
/// ```
#[macro_export]
macro_rules! export_publisher {
    ($message:ty) => {
        ::plugbus_core::export_plugin! {
            plugin: $crate::Publisher<$message>,
            message: $crate::Net<$message>,
            construct: $crate::__construct_publisher::<$message>,
        }
    };
}

export_publisher!(u64);
