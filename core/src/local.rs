//! A host with no threads and no executor: lanes run on the caller's stack.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use crate::dispatch::{Bus, Lane, PluginInfo, Report, Stats, Step};
use crate::error::{AttachError, SendError, TrySendError};
use crate::lifecycle::{Factory, ReplaceError, Replaced, Replacement};
use crate::message::Message;
use crate::plugin::{Plugin, PluginId};
use crate::policy::AttachOptions;
use crate::ring::{Heap, Storage};
use crate::sync::Mutex;

/// The ring capacity hosts use unless told otherwise.
pub const DEFAULT_CAPACITY: usize = 1024;

/// How many messages a lane takes in one turn of [`LocalHost::poll`].
const BATCH: usize = 256;

/// A poll-driven host: no threads, no executor, `no_std` + `alloc`.
///
/// Messages wait in the ring until the caller runs the lanes with
/// [`poll`](LocalHost::poll) or [`run_until_idle`](LocalHost::run_until_idle);
/// each lane then takes everything queued for it, round-robin. When a
/// `Block` plugin is full, [`send`](LocalHost::send) runs the lanes itself to
/// make room. This host is the reference semantics every other host is
/// tested against.
///
/// # Example
/// ```
/// use plugbus_core::{Exit, Flow, LocalHost, Message, Plugin, Status};
///
/// struct Countdown(u32);
///
/// impl Plugin<&'static str> for Countdown {
///     fn handle_message(&mut self, _: &Message<&'static str>) -> Flow {
///         self.0 -= 1;
///         if self.0 == 0 { Flow::Detach(Status::SUCCESS) } else { Flow::Continue }
///     }
/// }
///
/// let mut host = LocalHost::new();
/// host.attach(Countdown(2)).unwrap();
/// for word in ["a", "b", "c"] {
///     host.send(word).unwrap();
/// }
/// host.run_until_idle();
/// let reports = host.shutdown();
/// assert_eq!(reports[0].exit, Exit::Detached(Status::SUCCESS));
/// assert_eq!(reports[0].stats.handled, 2);
/// ```
pub struct LocalHost<M: Send + Sync + 'static, S: Storage<M> = Heap<M>> {
    bus: Arc<Bus<M, S>>,
    /// Locked only by `attach`, so that it takes `&self` as on every host;
    /// everything that runs the lanes takes `&mut self` and reaches them
    /// with `get_mut`, without locking.
    lanes: Mutex<Vec<Lane<M, S>>>,
    reports: Vec<Report>,
    /// Where the next round starts, so no lane always goes first.
    next: usize,
}

impl<M: Send + Sync + 'static> LocalHost<M> {
    /// A host with a ring of [`DEFAULT_CAPACITY`] messages.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    /// A host whose ring holds at least `capacity` messages (rounded up to a power of two, at most
    /// [`MAX_HEAP_CAPACITY`](crate::ring::MAX_HEAP_CAPACITY)).
    pub fn with_capacity(capacity: usize) -> Self {
        Self::with_storage(Heap::with_capacity(capacity))
    }
}

impl<M: Send + Sync + 'static> Default for LocalHost<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: Send + Sync + 'static, S: Storage<M>> LocalHost<M, S> {
    /// A host over the given ring storage, for example
    /// [`Fixed`](crate::ring::Fixed) to size it at compile time.
    pub fn with_storage(storage: S) -> Self {
        LocalHost {
            bus: Bus::new(storage),
            lanes: Mutex::new(Vec::new()),
            reports: Vec::new(),
            next: 0,
        }
    }

    /// How many messages the ring holds.
    pub fn capacity(&self) -> usize {
        self.bus.capacity()
    }

    /// Attaches a plugin with the default options.
    ///
    /// # Errors
    /// See [`attach_with`](LocalHost::attach_with).
    pub fn attach(&self, plugin: impl Plugin<M>) -> Result<PluginId, AttachError> {
        self.attach_with(plugin, AttachOptions::new())
    }

    /// Attaches an [`AsyncPlugin`](crate::AsyncPlugin): the same as
    /// `attach(Async::new(plugin))` (see [`Async`](crate::Async)); with
    /// options, or supervised, attach an `Async` with those calls. [`poll`]
    /// polls its handler's future with a waker that marks the lane ready,
    /// and skips the lane until then: no executor needed.
    ///
    /// [`poll`]: LocalHost::poll
    ///
    /// # Example
    /// ```
    /// use plugbus_core::{AsyncPlugin, Flow, LocalHost, Message};
    ///
    /// struct Sum(u64);
    /// impl AsyncPlugin<u64> for Sum {
    ///     async fn handle_message(&mut self, message: &Message<u64>) -> Flow {
    ///         self.0 += **message;
    ///         Flow::Continue
    ///     }
    /// }
    ///
    /// let mut host = LocalHost::new();
    /// host.attach_async(Sum(0)).unwrap();
    /// host.send(1).unwrap();
    /// assert_eq!(host.shutdown()[0].stats.handled, 1);
    /// ```
    ///
    /// # Errors
    /// See [`attach_with`](LocalHost::attach_with).
    pub fn attach_async(
        &self,
        plugin: impl crate::AsyncPlugin<M>,
    ) -> Result<PluginId, AttachError> {
        self.attach(crate::Async::new(plugin))
    }

    /// Attaches a plugin; it sees exactly the messages sent after this.
    ///
    /// # Errors
    /// [`AttachError::Capacity`] for a capacity the ring cannot give.
    pub fn attach_with(
        &self,
        plugin: impl Plugin<M>,
        options: AttachOptions,
    ) -> Result<PluginId, AttachError> {
        let lane = self.bus.attach(plugin, options)?;
        let id = lane.id();
        self.lanes.lock().push(lane);
        Ok(id)
    }

    /// Attaches a supervised plugin: `factory` builds its first instance now
    /// and a fresh one each time its lane restarts it, as `options` say
    /// ([`restart`](AttachOptions::restart),
    /// [`intensity`](AttachOptions::intensity),
    /// [`backoff`](AttachOptions::backoff)). The message whose handling
    /// panicked is not handed to the new instance (it is counted as
    /// dead-lettered); every other message is, in order.
    ///
    /// Restarting after a panic needs the `std` feature, which catches it
    /// (on a target that unwinds); without it a panic is not caught, and
    /// only [`Restart::Always`](crate::lifecycle::Restart::Always)'s
    /// restart after a failure status applies.
    ///
    /// # Example
    /// ```
    /// use plugbus_core::lifecycle::Restart;
    /// use plugbus_core::{AttachOptions, Flow, LocalHost, Message, Plugin};
    ///
    /// struct Parse;
    /// impl Plugin<&'static str> for Parse {
    ///     fn handle_message(&mut self, m: &Message<&'static str>) -> Flow {
    ///         let _: u32 = m.parse().expect("a number");
    ///         Flow::Continue
    ///     }
    /// }
    ///
    /// let mut host = LocalHost::new();
    /// let options = AttachOptions::new().restart(Restart::OnPanic);
    /// host.attach_supervised(|| Parse, options).unwrap();
    /// host.send_batch(["1", "two", "3"]).unwrap();
    /// let reports = host.shutdown();
    /// let stats = reports[0].stats;
    /// assert_eq!((stats.handled, stats.dead_lettered, stats.restarts), (2, 1, 1));
    /// assert!(reports[0].panics[0].contains("a number"));
    /// ```
    ///
    /// # Errors
    /// As [`attach_with`](LocalHost::attach_with);
    /// [`AttachError::Factory`] if the factory could not build the first
    /// instance.
    pub fn attach_supervised(
        &self,
        factory: impl Factory<M>,
        options: AttachOptions,
    ) -> Result<PluginId, AttachError> {
        let lane = self.bus.attach_supervised(factory, options)?;
        let id = lane.id();
        self.lanes.lock().push(lane);
        Ok(id)
    }

    /// Replaces a plugin's instance with `plugin`, now: no lane runs while
    /// this host is borrowed, so the swap falls between two batches, and
    /// messages already sent go to the new instance, in order. The old
    /// instance hands over its state ([`Plugin::export_state`]) and hears
    /// `on_detach(Exit::Replaced)`; the new one takes the state, then
    /// `on_attach` with the same id.
    ///
    /// # Example
    /// ```
    /// use plugbus_core::{Flow, LocalHost, Message, Plugin};
    ///
    /// struct Version(u32);
    /// impl Plugin<u32> for Version {
    ///     fn handle_message(&mut self, _: &Message<u32>) -> Flow { Flow::Continue }
    /// }
    ///
    /// let mut host = LocalHost::new();
    /// let id = host.attach(Version(1)).unwrap();
    /// host.send(1).unwrap();
    /// host.replace(id, Version(2)).unwrap();
    /// host.send(2).unwrap();
    /// let reports = host.shutdown();
    /// assert_eq!((reports[0].stats.handled, reports[0].stats.replaced), (2, 1));
    /// ```
    ///
    /// # Errors
    /// [`ReplaceError::NotAttached`] if no such plugin is attached;
    /// [`ReplaceError::Panicked`] if the new instance panicked as it
    /// started (the old one runs on).
    pub fn replace(&self, id: PluginId, plugin: impl Plugin<M>) -> Result<Replaced, ReplaceError> {
        self.replace_with(id, Replacement::new(plugin))
    }

    /// [`replace`](LocalHost::replace) with a new factory for later
    /// restarts, or a rollback (see [`Replacement`]).
    ///
    /// # Errors
    /// As [`replace`](LocalHost::replace).
    pub fn replace_with(
        &self,
        id: PluginId,
        replacement: Replacement<M>,
    ) -> Result<Replaced, ReplaceError> {
        let mut lanes = self.lanes.lock();
        match lanes.iter_mut().find(|lane| lane.id() == id) {
            Some(lane) => lane.replace_now(replacement),
            None => Err(ReplaceError::NotAttached(id)),
        }
    }

    /// Sends a message to every plugin. If a `Block` plugin is full, runs the
    /// lanes until it has room.
    ///
    /// # Errors
    /// [`SendError::Rejected`] if a `Reject` plugin is full.
    pub fn send(&mut self, value: M) -> Result<(), SendError<M>> {
        let bus = self.bus.clone();
        bus.send_with(value, |_| {
            self.poll();
        })
    }

    /// Sends a message if every `Block` plugin has room, without running
    /// any lane.
    ///
    /// # Errors
    /// [`TrySendError::Full`] if a `Block` plugin is full, or the
    /// [`SendError`] of [`send`](LocalHost::send).
    pub fn try_send(&self, value: M) -> Result<(), TrySendError<M>> {
        self.bus.try_send(value)
    }

    /// Sends many messages in order, publishing as many as the ring takes at
    /// once; when a `Block` plugin is full, runs the lanes until it has
    /// room. Returns how many were sent.
    ///
    /// # Example
    /// ```
    /// use plugbus_core::{Flow, LocalHost, Message, Plugin};
    ///
    /// struct Count;
    /// impl Plugin<u32> for Count {
    ///     fn handle_message(&mut self, _: &Message<u32>) -> Flow {
    ///         Flow::Continue
    ///     }
    /// }
    ///
    /// let mut host = LocalHost::with_capacity(8);
    /// host.attach(Count).unwrap();
    /// // More than the ring holds: the lanes run in between.
    /// assert_eq!(host.send_batch(0..20).unwrap(), 20);
    /// assert_eq!(host.shutdown()[0].stats.handled, 20);
    /// ```
    ///
    /// # Errors
    /// [`SendError::Rejected`] if a `Reject` plugin is full, with the values
    /// not sent, in order; every value before them was sent.
    pub fn send_batch(
        &mut self,
        values: impl IntoIterator<Item = M>,
    ) -> Result<usize, SendError<Vec<M>>> {
        let mut batch: VecDeque<Message<M>> = values.into_iter().map(Message::new).collect();
        let count = batch.len();
        let bus = self.bus.clone();
        bus.send_batch_with(&mut batch, |_| {
            self.poll();
        })?;
        Ok(count)
    }

    /// Asks every plugin a question and collects the answers, each with
    /// its plugin's id, for at most `timeout` (see [`ask`](crate::ask) for
    /// who is waited for). `make` puts the
    /// [`Request`](crate::ask::Request) into a message, sent as
    /// [`send`](LocalHost::send) sends. The lanes run on this thread
    /// meanwhile; it sleeps only while they are idle and a plugin still
    /// owes an answer from elsewhere (a
    /// [`Responder`](crate::ask::Responder) on another thread).
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// use plugbus_core::ask::Request;
    /// use plugbus_core::{Flow, LocalHost, Message, Plugin, PluginId};
    ///
    /// struct Name(&'static str, Option<PluginId>);
    /// impl Plugin<Request<(), &'static str>> for Name {
    ///     fn on_attach(&mut self, id: PluginId) {
    ///         self.1 = Some(id);
    ///     }
    ///     fn handle_message(&mut self, request: &Message<Request<(), &'static str>>) -> Flow {
    ///         let _ = request.answer(self.1.unwrap(), self.0);
    ///         Flow::Continue
    ///     }
    /// }
    ///
    /// let mut host = LocalHost::new();
    /// host.attach(Name("a", None)).unwrap();
    /// host.attach(Name("b", None)).unwrap();
    /// let answers = host.ask(|request| request, (), Duration::from_secs(1)).unwrap();
    /// let mut names: Vec<_> = answers.iter().map(|answer| **answer).collect();
    /// names.sort();
    /// assert_eq!(names, ["a", "b"]);
    /// ```
    ///
    /// # Errors
    /// As [`send`](LocalHost::send), with the message `make` made.
    #[cfg(feature = "std")]
    pub fn ask<Q, A: Send + Sync + 'static>(
        &mut self,
        make: impl FnOnce(crate::ask::Request<Q, A>) -> M,
        question: Q,
        timeout: core::time::Duration,
    ) -> Result<crate::ask::Answers<A>, SendError<M>> {
        extern crate std;
        let deadline = std::time::Instant::now().checked_add(timeout);
        let (asking, message) = crate::ask::Asking::new(&self.bus, make, question, deadline);
        let bus = self.bus.clone();
        crate::ask::send_with(&bus, message, |_| {
            self.poll();
        })?;
        while !asking.is_done() {
            if self.poll() == 0 && !self.lanes.get_mut().iter().any(Lane::has_work) {
                asking.wait_blocking();
            }
        }
        Ok(asking.finish())
    }

    /// [`ask`](LocalHost::ask) where there is no clock of the standard
    /// library: runs the lanes until every plugin asked has settled or
    /// `expired` (checked between turns of the lanes) says time is up.
    ///
    /// # Errors
    /// As [`send`](LocalHost::send), with the message `make` made.
    pub fn ask_until<Q, A: Send + Sync + 'static>(
        &mut self,
        make: impl FnOnce(crate::ask::Request<Q, A>) -> M,
        question: Q,
        mut expired: impl FnMut() -> bool,
    ) -> Result<crate::ask::Answers<A>, SendError<M>> {
        let (asking, message) = crate::ask::Asking::new(&self.bus, make, question, None);
        let bus = self.bus.clone();
        crate::ask::send_with(&bus, message, |_| {
            self.poll();
        })?;
        while !asking.is_done() && !expired() {
            self.poll();
        }
        Ok(asking.finish())
    }

    /// Runs every lane once, round-robin: each takes what is queued for it
    /// (up to a batch). Returns how many messages the lanes took.
    pub fn poll(&mut self) -> usize {
        let lanes = self.lanes.get_mut();
        let n = lanes.len();
        let mut taken = 0;
        let mut done = Vec::new();
        for k in 0..n {
            let i = (self.next + k) % n;
            match lanes[i].run(BATCH) {
                Step::Ran(count) => taken += count,
                // A lane waiting to restart runs again on a later poll.
                Step::Idle | Step::Wait(_) => {}
                Step::Done => done.push(i),
            }
        }
        if n > 0 {
            self.next = (self.next + 1) % n;
        }
        done.sort_unstable();
        for i in done.into_iter().rev() {
            let lane = lanes.remove(i);
            self.reports.push(lane.finish());
        }
        taken
    }

    /// Polls until no lane has anything left to take. Returns how many
    /// messages the lanes took.
    pub fn run_until_idle(&mut self) -> usize {
        let mut total = 0;
        loop {
            let taken = self.poll();
            total += taken;
            if taken == 0 && !self.lanes.get_mut().iter().any(Lane::has_work) {
                return total;
            }
        }
    }

    /// Asks a plugin to leave before its next message; its report comes with
    /// [`shutdown`](LocalHost::shutdown). Returns false if it is not attached.
    pub fn detach(&self, id: PluginId) -> bool {
        self.bus.detach(id)
    }

    /// A snapshot of an attached plugin's counters.
    pub fn stats(&self, id: PluginId) -> Option<Stats> {
        self.bus.stats(id)
    }

    /// Every attached plugin with its counters.
    pub fn plugins(&self) -> Vec<PluginInfo> {
        self.bus.plugins()
    }

    /// Closes the host, lets every plugin drain what was sent to it, and
    /// returns one report per plugin ever attached, by id.
    pub fn shutdown(mut self) -> Vec<Report> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> Vec<Report> {
        self.bus.close();
        while !self.lanes.get_mut().is_empty() {
            self.poll();
        }
        let mut reports = core::mem::take(&mut self.reports);
        reports.sort_by_key(|r| r.id);
        reports
    }
}

impl<M: Send + Sync + 'static, S: Storage<M>> Drop for LocalHost<M, S> {
    /// Dropping the host drains it like [`shutdown`](LocalHost::shutdown),
    /// so no message sent under `Block` is lost; the reports are discarded.
    fn drop(&mut self) {
        self.bus.close();
        let lanes = self.lanes.get_mut();
        while !lanes.is_empty() {
            let mut i = 0;
            while i < lanes.len() {
                if lanes[i].run(BATCH) == Step::Done {
                    drop(lanes.remove(i).finish());
                } else {
                    i += 1;
                }
            }
        }
    }
}

impl<M: Send + Sync + 'static, S: Storage<M>> fmt::Debug for LocalHost<M, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalHost")
            .field("bus", &self.bus)
            .field("lanes", &self.lanes.lock().len())
            .finish_non_exhaustive()
    }
}
