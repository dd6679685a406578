//! The bus: one shared ring written once per message, the lanes registered
//! on it, and the sender's side of the protocol.
//!
//! Sequence numbers are `usize` and wrap; every comparison uses wrapping
//! differences, so the ring works where only 32-bit atomics exist. A lane's
//! lag is bounded by the ring capacity, far below half the sequence space.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::Ordering;

use super::lane::Lane;
use super::stats::{Counters, Stats};
use crate::error::{AttachError, SendError, TrySendError};
use crate::message::Message;
use crate::plugin::{Plugin, PluginId};
use crate::policy::{AttachOptions, Overflow};
use crate::ring::{CachePadded, Heap, Storage, Wake};
use crate::sync::{AtomicBool, AtomicUsize, Mutex, fence};

/// The dispatch core every host shares: the ring, the lanes attached to it,
/// their counters, and sending. A host adds only how lanes run and wait.
///
/// Most users use a host ([`LocalHost`](crate::LocalHost) or a std/async
/// host) rather than the bus directly.
pub struct Bus<M: Send + Sync + 'static, S: Storage<M> = Heap<M>> {
    /// The next sequence number to write; everything before it is published.
    tail: CachePadded<AtomicUsize>,
    /// How many senders wait for room.
    waiting_senders: AtomicUsize,
    closed: AtomicBool,
    /// Written by every send; padded so that lanes reading `closed` and
    /// `waiting_senders` on every batch do not steal the sender's lock line.
    state: CachePadded<Mutex<State<M>>>,
    senders: Mutex<Senders>,
    storage: S,
    mask: usize,
    /// Faults a test injects into the send path.
    #[cfg(test)]
    pub(crate) faults: super::tests::Faults,
}

/// Everything the sender lock guards.
struct State<M> {
    /// Lanes that read the ring (`Block`, `Reject`).
    ring: Vec<Arc<LaneShared<M>>>,
    /// Lanes with a queue of their own (`DropOldest`, `DropNewest`).
    lossy: Vec<Arc<LaneShared<M>>>,
    /// The sender may write below this sequence without asking `Block`
    /// lanes again: the minimum of their cursor plus capacity when last
    /// computed. Cursors only grow, so a stale limit is a safe one.
    block_limit: usize,
    /// The same for `Reject` lanes.
    reject_limit: usize,
    /// How many slots hold a message (grows to the capacity, then stays).
    live: usize,
    /// Lanes that set their sleep bit since the last publication; the next
    /// one wakes them. Its capacity is reserved at attach (one per lane, and
    /// a lane is listed at most once), so listing never allocates.
    sleepy: Vec<Arc<LaneShared<M>>>,
    /// The next plugin's id. 64-bit and never wrapped, so an id names one
    /// lane for the host's life; lanes leave by identity, never by id.
    next_id: u64,
}

/// Senders waiting for room, with the key the next one gets.
#[derive(Default)]
struct Senders {
    next: usize,
    list: Vec<(usize, Arc<dyn Wake>)>,
}

/// What the bus and a lane share. Aligned to a cache line and a whole
/// number of lines long, so no other lane's record or allocation shares its
/// lines: the lane writes its cursor and counters once per batch, and those
/// writes must not bounce a line another lane writes too. (Padding to 128
/// bytes for adjacent-line prefetch would add a quarter of a KiB to every
/// idle plugin; the lines here are written once per batch, not per message.)
#[repr(align(64))]
pub(crate) struct LaneShared<M> {
    pub(crate) id: PluginId,
    pub(crate) name: String,
    pub(crate) overflow: Overflow,
    pub(crate) capacity: usize,
    /// Ring lanes: the first sequence not yet handled, published per batch.
    pub(crate) cursor: AtomicUsize,
    pub(crate) sleeping: AtomicBool,
    /// In the bus's `sleepy` list (only changed under the send lock).
    listed: AtomicBool,
    pub(crate) detach: AtomicBool,
    /// The tail when the host detached the lane: what was sent while it
    /// was attached ends there. Written and read under the send lock.
    detached_at: AtomicUsize,
    pub(crate) waker: Arc<dyn Wake>,
    /// Lossy lanes: their own bounded queue.
    pub(crate) queue: Option<Mutex<VecDeque<Message<M>>>>,
    pub(crate) counters: Counters,
}

/// `a` comes before `b` in wrapping sequence order.
fn before(a: usize, b: usize) -> bool {
    (b.wrapping_sub(a) as isize) > 0
}

/// A batch being written under the send lock: publishes the slots written
/// so far when dropped, whether the batch ended or a write unwound.
struct Published<'a, M: Send + Sync + 'static, S: Storage<M>> {
    bus: &'a Bus<M, S>,
    state: &'a mut State<M>,
    /// The published tail when the batch started.
    tail: usize,
    /// How many slots from `tail` on were written.
    sent: usize,
}

impl<M: Send + Sync + 'static, S: Storage<M>> Drop for Published<'_, M, S> {
    fn drop(&mut self) {
        if self.sent > 0 {
            self.bus
                .publish(self.state, self.tail.wrapping_add(self.sent));
        }
    }
}

/// Why a publish stopped.
enum Refusal {
    Full,
    Closed,
    Rejected(Vec<PluginId>),
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
    pub fn new(storage: S) -> Arc<Self> {
        let capacity = storage.slots().len();
        assert!(
            capacity.is_power_of_two(),
            "ring storage must hold a power of two slots"
        );
        Arc::new(Bus {
            tail: CachePadded(AtomicUsize::new(0)),
            waiting_senders: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            state: CachePadded(Mutex::new(State {
                ring: Vec::new(),
                lossy: Vec::new(),
                block_limit: capacity,
                reject_limit: capacity,
                live: 0,
                sleepy: Vec::new(),
                next_id: 0,
            })),
            // Room for a few waiting senders up front, so that a sender's
            // first wait for room does not allocate on the send path.
            senders: Mutex::new(Senders {
                next: 0,
                list: Vec::with_capacity(4),
            }),
            storage,
            mask: capacity - 1,
            #[cfg(test)]
            faults: super::tests::Faults::default(),
        })
    }

    /// How many messages the ring holds.
    pub fn capacity(&self) -> usize {
        self.mask + 1
    }

    /// Registers a plugin and returns its lane, which the host then runs.
    /// The lane starts at the current position: it sees exactly the
    /// messages sent after `attach` returns.
    ///
    /// # Errors
    /// [`AttachError::Closed`] after [`close`](Bus::close);
    /// [`AttachError::Capacity`] for a capacity of zero, or above the ring's
    /// for `Block` and `Reject`.
    pub fn attach(
        self: &Arc<Self>,
        plugin: Box<dyn Plugin<M>>,
        options: AttachOptions,
        waker: Arc<dyn Wake>,
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
        let name = options.name.unwrap_or_else(|| String::from(plugin.name()));
        let mut state = self.state.lock();
        // ORDERING: `closed` is only set under the state lock, which we hold.
        if self.closed.load(Ordering::Relaxed) {
            return Err(AttachError::Closed);
        }
        let id = PluginId(state.next_id);
        // 2^64 attaches take centuries; should it ever happen, refusing to
        // reuse an id is the only sound answer.
        state.next_id = state
            .next_id
            .checked_add(1)
            .expect("plugin ids exhausted after 2^64 attaches");
        // ORDERING: the tail only changes under the state lock.
        let tail = self.tail.load(Ordering::Relaxed);
        let shared = Arc::new(LaneShared {
            id,
            name,
            overflow: options.overflow,
            capacity,
            cursor: AtomicUsize::new(tail),
            sleeping: AtomicBool::new(false),
            listed: AtomicBool::new(false),
            detach: AtomicBool::new(false),
            detached_at: AtomicUsize::new(0),
            waker,
            queue: (!ring_lane).then(|| Mutex::new(VecDeque::new())),
            counters: Counters::default(),
        });
        // A lane with a smaller capacity than the cached limit allows must
        // lower it now, or the sender would overrun it before recomputing.
        let limit = tail.wrapping_add(capacity);
        match options.overflow {
            Overflow::Block if before(limit, state.block_limit) => state.block_limit = limit,
            Overflow::Reject if before(limit, state.reject_limit) => state.reject_limit = limit,
            _ => {}
        }
        let lanes = state.ring.len() + state.lossy.len() + 1;
        let listed = state.sleepy.len();
        state.sleepy.reserve(lanes.saturating_sub(listed));
        if ring_lane {
            state.ring.push(shared.clone());
        } else {
            state.lossy.push(shared.clone());
        }
        drop(state);
        Ok(Lane::new(self.clone(), shared, plugin, tail))
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
        let mut state = self.state.lock();
        let seq = match self.claim(&mut state) {
            Ok(seq) => seq,
            Err(refusal) => {
                drop(state);
                return Err(refusal.with(message));
            }
        };
        let old = self.write(&mut state, seq, message);
        self.publish(&mut state, seq.wrapping_add(1));
        drop(state);
        drop(old);
        Ok(())
    }

    /// Publishes messages from the front of `batch` until it is empty or the
    /// ring is full, under one lock and with one publication, and returns how
    /// many it sent. Lanes see the whole batch at once.
    ///
    /// # Errors
    /// As [`try_send_message`](Bus::try_send_message) for the first message
    /// that could not be sent when none was; it stays in `batch`.
    pub fn try_send_batch(
        &self,
        batch: &mut VecDeque<Message<M>>,
    ) -> Result<usize, TrySendError<()>> {
        let mut state = self.state.lock();
        // ORDERING: the tail only changes under the state lock.
        let tail = self.tail.load(Ordering::Relaxed);
        // Publishes what was written when dropped, also if a write unwinds:
        // `live` must only count slots below the published tail, or
        // `Bus::drop` would drop a slot that holds nothing.
        let mut batch_of = Published {
            bus: self,
            state: &mut state,
            tail,
            sent: 0,
        };
        let mut refused = None;
        while let Some(message) = batch.pop_front() {
            let seq = batch_of.tail.wrapping_add(batch_of.sent);
            match self.claim_at(batch_of.state, seq, batch_of.sent == 0) {
                Ok(()) => {
                    // Dropped under the lock: collecting them would allocate
                    // once per batch, and the drop is one decrement or free.
                    drop(self.write(batch_of.state, seq, message));
                    batch_of.sent += 1;
                }
                Err(refusal) => {
                    batch.push_front(message);
                    refused = Some(refusal);
                    break;
                }
            }
        }
        let sent = batch_of.sent;
        drop(batch_of);
        drop(state);
        match refused {
            Some(refusal) if sent == 0 => Err(refusal.with(())),
            _ => Ok(sent),
        }
    }

    /// Checks that sequence `tail` may be written.
    fn claim(&self, state: &mut State<M>) -> Result<usize, Refusal> {
        // ORDERING: the tail only changes under the state lock.
        let seq = self.tail.load(Ordering::Relaxed);
        self.claim_at(state, seq, true).map(|()| seq)
    }

    /// Checks that `seq` may be written. A refusal by `Reject` lanes is
    /// counted in their `rejected` only if `count`: a batch that sent some
    /// messages before the refusal returns them as sent, and the refusal
    /// is counted when the retry surfaces it.
    fn claim_at(&self, state: &mut State<M>, seq: usize, count: bool) -> Result<(), Refusal> {
        // ORDERING: `closed` is only set under the state lock.
        if self.closed.load(Ordering::Relaxed) {
            return Err(Refusal::Closed);
        }
        if !before(seq, state.block_limit) {
            state.block_limit = self.limit(&state.ring, Overflow::Block, seq);
            if !before(seq, state.block_limit) {
                return Err(Refusal::Full);
            }
        }
        if !before(seq, state.reject_limit) {
            state.reject_limit = self.limit(&state.ring, Overflow::Reject, seq);
            if !before(seq, state.reject_limit) {
                let mut refused = Vec::new();
                for lane in state.ring.iter().filter(|l| l.policy() == Overflow::Reject) {
                    // ORDERING: Acquire pairs with the lane's cursor store; a
                    // stale value only refuses a send it could have taken.
                    let cursor = lane.cursor.load(Ordering::Acquire);
                    if !before(seq, cursor.wrapping_add(lane.capacity)) {
                        if count {
                            lane.counters.add_rejected();
                        }
                        refused.push(lane.id);
                    }
                }
                return Err(Refusal::Rejected(refused));
            }
        }
        Ok(())
    }

    /// The lowest `cursor + capacity` among ring lanes with this policy, or
    /// a full ring ahead of `seq` if there are none.
    fn limit(&self, lanes: &[Arc<LaneShared<M>>], policy: Overflow, seq: usize) -> usize {
        let mut limit = seq.wrapping_add(self.capacity());
        for lane in lanes.iter().filter(|l| l.policy() == policy) {
            // ORDERING: Acquire pairs with the lane's Release cursor store. A
            // waiting sender's SeqCst fence (in `add_waiting_sender`) and the
            // lane's (after its cursor store) make sure it either sees the new
            // cursor here or is woken.
            let cursor = lane.cursor.load(Ordering::Acquire);
            let lane_limit = cursor.wrapping_add(lane.capacity);
            if before(lane_limit, limit) {
                limit = lane_limit;
            }
        }
        limit
    }

    /// Feeds the lossy lanes, then writes `message` at `seq` (claimed).
    /// Returns the message the slot held before, to drop after unlocking.
    ///
    /// Nothing here is expected to unwind (a clone that overflows aborts,
    /// and so does a message whose `Drop` panics), but if feeding the lossy
    /// lanes ever did, it would be before the slot and `live` change: a
    /// caller that publishes what was written before stays consistent.
    fn write(&self, state: &mut State<M>, seq: usize, message: Message<M>) -> Option<Message<M>> {
        #[cfg(test)]
        self.faults.before_write();
        for lane in &state.lossy {
            // ORDERING: `detach` is only set under the send lock, which we
            // hold. A detached lane is no longer attached: what is sent now
            // is neither queued for it nor counted as its drop.
            if !lane.detach.load(Ordering::Relaxed) {
                lane.offer(&message);
            }
        }
        let slot = &self.storage.slots()[seq & self.mask];
        let old = if state.live == self.capacity() {
            // SAFETY: the ring is full, so every slot holds a message. The
            // claim checked that every ring lane's cursor plus capacity (at
            // most the ring's) is above `seq`, so every lane has moved past
            // `seq - capacity`, the message in this slot: no lane reads it
            // now or later. We hold the send lock, so no other writer.
            Some(unsafe { (*slot.0.get()).assume_init_read() })
        } else {
            state.live += 1;
            None
        };
        // SAFETY: as above, no lane reads this slot until the tail passes
        // `seq`, which happens after this write (Release in `publish`).
        unsafe { (*slot.0.get()).write(message) };
        old
    }

    /// Makes everything below `tail` visible and wakes the lanes that sleep.
    /// Called under the send lock, which a lane going to sleep also takes to
    /// list itself ([`list_sleeper`](Bus::list_sleeper)): either it listed
    /// itself first and is woken here, or it re-checks after this and sees
    /// the new tail. Only listed lanes are looked at, so a send with nobody
    /// asleep reads nothing but the list's length.
    fn publish(&self, state: &mut State<M>, tail: usize) {
        // ORDERING: Release publishes the slots below `tail` to lanes that
        // load it with Acquire.
        self.tail.store(tail, Ordering::Release);
        for lane in state.sleepy.drain(..) {
            // ORDERING: `listed` only changes under the send lock.
            lane.listed.store(false, Ordering::Relaxed);
            lane.notify();
        }
    }

    /// Registers a sender that will wait for room; the bus wakes it when a
    /// lane moves on, is detached, or the bus closes. Check
    /// [`has_room`](Bus::has_room) after registering and before sleeping.
    pub fn add_waiting_sender(&self, waker: Arc<dyn Wake>) -> WaiterKey {
        let mut senders = self.senders.lock();
        senders.next = senders.next.wrapping_add(1);
        let key = senders.next;
        senders.list.push((key, waker));
        // ORDERING: the fence pairs with the lane's fence between its cursor
        // store and its load of this count: either the lane sees us waiting
        // and wakes us, or our `has_room` sees its new cursor.
        self.waiting_senders.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        WaiterKey(key)
    }

    /// Removes a waiting sender registered with
    /// [`add_waiting_sender`](Bus::add_waiting_sender).
    pub fn remove_waiting_sender(&self, key: WaiterKey) {
        let mut senders = self.senders.lock();
        if let Some(i) = senders.list.iter().position(|(k, _)| *k == key.0) {
            senders.list.swap_remove(i);
            // ORDERING: a stale non-zero count only costs a spurious wake.
            self.waiting_senders.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Whether a send would find room for `Block` lanes now (or fail for
    /// another reason, so a waiting sender should retry).
    pub fn has_room(&self) -> bool {
        let mut state = self.state.lock();
        // ORDERING: `closed` and the tail only change under the state lock.
        if self.closed.load(Ordering::Relaxed) {
            return true;
        }
        let seq = self.tail.load(Ordering::Relaxed);
        state.block_limit = self.limit(&state.ring, Overflow::Block, seq);
        before(seq, state.block_limit)
    }

    /// Called by a lane right after publishing its cursor.
    pub(crate) fn wake_senders_if_waiting(&self) {
        // ORDERING: see `add_waiting_sender`.
        fence(Ordering::SeqCst);
        if self.waiting_senders.load(Ordering::Relaxed) != 0 {
            self.wake_senders();
        }
    }

    /// Wakes every waiting sender. The first few wakers are cloned out and
    /// woken after the lock is released: waking is a futex call or a task
    /// schedule, and doing it under the lock kept senders spinning in
    /// `remove_waiting_sender`. Cloning an `Arc` allocates nothing.
    fn wake_senders(&self) {
        let mut outside: [Option<Arc<dyn Wake>>; 4] = Default::default();
        {
            let senders = self.senders.lock();
            for (slot, (_, waker)) in outside.iter_mut().zip(&senders.list) {
                *slot = Some(waker.clone());
            }
            for (_, waker) in senders.list.iter().skip(outside.len()) {
                waker.wake();
            }
        }
        for waker in outside.into_iter().flatten() {
            waker.wake();
        }
    }

    /// Stops accepting messages and plugins and wakes every lane so it
    /// drains what was sent and exits. Idempotent.
    pub fn close(&self) {
        let state = self.state.lock();
        // ORDERING: SeqCst store, then the SeqCst swaps of `notify_always`
        // (release-acquire with the lane's swap of its sleep bit): a lane that
        // set its bit after our swap sees `closed`; one that set it before is
        // woken by us.
        self.closed.store(true, Ordering::SeqCst);
        for lane in state.ring.iter().chain(&state.lossy) {
            lane.notify();
        }
        drop(state);
        self.wake_senders();
    }

    /// Whether [`close`](Bus::close) was called.
    pub fn is_closed(&self) -> bool {
        // ORDERING: see `close`.
        self.closed.load(Ordering::SeqCst)
    }

    /// Asks a plugin to leave: its lane detaches it with
    /// [`Exit::Removed`](crate::Exit::Removed) before its next message.
    /// Messages sent before this that the plugin has not taken yet are
    /// counted as its drops; messages sent after are not its business.
    /// Returns false if no such plugin is attached.
    pub fn detach(&self, id: PluginId) -> bool {
        let mut state = self.state.lock();
        let Some(lane) = state.ring.iter().chain(&state.lossy).find(|l| l.id == id) else {
            return false;
        };
        let lane = lane.clone();
        // ORDERING: the tail and `detached_at` only change under the state
        // lock, which the lane takes too when it leaves (`remove`).
        let tail = self.tail.load(Ordering::Relaxed);
        lane.detached_at.store(tail, Ordering::Relaxed);
        // ORDERING: SeqCst like `close`: the lane's sleep check reads it.
        lane.detach.store(true, Ordering::SeqCst);
        if lane.overflow == Overflow::Reject {
            // Until it leaves, the lane gates the sender like a `Block` one
            // (see `LaneShared::policy`): lower the cached limit for it.
            // ORDERING: Acquire pairs with the lane's cursor store.
            let limit = lane
                .cursor
                .load(Ordering::Acquire)
                .wrapping_add(lane.capacity);
            if before(limit, state.block_limit) {
                state.block_limit = limit;
            }
        }
        drop(state);
        lane.notify();
        true
    }

    /// A snapshot of one attached plugin's counters.
    pub fn stats(&self, id: PluginId) -> Option<Stats> {
        let state = self.state.lock();
        let lane = state.ring.iter().chain(&state.lossy).find(|l| l.id == id)?;
        Some(lane.counters.snapshot())
    }

    /// Every attached plugin with a snapshot of its counters, by id.
    pub fn plugins(&self) -> Vec<PluginInfo> {
        let state = self.state.lock();
        let mut all: Vec<PluginInfo> = state
            .ring
            .iter()
            .chain(&state.lossy)
            .map(|l| PluginInfo {
                id: l.id,
                name: l.name.clone(),
                overflow: l.overflow,
                stats: l.counters.snapshot(),
            })
            .collect();
        all.sort_by_key(|p| p.id);
        all
    }

    /// How many plugins are attached.
    pub fn len(&self) -> usize {
        let state = self.state.lock();
        state.ring.len() + state.lossy.len()
    }

    /// Whether no plugin is attached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes a lane that exited; it no longer gates the sender. By the
    /// lane's identity (its shared record), never by id: removing another
    /// live lane would let the sender overwrite the slot it reads.
    ///
    /// If the host detached the lane, the messages sent to it before the
    /// detach that it did not take (`cursor` is its position in the ring)
    /// are counted as dropped, and its queue is emptied.
    pub(crate) fn remove(&self, lane: &Arc<LaneShared<M>>, cursor: usize) {
        let mut state = self.state.lock();
        let other = |l: &Arc<LaneShared<M>>| !Arc::ptr_eq(l, lane);
        state.ring.retain(other);
        state.lossy.retain(other);
        state.sleepy.retain(other);
        // ORDERING: `detach` and `detached_at` only change under the lock.
        let leftover = if !lane.detach.load(Ordering::Relaxed) {
            None
        } else if let Some(queue) = &lane.queue {
            Some(core::mem::take(&mut *queue.lock()))
        } else {
            // The lane never takes a message published after the detach
            // (it checks the flag after loading the tail), so its cursor is
            // at most `detached_at`.
            let unread = lane
                .detached_at
                .load(Ordering::Relaxed)
                .wrapping_sub(cursor);
            lane.counters.add_dropped(unread);
            None
        };
        drop(state);
        if let Some(queue) = leftover {
            lane.counters.add_dropped(queue.len());
            // Dropped outside the lock: the last reference frees a message.
            drop(queue);
        }
        self.wake_senders();
    }

    /// Makes the next attach hand out `next` as its id: lets tests give two
    /// lanes the same id, which 64-bit ids that never wrap otherwise rule out.
    #[cfg(test)]
    pub(crate) fn set_next_id(&self, next: u64) {
        self.state.lock().next_id = next;
    }

    /// The published tail.
    pub(crate) fn tail(&self, order: Ordering) -> usize {
        self.tail.load(order)
    }

    /// Lists a lane that is about to sleep, under the send lock, and sets
    /// its sleep bit: the next publication wakes it. The caller re-checks for
    /// work afterwards; a publication that came first is then visible, since
    /// the lock orders the two.
    pub(crate) fn list_sleeper(&self, lane: &Arc<LaneShared<M>>) {
        let mut state = self.state.lock();
        // ORDERING: under the send lock, which orders this with `publish`;
        // the waker's swap reads it.
        lane.sleeping.store(true, Ordering::Relaxed);
        if !lane.listed.swap(true, Ordering::Relaxed) {
            state.sleepy.push(lane.clone());
        }
    }

    /// The message at `seq`.
    ///
    /// # Safety
    /// `seq` must lie between the caller's lane cursor (which gates the
    /// sender) and a tail value the caller loaded with Acquire or stronger.
    pub(crate) unsafe fn slot(&self, seq: usize) -> &Message<M> {
        let slot = &self.storage.slots()[seq & self.mask];
        // SAFETY: by the caller's contract the slot was written before the
        // tail it loaded was published (Release/Acquire), and it is not
        // overwritten until the caller's cursor moves past `seq`.
        unsafe { (*slot.0.get()).assume_init_ref() }
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

impl Refusal {
    fn with<T>(self, value: T) -> TrySendError<T> {
        match self {
            Refusal::Full => TrySendError::Full(value),
            Refusal::Closed => TrySendError::Failed(SendError::Closed(value)),
            Refusal::Rejected(refused) => {
                TrySendError::Failed(SendError::Rejected { value, refused })
            }
        }
    }
}

impl<M> LaneShared<M> {
    /// The policy the sender applies to this lane now. A `Reject` lane the
    /// host detached still reads the ring until it leaves, so it still
    /// gates the sender, but it no longer refuses sends (nor counts them):
    /// the sender waits for it like for a `Block` lane. Called under the
    /// send lock, under which `detach` is set.
    fn policy(&self) -> Overflow {
        // ORDERING: `detach` only changes under the send lock, which the
        // caller holds.
        if self.overflow == Overflow::Reject && self.detach.load(Ordering::Relaxed) {
            Overflow::Block
        } else {
            self.overflow
        }
    }

    /// Wakes the lane if its sleep bit is still set. The swap decides who
    /// takes the bit (a publication, close, detach, or the lane cancelling),
    /// so each sleep is woken once.
    pub(crate) fn notify(&self) {
        // ORDERING: SeqCst swap: close and detach store their flag before it,
        // and the lane's own swap synchronises with it.
        if self.sleeping.swap(false, Ordering::SeqCst) {
            self.waker.wake();
        }
    }

    /// Queues a message for a lossy lane, applying its policy.
    fn offer(&self, message: &Message<M>) {
        let Some(queue) = &self.queue else { return };
        let mut queue = queue.lock();
        if queue.len() < self.capacity {
            queue.push_back(message.clone());
            return;
        }
        match self.overflow {
            Overflow::DropOldest => {
                let oldest = queue.pop_front();
                queue.push_back(message.clone());
                drop(queue);
                drop(oldest);
            }
            _ => drop(queue),
        }
        self.counters.add_dropped(1);
    }
}

impl<M: Send + Sync + 'static, S: Storage<M>> Drop for Bus<M, S> {
    fn drop(&mut self) {
        // ORDERING: `&mut self`: no other thread touches the bus any more.
        let tail = self.tail.load(Ordering::Relaxed);
        let state = self.state.0.get_mut();
        let slots = self.storage.slots();
        for i in 1..=state.live {
            let slot = &slots[tail.wrapping_sub(i) & self.mask];
            // SAFETY: the `live` slots before the tail hold messages, and
            // with `&mut self` no lane can read them any more.
            unsafe { (*slot.0.get()).assume_init_drop() };
        }
    }
}

impl<M: Send + Sync + 'static, S: Storage<M>> fmt::Debug for Bus<M, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bus")
            .field("capacity", &self.capacity())
            .field("sent", &self.tail.load(Ordering::Relaxed))
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Identifies a sender registered with [`Bus::add_waiting_sender`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaiterKey(usize);

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
