//! [`Publisher`]: the plugin that puts a host's messages on zenoh.

use core::fmt;
use core::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plugbus_core::{Exit, Flow, Message, Plugin};
use serde::Serialize;
use zenoh::Wait;

use crate::link::{LinkError, Shared};
use crate::net::Net;
use crate::wire::{self, Header};
use crate::{Config, Link};

/// The selector parameter of a publisher's flush query, which sources
/// answer (and any other queryable ignores).
pub(crate) const FLUSH: &str = "plugbus_flush";
/// How long a publisher waits for its subscribers to answer its flush.
const FLUSH_LIMIT: Duration = Duration::from_secs(30);

/// A plugin that puts every message its host handles on the link's key,
/// as `(origin, sequence)` and the value encoded with postcard.
///
/// - A local message ([`Net::local`]) gets this link's origin and the next
///   sequence number, from 0, without holes.
/// - A message that arrived from the network is not published again, unless
///   the link relays (`relay=true`): then it goes out under the header it
///   came with, so receivers still see each (origin, sequence) once.
/// - With [`Congestion::Block`](crate::Congestion::Block) (the default) a
///   put waits while zenoh's queue is full, so this plugin's lane waits and
///   its host's overflow policy decides (the default `Block` slows the
///   sender; a lossy policy drops and counts in the plugin's stats).
/// - On detach (the host's shutdown, after its queue drained) it puts an
///   end frame under `Block` saying how many messages it published, so
///   receivers count losses at the tail too, then waits (up to 30 s) until
///   every source subscribed to the key has received everything (a flush
///   query that zenoh delivers behind the puts), so closing the link after
///   the host's shutdown loses nothing.
///
/// A put blocks its thread: on `plugbus-host-smol` and
/// `plugbus-host-tokio`, attach it with `attach_on_thread` so that a full
/// network queue does not hold an executor thread.
///
/// Built by [`Link::publisher`], or from configuration text by
/// [`Publisher::from_config`] (which is how the dynamic library of this
/// crate builds it).
pub struct Publisher<T> {
    shared: Arc<Shared>,
    sequence: u64,
    relay: bool,
    _message: PhantomData<fn(&T)>,
}

impl<T: Serialize + Send + Sync + 'static> Publisher<T> {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        let relay = shared.config.relay;
        Publisher {
            shared,
            sequence: 0,
            relay,
            _message: PhantomData,
        }
    }

    /// Opens a link from configuration text and takes its publisher; the
    /// link's session lives as long as the plugin.
    ///
    /// # Errors
    /// [`LinkError::Config`] for text that does not read,
    /// [`LinkError::NoKey`] without `key=`, or what [`Link::open`] returns.
    pub fn from_config(text: &str) -> Result<Self, LinkError> {
        let config: Config = text.parse()?;
        Link::open(config)?.publisher()
    }

    fn put(&self, bytes: Vec<u8>) -> Result<(), zenoh::Error> {
        match &self.shared.publisher {
            Some(publisher) => publisher.put(bytes).wait(),
            None => Err("the link has no publisher".into()),
        }
    }
}

impl<T: Serialize + Send + Sync + 'static> Plugin<Net<T>> for Publisher<T> {
    fn handle_message(&mut self, message: &Message<Net<T>>) -> Flow {
        let counters = &self.shared.counters;
        let header = match message.header() {
            None => Header {
                origin: self.shared.origin,
                sequence: self.sequence,
            },
            Some(header) if self.relay => header,
            Some(_) => {
                // ORDERING: statistics only (as everywhere in `Counters`).
                counters.not_relayed.fetch_add(1, Ordering::Relaxed);
                return Flow::Continue;
            }
        };
        let mut bytes = Vec::with_capacity(wire::MAX_HEADER_LEN + 16);
        if let Err(error) = wire::encode(header, message.value(), &mut bytes) {
            // The sequence number is not used up: receivers see no gap for
            // a message that never left, and the count is here.
            // ORDERING: statistics only.
            counters.unencodable.fetch_add(1, Ordering::Relaxed);
            counters.remember(&error);
            return Flow::Continue;
        }
        if !message.is_remote() {
            self.sequence += 1;
        }
        match self.put(bytes) {
            // ORDERING: statistics only.
            Ok(()) if message.is_remote() => counters.relayed.fetch_add(1, Ordering::Relaxed),
            Ok(()) => counters.published.fetch_add(1, Ordering::Relaxed),
            Err(error) => {
                self.record_failure(&*error);
                return Flow::Continue;
            }
        };
        Flow::Continue
    }

    fn name(&self) -> &str {
        "zenoh-publisher"
    }

    fn on_detach(&mut self, _exit: Exit) {
        let mut bytes = Vec::with_capacity(wire::MAX_HEADER_LEN);
        wire::encode_end(
            Header {
                origin: self.shared.origin,
                sequence: self.sequence,
            },
            &mut bytes,
        );
        let Some(key) = self.shared.config.key.clone() else {
            return;
        };
        // The end frame waits for room whatever the congestion setting, so
        // that receivers learn the count even after drops; it goes through
        // the session on the same key and priority, behind every put.
        let sent = self
            .shared
            .session
            .put(key.clone(), bytes)
            .congestion_control(zenoh::qos::CongestionControl::Block)
            .allowed_destination(zenoh::sample::Locality::Remote)
            .wait();
        if let Err(error) = sent {
            self.record_failure(&*error);
            return;
        }
        self.flush(&key);
    }
}

impl<T> Publisher<T> {
    fn record_failure(&self, error: &(dyn std::error::Error + 'static)) {
        let counters = &self.shared.counters;
        // ORDERING: statistics only; readers want a count, not a
        // synchronisation point.
        counters.failed.fetch_add(1, Ordering::Relaxed);
        counters.remember(error);
    }

    /// Waits until every source subscribed to the key has received all
    /// this publisher put: a query to all of them, which zenoh sends behind
    /// the puts on each connection and each source answers on arrival.
    /// Without it, closing the session right after the last put can lose
    /// what a slow receiver had not read yet (zenoh gives up flushing a
    /// connection after its lease).
    fn flush(&self, key: &str) {
        let started = Instant::now();
        let replies = self
            .shared
            .session
            .get(format!("{key}?{FLUSH}"))
            .target(zenoh::query::QueryTarget::All)
            .allowed_destination(zenoh::sample::Locality::Remote)
            .consolidation(zenoh::query::ConsolidationMode::None)
            .congestion_control(zenoh::qos::CongestionControl::Block)
            .timeout(FLUSH_LIMIT)
            .wait();
        match replies {
            Ok(replies) => while replies.recv().is_ok() {},
            Err(error) => return self.record_failure(&*error),
        }
        if started.elapsed() >= FLUSH_LIMIT {
            // ORDERING: statistics only.
            self.shared
                .counters
                .unflushed
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl<T> fmt::Debug for Publisher<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher")
            .field("origin", &self.shared.origin)
            .field("sequence", &self.sequence)
            .field("relay", &self.relay)
            .finish_non_exhaustive()
    }
}

/// The publisher's counters, shared with its [`Link`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    published: AtomicU64,
    relayed: AtomicU64,
    not_relayed: AtomicU64,
    unencodable: AtomicU64,
    failed: AtomicU64,
    unflushed: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Counters {
    /// Keeps the error's text with its causes, on one line.
    fn remember(&self, error: &(dyn std::error::Error + 'static)) {
        let mut text = error.to_string();
        let mut cause = error.source();
        while let Some(inner) = cause {
            text.push_str(": ");
            text.push_str(&inner.to_string());
            cause = inner.source();
        }
        match self.last_error.lock() {
            Ok(mut last) => *last = Some(text),
            Err(poisoned) => *poisoned.into_inner() = Some(text),
        }
    }

    pub(crate) fn snapshot(&self) -> PublisherStats {
        // ORDERING: statistics only; each count is read on its own.
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let last_error = match self.last_error.lock() {
            Ok(last) => last.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        PublisherStats {
            published: get(&self.published),
            relayed: get(&self.relayed),
            not_relayed: get(&self.not_relayed),
            unencodable: get(&self.unencodable),
            failed: get(&self.failed),
            unflushed: get(&self.unflushed),
            last_error,
        }
    }
}

/// What a link's publisher has done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublisherStats {
    /// Local messages put under this link's origin.
    pub published: u64,
    /// Messages from the network put again under their own header (relay).
    pub relayed: u64,
    /// Messages from the network not put again (no relay): no echo.
    pub not_relayed: u64,
    /// Messages serde could not encode with postcard (not sent, no
    /// sequence number used).
    pub unencodable: u64,
    /// Puts zenoh refused (the session is closed); the receivers see the
    /// gap in the sequence.
    pub failed: u64,
    /// Flushes at detach that some subscriber did not answer within 30 s
    /// (a receiver gone or stuck); closing then may lose what it had not
    /// read.
    pub unflushed: u64,
    /// The last encode or put error, with its causes.
    pub last_error: Option<String>,
}

/// [`Publisher::from_config`] with the error's causes joined into one line:
/// only the error's text crosses a dynamic library's boundary.
#[doc(hidden)]
pub fn __construct_publisher<T>(text: &str) -> Result<Publisher<T>, String>
where
    T: serde::Serialize + Send + Sync + 'static,
{
    Publisher::from_config(text).map_err(|error| {
        let mut line = error.to_string();
        let mut cause = std::error::Error::source(&error);
        while let Some(inner) = cause {
            line.push_str(": ");
            line.push_str(&inner.to_string());
            cause = inner.source();
        }
        line
    })
}
