//! What a lane and the bus share: the plugin's id, name, policy and
//! counters, its reader in the ring, and a lossy lane's queue.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use super::instance::Control;
use super::stats::Counters;
use crate::message::Message;
use crate::plugin::PluginId;
use crate::policy::Overflow;
use crate::ring::{AsReader, Gate, Owner, Pos, Reader};
use crate::sync::{AtomicBool, AtomicUsize, Mutex};

/// What the bus and a lane share. Aligned to a cache line and a whole
/// number of lines long, so no other lane's record or allocation shares its
/// lines: the lane writes its position and counters once per batch, and
/// those writes must not bounce a line another lane writes too. (Padding to
/// 128 bytes for adjacent-line prefetch would add a quarter of a KiB to
/// every idle plugin; the lines here are written once per batch, not per
/// message.)
#[repr(align(64))]
pub(crate) struct LaneShared<M: Send + Sync + 'static> {
    pub(crate) reader: Reader,
    pub(crate) id: PluginId,
    pub(crate) name: String,
    pub(crate) overflow: Overflow,
    pub(crate) capacity: usize,
    /// The host asked the plugin to leave ([`Bus::detach`](super::Bus::detach)).
    pub(crate) detach: AtomicBool,
    /// Ring lanes: the head when the host detached the lane, where what was
    /// sent while it was attached ends. Written and read under the
    /// registry lock.
    pub(crate) detached_at: AtomicUsize,
    /// Lossy lanes: their own bounded queue, fed by the ring in order.
    /// Boxed: most lanes read the ring and never need it.
    pub(crate) queue: Option<Box<Mutex<VecDeque<Message<M>>>>>,
    pub(crate) counters: Counters,
    /// Replacements on their way to the lane, which takes them between two
    /// batches; `controls` says whether there are any without the lock.
    control: Mutex<Vec<Control<M>>>,
    controls: AtomicBool,
    /// An async plugin's pending future was woken: the lane polls it again
    /// (see the [`Wake`] impl).
    woken: AtomicBool,
}

impl<M: Send + Sync + 'static> LaneShared<M> {
    pub(crate) fn new(id: PluginId, name: String, overflow: Overflow, capacity: usize) -> Self {
        let gate = match overflow {
            Overflow::Block => Gate::Block,
            Overflow::Reject => Gate::Reject,
            Overflow::DropOldest | Overflow::DropNewest => Gate::Feed,
        };
        LaneShared {
            reader: Reader::new(gate, capacity),
            id,
            name,
            overflow,
            capacity,
            detach: AtomicBool::new(false),
            detached_at: AtomicUsize::new(0),
            queue: (gate == Gate::Feed).then(|| Box::new(Mutex::new(VecDeque::new()))),
            counters: Counters::default(),
            control: Mutex::new(Vec::new()),
            controls: AtomicBool::new(false),
            woken: AtomicBool::new(false),
        }
    }

    /// Queues a replacement for the lane (under the registry lock: see
    /// `Bus::replace`).
    pub(crate) fn push_control(&self, control: Control<M>) {
        self.control.lock().push(control);
        // ORDERING: SeqCst like `detach`: the lane's sleep check reads it.
        self.controls.store(true, Ordering::SeqCst);
    }

    /// Whether a replacement waits for the lane.
    pub(crate) fn has_controls(&self) -> bool {
        // ORDERING: SeqCst, read in the sleep check like `detach`.
        self.controls.load(Ordering::SeqCst)
    }

    /// The next replacement for the lane, in the order they were sent.
    pub(crate) fn take_control(&self) -> Option<Control<M>> {
        let mut queue = self.control.lock();
        // A handful at most: a Vec keeps the shared record within its lines.
        let control = (!queue.is_empty()).then(|| queue.remove(0));
        if queue.is_empty() {
            // ORDERING: under the lock that `push_control` stores under.
            self.controls.store(false, Ordering::SeqCst);
        }
        control
    }

    /// Whether a pending future was woken since the last call; clears it.
    pub(crate) fn take_woken(&self) -> bool {
        // ORDERING: SeqCst like the store in `wake_by_ref`; cleared before
        // the lane polls, so a wake during the poll is seen next time.
        self.woken.swap(false, Ordering::SeqCst)
    }

    /// Whether a pending future was woken (the lane's sleep check).
    pub(crate) fn is_woken(&self) -> bool {
        // ORDERING: SeqCst, read in the sleep check like `detach`.
        self.woken.load(Ordering::SeqCst)
    }

    /// Whether the host asked the plugin to leave.
    pub(crate) fn detach_requested(&self) -> bool {
        // ORDERING: SeqCst: see the ring's notes on detach (the flag is
        // stored before the head is read, and loaded after it).
        self.detach.load(Ordering::SeqCst)
    }

    /// Queues a message for a lossy lane, applying its policy.
    fn offer(&self, message: &Message<M>) {
        let Some(queue) = &self.queue else { return };
        #[cfg(test)]
        super::tests::before_offer();
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

impl<M: Send + Sync + 'static> AsReader for LaneShared<M> {
    fn reader(&self) -> &Reader {
        &self.reader
    }
}

impl<M: Send + Sync + 'static> Owner<M> for LaneShared<M> {
    fn feed(&self, pos: Pos, message: &Message<M>) {
        // A lossy reader starts where the ring registered it.
        if pos.before(self.reader.start()) {
            return;
        }
        self.offer(message);
    }
}

/// The waker an async plugin's future gets: waking it marks the lane ready
/// (its sleep check sees `woken`) and wakes the lane like a sender does,
/// so a thread parks, a task sleeps and [`LocalHost`](crate::LocalHost)
/// skips the lane until then.
impl<M: Send + Sync + 'static> alloc::task::Wake for LaneShared<M> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // ORDERING: SeqCst, then the fence before the swap of the sleep
        // bit: the protocol of `Bus::detach` (see the ring's "Sleep and
        // wake-up"): the lane either sees the flag in its check for work
        // or its bit is taken here.
        self.woken.store(true, Ordering::SeqCst);
        crate::sync::fence(Ordering::SeqCst);
        self.reader.notify();
    }
}
