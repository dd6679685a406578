//! A lane: one plugin's place on the bus and the loop step a host runs to
//! feed it.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::Arc;
use core::fmt;
use core::task::Waker;

use super::bus::Bus;
use super::guard::guard;
use super::runner::Runner;
use super::shared::LaneShared;
use super::stats::{Local, Report, Stats};
use crate::ask::Delivery;
use crate::message::Message;
use crate::plugin::{Exit, Flow, Plugin, PluginId};
use crate::ring::{Cursor, Heap, Storage};

/// One attached plugin and its place on the bus. A host runs
/// [`run`](Lane::run) on the lane's thread, task or poll slot; calls are
/// sequential, so the plugin needs no lock.
///
/// A lane that runs out of work calls [`prepare_sleep`](Lane::prepare_sleep)
/// and, if it returns true, sleeps until the waker it gave is woken.
///
/// The lane's place (its cursor or queue, its policy and counters) is apart
/// from the plugin it runs, which it holds behind one call per batch.
pub struct Lane<M: Send + Sync + 'static, S: Storage<M> = Heap<M>> {
    bus: Arc<Bus<M, S>>,
    place: Place<M>,
    /// `None` once the plugin has left.
    runner: Option<Box<dyn Runner<M>>>,
    local: Local,
    started: bool,
    exit: Option<Exit>,
    /// Boxed, like `batch`: a lane lives inside every plugin's task, so its
    /// size is part of what an idle plugin costs.
    panic: Option<Box<str>>,
    /// Lossy lanes move a batch here to handle it outside the queue lock;
    /// ring lanes never allocate it.
    #[allow(clippy::box_collection)] // 8 bytes in every lane instead of 32
    batch: Option<Box<VecDeque<Message<M>>>>,
}

/// Where a lane reads: the ring through its cursor, or a queue of its own.
enum Place<M: Send + Sync + 'static> {
    /// `Block` and `Reject`: the cursor holds the shared record.
    Ring(Cursor<LaneShared<M>>),
    /// `DropOldest` and `DropNewest`.
    Queue(Arc<LaneShared<M>>),
}

/// What one [`Lane::run`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Took this many messages (maybe 0 while the host shuts down).
    Ran(usize),
    /// Nothing to do: the lane may sleep.
    Idle,
    /// The plugin has exited; call [`Lane::finish`] for its report.
    Done,
}

impl<M: Send + Sync + 'static, S: Storage<M>> Lane<M, S> {
    pub(crate) fn new<P: Plugin<M>>(
        bus: Arc<Bus<M, S>>,
        shared: Arc<LaneShared<M>>,
        cursor: Option<Cursor<LaneShared<M>>>,
        plugin: P,
    ) -> Self {
        let place = match cursor {
            Some(cursor) => Place::Ring(cursor),
            None => Place::Queue(shared),
        };
        Lane {
            bus,
            place,
            runner: Some(Box::new(plugin)),
            local: Local::default(),
            started: false,
            exit: None,
            panic: None,
            batch: None,
        }
    }

    fn shared(&self) -> &Arc<LaneShared<M>> {
        match &self.place {
            Place::Ring(cursor) => cursor.owner(),
            Place::Queue(shared) => shared,
        }
    }

    /// The plugin's id.
    pub fn id(&self) -> PluginId {
        self.shared().id
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.shared().name
    }

    /// Handles up to `max` available messages as one batch, then publishes
    /// the lane's position once.
    pub fn run(&mut self, max: usize) -> Step {
        if self.exit.is_some() {
            return Step::Done;
        }
        if !self.started {
            self.started = true;
            let id = self.id();
            let runner = self
                .runner
                .as_mut()
                .expect("a lane that has not exited has its plugin");
            if let Err(panic) = guard(|| runner.plugin().on_attach(id)) {
                self.fail_in_hook(panic);
                return Step::Done;
            }
        }
        let taken = match self.place {
            Place::Ring(_) => self.run_ring(max.max(1)),
            Place::Queue(_) => self.run_queue(max.max(1)),
        };
        if self.exit.is_some() {
            return Step::Done;
        }
        if taken > 0 {
            return Step::Ran(taken);
        }
        // Closed and nothing claimed left to read: done. Something claimed
        // but not published yet is waited for like any message.
        if self.bus.is_closed() && !self.has_pending() {
            self.exit(Exit::Shutdown);
            return Step::Done;
        }
        Step::Idle
    }

    fn run_ring(&mut self, max: usize) -> usize {
        // The head before the detach flag, and no further: a lane that does
        // not see the flag reads only messages claimed before the detach
        // (see the ring's notes on detach).
        let end = self.bus.ring.head();
        if self.shared().detach_requested() {
            self.exit(Exit::Removed);
            return 0;
        }
        let Place::Ring(cursor) = &mut self.place else {
            return 0;
        };
        let ahead = cursor.pos().until(end);
        if ahead == 0 {
            return 0;
        }
        self.local.lag_max = self.local.lag_max.max(ahead);
        let id = cursor.owner().id;
        let shared = cursor.owner().clone();
        let runner = self
            .runner
            .as_mut()
            .expect("a lane that has not exited has its plugin");
        let local = &mut self.local;
        let mut batch = self.bus.ring.batch(cursor, end, max);
        // After the batch's Acquire loads of its stamps: sees every question
        // in the batch (see `crate::ask`'s reply object).
        let questions = crate::ask::questions_live().then_some(id);
        // One guard for the whole batch rather than one per message: the
        // loop stays tight, and the batch and the counters say where a
        // panic struck.
        let outcome = guard(|| runner.run_ring(&mut batch, local, questions));
        if let (Err(panic), Some(id)) = (&outcome, questions) {
            if let Some(message) = batch.last() {
                message.delivered(id, Delivery::Panicked(panic));
            }
        }
        let taken = batch.commit();
        shared.counters.publish(&self.local);
        self.settle(outcome);
        taken
    }

    fn run_queue(&mut self, max: usize) -> usize {
        let Place::Queue(shared) = &self.place else {
            return 0;
        };
        let shared = shared.clone();
        let Some(queue) = &shared.queue else {
            return 0;
        };
        {
            let mut queue = queue.lock();
            self.local.lag_max = self.local.lag_max.max(queue.len());
            let n = queue.len().min(max);
            self.batch
                .get_or_insert_with(Box::default)
                .extend(queue.drain(..n));
        }
        if shared.detach_requested() {
            // Taken from the queue, never delivered: sent while the plugin
            // was attached, so counted as dropped (the rest of the queue is
            // counted when the lane leaves the bus).
            if let Some(batch) = &mut self.batch {
                shared.counters.add_dropped(batch.len());
                batch.clear();
            }
            self.exit(Exit::Removed);
            return 0;
        }
        let id = shared.id;
        let runner = self
            .runner
            .as_mut()
            .expect("a lane that has not exited has its plugin");
        let local = &mut self.local;
        let batch = self.batch.get_or_insert_with(Box::default);
        let received = local.received;
        // After the queue's lock: sees every question in the batch.
        let questions = crate::ask::questions_live().then_some(id);
        let outcome = guard(|| runner.run_queue(batch, local, questions));
        if let (Err(panic), Some(id)) = (&outcome, questions) {
            if let Some(message) = batch.front() {
                message.delivered(id, Delivery::Panicked(panic));
            }
        }
        let taken = self.local.received - received;
        // Messages after a detach or panic are not delivered.
        batch.clear();
        shared.counters.publish(&self.local);
        self.settle(outcome);
        taken
    }

    fn settle(&mut self, outcome: Result<Flow, String>) {
        match outcome {
            Ok(Flow::Continue) => {}
            Ok(Flow::Detach(status)) => self.exit(Exit::Detached(status)),
            Err(panic) => self.fail(panic),
        }
    }

    /// Whether messages were sent that this lane has not taken: published,
    /// or claimed by a sender that has not published (or fed) them yet.
    fn has_pending(&self) -> bool {
        let head = self.bus.ring.head();
        match &self.place {
            Place::Ring(cursor) => cursor.pos() != head,
            Place::Queue(shared) => {
                shared.queue.as_ref().is_some_and(|q| !q.lock().is_empty())
                    || self.bus.ring.fed() != head
            }
        }
    }

    /// Whether [`run`](Lane::run) has something to do: a message to take,
    /// a detach request, or a shutdown with nothing left to wait for.
    /// Reads with SeqCst: it is the lane's check for work in the sleep
    /// handshake.
    pub fn has_work(&self) -> bool {
        self.exit.is_some()
            || !self.started
            || self.shared().detach_requested()
            || self.has_ready_messages()
            || (self.bus.is_closed() && !self.has_pending())
    }

    /// Whether a message is there to take now (published, or queued).
    fn has_ready_messages(&self) -> bool {
        match &self.place {
            Place::Ring(cursor) => self.bus.ring.is_published(cursor.pos()),
            Place::Queue(shared) => shared.queue.as_ref().is_some_and(|q| !q.lock().is_empty()),
        }
    }

    /// Registers `waker`, sets the lane's sleep bit, then checks for work
    /// again. Returns true if the lane may sleep: whoever publishes a
    /// message for it, closes the host or detaches it next wakes `waker`.
    /// Returns false (bit cleared) if work arrived meanwhile.
    pub fn prepare_sleep(&self, waker: &Waker) -> bool {
        let shared = self.shared();
        self.bus
            .ring
            .prepare_sleep(shared, waker, || self.has_work())
    }

    /// Whether the sleep bit is still set: nobody has woken the lane yet.
    pub fn is_sleeping(&self) -> bool {
        self.shared().reader.is_sleeping()
    }

    /// Registers `waker` again and returns whether the sleep bit is still
    /// set. A thread host parks while this is true: parking can wake
    /// spuriously, and a late wake meant for an earlier sleep takes the
    /// registered waker with it, so the waker is given again each time.
    ///
    /// ```
    /// # use plugbus_core::{AttachOptions, Bus, Flow, Message, Plugin, Step};
    /// # struct Count;
    /// # impl Plugin<u32> for Count {
    /// #     fn handle_message(&mut self, _: &Message<u32>) -> Flow { Flow::Continue }
    /// # }
    /// # let bus = Bus::with_capacity(8);
    /// # let mut lane = bus.attach(Count, AttachOptions::new()).unwrap();
    /// # bus.close();
    /// # struct Unpark(std::thread::Thread);
    /// # impl std::task::Wake for Unpark {
    /// #     fn wake(self: std::sync::Arc<Self>) { self.0.unpark() }
    /// # }
    /// let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    /// loop {
    ///     match lane.run(64) {
    ///         Step::Ran(_) => {}
    ///         Step::Idle => {
    ///             if lane.prepare_sleep(&waker) {
    ///                 while lane.still_asleep(&waker) {
    ///                     std::thread::park();
    ///                 }
    ///             }
    ///         }
    ///         Step::Done => break,
    ///     }
    /// }
    /// ```
    pub fn still_asleep(&self, waker: &Waker) -> bool {
        self.shared().reader.still_asleep(waker)
    }

    /// Whether the bus this lane reads was closed.
    pub(crate) fn bus_is_closed(&self) -> bool {
        self.bus.is_closed()
    }

    /// A snapshot of this plugin's counters.
    pub fn stats(&self) -> Stats {
        self.shared().counters.snapshot()
    }

    /// The lane's report: call after [`run`](Lane::run) returned
    /// [`Step::Done`]. Called earlier, it detaches the plugin first with
    /// [`Exit::Removed`], dropping what it had not taken.
    pub fn finish(mut self) -> Report {
        if self.exit.is_none() {
            self.exit(Exit::Removed);
        }
        let shared = self.shared();
        Report {
            id: shared.id,
            name: shared.name.clone(),
            exit: self.exit.unwrap_or(Exit::Removed),
            stats: shared.counters.snapshot(),
            panic: self.panic.take().map(String::from),
        }
    }

    /// A message's filter or handler panicked: counted in `panicked`,
    /// which with `handled` and `filtered` adds up to `received`.
    fn fail(&mut self, panic: String) {
        self.local.panicked += 1;
        self.fail_in_hook(panic);
    }

    /// A panic no message caused (`on_attach`, `on_detach`, the plugin's
    /// drop): the exit and the report's panic text say so, and the message
    /// counters stay as they were.
    fn fail_in_hook(&mut self, panic: String) {
        self.panic = Some(panic.into_boxed_str());
        self.exit(Exit::Panicked);
    }

    /// Leaves the bus (the lane no longer gates anyone), runs the plugin's
    /// detach hook unless it panicked, and drops it.
    fn exit(&mut self, exit: Exit) {
        if self.exit.is_some() {
            return;
        }
        self.exit = Some(exit);
        let cursor = match &self.place {
            Place::Ring(cursor) => Some(cursor.pos()),
            Place::Queue(_) => None,
        };
        self.bus.remove(self.shared(), cursor);
        if let Some(mut runner) = self.runner.take() {
            // Panics here are no message's: reported by the exit and the
            // panic text, not counted in `panicked` (see `fail_in_hook`).
            if exit != Exit::Panicked && self.started {
                if let Err(panic) = guard(|| runner.plugin().on_detach(exit)) {
                    self.panic = Some(panic.into_boxed_str());
                    self.exit = Some(Exit::Panicked);
                }
            }
            if let Err(panic) = guard(move || drop(runner)) {
                if self.panic.is_none() {
                    self.panic = Some(panic.into_boxed_str());
                    self.exit = Some(Exit::Panicked);
                }
            }
        }
        self.shared().counters.publish(&self.local);
    }
}

impl<M: Send + Sync + 'static, S: Storage<M>> Drop for Lane<M, S> {
    fn drop(&mut self) {
        // A lane dropped without `finish` (a host that failed to start it)
        // must not keep gating the sender.
        if self.exit.is_none() {
            self.exit(Exit::Removed);
        }
    }
}

impl<M: Send + Sync + 'static, S: Storage<M>> fmt::Debug for Lane<M, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lane")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("exit", &self.exit)
            .finish_non_exhaustive()
    }
}
