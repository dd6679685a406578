//! The bus: the ring, the registry of plugins attached to it, and sending.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::Ordering;
use core::task::Waker;

use alloc::boxed::Box;

use super::guard::guard;
use super::instance::{Control, Instances, erase};
use super::lane::Lane;
use super::shared::LaneShared;
use super::stats::Stats;
use crate::error::{AttachError, SendError, TrySendError};
use crate::lifecycle::replace::Outcome;
use crate::lifecycle::{DeadLetter, Factory, ReplaceError, Replacement, Replacing};
use crate::message::Message;
use crate::outbox::Outbox;
use crate::plugin::{Plugin, PluginId};
use crate::policy::{AttachOptions, Overflow};
use crate::ring::{Heap, Pos, Refusal, Ring, Storage, WaiterKey};
use crate::sync::Mutex;

/// The dispatch core every host shares: the ring, the plugins attached to
/// it, their counters, and sending. A host adds only how lanes run and wait.
///
/// Any number of threads may send at once: each claims its positions in the
/// ring without a lock and publishes them itself (see [`ring`](crate::ring)).
///
/// Most users use a host ([`LocalHost`](crate::LocalHost) or a std/async
/// host) rather than the bus directly.
pub struct Bus<M: Send + Sync + 'static, S: Storage<M> = Heap<M>> {
    pub(crate) ring: Ring<M, S, LaneShared<M>>,
    /// Every attached plugin, by the order of attaching. Taken to attach,
    /// detach, close and read counters; never on the send path.
    registry: Mutex<Registry<M>>,
}

struct Registry<M: Send + Sync + 'static> {
    lanes: Vec<Arc<LaneShared<M>>>,
    /// The next plugin's id. 64-bit and never wrapped, so an id names one
    /// lane for the host's life; lanes leave by identity, never by id.
    next_id: u64,
}

impl<M: Send + Sync + 'static> Bus<M, Heap<M>> {
    /// A bus whose ring holds at least `capacity` messages (rounded up to a power of two, at most
    /// [`MAX_HEAP_CAPACITY`](crate::ring::MAX_HEAP_CAPACITY)).
    pub fn with_capacity(capacity: usize) -> Arc<Self> {
        Self::new(Heap::with_capacity(capacity))
    }
}

impl<M: Send + Sync + 'static, S: Storage<M>> Bus<M, S> {
    /// A bus over the given ring storage.
    ///
    /// # Panics
    /// If the storage's length is not a power of two.
    pub fn new(storage: S) -> Arc<Self> {
        Arc::new(Bus {
            ring: Ring::new(storage),
            registry: Mutex::new(Registry {
                lanes: Vec::new(),
                next_id: 0,
            }),
        })
    }

    /// How many messages the ring holds.
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// Registers a plugin and returns its lane, which the host then runs.
    /// The lane starts at the current position: it sees exactly the
    /// messages sent after `attach` returns.
    ///
    /// The plugin's batch loop is compiled for `P` (a `Box<dyn Plugin<M>>`
    /// is a `P` too, with indirect calls).
    ///
    /// # Errors
    /// [`AttachError::Closed`] after [`close`](Bus::close);
    /// [`AttachError::Capacity`] for a capacity of zero, or above the ring's
    /// for `Block` and `Reject`.
    pub fn attach<P: Plugin<M>>(
        self: &Arc<Self>,
        plugin: P,
        options: AttachOptions,
    ) -> Result<Lane<M, S>, AttachError> {
        let dead_letters = dead_letters::<M>(&options)?;
        let name = options
            .name
            .clone()
            .unwrap_or_else(|| String::from(plugin.name()));
        self.attach_instances(Instances::new(erase(plugin), dead_letters), name, options)
    }

    /// Registers a supervised plugin: `factory` builds its first instance
    /// now, and a new one each time the lane restarts it (as
    /// `options.restart` says). Otherwise as [`attach`](Bus::attach).
    ///
    /// # Errors
    /// As [`attach`](Bus::attach); [`AttachError::Factory`] if the factory
    /// failed or panicked; [`AttachError::DeadLetters`] for a dead-letter
    /// outbox of another message type.
    pub fn attach_supervised<F: Factory<M>>(
        self: &Arc<Self>,
        mut factory: F,
        options: AttachOptions,
    ) -> Result<Lane<M, S>, AttachError> {
        let dead_letters = dead_letters::<M>(&options)?;
        let first = match guard(|| factory.make()) {
            Ok(Ok(first)) => first,
            Ok(Err(error)) => {
                return Err(AttachError::Factory {
                    reason: alloc::string::ToString::to_string(&error),
                });
            }
            Err(panic) => return Err(AttachError::Factory { reason: panic }),
        };
        let name = options
            .name
            .clone()
            .unwrap_or_else(|| String::from(first.name()));
        let instances =
            Instances::supervised(erase(first), Box::new(factory), &options, dead_letters);
        self.attach_instances(instances, name, options)
    }

    fn attach_instances(
        self: &Arc<Self>,
        instances: Instances<M>,
        name: String,
        options: AttachOptions,
    ) -> Result<Lane<M, S>, AttachError> {
        let ring_lane = options.overflow.reads_ring();
        let max = if ring_lane {
            self.capacity()
        } else {
            crate::ring::MAX_CAPACITY
        };
        let capacity = options.capacity.unwrap_or(self.capacity());
        if capacity == 0 || capacity > max {
            return Err(AttachError::Capacity {
                requested: capacity,
                max,
            });
        }
        let mut registry = self.registry.lock();
        if self.ring.is_closed() {
            return Err(AttachError::Closed);
        }
        let id = PluginId(registry.next_id);
        // 2^64 attaches take centuries; should it ever happen, refusing to
        // reuse an id is the only sound answer.
        registry.next_id = registry
            .next_id
            .checked_add(1)
            .expect("plugin ids exhausted after 2^64 attaches");
        let shared = Arc::new(LaneShared::new(id, name, options.overflow, capacity));
        registry.lanes.push(shared.clone());
        let cursor = if ring_lane {
            Some(self.ring.add_reader(shared.clone()))
        } else {
            self.ring.add_feeder(shared.clone());
            None
        };
        drop(registry);
        Ok(Lane::new(self.clone(), shared, cursor, instances))
    }

    /// Sends a value to every lane without waiting.
    ///
    /// # Errors
    /// As [`try_send_message`](Bus::try_send_message), with the value
    /// handed back.
    pub fn try_send(&self, value: M) -> Result<(), TrySendError<M>> {
        self.try_send_message(Message::new(value))
            .map_err(|error| error.map(into_value))
    }

    /// Sends a value to every lane, calling `wait` whenever a `Block` lane
    /// is full and retrying after it returns. A thread host parks in `wait`
    /// (after [`add_waiting_sender`](Bus::add_waiting_sender)); a
    /// poll-driven host runs its lanes.
    ///
    /// # Errors
    /// [`SendError::Closed`] after [`close`](Bus::close);
    /// [`SendError::Rejected`] when a `Reject` lane is full.
    pub fn send_with(&self, value: M, mut wait: impl FnMut(&Self)) -> Result<(), SendError<M>> {
        let mut message = Message::new(value);
        loop {
            match self.try_send_message(message) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(back)) => {
                    message = back;
                    wait(self);
                }
                Err(TrySendError::Failed(error)) => return Err(error.map(into_value)),
            }
        }
    }

    /// Sends every message of `batch` (unpublished envelopes, as
    /// [`Message::new`] makes them), as few publications as the ring's room
    /// allows, calling `wait` whenever a `Block` lane is full and retrying
    /// after it returns: the batch twin of [`send_with`](Bus::send_with).
    /// `batch` is empty afterwards.
    ///
    /// # Errors
    /// As [`send_with`](Bus::send_with), with the values that were not sent,
    /// in order; every value before them was sent.
    pub fn send_batch_with(
        &self,
        batch: &mut VecDeque<Message<M>>,
        mut wait: impl FnMut(&Self),
    ) -> Result<(), SendError<Vec<M>>> {
        while !batch.is_empty() {
            match self.try_send_batch(batch) {
                Ok(_) => {}
                Err(TrySendError::Full(())) => wait(self),
                Err(TrySendError::Failed(error)) => {
                    let unsent = batch.drain(..).map(into_value).collect();
                    return Err(error.map(|()| unsent));
                }
            }
        }
        Ok(())
    }

    /// Publishes a message to every lane, or says why not without waiting.
    ///
    /// # Errors
    /// [`TrySendError::Full`] when a `Block` lane has no room (a host waits
    /// with [`add_waiting_sender`](Bus::add_waiting_sender) and retries);
    /// otherwise the [`SendError`] that makes the send fail for good.
    pub fn try_send_message(&self, message: Message<M>) -> Result<(), TrySendError<Message<M>>> {
        match self.ring.claim(1) {
            Ok(claim) => {
                let old = self.ring.write(&claim, 0, message);
                self.ring.publish(claim);
                // The replaced message is often the last reference: freed
                // after publishing, so lanes do not wait for it.
                drop(old);
                Ok(())
            }
            Err(refusal) => Err(self.refused(refusal).with(message)),
        }
    }

    /// Publishes messages from the front of `batch` until it is empty or the
    /// ring is full, with one claim and one publication, and returns how
    /// many it sent. Lanes see the whole batch at once.
    ///
    /// # Errors
    /// As [`try_send_message`](Bus::try_send_message) for the first message
    /// that could not be sent when none was; it stays in `batch`.
    pub fn try_send_batch(
        &self,
        batch: &mut VecDeque<Message<M>>,
    ) -> Result<usize, TrySendError<()>> {
        if batch.is_empty() {
            return Ok(0);
        }
        match self.ring.claim(batch.len()) {
            Ok(claim) => {
                let sent = claim.len();
                // Nothing between the claim and the publication can unwind:
                // lanes would wait for the claimed positions for ever.
                for (i, message) in batch.drain(..sent).enumerate() {
                    drop(self.ring.write(&claim, i, message));
                }
                self.ring.publish(claim);
                Ok(sent)
            }
            Err(refusal) => Err(self.refused(refusal).with(())),
        }
    }

    /// What a refused claim means for the sender; counts a rejection in
    /// the counters of each `Reject` plugin that refused.
    fn refused(&self, refusal: Refusal<LaneShared<M>>) -> Refused {
        match refusal {
            Refusal::Full => Refused::Full,
            Refusal::Closed => Refused::Closed,
            Refusal::Rejected(lanes) => Refused::Rejected(
                lanes
                    .iter()
                    .map(|lane| {
                        lane.counters.add_rejected();
                        lane.id
                    })
                    .collect(),
            ),
        }
    }

    /// Registers a sender that will wait for room; the bus wakes it when a
    /// lane moves on, is detached, or the bus closes. Check
    /// [`has_room`](Bus::has_room) after registering and before sleeping.
    pub fn add_waiting_sender(&self, waker: &Waker) -> WaiterKey {
        self.ring.add_waiting_sender(waker)
    }

    /// Replaces the waker of a registered sender: an async sender calls it
    /// when polled with another waker.
    pub fn update_waiting_sender(&self, key: WaiterKey, waker: &Waker) {
        self.ring.senders().update(key, waker);
    }

    /// Removes a waiting sender registered with
    /// [`add_waiting_sender`](Bus::add_waiting_sender).
    pub fn remove_waiting_sender(&self, key: WaiterKey) {
        self.ring.senders().remove(key);
    }

    /// Whether a send would find room for `Block` lanes now (or fail for
    /// another reason, so a waiting sender should retry).
    pub fn has_room(&self) -> bool {
        self.ring.has_room()
    }

    /// Stops accepting messages and plugins and wakes every lane so it
    /// drains what was sent and exits. Idempotent.
    pub fn close(&self) {
        let registry = self.registry.lock();
        // Under the registry lock: an attach either came first (and its
        // lane is woken here) or sees the ring closed.
        self.ring.close();
        for lane in &registry.lanes {
            lane.reader.notify();
        }
    }

    /// Whether [`close`](Bus::close) was called.
    pub fn is_closed(&self) -> bool {
        self.ring.is_closed()
    }

    /// Asks a plugin to leave: its lane detaches it with
    /// [`Exit::Removed`](crate::Exit::Removed) before its next message.
    /// Messages sent before this that the plugin has not taken yet are
    /// counted as its drops; messages sent after are not its business.
    /// Returns false if no such plugin is attached.
    pub fn detach(&self, id: PluginId) -> bool {
        let registry = self.registry.lock();
        let Some(lane) = registry.lanes.iter().find(|l| l.id == id) else {
            return false;
        };
        if lane.detach_requested() {
            return true;
        }
        // ORDERING: SeqCst, then the SeqCst load of the head: see the ring's
        // notes on detach.
        lane.detach.store(true, Ordering::SeqCst);
        match lane.overflow {
            Overflow::DropOldest | Overflow::DropNewest => {
                // Fed nothing more; what was claimed but not yet fed to it
                // was sent while it was attached.
                let unfed = self.ring.remove_feeder(lane);
                lane.counters.add_dropped(unfed);
            }
            Overflow::Block | Overflow::Reject => {
                // ORDERING: read under the registry lock, by `remove`.
                lane.detached_at
                    .store(self.ring.head().raw(), Ordering::Relaxed);
                if lane.overflow == Overflow::Reject {
                    // It still reads the ring until it leaves: senders wait
                    // for it rather than fail in its name.
                    self.ring.block_on(lane);
                }
            }
        }
        // ORDERING: between the flag and the swap of the sleep bit, like a
        // sender's after publishing (see the ring's "Sleep and wake-up").
        crate::sync::fence(Ordering::SeqCst);
        lane.reader.notify();
        true
    }

    /// Sends a new instance to a plugin's lane, which swaps it in between
    /// two batches: no message is handled twice, skipped or reordered, and
    /// messages sent meanwhile wait in the ring as usual. The returned
    /// future (or its `wait_blocking`) resolves once the swap happened.
    ///
    /// # Errors
    /// [`ReplaceError::NotAttached`] if no such plugin is attached (or the
    /// host detached it); the replacement is dropped.
    pub fn replace(
        &self,
        id: PluginId,
        replacement: Replacement<M>,
    ) -> Result<Replacing, ReplaceError> {
        let registry = self.registry.lock();
        let lane = registry
            .lanes
            .iter()
            .find(|l| l.id == id && !l.detach_requested())
            .cloned();
        let Some(lane) = lane else {
            drop(registry);
            drop(replacement);
            return Err(ReplaceError::NotAttached(id));
        };
        let outcome = Outcome::new();
        // Queued under the registry lock: a lane leaves the bus under it
        // too (`remove`), and refuses what it finds queued only after that,
        // so no replacement is left behind unanswered.
        lane.push_control(Control {
            replacement,
            outcome: outcome.clone(),
        });
        drop(registry);
        // ORDERING: between the flag and the swap of the sleep bit, as in
        // `detach`.
        crate::sync::fence(Ordering::SeqCst);
        lane.reader.notify();
        Ok(Replacing::new(outcome))
    }

    /// A snapshot of one attached plugin's counters.
    pub fn stats(&self, id: PluginId) -> Option<Stats> {
        let registry = self.registry.lock();
        let lane = registry.lanes.iter().find(|l| l.id == id)?;
        Some(lane.counters.snapshot())
    }

    /// Every attached plugin with a snapshot of its counters, by id.
    pub fn plugins(&self) -> Vec<PluginInfo> {
        let registry = self.registry.lock();
        // Attached in id order, so already sorted.
        registry
            .lanes
            .iter()
            .map(|l| PluginInfo {
                id: l.id,
                name: l.name.clone(),
                overflow: l.overflow,
                stats: l.counters.snapshot(),
            })
            .collect()
    }

    /// How many plugins are attached.
    pub fn len(&self) -> usize {
        self.registry.lock().lanes.len()
    }

    /// Whether no plugin is attached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes a lane that exited; it no longer gates the sender. By the
    /// lane's identity (its shared record), never by id: removing another
    /// live lane would let senders overwrite the slot it reads.
    ///
    /// If the host detached the lane, the messages sent to it before the
    /// detach that it did not take (`cursor`: its next position in the
    /// ring, for a ring lane) are counted as dropped, and a lossy lane's
    /// queue is emptied.
    pub(crate) fn remove(&self, lane: &Arc<LaneShared<M>>, cursor: Option<Pos>) {
        let mut registry = self.registry.lock();
        registry.lanes.retain(|l| !Arc::ptr_eq(l, lane));
        let detached = lane.detach_requested();
        let mut leftover = None;
        match cursor {
            Some(cursor) => {
                self.ring.remove_reader(lane);
                if detached {
                    // ORDERING: written under the registry lock we hold.
                    let end = Pos::from_raw(lane.detached_at.load(Ordering::Relaxed));
                    lane.counters.add_dropped(cursor.room(end));
                }
            }
            None => {
                if !detached {
                    self.ring.remove_feeder(lane);
                }
                if let Some(queue) = &lane.queue {
                    leftover = Some(core::mem::take(&mut *queue.lock()));
                }
            }
        }
        drop(registry);
        // A lane that leaves passes no wake-up on any more.
        self.ring.settle_wakes();
        if let Some(queue) = leftover {
            if detached {
                lane.counters.add_dropped(queue.len());
            }
            // Dropped outside the lock: the last reference frees a message.
            drop(queue);
        }
    }

    /// Makes the next attach hand out `next` as its id: lets tests give two
    /// lanes the same id, which 64-bit ids that never wrap otherwise rule out.
    #[cfg(test)]
    pub(crate) fn set_next_id(&self, next: u64) {
        self.registry.lock().next_id = next;
    }
}

/// The dead-letter outbox of `options`, checked against `M`.
fn dead_letters<M: Send + Sync + 'static>(
    options: &AttachOptions,
) -> Result<Option<Outbox<DeadLetter<M>>>, AttachError> {
    match &options.dead_letters {
        None => Ok(None),
        Some(erased) => erased.get::<M>().map(Some).ok_or(AttachError::DeadLetters {
            expected: core::any::type_name::<M>(),
        }),
    }
}

/// The value inside a message this bus never published: it has exactly one
/// reference, so unwrapping cannot fail.
pub(crate) fn into_value<M>(message: Message<M>) -> M {
    match Message::try_unwrap(message) {
        Ok(value) => value,
        Err(_) => unreachable!("an unpublished message has a single reference"),
    }
}

/// Why a send did not go through, with the refusing plugins' ids.
enum Refused {
    Full,
    Closed,
    Rejected(Vec<PluginId>),
}

impl Refused {
    fn with<T>(self, value: T) -> TrySendError<T> {
        match self {
            Refused::Full => TrySendError::Full(value),
            Refused::Closed => TrySendError::Failed(SendError::Closed(value)),
            Refused::Rejected(refused) => {
                TrySendError::Failed(SendError::Rejected { value, refused })
            }
        }
    }
}

impl<M: Send + Sync + 'static, S: Storage<M>> fmt::Debug for Bus<M, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bus")
            .field("capacity", &self.capacity())
            .field("sent", &Pos::ZERO.until(self.ring.head()))
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// One attached plugin as [`Bus::plugins`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PluginInfo {
    /// Its id.
    pub id: PluginId,
    /// Its name.
    pub name: String,
    /// Its overflow policy.
    pub overflow: Overflow,
    /// Its counters now.
    pub stats: Stats,
}
