//! The message type of the log demo: one request parsed from a web server's
//! access log ([`Request`]), and the query every log plugin answers with a
//! [`Summary`] ([`LogEvent::Summarize`]). The host and every log plugin
//! depend on this crate, so they agree on the type's
//! [`Fingerprint`](plugbus_core::Fingerprint), and a plugin built against
//! another version of it is refused at load time.
//!
//! ```
//! use plugbus_access_log::{LogEvent, Request, Summary, summarize};
//! use plugbus_core::{Flow, LocalHost, Message, Plugin};
//!
//! /// Counts requests.
//! struct Count(u64);
//!
//! impl Plugin<LogEvent> for Count {
//!     fn handle_message(&mut self, event: &Message<LogEvent>) -> Flow {
//!         match &**event {
//!             LogEvent::Request(_) => self.0 += 1,
//!             LogEvent::Summarize(reply) => {
//!                 reply.send(Summary::new("count").count("requests", self.0));
//!             }
//!         }
//!         Flow::Continue
//!     }
//! }
//!
//! let line = r#"127.0.0.1 - - [22/Apr/2009:18:52:51 +1200] "GET / HTTP/1.1" 200 612 "-" "curl/8.0""#;
//! let request = Request::parse(1, line)?;
//! assert_eq!((request.path.as_str(), request.status), ("/", 200));
//!
//! let mut host = LocalHost::new();
//! host.attach(Count(0))?;
//! host.send(LogEvent::Request(request))?;
//! let (ask, summaries) = summarize();
//! host.send(ask)?;
//! host.run_until_idle();
//! assert_eq!(summaries.try_recv()?.counts, [("requests".to_string(), 1)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod config;
mod error;
mod event;
mod request;
mod summary;
mod time;

pub use config::{ConfigError, Options};
pub use error::{Field, ParseError};
pub use event::{LogEvent, summarize};
pub use request::{Method, Request};
pub use summary::Summary;
pub use time::Timestamp;
