//! The message type of the log demo: one request parsed from a web server's
//! access log ([`Request`]), and the query every log plugin answers with a
//! [`Summary`] ([`LogEvent::Summarize`], a question the host asks with
//! `ask`). The host and every log plugin
//! depend on this crate, so they agree on the type's
//! [`Fingerprint`](plugbus_core::Fingerprint), and a plugin built against
//! another version of it is refused at load time.
//!
//! ```
//! use std::time::Duration;
//!
//! use plugbus_access_log::{LogEvent, Request, Summary};
//! use plugbus_core::{Flow, LocalHost, Message, Plugin, PluginId};
//!
//! /// Counts requests.
//! #[derive(Default)]
//! struct Count {
//!     id: Option<PluginId>,
//!     requests: u64,
//! }
//!
//! impl Plugin<LogEvent> for Count {
//!     fn on_attach(&mut self, id: PluginId) {
//!         self.id = Some(id);
//!     }
//!
//!     fn handle_message(&mut self, event: &Message<LogEvent>) -> Flow {
//!         match (&**event, self.id) {
//!             (LogEvent::Request(_), _) => self.requests += 1,
//!             (LogEvent::Summarize(request), Some(id)) => {
//!                 let _ = request.answer(id, Summary::new("count").count("requests", self.requests));
//!             }
//!             (LogEvent::Summarize(_), None) => {}
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
//! let count = host.attach(Count::default())?;
//! host.send(LogEvent::Request(request))?;
//! let answers = host.ask(LogEvent::Summarize, (), Duration::from_secs(5))?;
//! assert_eq!(answers.get(count).unwrap().counts, [("requests".to_string(), 1)]);
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
pub use event::{LogEvent, SummaryRequest};
pub use request::{Method, Request};
pub use summary::Summary;
pub use time::Timestamp;
