//! The ring itself: claiming positions, writing and publishing slots,
//! gating senders on the readers, feeding lossy readers in ring order,
//! closing, and the sender's half of the sleep handshake. The protocol is
//! explained in the [module](super) documentation.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::marker::PhantomData;
use core::sync::atomic::Ordering;
use core::task::Waker;

use super::padded::CachePadded;
use super::pos::Pos;
use super::reader::{Batch, Cursor, Gate, Owner};
use super::senders::{Senders, WaiterKey};
use super::sleepers::Sleepers;
use super::storage::Storage;
use crate::message::Message;
use crate::sync::{AtomicBool, AtomicUsize, Mutex, fence};

/// Bit 0 of the head: the ring is closed, no claim succeeds any more.
const CLOSED: usize = 1;

/// Positions a sender claimed, to write and then publish, all of them.
#[must_use = "claimed positions must be written and published, or lanes wait for them"]
#[derive(Debug)]
pub(crate) struct Claim {
    start: Pos,
    len: usize,
}

impl Claim {
    /// How many positions were claimed (at least 1).
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// Why a claim found no position.
pub(crate) enum Refusal<R> {
    /// A `Block` reader (or the lossy readers' feeder) is a whole capacity
    /// behind: wait for room and retry.
    Full,
    /// The ring is closed.
    Closed,
    /// These `Reject` readers are a whole capacity behind.
    Rejected(Vec<Arc<R>>),
}

/// The shared ring of one bus: see the [module](super) documentation.
pub(crate) struct Ring<M, S: Storage<M>, R: Owner<M>> {
    /// The next position to claim, with [`CLOSED`] in bit 0. Written by
    /// every claim, so it has its line to itself with the cached limits
    /// that every claim reads.
    claims: CachePadded<Claims>,
    /// Lanes that pushed themselves before they slept.
    sleepers: CachePadded<Sleepers<R>>,
    /// Senders waiting for room.
    senders: Senders,
    /// The readers that gate senders (`Block` and `Reject`).
    readers: Mutex<Vec<Arc<R>>>,
    /// The lossy readers and how far they have been fed.
    feed: Feed<R>,
    storage: S,
    mask: usize,
    _message: PhantomData<fn() -> M>,
}

struct Claims {
    head: AtomicUsize,
    /// A claim below these needs no look at the readers: the lowest
    /// `position + capacity` of the `Block` readers (and the feeder) and of
    /// the `Reject` readers, when last computed. Positions only grow, so a
    /// stale limit is a safe one; a reader that joins lowers them.
    block_limit: AtomicUsize,
    reject_limit: AtomicUsize,
}

struct Feed<R> {
    /// Whether there are lossy readers; SeqCst, see `add_feeder`.
    present: AtomicBool,
    /// The position up to which every published message was fed, for the
    /// senders' limit (a mirror of `state.fed`).
    position: AtomicUsize,
    state: Mutex<FeedState<R>>,
}

struct FeedState<R> {
    lanes: Vec<Arc<R>>,
    fed: Pos,
}

impl<M, S: Storage<M>, R: Owner<M>> Ring<M, S, R> {
    /// A ring over `storage`, whose length must be a power of two.
    pub(crate) fn new(storage: S) -> Self {
        let capacity = storage.slots().len();
        assert!(
            capacity.is_power_of_two(),
            "ring storage must hold a power of two slots"
        );
        // Every slot looks as if the message one lap before the first was
        // published in it: a sender that claims a position checks that the
        // previous message of its slot is published (see `write`).
        for (i, slot) in storage.slots().iter().enumerate() {
            // ORDERING: the ring is not shared yet.
            slot.stamp
                .store(Pos::ZERO.add(i).sub(capacity).stamp(), Ordering::Relaxed);
        }
        let room = Pos::ZERO.add(capacity).raw();
        Ring {
            claims: CachePadded(Claims {
                head: AtomicUsize::new(0),
                block_limit: AtomicUsize::new(room),
                reject_limit: AtomicUsize::new(room),
            }),
            sleepers: CachePadded(Sleepers::new()),
            senders: Senders::new(),
            readers: Mutex::new(Vec::new()),
            feed: Feed {
                present: AtomicBool::new(false),
                position: AtomicUsize::new(0),
                state: Mutex::new(FeedState {
                    lanes: Vec::new(),
                    fed: Pos::ZERO,
                }),
            },
            storage,
            mask: capacity - 1,
            _message: PhantomData,
        }
    }

    /// How many messages the ring holds.
    pub(crate) fn capacity(&self) -> usize {
        self.mask + 1
    }

    /// The next position to claim: every message before it was claimed
    /// (and is published, or will be by its sender).
    pub(crate) fn head(&self) -> Pos {
        // ORDERING: SeqCst: ordered with `close`, with claims, and with the
        // lanes' checks of the detach flag (see the module's "Detach").
        Pos::from_raw(self.claims.head.load(Ordering::SeqCst))
    }

    /// Whether [`close`](Ring::close) was called.
    pub(crate) fn is_closed(&self) -> bool {
        // ORDERING: as in `head`.
        self.claims.head.load(Ordering::SeqCst) & CLOSED != 0
    }

    /// Closes the ring: every claim from now on fails. Claims made before
    /// are still written and published. Wakes the waiting senders; waking
    /// the lanes is the caller's (it knows them all).
    pub(crate) fn close(&self) {
        // ORDERING: a claim's CAS either comes before (and its message is
        // published and read before lanes see the end) or fails. The fence
        // then pairs with a sleeping lane's (see `prepare_sleep`): either it
        // sees the ring closed, or the caller's swap of its bit sees it set.
        self.claims.head.fetch_or(CLOSED, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        self.senders.wake_all();
    }

    /// The address that identifies this ring to its cursors.
    fn id(&self) -> usize {
        core::ptr::from_ref(self).addr()
    }

    /// Registers a reader that gates senders (`Block` or `Reject`) at the
    /// current head: it sees exactly the messages claimed after this.
    pub(crate) fn add_reader(&self, owner: Arc<R>) -> Cursor<R> {
        let reader = owner.reader();
        let gate = reader.gate();
        debug_assert!(gate != Gate::Feed, "a lossy reader is fed, not gating");
        let mut readers = self.readers.lock();
        let start = self.head();
        // ORDERING: Release, like a lane's own position stores; senders
        // read it under the reader lock we hold, or after it.
        reader.position.store(start.raw(), Ordering::Release);
        reader.ring.store(self.id(), Ordering::Relaxed);
        let limit = start.add(reader.capacity);
        match gate {
            Gate::Reject => lower(&self.claims.reject_limit, limit),
            _ => lower(&self.claims.block_limit, limit),
        }
        readers.push(owner.clone());
        drop(readers);
        Cursor {
            owner,
            pos: start,
            ring: self.id(),
        }
    }

    /// Unregisters a gating reader: it holds no sender back any more.
    pub(crate) fn remove_reader(&self, owner: &Arc<R>) {
        self.readers.lock().retain(|r| !Arc::ptr_eq(r, owner));
        // A sender may have waited for this reader.
        self.senders.wake_all();
    }

    /// Makes a `Reject` reader gate like a `Block` one from now on: senders
    /// wait for it instead of failing.
    pub(crate) fn block_on(&self, owner: &Arc<R>) {
        let _readers = self.readers.lock();
        let reader = owner.reader();
        reader.set_gate(Gate::Block);
        lower(&self.claims.block_limit, reader.limit());
    }

    /// Registers a lossy reader: it is fed (through [`Owner::feed`]) every
    /// message claimed after this, in ring order. Returns where it starts.
    pub(crate) fn add_feeder(&self, owner: Arc<R>) -> Pos {
        let readers = self.readers.lock();
        let mut feed = self.feed.state.lock();
        if feed.lanes.is_empty() {
            // ORDERING: the store, a SeqCst fence, then the load of the
            // head: with the fence in `publish` (after the claim), either
            // our load sees a sender's claim, so its message is before where
            // feeding starts, or the sender sees `present` and feeds it.
            self.feed.present.store(true, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            feed.fed = self.head();
            // ORDERING: Release, read by senders computing their limit.
            self.feed.position.store(feed.fed.raw(), Ordering::Release);
            lower(&self.claims.block_limit, feed.fed.add(self.capacity()));
        }
        let start = self.head();
        // ORDERING: read under the feed lock we hold (`Reader::start`).
        owner
            .reader()
            .position
            .store(start.raw(), Ordering::Relaxed);
        feed.lanes.push(owner);
        drop(feed);
        drop(readers);
        start
    }

    /// Unregisters a lossy reader; it is fed nothing more. Returns how many
    /// messages claimed since it started were not fed to it: those claimed
    /// but not yet fed to anyone.
    pub(crate) fn remove_feeder(&self, owner: &Arc<R>) -> usize {
        let mut feed = self.feed.state.lock();
        feed.lanes.retain(|r| !Arc::ptr_eq(r, owner));
        if feed.lanes.is_empty() {
            // ORDERING: a sender that still sees `present` feeds nobody.
            self.feed.present.store(false, Ordering::Relaxed);
        }
        let unfed = feed.fed.max(owner.reader().start()).room(self.head());
        drop(feed);
        // The feeder no longer gates: a sender may have waited for it.
        self.senders.wake_all();
        unfed
    }

    /// Where feeding the lossy readers has got to: every message before it
    /// has been fed.
    pub(crate) fn fed(&self) -> Pos {
        // ORDERING: Acquire pairs with the Release in `feed_published`.
        Pos::from_raw(self.feed.position.load(Ordering::Acquire))
    }

    /// Claims up to `n` consecutive positions (at least 1), as many as every
    /// reader has room for.
    pub(crate) fn claim(&self, n: usize) -> Result<Claim, Refusal<R>> {
        debug_assert!(n > 0);
        let claims = &self.claims;
        // ORDERING: Relaxed; the CAS below decides.
        let mut raw = claims.head.load(Ordering::Relaxed);
        loop {
            if raw & CLOSED != 0 {
                return Err(Refusal::Closed);
            }
            let start = Pos::from_raw(raw);
            // ORDERING: Acquire pairs with the Release store of a limit,
            // made after Acquire loads of the positions it comes from: the
            // readers' reads of the slots below happen before our write.
            let mut block = start.room(Pos::from_raw(claims.block_limit.load(Ordering::Acquire)));
            let mut reject = start.room(Pos::from_raw(claims.reject_limit.load(Ordering::Acquire)));
            if block == 0 || reject == 0 {
                (block, reject) = self.refresh_limits(start);
                if block == 0 {
                    return Err(Refusal::Full);
                }
                if reject == 0 {
                    return Err(Refusal::Rejected(self.full_rejecters(start)));
                }
            }
            let len = n.min(block).min(reject);
            // ORDERING: SeqCst: the claim is ordered with `close` (fetch_or),
            // with `add_feeder`'s load of the head, and with a detach's
            // load of the head.
            match claims.head.compare_exchange_weak(
                raw,
                start.add(len).raw(),
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(Claim { start, len }),
                Err(now) => raw = now,
            }
        }
    }

    /// Recomputes both limits from the readers, stores them, and returns
    /// the room each leaves from `start`.
    fn refresh_limits(&self, start: Pos) -> (usize, usize) {
        let readers = self.readers.lock();
        let mut block = start.add(self.capacity());
        let mut reject = block;
        for owner in readers.iter() {
            let reader = owner.reader();
            match reader.gate() {
                Gate::Reject => reject = reject.min(reader.limit()),
                _ => block = block.min(reader.limit()),
            }
        }
        // ORDERING: under the reader lock, which `add_feeder` holds while it
        // sets it.
        if self.feed.present.load(Ordering::Relaxed) {
            block = block.min(self.fed().add(self.capacity()));
        }
        // ORDERING: Release, after the Acquire loads of the positions (see
        // `claim`). Under the reader lock, so a reader joining in between
        // cannot have its lower limit overwritten.
        self.claims
            .block_limit
            .store(block.raw(), Ordering::Release);
        self.claims
            .reject_limit
            .store(reject.raw(), Ordering::Release);
        drop(readers);
        (start.room(block), start.room(reject))
    }

    /// The `Reject` readers a whole capacity behind `start`.
    fn full_rejecters(&self, start: Pos) -> Vec<Arc<R>> {
        let readers = self.readers.lock();
        readers
            .iter()
            .filter(|owner| {
                let reader = owner.reader();
                reader.gate() == Gate::Reject && !start.before(reader.limit())
            })
            .cloned()
            .collect()
    }

    /// Whether a claim would find room for every `Block` reader now (or
    /// fail for another reason, so a waiting sender should retry).
    pub(crate) fn has_room(&self) -> bool {
        // ORDERING: SeqCst, as in `head`.
        let raw = self.claims.head.load(Ordering::SeqCst);
        raw & CLOSED != 0 || self.refresh_limits(Pos::from_raw(raw)).0 > 0
    }

    /// Writes `message` at the `i`th position of `claim` and returns the
    /// message the slot held before (the caller drops it, preferably after
    /// publishing).
    pub(crate) fn write(&self, claim: &Claim, i: usize, message: Message<M>) -> Option<Message<M>> {
        assert!(i < claim.len, "writes stay inside the claim");
        let pos = claim.start.add(i);
        let slot = &self.storage.slots()[pos.index(self.mask)];
        let previous = pos.sub(self.capacity()).stamp();
        // ORDERING: Acquire pairs with the Release store of the stamp of
        // the slot's previous message, so its sender's write of it happens
        // before our overwrite. A gating reader (or the feeder) only passes
        // a published message, so with any of them this holds at once; with
        // none, a sender a whole lap ahead waits here for one that claimed
        // before it and has not published yet.
        while slot.stamp.load(Ordering::Acquire) != previous {
            core::hint::spin_loop();
        }
        // SAFETY: the claim gives this sender alone the position `pos`. The
        // claim stayed below every gating reader's `position + capacity`
        // (capacity at most the ring's), so every reader has moved past
        // `pos - capacity`, the message in the slot now, and no lane reads
        // it any more; readers that joined since start at or after a head
        // above it. No lane reads the slot for `pos` before its stamp says
        // so, which `publish` stores after this write (Release).
        unsafe { (*slot.message.get()).replace(message) }
    }

    /// Publishes every position of `claim` (all written), feeds the lossy
    /// readers, and wakes the lanes that went to sleep.
    pub(crate) fn publish(&self, claim: Claim) {
        let slots = self.storage.slots();
        for i in 0..claim.len {
            let pos = claim.start.add(i);
            // ORDERING: Release: a lane that sees the stamp (Acquire) sees
            // the message written before it.
            slots[pos.index(self.mask)]
                .stamp
                .store(pos.stamp(), Ordering::Release);
        }
        // ORDERING: the sender's SeqCst fence, between its stamp stores and
        // its loads of `feed.present` and of the sleeper list (and the
        // swaps of the sleep bits that follow): pairs with the lane's fence
        // in `prepare_sleep` (either the lane sees the stamps, or we see it
        // listed and its bit set) and with `add_feeder`'s (either it sees
        // our claim, or we see `present`).
        fence(Ordering::SeqCst);
        // Lossy lanes are fed before the sleepers are woken; a lossy lane's
        // check for work takes the queue lock the feeding took.
        self.feed_published();
        if !self.sleepers.is_empty() {
            self.sleepers.wake();
        }
    }

    /// Passes on wake-ups a sender left owed (see `sleepers`): a lane calls
    /// it at each step, so the lanes a sender woke wake the others.
    pub(crate) fn help_wakes(&self) {
        self.sleepers.help();
    }

    /// Wakes every lane still owed a wake-up: a lane that leaves calls it,
    /// as it passes nothing on after.
    pub(crate) fn settle_wakes(&self) {
        self.sleepers.settle();
    }

    /// Feeds the lossy readers every message published from where feeding
    /// stopped, in ring order; the sender of any message may be the one
    /// that feeds it, so that one whose predecessor has not published yet
    /// leaves its message for the predecessor to feed.
    fn feed_published(&self) {
        // ORDERING: Relaxed after `publish`'s SeqCst fence, see `add_feeder`.
        if !self.feed.present.load(Ordering::Relaxed) {
            return;
        }
        let slots = self.storage.slots();
        let mut feed = self.feed.state.lock();
        let start = feed.fed;
        loop {
            let pos = feed.fed;
            let slot = &slots[pos.index(self.mask)];
            // ORDERING: Acquire pairs with the stamp's Release store.
            if slot.stamp.load(Ordering::Acquire) != pos.stamp() {
                break;
            }
            // SAFETY: the stamp says the message for `pos` is in the slot.
            // The feeder's position (`fed`, at most `pos`) gates senders, so
            // nobody overwrites it while we hold the feed lock.
            let message = unsafe { (*slot.message.get()).as_ref() };
            if let Some(message) = message {
                for lane in &feed.lanes {
                    lane.feed(pos, message);
                }
            }
            feed.fed = pos.add(1);
        }
        if feed.fed == start {
            return;
        }
        // ORDERING: Release, read (Acquire) by senders computing a limit and
        // by lossy lanes checking whether feeding is complete.
        self.feed.position.store(feed.fed.raw(), Ordering::Release);
        drop(feed);
        // Room for a sender that waited for the feeder.
        self.senders.wake_if_waiting();
    }

    /// The lane's batch: the messages from its cursor on, up to `end` (a
    /// head the lane loaded) and at most `max`, as far as they are
    /// published. The extent is fixed here, with an Acquire load of each
    /// stamp, so that whatever the lane loads after this sees everything its
    /// senders did before publishing any message of the batch.
    ///
    /// # Panics
    /// If the cursor belongs to another ring.
    pub(crate) fn batch<'a>(
        &'a self,
        cursor: &'a mut Cursor<R>,
        end: Pos,
        max: usize,
    ) -> Batch<'a, M, R> {
        assert_eq!(cursor.ring, self.id(), "a cursor reads its own ring");
        let start = cursor.pos;
        let bound = if start.until(end) > max {
            start.add(max)
        } else {
            end
        };
        let slots = self.storage.slots();
        let mut end = start;
        // ORDERING: Acquire pairs with each sender's Release store of the
        // stamp, after it wrote the message.
        while end != bound
            && slots[end.index(self.mask)].stamp.load(Ordering::Acquire) == end.stamp()
        {
            end = end.add(1);
        }
        Batch {
            slots: self.storage.slots(),
            mask: self.mask,
            senders: &self.senders,
            next: start,
            end,
            cursor,
        }
    }

    /// Whether the message at `pos` is published.
    pub(crate) fn is_published(&self, pos: Pos) -> bool {
        let slot = &self.storage.slots()[pos.index(self.mask)];
        // ORDERING: Acquire, like a batch's read; a sleeping lane calls it
        // after its SeqCst fence (see `prepare_sleep`).
        slot.stamp.load(Ordering::Acquire) == pos.stamp()
    }

    /// The lane's half of the sleep handshake: registers its waker, sets
    /// its sleep bit, lists it, fences, then asks `has_work`. Returns true
    /// if the lane may sleep: whoever publishes, closes or detaches next
    /// wakes it. Returns false, with the bit cleared, if work came.
    pub(crate) fn prepare_sleep(
        &self,
        owner: &Arc<R>,
        waker: &Waker,
        has_work: impl FnOnce() -> bool,
    ) -> bool {
        let reader = owner.reader();
        reader.register(waker);
        // ORDERING: a swap, so that every change of the bit is a
        // read-modify-write and they form one chain (each reads the one
        // before); the fences below order it with the checks.
        reader.sleeping.swap(true, Ordering::AcqRel);
        // ORDERING: between the bit and the look at `listed` in `push`;
        // pairs with the fence whoever goes through a list issues between
        // clearing an entry's `listed` and swapping its bit: either we see
        // `listed` cleared (and push again), or its swap sees our bit.
        fence(Ordering::SeqCst);
        self.sleepers.push(owner);
        // ORDERING: the lane's fence of the sleep handshake, between its
        // listing and its checks for work; it pairs with the fence a sender
        // issues after publishing (and close's and detach's) before it
        // loads the list and swaps bits. Either the sender's fence comes
        // first in the single order of SeqCst fences, and the checks see
        // what it published, or ours does, and its load of the list sees us
        // listed.
        fence(Ordering::SeqCst);
        // A lane about to sleep passes on the wake-ups it may owe first
        // (after its bit: if a waker found the bit cleared and counted on
        // this lane to pass them on, the swap above saw that waker's swap,
        // and so sees what it owed).
        self.sleepers.help();
        if has_work() {
            reader.cancel_sleep();
            return false;
        }
        true
    }

    /// The waiting senders.
    pub(crate) fn senders(&self) -> &Senders {
        &self.senders
    }

    /// Registers a sender waiting for room; see [`Senders::add`].
    pub(crate) fn add_waiting_sender(&self, waker: &Waker) -> WaiterKey {
        self.senders.add(waker)
    }
}

/// Lowers a cached limit to `limit` if that is below it. Called under the
/// reader lock, which every store of a limit holds.
fn lower(cached: &AtomicUsize, limit: Pos) {
    // ORDERING: under the reader lock; Release like `refresh_limits`.
    let current = Pos::from_raw(cached.load(Ordering::Relaxed));
    if limit.before(current) {
        cached.store(limit.raw(), Ordering::Release);
    }
}

impl<M, S: Storage<M>, R: Owner<M>> fmt::Debug for Ring<M, S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("capacity", &self.capacity())
            .field("head", &self.head())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}
