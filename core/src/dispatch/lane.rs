//! A lane: one plugin and the loop step a host runs to feed it.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::Arc;
use core::fmt;
use core::sync::atomic::Ordering;

use super::bus::{Bus, LaneShared};
use super::guard::guard;
use super::stats::{Local, Report, Stats};
use crate::ask::Delivery;
use crate::message::Message;
use crate::plugin::{Exit, Flow, Plugin, PluginId};
use crate::ring::{Heap, Storage};

/// One attached plugin and its place in the ring. A host runs
/// [`run`](Lane::run) on the lane's thread, task or poll slot; calls are
/// sequential, so the plugin needs no lock.
///
/// A lane that runs out of work calls [`prepare_sleep`](Lane::prepare_sleep)
/// and, if it returns true, sleeps until its waker is called.
pub struct Lane<M: Send + Sync + 'static, S: Storage<M> = Heap<M>> {
    bus: Arc<Bus<M, S>>,
    shared: Arc<LaneShared<M>>,
    plugin: Option<Box<dyn Plugin<M>>>,
    /// The first sequence this lane has not taken (ring lanes).
    cursor: usize,
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
    pub(crate) fn new(
        bus: Arc<Bus<M, S>>,
        shared: Arc<LaneShared<M>>,
        plugin: Box<dyn Plugin<M>>,
        cursor: usize,
    ) -> Self {
        Lane {
            bus,
            shared,
            plugin: Some(plugin),
            cursor,
            local: Local::default(),
            started: false,
            exit: None,
            panic: None,
            batch: None,
        }
    }

    /// The plugin's id.
    pub fn id(&self) -> PluginId {
        self.shared.id
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Handles up to `max` available messages as one batch, then publishes
    /// the lane's position once.
    pub fn run(&mut self, max: usize) -> Step {
        if self.exit.is_some() {
            return Step::Done;
        }
        if !self.started {
            self.started = true;
            let id = self.shared.id;
            let plugin = self
                .plugin
                .as_mut()
                .expect("a lane that has not exited has its plugin");
            if let Err(panic) = guard(|| plugin.on_attach(id)) {
                self.fail_in_hook(panic);
                return Step::Done;
            }
        }
        let taken = if self.shared.queue.is_some() {
            self.run_queue(max.max(1))
        } else {
            self.run_ring(max.max(1))
        };
        if self.exit.is_some() {
            return Step::Done;
        }
        if taken > 0 {
            return Step::Ran(taken);
        }
        if self.bus.is_closed() {
            if self.has_messages() {
                return Step::Ran(0);
            }
            self.exit(Exit::Shutdown);
            return Step::Done;
        }
        Step::Idle
    }

    fn run_ring(&mut self, max: usize) -> usize {
        // ORDERING: Acquire pairs with the sender's publishing store, so the
        // slots below `tail` are initialised for us.
        let tail = self.bus.tail(Ordering::Acquire);
        if self.detach_requested() {
            return 0;
        }
        let available = tail.wrapping_sub(self.cursor);
        if available == 0 {
            return 0;
        }
        self.local.lag_max = self.local.lag_max.max(available);
        let n = available.min(max);
        let plugin = self
            .plugin
            .as_mut()
            .expect("a lane that has not exited has its plugin");
        let bus = &*self.bus;
        let cursor = self.cursor;
        let local = &mut self.local;
        let id = self.shared.id;
        // After the Acquire load of the tail: sees every question in the
        // batch (see `crate::ask`'s reply object).
        let questions = crate::ask::questions_live();
        let mut taken = 0;
        // One guard for the whole batch rather than one per message: the
        // loop stays tight (the per-message guard kept `deliver` out of
        // line), and `taken` and the counters say where a panic struck.
        let outcome = guard(|| {
            while taken < n {
                // SAFETY: `cursor + taken` lies between our cursor, which
                // gates the sender (our published cursor is at most
                // `cursor`), and `tail`, loaded with Acquire above.
                let message = unsafe { bus.slot(cursor.wrapping_add(taken)) };
                taken += 1;
                local.received += 1;
                if plugin.wants(message) {
                    let flow = plugin.handle_message(message);
                    local.handled += 1;
                    if questions {
                        message.delivered(id, Delivery::Handled);
                    }
                    if flow != Flow::Continue {
                        return flow;
                    }
                } else {
                    local.filtered += 1;
                    if questions {
                        message.delivered(id, Delivery::Filtered);
                    }
                }
            }
            Flow::Continue
        });
        if let (Err(panic), true) = (&outcome, questions) {
            // SAFETY: the message that panicked, at `cursor + taken - 1`
            // (`taken` counts it), below the cursor we have not published.
            let message = unsafe { bus.slot(cursor.wrapping_add(taken - 1)) };
            message.delivered(id, Delivery::Panicked(panic));
        }
        self.cursor = self.cursor.wrapping_add(taken);
        // ORDERING: Release: the sender that sees the cursor may reuse the
        // slots below it. `wake_senders_if_waiting` fences before it reads
        // the waiting count (see `Bus::add_waiting_sender`).
        self.shared.cursor.store(self.cursor, Ordering::Release);
        self.shared.counters.publish(&self.local);
        self.bus.wake_senders_if_waiting();
        self.settle(outcome);
        taken
    }

    fn run_queue(&mut self, max: usize) -> usize {
        let Some(queue) = &self.shared.queue else {
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
        if self.detach_requested() {
            // Taken from the queue, never delivered: sent while the plugin
            // was attached, so counted as dropped (the rest of the queue is
            // counted when the lane leaves the bus).
            if let Some(batch) = &mut self.batch {
                self.shared.counters.add_dropped(batch.len());
                batch.clear();
            }
            return 0;
        }
        let plugin = self
            .plugin
            .as_mut()
            .expect("a lane that has not exited has its plugin");
        // After the queue's lock: sees every question in the batch.
        let questions = crate::ask::questions_live().then_some(self.shared.id);
        let mut taken = 0;
        let mut outcome = Ok(Flow::Continue);
        let batch = self.batch.get_or_insert_with(Box::default);
        while let Some(message) = batch.pop_front() {
            taken += 1;
            outcome = deliver(&mut **plugin, &message, &mut self.local, questions);
            if outcome != Ok(Flow::Continue) {
                break;
            }
        }
        // Messages after a detach or panic are not delivered.
        batch.clear();
        self.shared.counters.publish(&self.local);
        self.settle(outcome);
        taken
    }

    /// Detaches the plugin if the host asked. Called after the lane loaded
    /// the tail (Acquire) or took the queue lock, so a message sent after
    /// `Bus::detach` returned is never handled: its publication carries the
    /// flag with it.
    fn detach_requested(&mut self) -> bool {
        // ORDERING: Relaxed suffices after the Acquire above (see doc).
        if self.shared.detach.load(Ordering::Relaxed) {
            self.exit(Exit::Removed);
            return true;
        }
        false
    }

    fn settle(&mut self, outcome: Result<Flow, String>) {
        match outcome {
            Ok(Flow::Continue) => {}
            Ok(Flow::Detach(status)) => self.exit(Exit::Detached(status)),
            Err(panic) => self.fail(panic),
        }
    }

    /// Whether messages wait for this lane.
    fn has_messages(&self) -> bool {
        match &self.shared.queue {
            Some(queue) => !queue.lock().is_empty(),
            // ORDERING: Acquire; `prepare_sleep` calls this after listing the
            // lane under the send lock, which orders it with `publish`.
            None => self.bus.tail(Ordering::Acquire) != self.cursor,
        }
    }

    /// Whether [`run`](Lane::run) has something to do: messages, a shutdown
    /// or a detach request.
    pub fn has_work(&self) -> bool {
        self.exit.is_some()
            || !self.started
            // ORDERING: see `prepare_sleep`.
            || self.shared.detach.load(Ordering::Acquire)
            || self.bus.is_closed()
            || self.has_messages()
    }

    /// Sets the lane's sleep bit, then re-checks for work. Returns true if
    /// the lane may sleep: the sender will call its waker for the next
    /// message. Returns false (bit cleared) if work arrived meanwhile.
    ///
    /// An async host registers the task's waker before calling this.
    pub fn prepare_sleep(&self) -> bool {
        // Listed under the send lock, then the re-check: a publication either
        // came before the listing (and the re-check sees it) or after (and
        // wakes us). Close and detach store their flag, then take the bit
        // with a SeqCst swap; our re-check after listing sees the flag, or
        // their swap sees the bit.
        self.bus.list_sleeper(&self.shared);
        if self.has_work() {
            // ORDERING: the swap decides between us and a waker; an entry
            // left in the list is dropped by the next publication.
            self.shared.sleeping.swap(false, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Whether the sleep bit is still set: nobody has woken the lane yet.
    /// A thread host parks while this is true (parking can wake spuriously).
    pub fn is_sleeping(&self) -> bool {
        // ORDERING: SeqCst pairs with the waker's SeqCst swap.
        self.shared.sleeping.load(Ordering::SeqCst)
    }

    /// Whether the bus this lane reads was closed.
    pub(crate) fn bus_is_closed(&self) -> bool {
        self.bus.is_closed()
    }

    /// A snapshot of this plugin's counters.
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// The lane's report: call after [`run`](Lane::run) returned
    /// [`Step::Done`]. Called earlier, it detaches the plugin first with
    /// [`Exit::Removed`], dropping what it had not taken.
    pub fn finish(mut self) -> Report {
        if self.exit.is_none() {
            self.exit(Exit::Removed);
        }
        Report {
            id: self.shared.id,
            name: self.shared.name.clone(),
            exit: self.exit.unwrap_or(Exit::Removed),
            stats: self.shared.counters.snapshot(),
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
        self.bus.remove(&self.shared, self.cursor);
        if let Some(mut plugin) = self.plugin.take() {
            // Panics here are no message's: reported by the exit and the
            // panic text, not counted in `panicked` (see `fail_in_hook`).
            if exit != Exit::Panicked && self.started {
                if let Err(panic) = guard(|| plugin.on_detach(exit)) {
                    self.panic = Some(panic.into_boxed_str());
                    self.exit = Some(Exit::Panicked);
                }
            }
            if let Err(panic) = guard(move || drop(plugin)) {
                if self.panic.is_none() {
                    self.panic = Some(panic.into_boxed_str());
                    self.exit = Some(Exit::Panicked);
                }
            }
        }
        self.shared.counters.publish(&self.local);
    }
}

/// Runs the filter, then the handler, counting the outcome, and telling a
/// question about it as the plugin `questions` (if questions live).
fn deliver<M: 'static>(
    plugin: &mut dyn Plugin<M>,
    message: &Message<M>,
    local: &mut Local,
    questions: Option<PluginId>,
) -> Result<Flow, String> {
    let tell = |delivery| {
        if let Some(id) = questions {
            message.delivered(id, delivery);
        }
    };
    local.received += 1;
    match guard(|| {
        if plugin.wants(message) {
            Some(plugin.handle_message(message))
        } else {
            None
        }
    }) {
        Ok(None) => {
            local.filtered += 1;
            tell(Delivery::Filtered);
            Ok(Flow::Continue)
        }
        Ok(Some(flow)) => {
            local.handled += 1;
            tell(Delivery::Handled);
            Ok(flow)
        }
        Err(panic) => {
            tell(Delivery::Panicked(&panic));
            Err(panic)
        }
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
            .field("id", &self.shared.id)
            .field("name", &self.shared.name)
            .field("exit", &self.exit)
            .finish_non_exhaustive()
    }
}
