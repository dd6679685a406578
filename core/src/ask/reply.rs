//! The reply object of one question: what every [`Request`] and the
//! question's envelope point to, and the book of who answered.
//!
//! # Protocol
//! One `Shared<A>` per question, in an `Arc` of the binary that asked. It
//! starts with a [`Hook`]: a pointer to a table of `extern "C"` functions of
//! that binary. Everything else reaches it only through those functions, so
//! a dynamic plugin that answers runs the asker's code on the asker's
//! memory, and its answer crosses as an envelope of its own (freed by its
//! allocator, retaining its library). Three kinds of callers:
//! - the plugin, through [`Request::answer`](super::Request::answer) and
//!   [`Responder`](super::Responder): `answer`, `defer`, `undefer`;
//! - the lanes, through the envelope's header: `delivered`, after the
//!   filter and the handler ran (or panicked) for the question;
//! - holders of a reference (the envelope, each request and responder, the
//!   asker): `retain`, `release`; the envelope's are `hold` and `unhold`,
//!   which also count the question in [`questions_live`].
//!
//! # Lanes skip the hook while no question lives
//! A lane would otherwise read every envelope's hook after every delivery.
//! Instead it loads [`questions_live`] once per batch, after it took the
//! batch (the Acquire load of the ring's tail, or the queue's lock), and
//! looks at hooks only if some question's envelope is alive. That cannot
//! miss a question in the batch: its envelope was counted before it was
//! published, the lane's Acquire saw the publication, so the count it loads
//! includes it; and the envelope is still counted while the batch holds it.
//! The count lives in the binary that asks, and its lanes are that binary's
//! (a host's), so both sides read one counter.
//!
//! Each plugin has a slot in the book. It is settled once the plugin
//! answered, panicked, or its lane delivered the question and no responder
//! of it is left; the asker waits until every slot is settled or the
//! deadline passes, then closes the book. An answer to a closed book, or to
//! a slot already settled without an answer, is late: refused and counted.
//! A plugin's slot is the same whichever of its lanes' threads it answers
//! from, because it is found by the id the plugin passes, not by a thread.
//!
//! A child-side runner (a plugin isolated in another process) stands in
//! for this object by making a `Hook` of its own, whose functions forward
//! over its channel; the plugin cannot tell.
//!
//! Everything is under one lock per question; the late count is a
//! statistic. No lock-free protocol here, so nothing for loom.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use core::task::{Context, Poll};

use super::answers::{Answer, Answers};
use crate::dispatch::guard::guard;
use crate::message::{ImageOwner, Message, retain_own_image};
use crate::plugin::PluginId;
use crate::sync::AtomicWaker;

/// The point in time after which answers are late (with `std`).
#[cfg(feature = "std")]
pub(crate) type Deadline = Option<std::time::Instant>;
/// Without `std` there is no clock: only the asker closes the book.
#[cfg(not(feature = "std"))]
pub(crate) type Deadline = Option<core::convert::Infallible>;

#[cfg(feature = "std")]
extern crate std;

/// What a lane tells a question after it is done with it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Delivery<'a> {
    /// The handler ran and returned.
    Handled,
    /// The filter declined it.
    Filtered,
    /// The filter or the handler panicked with this message.
    Panicked(&'a str),
}

/// The start of a reply object: its creator's functions.
#[repr(C)]
pub(crate) struct Hook {
    pub(super) vtable: &'static VTable,
}

/// A reply object's functions, all compiled into the binary that made it.
/// `plugin` is a [`PluginId`] as a number.
#[repr(C)]
pub(super) struct VTable {
    /// Takes the `Message<A>` behind `answer` if it returns
    /// [`Code::TAKEN`]; otherwise leaves it to the caller.
    pub(super) answer:
        unsafe extern "C" fn(hook: *const Hook, plugin: u64, answer: *mut c_void) -> u8,
    /// A responder of `plugin` was made; returns whether it counts (the
    /// slot was still open).
    pub(super) defer: unsafe extern "C" fn(hook: *const Hook, plugin: u64) -> bool,
    /// A responder that counted is gone.
    pub(super) undefer: unsafe extern "C" fn(hook: *const Hook, plugin: u64),
    /// `plugin`'s lane is done with the question: [`Code`] `HANDLED`,
    /// `FILTERED` or `PANICKED`, with the panic's message in `text`.
    pub(super) delivered:
        unsafe extern "C" fn(hook: *const Hook, plugin: u64, code: u8, text: *const u8, len: usize),
    pub(super) retain: unsafe extern "C" fn(hook: *const Hook),
    pub(super) release: unsafe extern "C" fn(hook: *const Hook),
    /// `retain` for the question's envelope, counting it as live.
    pub(super) hold: unsafe extern "C" fn(hook: *const Hook),
    /// `release` for the question's envelope; returns the image owner that
    /// `hold` retained for it, for the caller to release last.
    pub(super) unhold: unsafe extern "C" fn(hook: *const Hook) -> *const ImageOwner,
}

/// Question envelopes alive in this binary (see the module's docs).
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Whether any question's envelope is alive: a lane looks at hooks only
/// then. Call it after taking a batch (see the module's docs).
#[inline]
pub(crate) fn questions_live() -> bool {
    // ORDERING: Relaxed after the lane's Acquire (tail load or queue lock),
    // which made the count's increment for every envelope in its batch
    // visible; see the module's docs.
    LIVE.load(Ordering::Relaxed) != 0
}

/// The codes the functions exchange.
pub(crate) struct Code;

impl Code {
    pub(crate) const TAKEN: u8 = 0;
    pub(crate) const LATE: u8 = 1;
    pub(crate) const DUPLICATE: u8 = 2;
    const HANDLED: u8 = 0;
    const FILTERED: u8 = 1;
    const PANICKED: u8 = 2;
}

impl Hook {
    /// Adds a reference.
    ///
    /// # Safety
    /// `hook` is live: the caller holds a reference.
    pub(crate) unsafe fn retain(hook: *const Hook) {
        // SAFETY: live by the caller's contract; the creator's function.
        unsafe { ((*hook).vtable.retain)(hook) }
    }

    /// Adds the reference a question's envelope holds, counted live; it
    /// also retains the asking binary's image for the envelope (which has
    /// no room of its own for it: see `Message::with_hook`).
    ///
    /// # Safety
    /// `hook` is live: the caller holds a reference. Called once per
    /// question, from the binary that made it.
    pub(crate) unsafe fn hold(hook: *const Hook) {
        // SAFETY: live by the caller's contract; the creator's function.
        unsafe { ((*hook).vtable.hold)(hook) }
    }

    /// Drops the reference a question's envelope held; returns the image
    /// owner retained for it, which the caller releases after everything
    /// else (it may unload the code of `hook`).
    ///
    /// # Safety
    /// `hook` is the envelope's reference, given up.
    pub(crate) unsafe fn unhold(hook: *const Hook) -> *const ImageOwner {
        // SAFETY: the reference keeps it live until this call.
        unsafe { ((*hook).vtable.unhold)(hook) }
    }

    /// Drops a reference, if `hook` is not null.
    ///
    /// # Safety
    /// `hook` is null or a reference the caller gives up.
    pub(crate) unsafe fn release_if_any(hook: *const Hook) {
        if !hook.is_null() {
            // SAFETY: the caller's reference keeps it live until this call.
            unsafe { ((*hook).vtable.release)(hook) }
        }
    }

    /// Tells the question that `plugin`'s lane is done with it.
    ///
    /// # Safety
    /// `hook` is live.
    pub(crate) unsafe fn delivered(hook: *const Hook, plugin: PluginId, delivery: Delivery<'_>) {
        let (code, text) = match delivery {
            Delivery::Handled => (Code::HANDLED, ""),
            Delivery::Filtered => (Code::FILTERED, ""),
            Delivery::Panicked(text) => (Code::PANICKED, text),
        };
        // SAFETY: live by the caller's contract; `text` outlives the call.
        unsafe { ((*hook).vtable.delivered)(hook, plugin.0, code, text.as_ptr(), text.len()) }
    }

    /// Offers `plugin`'s answer; returns a [`Code`], and the envelope back
    /// unless it was taken.
    ///
    /// # Safety
    /// `hook` is live, and is the hook of a question whose answers are `A`.
    pub(crate) unsafe fn answer<A>(
        hook: *const Hook,
        plugin: PluginId,
        answer: Message<A>,
    ) -> Result<(), (u8, Message<A>)> {
        let mut answer = core::mem::ManuallyDrop::new(answer);
        // SAFETY: live, and typed for `A`, by the caller's contract;
        // `answer` takes the envelope only when it says TAKEN.
        let code = unsafe {
            ((*hook).vtable.answer)(hook, plugin.0, core::ptr::from_mut(&mut answer).cast())
        };
        if code == Code::TAKEN {
            Ok(())
        } else {
            Err((code, core::mem::ManuallyDrop::into_inner(answer)))
        }
    }

    /// Says that a responder of `plugin` exists; returns whether it counts.
    ///
    /// # Safety
    /// `hook` is live.
    pub(crate) unsafe fn defer(hook: *const Hook, plugin: PluginId) -> bool {
        // SAFETY: live by the caller's contract.
        unsafe { ((*hook).vtable.defer)(hook, plugin.0) }
    }

    /// Says that a responder that counted is gone.
    ///
    /// # Safety
    /// `hook` is live; `defer` returned true for this responder.
    pub(crate) unsafe fn undefer(hook: *const Hook, plugin: PluginId) {
        // SAFETY: live by the caller's contract.
        unsafe { ((*hook).vtable.undefer)(hook, plugin.0) }
    }
}

/// The reply object of one question whose answers are `A`.
#[repr(C)]
pub(crate) struct Shared<A> {
    /// First, so that a pointer to the hook is a pointer to the whole.
    hook: Hook,
    book: spin::Mutex<Book<A>>,
    /// The asker's waker; woken once every slot is settled or the book
    /// closed because the deadline passed.
    asker: AtomicWaker,
    late: AtomicUsize,
    #[cfg_attr(not(feature = "std"), allow(dead_code))]
    deadline: Deadline,
    /// The asking binary's image, retained by `hold` for the question's
    /// envelope and handed back by `unhold`.
    envelope_owner: AtomicPtr<ImageOwner>,
}

/// Who was asked and what they said.
struct Book<A> {
    /// Closed by the asker (`finish`) or by the first event past the deadline.
    closed: bool,
    /// How many slots are not settled.
    open: usize,
    /// By plugin id.
    slots: Vec<Slot>,
    answers: Vec<Answer<A>>,
    panicked: Vec<(PluginId, String)>,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    plugin: PluginId,
    answered: bool,
    /// The lane is done with the question (handled, filtered or panicked).
    delivered: bool,
    panicked: bool,
    /// Responders that count and still exist.
    responders: u32,
}

impl Slot {
    fn new(plugin: PluginId) -> Self {
        Slot {
            plugin,
            answered: false,
            delivered: false,
            panicked: false,
            responders: 0,
        }
    }

    /// Nothing more is expected from this plugin.
    fn settled(&self) -> bool {
        self.answered || self.panicked || (self.delivered && self.responders == 0)
    }
}

impl<A> Book<A> {
    /// Runs `change` on `plugin`'s slot (a new one for a plugin that was
    /// not attached when the question was made, but got it) and keeps
    /// `open` counting. Returns whether every slot is settled now.
    fn change(&mut self, plugin: PluginId, change: impl FnOnce(&mut Slot)) -> bool {
        let at = match self.slots.binary_search_by_key(&plugin, |s| s.plugin) {
            Ok(at) => at,
            Err(at) => {
                self.slots.insert(at, Slot::new(plugin));
                self.open += 1;
                at
            }
        };
        let slot = &mut self.slots[at];
        let was = slot.settled();
        change(slot);
        if !was && slot.settled() {
            self.open -= 1;
        }
        self.open == 0
    }

    fn slot(&self, plugin: PluginId) -> Option<&Slot> {
        self.slots
            .binary_search_by_key(&plugin, |s| s.plugin)
            .ok()
            .map(|at| &self.slots[at])
    }
}

impl<A: Send + Sync + 'static> Shared<A> {
    const VTABLE: VTable = VTable {
        answer: answer::<A>,
        defer: defer::<A>,
        undefer: undefer::<A>,
        delivered: delivered::<A>,
        retain: retain::<A>,
        release: release::<A>,
        hold: hold::<A>,
        unhold: unhold::<A>,
    };

    /// A book with one open slot per plugin in `asked`.
    pub(crate) fn new(asked: impl IntoIterator<Item = PluginId>, deadline: Deadline) -> Arc<Self> {
        let mut slots: Vec<Slot> = asked.into_iter().map(Slot::new).collect();
        slots.sort_unstable_by_key(|s| s.plugin);
        slots.dedup_by_key(|s| s.plugin);
        Arc::new(Shared {
            hook: Hook {
                vtable: &Self::VTABLE,
            },
            book: spin::Mutex::new(Book {
                closed: false,
                open: slots.len(),
                slots,
                answers: Vec::new(),
                panicked: Vec::new(),
            }),
            asker: AtomicWaker::new(),
            late: AtomicUsize::new(0),
            deadline,
            envelope_owner: AtomicPtr::new(core::ptr::null_mut()),
        })
    }

    /// The hook to put in requests and the envelope (not retained).
    pub(crate) fn hook(self: &Arc<Self>) -> *const Hook {
        Arc::as_ptr(self).cast()
    }

    /// Answers that came after the book closed for their plugin.
    pub(crate) fn late(&self) -> u64 {
        // ORDERING: a statistic.
        self.late.load(Ordering::Relaxed) as u64
    }

    /// Whether the deadline has passed (never without `std`).
    pub(crate) fn expired(&self) -> bool {
        #[cfg(feature = "std")]
        {
            self.deadline
                .is_some_and(|deadline| std::time::Instant::now() >= deadline)
        }
        #[cfg(not(feature = "std"))]
        {
            false
        }
    }

    /// The deadline, if there is one.
    #[cfg(feature = "std")]
    pub(crate) fn deadline(&self) -> Option<std::time::Instant> {
        self.deadline
    }

    /// Whether the asker may stop waiting: every slot settled, the book
    /// closed, or the deadline passed.
    pub(crate) fn is_done(&self) -> bool {
        let expired = self.expired();
        let book = self.book.lock();
        book.closed || book.open == 0 || expired
    }

    /// [`is_done`](Shared::is_done), or registers the asker's waker.
    pub(crate) fn poll_done(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_done() {
            return Poll::Ready(());
        }
        self.asker.register(cx.waker());
        // Checked again after registering: an event in between found no
        // waker to wake, or the old one.
        if self.is_done() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Closes the book and takes what it holds. Plugins whose slot is not
    /// settled timed out; settled ones that neither answered nor panicked
    /// declined.
    pub(crate) fn finish(self: Arc<Self>) -> Answers<A> {
        let mut book = self.book.lock();
        book.closed = true;
        let mut timed_out = Vec::new();
        let mut declined = Vec::new();
        for slot in &book.slots {
            if !slot.settled() {
                timed_out.push(slot.plugin);
            } else if !slot.answered && !slot.panicked {
                declined.push(slot.plugin);
            }
        }
        let answers = core::mem::take(&mut book.answers);
        let panicked = core::mem::take(&mut book.panicked);
        drop(book);
        Answers::new(answers, timed_out, declined, panicked, self)
    }

    /// Locks the book for an event; closes it first if the deadline passed
    /// (so an event after the deadline is late even before the asker wakes
    /// up). Returns the book, or None if it is closed.
    fn event(&self) -> Option<spin::MutexGuard<'_, Book<A>>> {
        let expired = self.expired();
        let mut book = self.book.lock();
        if book.closed {
            return None;
        }
        if expired {
            book.closed = true;
            drop(book);
            self.asker.wake();
            return None;
        }
        Some(book)
    }

    fn count_late(&self) {
        // ORDERING: a statistic.
        self.late.fetch_add(1, Ordering::Relaxed);
    }

    /// Wakes the asker if `all_settled`, after the lock is released.
    fn settle(&self, book: spin::MutexGuard<'_, Book<A>>, all_settled: bool) {
        drop(book);
        if all_settled {
            self.asker.wake();
        }
    }
}

/// Recovers the `Shared<A>` a hook starts.
///
/// # Safety
/// `hook` is the hook of a live `Shared<A>` (it is its first field).
unsafe fn shared<'a, A>(hook: *const Hook) -> &'a Shared<A> {
    // SAFETY: `Shared` is `repr(C)` with the hook first, so the pointers are
    // equal; live by the caller's contract.
    unsafe { &*hook.cast::<Shared<A>>() }
}

/// Runs an event with panics caught: a panic in these functions (an
/// allocation failure hook, say) must not unwind out of `extern "C"`.
fn caught<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    guard(f).unwrap_or(fallback)
}

unsafe extern "C" fn answer<A: Send + Sync + 'static>(
    hook: *const Hook,
    plugin: u64,
    message: *mut c_void,
) -> u8 {
    // SAFETY: the caller holds a reference, and the hook is one of ours.
    let shared = unsafe { shared::<A>(hook) };
    let plugin = PluginId(plugin);
    caught(Code::LATE, || {
        let Some(mut book) = shared.event() else {
            // Closed: a plugin that answered already is still told its
            // second answer is a duplicate (the asker may have closed the
            // book between its two answers); any other answer is late.
            if shared.book.lock().slot(plugin).is_some_and(|s| s.answered) {
                return Code::DUPLICATE;
            }
            shared.count_late();
            return Code::LATE;
        };
        match book
            .slot(plugin)
            .map(|slot| (slot.answered, slot.settled()))
        {
            Some((true, _)) => return Code::DUPLICATE,
            Some((false, true)) => {
                drop(book);
                shared.count_late();
                return Code::LATE;
            }
            _ => {}
        }
        // SAFETY: `message` points to a `Message<A>` (the hook is typed for
        // `A`) that the caller forgets once we say TAKEN, below.
        let value = unsafe { core::ptr::read(message.cast::<Message<A>>()) };
        let all = book.change(plugin, |slot| slot.answered = true);
        book.answers.push(Answer::new(plugin, value));
        shared.settle(book, all);
        Code::TAKEN
    })
}

unsafe extern "C" fn defer<A: Send + Sync + 'static>(hook: *const Hook, plugin: u64) -> bool {
    // SAFETY: the caller holds a reference, and the hook is one of ours.
    let shared = unsafe { shared::<A>(hook) };
    let plugin = PluginId(plugin);
    caught(false, || {
        let Some(mut book) = shared.event() else {
            return false;
        };
        if book.slot(plugin).is_some_and(Slot::settled) {
            return false;
        }
        book.change(plugin, |slot| slot.responders += 1);
        true
    })
}

unsafe extern "C" fn undefer<A: Send + Sync + 'static>(hook: *const Hook, plugin: u64) {
    // SAFETY: the caller holds a reference, and the hook is one of ours.
    let shared = unsafe { shared::<A>(hook) };
    let plugin = PluginId(plugin);
    caught((), || {
        if let Some(mut book) = shared.event() {
            let all = book.change(plugin, |slot| {
                slot.responders = slot.responders.saturating_sub(1);
            });
            shared.settle(book, all);
        }
    });
}

unsafe extern "C" fn delivered<A: Send + Sync + 'static>(
    hook: *const Hook,
    plugin: u64,
    code: u8,
    text: *const u8,
    len: usize,
) {
    // SAFETY: the caller holds a reference, and the hook is one of ours.
    let shared = unsafe { shared::<A>(hook) };
    let plugin = PluginId(plugin);
    caught((), || {
        let Some(mut book) = shared.event() else {
            return;
        };
        let panicked = code == Code::PANICKED;
        let all = book.change(plugin, |slot| {
            slot.delivered = true;
            slot.panicked |= panicked;
        });
        if panicked {
            // SAFETY: the lane passes a `&str` it holds during the call.
            let text =
                unsafe { core::str::from_utf8_unchecked(core::slice::from_raw_parts(text, len)) };
            book.panicked.push((plugin, String::from(text)));
        }
        shared.settle(book, all);
    });
}

unsafe extern "C" fn retain<A: Send + Sync + 'static>(hook: *const Hook) {
    // SAFETY: the hook is the start of a `Shared<A>` from `Arc::into_raw`
    // or `Arc::as_ptr`, and the caller holds a reference.
    unsafe { Arc::increment_strong_count(hook.cast::<Shared<A>>()) }
}

unsafe extern "C" fn release<A: Send + Sync + 'static>(hook: *const Hook) {
    // SAFETY: as `retain`; the caller gives its reference up. Dropping the
    // last one drops the book: answers not taken (none once the asker
    // finished) are freed through their own envelopes.
    unsafe { Arc::decrement_strong_count(hook.cast::<Shared<A>>()) }
}

unsafe extern "C" fn hold<A: Send + Sync + 'static>(hook: *const Hook) {
    // SAFETY: the caller holds a reference, and the hook is one of ours.
    let shared = unsafe { shared::<A>(hook) };
    let owner = retain_own_image();
    // ORDERING: Relaxed: a handover to `unhold`, which runs after the
    // envelope's last reference is gone (the count's Acquire orders it).
    shared
        .envelope_owner
        .store(owner.cast_mut(), Ordering::Relaxed);
    // ORDERING: Relaxed: published to lanes with the envelope (see the
    // module's docs).
    LIVE.fetch_add(1, Ordering::Relaxed);
    // SAFETY: as `retain`.
    unsafe { retain::<A>(hook) }
}

unsafe extern "C" fn unhold<A: Send + Sync + 'static>(hook: *const Hook) -> *const ImageOwner {
    // SAFETY: the caller gives up the envelope's reference, so it is live
    // until `release` below; the hook is one of ours.
    let owner = unsafe { shared::<A>(hook) }
        .envelope_owner
        // ORDERING: see `hold`.
        .swap(core::ptr::null_mut(), Ordering::Relaxed);
    // ORDERING: Relaxed: the envelope is gone, no lane holds it any more.
    LIVE.fetch_sub(1, Ordering::Relaxed);
    // SAFETY: as `release`.
    unsafe { release::<A>(hook) };
    owner
}

// SAFETY: the hook is a pointer to a `'static` table of functions; the book
// is behind a lock and holds `Message<A>`s, `Send + Sync` for
// `A: Send + Sync`; the rest is atomics and an `AtomicWaker`.
unsafe impl<A: Send + Sync> Send for Shared<A> {}
// SAFETY: as for `Send`: shared access goes through the lock and atomics.
unsafe impl<A: Send + Sync> Sync for Shared<A> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> PluginId {
        PluginId(n)
    }

    fn deliver(shared: &Arc<Shared<u32>>, plugin: u64, delivery: Delivery<'_>) {
        // SAFETY: the test holds a reference.
        unsafe { Hook::delivered(shared.hook(), id(plugin), delivery) }
    }

    fn answer(shared: &Arc<Shared<u32>>, plugin: u64, value: u32) -> Result<(), u8> {
        // SAFETY: the test holds a reference; the hook is typed for u32.
        unsafe { Hook::answer(shared.hook(), id(plugin), Message::new(value)) }.map_err(|(c, _)| c)
    }

    #[test]
    fn every_kind_of_slot_ends_where_it_should() {
        let shared = Shared::<u32>::new([id(1), id(2), id(3), id(4), id(5)], None);
        assert_eq!(answer(&shared, 1, 10), Ok(()));
        deliver(&shared, 1, Delivery::Handled);
        deliver(&shared, 2, Delivery::Filtered);
        deliver(&shared, 3, Delivery::Handled);
        deliver(&shared, 4, Delivery::Panicked("boom"));
        assert!(!shared.is_done(), "5 has not been delivered");
        // 5 defers, is delivered, and answers later.
        // SAFETY: the test holds a reference.
        assert!(unsafe { Hook::defer(shared.hook(), id(5)) });
        deliver(&shared, 5, Delivery::Handled);
        assert!(!shared.is_done(), "5 holds a responder");
        assert_eq!(answer(&shared, 5, 50), Ok(()));
        assert!(shared.is_done());
        // SAFETY: the responder counted.
        unsafe { Hook::undefer(shared.hook(), id(5)) };
        let answers = shared.clone().finish();
        let got: Vec<_> = answers.iter().map(|a| (a.plugin(), **a)).collect();
        assert_eq!(got, [(id(1), 10), (id(5), 50)]);
        assert_eq!(answers.declined(), [id(2), id(3)]);
        assert_eq!(answers.timed_out(), []);
        assert_eq!(answers.panicked().collect::<Vec<_>>(), [(id(4), "boom")]);
        // After the book closed: late, and counted.
        assert_eq!(answer(&shared, 3, 30), Err(Code::LATE));
        assert_eq!(answers.late(), 1);
    }

    #[test]
    fn a_second_answer_is_refused_and_a_declined_plugins_answer_is_late() {
        let shared = Shared::<u32>::new([id(1), id(2)], None);
        assert_eq!(answer(&shared, 1, 1), Ok(()));
        assert_eq!(answer(&shared, 1, 2), Err(Code::DUPLICATE));
        deliver(&shared, 2, Delivery::Handled);
        assert_eq!(answer(&shared, 2, 2), Err(Code::LATE));
        assert_eq!(shared.late(), 1);
        let answers = shared.finish();
        assert_eq!(answers.len(), 1);
        assert_eq!(answers.declined(), [id(2)]);
    }

    /// A plugin that answers twice is told its second answer is a duplicate
    /// even when its first settled the last slot and the asker closed the
    /// book in between (seen on tokio's multi-thread host: `ask_all_answer`
    /// got "late").
    #[test]
    fn a_second_answer_after_the_book_closed_is_still_a_duplicate() {
        let shared = Shared::<u32>::new([id(1), id(2)], None);
        assert_eq!(answer(&shared, 2, 2), Ok(()));
        assert_eq!(answer(&shared, 1, 1), Ok(()));
        let kept = Arc::clone(&shared);
        let answers = shared.finish();
        assert_eq!(answers.len(), 2);
        assert_eq!(answer(&kept, 1, 3), Err(Code::DUPLICATE));
        // A plugin that never answered is late once the book closed.
        let other = Shared::<u32>::new([id(1), id(2)], None);
        assert_eq!(answer(&other, 1, 1), Ok(()));
        let kept = Arc::clone(&other);
        drop(other.finish());
        assert_eq!(answer(&kept, 2, 2), Err(Code::LATE));
    }

    #[test]
    fn open_slots_time_out_and_a_plugin_not_asked_gets_a_slot() {
        let shared = Shared::<u32>::new([id(1), id(2)], None);
        // 7 attached while the question was sent: it is counted in.
        assert_eq!(answer(&shared, 7, 70), Ok(()));
        // SAFETY: the test holds a reference.
        assert!(unsafe { Hook::defer(shared.hook(), id(2)) });
        let answers = shared.clone().finish();
        assert_eq!(answers.get(id(7)), Some(&70));
        assert_eq!(answers.timed_out(), [id(1), id(2)]);
        // A responder made after the book closed does not count.
        // SAFETY: the test holds a reference.
        assert!(!unsafe { Hook::defer(shared.hook(), id(1)) });
    }

    #[cfg(feature = "std")]
    #[test]
    fn an_answer_after_the_deadline_is_late_before_the_asker_wakes() {
        let past = std::time::Instant::now();
        let shared = Shared::<u32>::new([id(1)], Some(past));
        assert!(shared.is_done());
        assert_eq!(answer(&shared, 1, 1), Err(Code::LATE));
        assert_eq!(shared.late(), 1);
        assert_eq!(shared.finish().timed_out(), [id(1)]);
    }
}
