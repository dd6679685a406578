//! [`Link`]: one host's zenoh session, its origin, and the publisher and
//! sources made from it.

use core::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
use zenoh::Wait;
use zenoh::qos::CongestionControl;

use crate::config::{Config, Congestion, Mode};
use crate::publisher::{Counters, Publisher, PublisherStats};
use crate::source::{Deliver, Source};
use crate::wire::Origin;

/// One host's place on the network: a zenoh session and the host's origin.
///
/// A link gives at most one [`Publisher`] (a plugin to attach to the host,
/// putting on the configured key) and any number of [`Source`]s (threads
/// sending what arrives into the host). Sources never deliver messages of
/// this link's own origin, so a host that subscribes to what it publishes
/// hears no echo.
///
/// zenoh's session-wide blocking calls (open, close) run on a thread of
/// the link's own, so a link works the same under std threads, smol and
/// tokio; puts run on the publisher's lane (see [`Publisher`]).
///
/// ```no_run
/// use plugbus_host_std::Host;
/// use plugbus_zenoh::{Config, Link, Net};
///
/// let link = Link::open(
///     Config::new().key("demo/numbers").subscribe("demo/**").listen("tcp/127.0.0.1:7447"),
/// )?;
/// let host: Host<Net<u64>> = Host::new();
/// host.attach(link.publisher::<u64>()?)?;
/// let sender = host.sender();
/// let source = link.source(move |batch| sender.send_batch(batch))?;
/// host.send(Net::local(1))?; // published as (this origin, 0)
/// // ...
/// let stats = source.shutdown(); // delivers what zenoh handed over
/// let reports = host.shutdown(); // the publisher ends its stream on detach
/// link.close()?; // writes what zenoh queued, then leaves
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Link {
    shared: Arc<Shared>,
    publisher_taken: AtomicBool,
}

/// What the link's publisher and sources share; closes the session when
/// the last of them goes.
pub(crate) struct Shared {
    pub(crate) session: zenoh::Session,
    pub(crate) origin: Origin,
    pub(crate) config: Config,
    pub(crate) publisher: Option<zenoh::pubsub::Publisher<'static>>,
    pub(crate) counters: Arc<Counters>,
}

impl Link {
    /// Opens a zenoh session as `config` says and chooses the origin.
    /// Connecting goes on in the background: a `connect` endpoint that
    /// does not answer yet is retried.
    ///
    /// # Errors
    /// [`LinkError::Zenoh`] when zenoh refuses the configuration (an
    /// endpoint it cannot read, a port it cannot listen on) or a key
    /// expression.
    pub fn open(config: Config) -> Result<Link, LinkError> {
        let zenoh_config = zenoh_config(&config)?;
        let origin = config.origin.unwrap_or_else(Origin::random);
        let congestion = match config.congestion {
            Congestion::Block => CongestionControl::Block,
            Congestion::Drop => CongestionControl::Drop,
        };
        let key = config.key.clone();
        let (session, publisher) = on_plain_thread(move || {
            let session = zenoh::open(zenoh_config)
                .wait()
                .map_err(|error| LinkError::Zenoh {
                    what: "open the session",
                    error,
                })?;
            let publisher = match key {
                Some(key) => Some(
                    session
                        .declare_publisher(key)
                        .congestion_control(congestion)
                        // Never to this session's own subscribers: a lane
                        // that waits on its own source could deadlock, and
                        // they would only drop the echo.
                        .allowed_destination(zenoh::sample::Locality::Remote)
                        .wait()
                        .map_err(|error| LinkError::Zenoh {
                            what: "declare the publisher",
                            error,
                        })?,
                ),
                None => None,
            };
            Ok::<_, LinkError>((session, publisher))
        })?;
        Ok(Link {
            shared: Arc::new(Shared {
                session,
                origin,
                config,
                publisher,
                counters: Arc::default(),
            }),
            publisher_taken: AtomicBool::new(false),
        })
    }

    /// This host's origin: the header of everything its publisher puts
    /// first.
    pub fn origin(&self) -> Origin {
        self.shared.origin
    }

    /// The link's configuration.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The publishing plugin, to attach to the host. One per link (it owns
    /// the origin's sequence).
    ///
    /// # Errors
    /// [`LinkError::NoKey`] without a `key`; [`LinkError::PublisherTaken`]
    /// the second time.
    pub fn publisher<T: Serialize + Send + Sync + 'static>(
        &self,
    ) -> Result<Publisher<T>, LinkError> {
        if self.shared.publisher.is_none() {
            return Err(LinkError::NoKey);
        }
        // ORDERING: only the flag itself is guarded; Relaxed suffices for
        // a swap that hands the publisher out once.
        if self.publisher_taken.swap(true, Ordering::Relaxed) {
            return Err(LinkError::PublisherTaken);
        }
        Ok(Publisher::new(Arc::clone(&self.shared)))
    }

    /// A source: a thread that subscribes to the link's `subscribe` key
    /// (or its `key`) and hands what arrives to `deliver`, in batches, in
    /// arrival order, after dropping echoes, repeats and frames that do
    /// not decode.
    ///
    /// `deliver` is the host's normal send, so the host's overflow
    /// policies apply; for each host, with `let sender = host.sender();`:
    /// - `plugbus-host-std`: `move |batch| sender.send_batch(batch)`;
    /// - `plugbus-host-smol`, `plugbus-host-tokio`:
    ///   `move |batch| sender.send_batch_blocking(batch)`;
    /// - `LocalHost` (not `Send`): a `std::sync::mpsc::SyncSender`, whose
    ///   receiver the caller drains into the host from its poll loop.
    ///
    /// # Errors
    /// [`LinkError::NoKey`] without a key to subscribe to;
    /// [`LinkError::Zenoh`] if zenoh refuses the subscription.
    pub fn source<T, D>(&self, deliver: D) -> Result<Source<T>, LinkError>
    where
        T: DeserializeOwned + Send + 'static,
        D: Deliver<crate::Net<T>>,
    {
        Source::spawn(Arc::clone(&self.shared), deliver)
    }

    /// Waits until the publisher's key has a subscriber somewhere (zenoh
    /// drops what nobody subscribes to, so a sender that must not miss the
    /// first receiver waits for it). Returns whether one appeared in time.
    ///
    /// # Errors
    /// [`LinkError::NoKey`] without a publisher key; [`LinkError::Zenoh`]
    /// if zenoh cannot say.
    pub fn wait_for_subscribers(&self, timeout: Duration) -> Result<bool, LinkError> {
        let Some(publisher) = &self.shared.publisher else {
            return Err(LinkError::NoKey);
        };
        let deadline = Instant::now() + timeout;
        loop {
            let status = publisher
                .matching_status()
                .wait()
                .map_err(|error| LinkError::Zenoh {
                    what: "ask for subscribers",
                    error,
                })?;
            if status.matching() {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// How many zenoh peers this session is connected to right now (in
    /// peer mode, the other hosts it listens for or connected to). A test
    /// or a start-up sequence that must not miss a peer waits for the count
    /// it expects, then for [`wait_for_subscribers`](Self::wait_for_subscribers).
    pub fn peers(&self) -> usize {
        self.shared.session.info().peers_zid().wait().count()
    }

    /// What the publisher did so far.
    pub fn publisher_stats(&self) -> PublisherStats {
        self.shared.counters.snapshot()
    }

    /// Closes the session: zenoh writes what it has queued onto the wire,
    /// then leaves. Call it after the host's shutdown (the publisher's
    /// last put) and the sources' shutdown; a publisher still attached
    /// then fails its puts, counted in [`PublisherStats::failed`].
    ///
    /// # Errors
    /// [`LinkError::Zenoh`] if zenoh reports an error while closing.
    pub fn close(self) -> Result<(), LinkError> {
        self.shared.close()
    }
}

impl Shared {
    pub(crate) fn close(&self) -> Result<(), LinkError> {
        let session = self.session.clone();
        on_plain_thread(move || {
            session.close().wait().map_err(|error| LinkError::Zenoh {
                what: "close the session",
                error,
            })
        })
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // zenoh closes a session when its last handle goes, with a blocking
        // call that panics on a tokio current-thread runtime: close it here,
        // on a plain thread. An error has nobody left to hear it.
        let publisher = self.publisher.take();
        let session = self.session.clone();
        let _ = on_plain_thread(move || {
            drop(publisher);
            session.close().wait().map_err(|error| LinkError::Zenoh {
                what: "close",
                error,
            })
        });
    }
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("origin", &self.shared.origin)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

/// Runs `f` on a scoped thread of its own and waits for it: zenoh's
/// blocking calls panic on a tokio current-thread runtime and `close` does
/// not finish under smol, while a fresh thread is in no runtime at all.
/// Used for the rare calls (open, close), never per message.
pub(crate) fn on_plain_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|scope| match scope.spawn(f).join() {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

fn zenoh_config(config: &Config) -> Result<zenoh::Config, LinkError> {
    let mut zenoh = zenoh::Config::default();
    let mut set = |path: &str, json: String, what: &'static str| {
        zenoh
            .insert_json5(path, &json)
            .map_err(|error| LinkError::Zenoh { what, error })
    };
    let mode = match config.mode {
        Mode::Peer => "peer",
        Mode::Client => "client",
    };
    set("mode", json_string(mode), "take the mode")?;
    if !config.listen.is_empty() {
        set(
            "listen/endpoints",
            json_strings(&config.listen),
            "read the listen endpoints",
        )?;
    }
    if !config.connect.is_empty() {
        set(
            "connect/endpoints",
            json_strings(&config.connect),
            "read the connect endpoints",
        )?;
    }
    // A peer retries a silent `connect` endpoint in the background (zenoh's
    // default); the first retry after 100 ms rather than 1 s, so that hosts
    // started together find each other quickly.
    let what = "take the connection settings";
    set(
        "connect/retry",
        "{period_init_ms: 100, period_max_ms: 1000, period_increase_factor: 2}".into(),
        what,
    )?;
    set(
        "scouting/multicast/enabled",
        config.multicast_scouting.to_string(),
        what,
    )?;
    if !config.multicast_scouting {
        set("scouting/delay", "0".into(), what)?;
    }
    Ok(zenoh)
}

fn json_string(text: &str) -> String {
    let mut json = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => json.push_str("\\\""),
            '\\' => json.push_str("\\\\"),
            c if c.is_control() => json.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => json.push(c),
        }
    }
    json.push('"');
    json
}

fn json_strings(texts: &[String]) -> String {
    let items: Vec<String> = texts.iter().map(|t| json_string(t)).collect();
    format!("[{}]", items.join(","))
}

/// Why a link could not do what was asked.
#[derive(Debug)]
#[non_exhaustive]
pub enum LinkError {
    /// zenoh refused; `what` names the step.
    Zenoh {
        /// The step: "open the session", "declare the publisher", a
        /// configuration path, ...
        what: &'static str,
        /// zenoh's error.
        error: zenoh::Error,
    },
    /// The configuration has no key expression for this.
    NoKey,
    /// The link's publisher was already taken.
    PublisherTaken,
    /// The configuration text does not read.
    Config(crate::ConfigError),
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::Zenoh { what, .. } => write!(f, "zenoh could not {what}"),
            LinkError::NoKey => f.write_str("no key expression configured"),
            LinkError::PublisherTaken => f.write_str("the link's publisher was already taken"),
            LinkError::Config(_) => f.write_str("bad configuration"),
        }
    }
}

impl std::error::Error for LinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LinkError::Zenoh { error, .. } => Some(&**error),
            LinkError::Config(error) => Some(error),
            _ => None,
        }
    }
}

impl From<crate::ConfigError> for LinkError {
    fn from(error: crate::ConfigError) -> Self {
        LinkError::Config(error)
    }
}
