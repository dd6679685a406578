//! [`Source`]: a thread that subscribes and sends what arrives into a host.

use core::fmt;
use core::marker::PhantomData;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use plugbus_core::SendError;
use serde::de::DeserializeOwned;
use zenoh::Wait;
use zenoh::sample::Sample;

use crate::link::{LinkError, Shared};
use crate::net::Net;
use crate::window::{Verdict, Window};
use crate::wire::{self, DecodeError, Kind, Origin};

/// Samples zenoh may hand over before the source has taken them: when it
/// is full, zenoh's receiving task waits, which under `Block` slows the
/// publisher instead of losing anything.
const QUEUE: usize = 4096;
/// The most messages handed to the host in one batch.
const BATCH: usize = 256;
/// How often an idle source looks at its stop flag.
const IDLE_CHECK: Duration = Duration::from_millis(20);
/// How long shutdown waits for zenoh to let go of the subscription's
/// callback (it hands over what it had first).
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// Where a source sends what arrives: the host's normal send, called on the
/// source's own thread, which it may block.
///
/// Implemented for closures returning what every host's `send_batch`
/// returns (how many it sent, or the values it did not take), and for
/// `std::sync::mpsc::SyncSender` (a queue a `LocalHost`'s loop drains).
/// A [`SendError::Closed`] stops the source; a [`SendError::Rejected`]
/// (the `Reject` overflow policy) is counted and the source goes on.
pub trait Deliver<M>: Send + 'static {
    /// Sends `batch` in order; returns how many were sent.
    ///
    /// # Errors
    /// The host's [`SendError`], with the values it did not take.
    fn deliver(&mut self, batch: Vec<M>) -> Result<usize, SendError<Vec<M>>>;
}

impl<M, F> Deliver<M> for F
where
    F: FnMut(Vec<M>) -> Result<usize, SendError<Vec<M>>> + Send + 'static,
{
    fn deliver(&mut self, batch: Vec<M>) -> Result<usize, SendError<Vec<M>>> {
        self(batch)
    }
}

impl<M: Send + 'static> Deliver<M> for SyncSender<M> {
    fn deliver(&mut self, batch: Vec<M>) -> Result<usize, SendError<Vec<M>>> {
        let count = batch.len();
        let mut values = batch.into_iter();
        while let Some(value) = values.next() {
            if let Err(unsent) = self.send(value) {
                let mut rest = vec![unsent.0];
                rest.extend(values);
                return Err(SendError::Closed(rest));
            }
        }
        Ok(count)
    }
}

/// A subscription that sends what arrives into a host, from a thread of its
/// own: in arrival order, each (origin, sequence) once, never this link's
/// own origin, and never a frame that does not decode (counted, with the
/// last error kept).
///
/// Made by [`Link::source`](crate::Link::source).
pub struct Source<T> {
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    _message: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned + Send + 'static> Source<T> {
    pub(crate) fn spawn<D: Deliver<Net<T>>>(
        shared: Arc<Shared>,
        deliver: D,
    ) -> Result<Self, LinkError> {
        let Some(key) = shared
            .config
            .subscribe
            .clone()
            .or_else(|| shared.config.key.clone())
        else {
            return Err(LinkError::NoKey);
        };
        let (queue, samples) = std::sync::mpsc::sync_channel::<Sample>(QUEUE);
        let subscriber = shared
            .session
            .declare_subscriber(key.clone())
            // The link's own publisher never puts to it (see `Link::open`).
            .allowed_origin(zenoh::sample::Locality::Remote)
            .callback(move |sample| {
                // Waits while the source is behind; fails only once the
                // source is gone, when nobody wants the sample.
                let _ = queue.send(sample);
            })
            .wait()
            .map_err(|error| LinkError::Zenoh {
                what: "declare the subscriber",
                error,
            })?;
        // Answers a publisher's flush (see `Publisher::on_detach`): zenoh
        // hands a query over after every sample that came before it on the
        // same connection, so the answer tells the publisher that all it
        // put has reached this source's queue.
        let flush = shared
            .session
            .declare_queryable(key)
            .allowed_origin(zenoh::sample::Locality::Remote)
            .callback(|query| {
                if query.parameters().contains_key(crate::publisher::FLUSH) {
                    let _ = query
                        .reply(query.key_expr().clone(), Vec::<u8>::new())
                        .wait();
                }
            })
            .wait()
            .map_err(|error| LinkError::Zenoh {
                what: "declare the flush queryable",
                error,
            })?;
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let run = Run {
            flush: Some(flush),
            own: shared.origin,
            _session: shared,
            subscriber: Some(subscriber),
            samples,
            deliver,
            state: Arc::clone(&state),
            stop: Arc::clone(&stop),
            host_closed: false,
            _message: PhantomData::<fn() -> T>,
        };
        let thread = std::thread::Builder::new()
            .name("plugbus-zenoh-source".into())
            .spawn(move || run.run())
            .map_err(|error| LinkError::Zenoh {
                what: "start the source thread",
                error: Box::new(error),
            })?;
        Ok(Source {
            state,
            stop,
            thread: Some(thread),
            _message: PhantomData,
        })
    }
}

impl<T> Source<T> {
    /// What the source has done so far.
    pub fn stats(&self) -> SourceStats {
        lock(&self.state).snapshot()
    }

    /// Waits until `done` holds for the stats, or `timeout` passes.
    ///
    /// # Errors
    /// The last stats, boxed, when `timeout` passed first.
    pub fn wait_until(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&SourceStats) -> bool,
    ) -> Result<SourceStats, Box<SourceStats>> {
        let deadline = Instant::now() + timeout;
        loop {
            let stats = self.stats();
            if done(&stats) {
                return Ok(stats);
            }
            if Instant::now() >= deadline {
                return Err(Box::new(stats));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Stops subscribing, sends into the host whatever zenoh had already
    /// handed over, and returns the final stats. Call it before the host's
    /// shutdown, or what is still queued finds the host closed (counted as
    /// undelivered).
    pub fn shutdown(mut self) -> SourceStats {
        self.stop_and_join();
        lock(&self.state).snapshot()
    }

    fn stop_and_join(&mut self) {
        // ORDERING: the flag carries no data; the join below is the
        // synchronisation that matters.
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                lock(&self.state).last_error = Some(SourceError::Panicked);
            }
        }
    }
}

impl<T> Drop for Source<T> {
    /// Stops the source without waiting for its thread (which may be
    /// waiting on a host that no longer runs); [`Source::shutdown`] waits.
    fn drop(&mut self) {
        // ORDERING: see `stop_and_join`.
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl<T> fmt::Debug for Source<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("stats", &self.stats())
            .finish()
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while counting leaves counts that are still counts.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The source's thread.
struct Run<T, D> {
    own: Origin,
    /// Keeps the session open while the source subscribes.
    _session: Arc<Shared>,
    subscriber: Option<zenoh::pubsub::Subscriber<()>>,
    flush: Option<zenoh::query::Queryable<()>>,
    samples: Receiver<Sample>,
    deliver: D,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    host_closed: bool,
    _message: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned + Send + 'static, D: Deliver<Net<T>>> Run<T, D> {
    fn run(mut self) {
        let mut arrived = Vec::with_capacity(BATCH);
        let mut drain_until = None;
        loop {
            match self.samples.recv_timeout(IDLE_CHECK) {
                Ok(sample) => arrived.push(sample),
                Err(RecvTimeoutError::Timeout) => {}
                // Unsubscribed and zenoh let go of the callback: all that
                // it handed over has been taken.
                Err(RecvTimeoutError::Disconnected) => break,
            }
            while arrived.len() < BATCH {
                match self.samples.try_recv() {
                    Ok(sample) => arrived.push(sample),
                    Err(_) => break,
                }
            }
            if !arrived.is_empty() {
                self.hand_over(&mut arrived);
            }
            // ORDERING: see `Source::stop_and_join`.
            if (self.host_closed || self.stop.load(Ordering::Relaxed)) && self.subscriber.is_some()
            {
                self.unsubscribe();
                drain_until = Some(Instant::now() + DRAIN_LIMIT);
            }
            if drain_until.is_some_and(|limit| Instant::now() >= limit) {
                lock(&self.state).last_error = Some(SourceError::DrainTimedOut);
                break;
            }
        }
    }

    fn unsubscribe(&mut self) {
        if let Some(flush) = self.flush.take() {
            let _ = flush.undeclare().wait();
        }
        if let Some(subscriber) = self.subscriber.take() {
            if let Err(error) = subscriber.undeclare().wait() {
                lock(&self.state).last_error = Some(SourceError::Unsubscribe(error.to_string()));
            }
        }
    }

    fn hand_over(&mut self, arrived: &mut Vec<Sample>) {
        let batch: Vec<Net<T>> = {
            let mut state = lock(&self.state);
            arrived
                .drain(..)
                .filter_map(|sample| state.accept(self.own, &sample))
                .collect()
        };
        if batch.is_empty() {
            return;
        }
        if self.host_closed {
            lock(&self.state).undelivered += batch.len() as u64;
            return;
        }
        let count = batch.len() as u64;
        let unsent = match self.deliver.deliver(batch) {
            Ok(sent) => count - sent as u64,
            Err(SendError::Closed(rest)) => {
                self.host_closed = true;
                rest.len() as u64
            }
            Err(error) => error.into_inner().len() as u64,
        };
        let mut state = lock(&self.state);
        state.delivered += count - unsent;
        state.undelivered += unsent;
        if self.host_closed {
            state.last_error = Some(SourceError::HostClosed);
        }
    }
}

/// Everything the source counts; one lock per batch.
#[derive(Debug, Default)]
struct State {
    origins: HashMap<Origin, OriginState>,
    delivered: u64,
    undelivered: u64,
    echoes: u64,
    malformed: u64,
    last_error: Option<SourceError>,
}

#[derive(Debug)]
struct OriginState {
    window: Window,
    first: u64,
    taken: u64,
    duplicates: u64,
    ended: bool,
}

impl State {
    fn accept<T: DeserializeOwned>(&mut self, own: Origin, sample: &Sample) -> Option<Net<T>> {
        let bytes = sample.payload().to_bytes();
        let decoded = wire::decode_header(&bytes).and_then(|(kind, header, payload)| {
            if header.origin == own {
                return Ok(None);
            }
            match kind {
                Kind::End if payload.is_empty() => Ok(Some((header, None))),
                Kind::End => Err(DecodeError::TrailingBytes {
                    header,
                    count: payload.len(),
                }),
                Kind::Message => {
                    let value = wire::decode_payload::<T>(header, payload)?;
                    Ok(Some((header, Some(value))))
                }
            }
        });
        match decoded {
            Ok(None) => {
                self.echoes += 1;
                None
            }
            Ok(Some((header, value))) => {
                let origin = self
                    .origins
                    .entry(header.origin)
                    .or_insert_with(|| OriginState {
                        window: Window::starting_at(header.sequence),
                        first: header.sequence,
                        taken: 0,
                        duplicates: 0,
                        ended: false,
                    });
                let Some(value) = value else {
                    origin.window.end_at(header.sequence);
                    origin.ended = true;
                    return None;
                };
                match origin.window.arrive(header.sequence) {
                    Verdict::Take => {
                        origin.taken += 1;
                        Some(Net::remote(header, value))
                    }
                    Verdict::Repeat => {
                        origin.duplicates += 1;
                        None
                    }
                }
            }
            Err(error) => {
                self.malformed += 1;
                self.last_error = Some(SourceError::Malformed {
                    key: sample.key_expr().as_str().to_owned(),
                    error,
                });
                None
            }
        }
    }

    fn snapshot(&self) -> SourceStats {
        let mut origins: Vec<OriginStats> = self
            .origins
            .iter()
            .map(|(origin, state)| OriginStats {
                origin: *origin,
                first: state.first,
                end: state.window.end(),
                taken: state.taken,
                duplicates: state.duplicates,
                gaps: state.window.missing(),
                ended: state.ended,
            })
            .collect();
        origins.sort_by_key(|o| o.origin);
        SourceStats {
            delivered: self.delivered,
            undelivered: self.undelivered,
            echoes: self.echoes,
            duplicates: origins.iter().map(|o| o.duplicates).sum(),
            gaps: origins.iter().map(|o| o.gaps).sum(),
            malformed: self.malformed,
            origins,
            last_error: self.last_error.clone(),
        }
    }
}

/// What a source has done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SourceStats {
    /// Messages sent into the host.
    pub delivered: u64,
    /// Messages the host did not take (closed, or refused by `Reject`).
    pub undelivered: u64,
    /// Frames of this link's own origin, not sent into the host: no echo.
    pub echoes: u64,
    /// Repeated (origin, sequence) frames dropped: no duplicates.
    pub duplicates: u64,
    /// Sequence numbers missing so far below the highest one seen (or an
    /// origin's end), over every origin: lost upstream (zenoh's `Drop`,
    /// a relay that went away), or still late on another path.
    pub gaps: u64,
    /// Frames that did not decode; the last one's error is in `last_error`.
    pub malformed: u64,
    /// Per origin, in origin order.
    pub origins: Vec<OriginStats>,
    /// The last thing that went wrong.
    pub last_error: Option<SourceError>,
}

/// What a source has seen of one origin.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OriginStats {
    /// The origin.
    pub origin: Origin,
    /// The first sequence number heard: a source that joins late starts
    /// there, and what came before is not counted as a gap.
    pub first: u64,
    /// The highest sequence number heard plus one, or the count the
    /// origin's end frame gave.
    pub end: u64,
    /// Messages taken (each sequence number once).
    pub taken: u64,
    /// Repeats dropped.
    pub duplicates: u64,
    /// Sequence numbers between `first` and `end` that never came (so far).
    pub gaps: u64,
    /// Whether the origin's end frame arrived.
    pub ended: bool,
}

/// Something a source met and went on from (or stopped at, for
/// `HostClosed`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SourceError {
    /// A sample on `key` was not a frame of the message type.
    Malformed {
        /// The key expression it arrived on.
        key: String,
        /// Why it did not decode.
        error: DecodeError,
    },
    /// The host was shut down while the source still delivered.
    HostClosed,
    /// zenoh did not let go of the subscription within the drain limit;
    /// what it held then was not delivered.
    DrainTimedOut,
    /// zenoh failed to undeclare the subscription.
    Unsubscribe(String),
    /// The source's thread panicked (a bug in this crate or in `Deliver`).
    Panicked,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceError::Malformed { key, .. } => write!(f, "malformed frame on {key}"),
            SourceError::HostClosed => f.write_str("the host closed while the source delivered"),
            SourceError::DrainTimedOut => {
                f.write_str("zenoh held the subscription past the drain limit")
            }
            SourceError::Unsubscribe(error) => {
                write!(f, "undeclaring the subscriber failed: {error}")
            }
            SourceError::Panicked => f.write_str("the source thread panicked"),
        }
    }
}

impl std::error::Error for SourceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SourceError::Malformed { error, .. } => Some(error),
            _ => None,
        }
    }
}
