//! A lane: one plugin's place on the bus and the loop step a host runs to
//! feed it.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::Arc;
use core::fmt;
use core::task::Waker;
use core::time::Duration;

use super::bus::Bus;
use super::guard::guard;
use super::instance::{After, Control, Ctx, Instances};
use super::shared::LaneShared;
use super::stats::{Local, Report, Stats};
use super::supervisor::Failure;
use crate::ask::Delivery;
use crate::lifecycle::replace::Outcome;
use crate::lifecycle::{ReplaceError, Replaced, Replacement};
use crate::message::Message;
use crate::plugin::{Exit, Flow, PluginId};
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
    /// The plugin instance it runs, apart from the lane (see `instance`).
    instances: Instances<M>,
    local: Local,
    started: bool,
    /// An async plugin's handler future is pending: the lane polls it when
    /// woken, and takes no other message, control or hook meanwhile.
    waiting: bool,
    exit: Option<Exit>,
    /// Boxed, like `batch`: a lane lives inside every plugin's task, so its
    /// size is part of what an idle plugin costs.

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
    /// A supervised plugin's lane waits this long before it restarts the
    /// plugin (its backoff): run it again then, or when it is woken
    /// sooner (a detach, the shutdown or a replacement end the wait).
    Wait(Duration),
}

impl<M: Send + Sync + 'static, S: Storage<M>> Lane<M, S> {
    pub(crate) fn new(
        bus: Arc<Bus<M, S>>,
        shared: Arc<LaneShared<M>>,
        cursor: Option<Cursor<LaneShared<M>>>,
        instances: Instances<M>,
    ) -> Self {
        let place = match cursor {
            Some(cursor) => Place::Ring(cursor),
            None => Place::Queue(shared),
        };
        Lane {
            bus,
            place,
            instances,
            local: Local::default(),
            started: false,
            waiting: false,
            exit: None,
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
        // Wake-ups a sender left for the lanes it woke to pass on.
        self.bus.ring.help_wakes();
        if !self.start() {
            return Step::Done;
        }
        if self.waiting {
            if self.shared().detach_requested() {
                // Leaves at the next check below, its future dropped first.
                self.cancel();
            } else if !self.shared().take_woken() {
                // Polled again only once its waker says so.
                return Step::Idle;
            }
        } else {
            if self.shared().has_controls() {
                self.apply_controls();
            }
            if let Some(wait) = self.backoff() {
                return wait;
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
        if self.bus.is_closed() && !self.has_pending() && !self.waiting {
            self.exit(Exit::Shutdown);
            return Step::Done;
        }
        Step::Idle
    }

    /// Whether the plugin's handler future is pending (an async plugin
    /// waiting on something outside the lane).
    pub fn awaits_plugin(&self) -> bool {
        self.waiting
    }

    /// Drops a pending handler future, before the message it borrows may
    /// be freed or another hook runs.
    fn cancel(&mut self) {
        if !self.waiting {
            return;
        }
        self.waiting = false;
        if let Some(runner) = self.instances.current() {
            if let Err(panic) = guard(|| runner.cancel()) {
                self.instances.note_panic(&panic);
            }
        }
    }

    /// Calls the first instance's `on_attach` on the lane's first run.
    /// Returns false if the plugin has exited.
    fn start(&mut self) -> bool {
        if self.exit.is_some() {
            return false;
        }
        if !self.started {
            self.started = true;
            let id = self.id();
            if let Some(runner) = self.instances.current() {
                if let Err(panic) = guard(|| runner.plugin().on_attach(id)) {
                    self.fail_in_hook(panic);
                    return false;
                }
            }
        }
        true
    }

    fn ctx(&mut self, hurry: bool) -> (Ctx<'_>, &mut Instances<M>) {
        let shared = match &self.place {
            Place::Ring(cursor) => cursor.owner(),
            Place::Queue(shared) => shared,
        };
        (
            Ctx {
                id: shared.id,
                name: &shared.name,
                local: &mut self.local,
                counters: &shared.counters,
                hurry,
            },
            &mut self.instances,
        )
    }

    /// A supervised lane waiting to restart: restarts once its time has
    /// come, or at once when the host shuts down; leaves if detached.
    /// Returns the step to return while it still waits (or has exited).
    fn backoff(&mut self) -> Option<Step> {
        let at = self.instances.restart_at()?;
        if self.shared().detach_requested() {
            self.exit(Exit::Removed);
            return Some(Step::Done);
        }
        let now = self.instances.now().unwrap_or(at);
        let hurry = self.bus.is_closed();
        if now < at && !hurry {
            return Some(Step::Wait(at - now));
        }
        let (mut ctx, instances) = self.ctx(hurry);
        let after = instances.resume(&mut ctx);
        self.publish();
        self.follow(after)
    }

    fn publish(&self) {
        self.shared().counters.publish(&self.local);
    }

    /// Acts on what the instances decided: nothing to do, a wait, or the
    /// plugin's exit.
    fn follow(&mut self, after: After) -> Option<Step> {
        match after {
            After::Go => None,
            After::Wait(at) => {
                let now = self.instances.now().unwrap_or(at);
                Some(Step::Wait(at.saturating_sub(now)))
            }
            After::Leave(exit) => {
                if matches!(exit, Exit::Panicked | Exit::GaveUp) && !self.instances.has_panic() {
                    let last = self.instances.last_panic().map(String::from);
                    if let Some(last) = last {
                        self.instances.set_panic(last);
                    }
                }
                self.exit(exit);
                Some(Step::Done)
            }
        }
    }

    /// Swaps in the replacements the host sent, in order.
    fn apply_controls(&mut self) {
        while let Some(control) = self.shared().take_control() {
            let (mut ctx, instances) = self.ctx(false);
            instances.replace(control, &mut ctx);
        }
        self.publish();
    }

    /// Replaces the instance now, between two batches: for a host that
    /// runs its lanes itself ([`LocalHost`](crate::LocalHost)).
    pub(crate) fn replace_now(
        &mut self,
        replacement: Replacement<M>,
    ) -> Result<Replaced, ReplaceError> {
        let id = self.id();
        if !self.start() || self.shared().detach_requested() {
            return Err(ReplaceError::NotAttached(id));
        }
        let outcome = Outcome::new();
        let control = Control {
            replacement,
            outcome: outcome.clone(),
        };
        let (mut ctx, instances) = self.ctx(false);
        instances.replace(control, &mut ctx);
        self.publish();
        outcome.take().unwrap_or(Err(ReplaceError::NotAttached(id)))
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
        let Some(runner) = self.instances.current() else {
            return 0;
        };
        let local = &mut self.local;
        let mut batch = self.bus.ring.batch(cursor, end, max);
        // After the batch's Acquire loads of its stamps: sees every question
        // in the batch (see `crate::ask`'s reply object).
        let questions = crate::ask::questions_live().then_some(id);
        // One guard for the whole batch rather than one per message: the
        // loop stays tight, and the batch and the counters say where a
        // panic struck.
        let outcome = guard(|| runner.run_ring(&mut batch, local, questions, &shared));
        // Before the commit below lets the slot go: a future the panic left
        // borrows the message.
        let cancelled = outcome
            .as_ref()
            .err()
            .and_then(|_| guard(|| runner.cancel()).err());
        let pending = outcome.is_ok() && runner.is_pending();
        if let Some(second) = cancelled {
            self.instances.note_panic(&second);
        }
        let mut poison = None;
        if let Err(panic) = &outcome {
            if let Some(message) = batch.last() {
                if let Some(id) = questions {
                    message.delivered(id, Delivery::Panicked(panic));
                }
                if self.instances.wants_dead_letters() {
                    poison = Some(message.clone());
                }
            }
        }
        let taken = batch.commit();
        self.waiting = pending;
        shared.counters.publish(&self.local);
        self.settle(outcome, poison.as_ref());
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
        // While a future is pending it borrows the batch's first message:
        // the batch must not grow (and move) until it completes.
        if !self.waiting {
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
        let Some(runner) = self.instances.current() else {
            return 0;
        };
        let local = &mut self.local;
        let batch = self.batch.get_or_insert_with(Box::default);
        let received = local.received;
        // After the queue's lock: sees every question in the batch.
        let questions = crate::ask::questions_live().then_some(id);
        let outcome = guard(|| runner.run_queue(batch, local, questions, &shared));
        // Before the message it borrows leaves the batch.
        let cancelled = outcome
            .as_ref()
            .err()
            .and_then(|_| guard(|| runner.cancel()).err());
        let pending = outcome.is_ok() && runner.is_pending();
        if let Some(second) = cancelled {
            self.instances.note_panic(&second);
        }
        let mut poison = None;
        if let Err(panic) = &outcome {
            // The message it struck is still at the front: never again.
            if let Some(message) = batch.pop_front() {
                if let Some(id) = questions {
                    message.delivered(id, Delivery::Panicked(panic));
                }
                poison = Some(message);
            }
        }
        let taken = self.local.received - received;
        self.waiting = pending;
        shared.counters.publish(&self.local);
        self.settle(outcome, poison.as_ref());
        // Messages after a detach or panic are not delivered, unless a new
        // instance took over: then they wait for it, in order.
        if self.exit.is_some() {
            if let Some(batch) = &mut self.batch {
                batch.clear();
            }
        }
        taken
    }

    /// After a batch: the instances hear how it ended. A panic or a
    /// detach goes to the supervisor, which restarts the plugin, makes the
    /// lane wait, or lets it leave.
    fn settle(&mut self, outcome: Result<Flow, String>, poison: Option<&Message<M>>) {
        let (failure, panic) = match outcome {
            Ok(Flow::Continue) => {
                let (ctx, instances) = self.ctx(false);
                instances.taken(&ctx);
                return;
            }
            Ok(Flow::Detach(status)) => (Failure::Detached(status), None),
            Err(panic) => {
                self.local.panicked += 1;
                (Failure::Panicked, Some(panic))
            }
        };
        let hurry = self.bus.is_closed() || self.shared().detach_requested();
        let (mut ctx, instances) = self.ctx(hurry);
        let after = instances.failed(failure, panic, poison, &mut ctx);
        self.publish();
        self.follow(after);
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
        if self.waiting {
            // Only its waker, a detach or its end wake a waiting lane.
            return self.exit.is_some()
                || self.shared().detach_requested()
                || self.shared().is_woken();
        }
        self.exit.is_some()
            || !self.started
            || self.shared().detach_requested()
            || self.shared().has_controls()
            || match self.instances.restart_at() {
                // Waiting to restart: messages wait too, until the time
                // or the shutdown.
                Some(at) => {
                    self.bus.is_closed() || self.instances.now().is_none_or(|now| now >= at)
                }
                None => self.has_ready_messages() || (self.bus.is_closed() && !self.has_pending()),
            }
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
    ///         // A supervised plugin's backoff: run again after it.
    ///         Step::Wait(delay) => std::thread::park_timeout(delay),
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
        let panic = self.instances.take_panic();
        let (panics, events) = self.instances.history();
        let shared = self.shared();
        Report {
            id: shared.id,
            name: shared.name.clone(),
            exit: self.exit.unwrap_or(Exit::Removed),
            stats: shared.counters.snapshot(),
            panic,
            panics,
            events,
        }
    }

    /// A panic no message caused (`on_attach`, `on_detach`, the plugin's
    /// drop): the exit and the report's panic text say so, and the message
    /// counters stay as they were.
    fn fail_in_hook(&mut self, panic: String) {
        self.instances.note_panic(&panic);
        self.instances.set_panic(panic);
        self.exit(Exit::Panicked);
    }

    /// Leaves the bus (the lane no longer gates anyone), runs the plugin's
    /// detach hook unless it panicked, and drops it.
    fn exit(&mut self, exit: Exit) {
        if self.exit.is_some() {
            return;
        }
        // The future borrows a message the lane is about to let go.
        self.cancel();
        self.exit = Some(exit);
        let cursor = match &self.place {
            Place::Ring(cursor) => Some(cursor.pos()),
            Place::Queue(_) => None,
        };
        self.bus.remove(self.shared(), cursor);
        // Replacements that came too late: the plugin is gone.
        while let Some(control) = self.shared().take_control() {
            control.refuse(self.id());
        }
        if let Some(mut runner) = self.instances.take() {
            // Panics here are no message's: reported by the exit and the
            // panic text, not counted in `panicked` (see `fail_in_hook`).
            if exit != Exit::Panicked && self.started {
                if let Err(panic) = guard(|| runner.plugin().on_detach(exit)) {
                    self.instances.note_panic(&panic);
                    self.instances.set_panic(panic);
                    self.exit = Some(Exit::Panicked);
                }
            }
            if let Err(panic) = guard(move || drop(runner)) {
                self.instances.note_panic(&panic);
                if !self.instances.has_panic() {
                    self.instances.set_panic(panic);
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
