//! Replies: a bounded queue from plugins back to the host.
//!
//! An [`Outbox`] may cross a dynamic-library boundary inside a message, so
//! everything it does runs through functions of the binary that made it (as
//! [`ReplyTo`](crate::ffi::ReplyTo) does): queueing, cloning and releasing
//! the queue. A reply travels as a [`Message`] made by the sender, freed by
//! the sender's allocator wherever its last envelope goes; the queue keeps
//! the library that made it mapped while it lives.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::ffi::c_void;
use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::pin::Pin;
use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll};

use crate::message::{ImageOwner, Message, release_owner, retain_own_image};
use crate::sync::AtomicWaker;

/// Makes a reply queue holding at most `capacity` replies (at least 1): the
/// [`Outbox`] goes into plugins (clone it for several), the [`Replies`] stay
/// with the host. Sending never blocks a plugin: a full outbox hands the
/// value back and counts it. Replies arrive as [`Message`]s made by their
/// sender (read them through `Deref`; [`Message::try_unwrap`] gives the
/// value of a reply this binary made).
///
/// An `Outbox` implements [`Fingerprint`](crate::Fingerprint), so it may be
/// part of a message sent to a dynamic plugin: the plugin's replies are
/// its own envelopes (its allocator frees them), and the queue is the
/// host's.
///
/// # Example
/// ```
/// use plugbus_core::{outbox, Flow, LocalHost, Message, Outbox, Plugin};
///
/// struct Doubler(Outbox<u32>);
///
/// impl Plugin<u32> for Doubler {
///     fn handle_message(&mut self, message: &Message<u32>) -> Flow {
///         let _ = self.0.send(**message * 2); // full: counted in `dropped`
///         Flow::Continue
///     }
/// }
///
/// let (tx, replies) = outbox(16);
/// let mut host = LocalHost::new();
/// host.attach(Doubler(tx)).unwrap();
/// host.send(21).unwrap();
/// host.run_until_idle();
/// assert_eq!(replies.try_recv().as_deref(), Some(&42));
/// ```
pub fn outbox<R>(capacity: usize) -> (Outbox<R>, Replies<R>) {
    let shared = Arc::new(Shared {
        queue: spin::Mutex::new(VecDeque::new()),
        capacity: capacity.max(1),
        dropped: AtomicUsize::new(0),
        outboxes: AtomicUsize::new(1),
        waker: AtomicWaker::new(),
        owner: retain_own_image(),
    });
    let outbox = Outbox {
        ctx: Arc::into_raw(shared.clone()).cast(),
        push: push::<R>,
        retain: retain::<R>,
        release: release::<R>,
        _marker: PhantomData,
    };
    (
        outbox,
        Replies {
            shared: ManuallyDrop::new(shared),
        },
    )
}

struct Shared<R> {
    queue: spin::Mutex<VecDeque<Message<R>>>,
    capacity: usize,
    dropped: AtomicUsize,
    /// Live `Outbox` handles; when it reaches zero no reply can come.
    outboxes: AtomicUsize,
    waker: AtomicWaker,
    /// The library that made this queue (null for a host), retained so its
    /// functions, which every `Outbox` calls, stay mapped while it lives.
    /// Released by whoever frees the queue, after it is gone.
    owner: *const ImageOwner,
}

// SAFETY: `owner` is only handed to `release_owner` once, by whoever frees
// the queue; its functions may be called from any thread (`ImageOwner`'s
// contract). The rest is `Send + Sync` when the replies are (`Message<R>`
// needs `R: Send + Sync`).
unsafe impl<R: Send + Sync> Send for Shared<R> {}
// SAFETY: as for `Send`: shared access goes through the lock and atomics.
unsafe impl<R: Send + Sync> Sync for Shared<R> {}

/// The plugins' end of a reply queue. Cloning it adds a sender.
///
/// `#[repr(C)]` with the creator's functions: the queue is an
/// `Arc<Shared<R>>` of the binary that called [`outbox`], and only its
/// functions touch it, so an `Outbox` in a dynamic plugin never allocates or
/// frees the host's memory with the plugin's allocator.
#[repr(C)]
pub struct Outbox<R> {
    /// `Arc::into_raw` of the creator's `Shared<R>`.
    ctx: *const c_void,
    /// Queues the `Message<R>` behind the second pointer (taking it) and
    /// returns true, or returns false and leaves it to the caller if full.
    push: unsafe extern "C" fn(*const c_void, *mut c_void) -> bool,
    /// Adds a handle.
    retain: unsafe extern "C" fn(*const c_void),
    /// Drops a handle; returns the creator's owner to release if that freed
    /// the queue, else null.
    release: unsafe extern "C" fn(*const c_void) -> *const ImageOwner,
    _marker: PhantomData<fn(Message<R>)>,
}

// SAFETY: the queue behind `ctx` is `Send + Sync` for `R: Send + Sync`
// (see `Shared`), and the functions may run on any thread.
unsafe impl<R: Send + Sync> Send for Outbox<R> {}
// SAFETY: as for `Send`: `send` only calls the creator's `push`.
unsafe impl<R: Send + Sync> Sync for Outbox<R> {}

/// The host's end of a reply queue.
pub struct Replies<R> {
    /// Taken out in `drop`, to release the owner if this was the last handle.
    shared: ManuallyDrop<Arc<Shared<R>>>,
}

/// Queues `message` if there is room.
///
/// # Safety
/// `ctx` is a live `Shared<R>` of this binary from `Arc::into_raw`;
/// `message` points to a `Message<R>` that this call takes only when it
/// returns true.
unsafe extern "C" fn push<R>(ctx: *const c_void, message: *mut c_void) -> bool {
    // SAFETY: the caller holds a handle, so the queue is alive.
    let shared = unsafe { &*ctx.cast::<Shared<R>>() };
    {
        let mut queue = shared.queue.lock();
        if queue.len() >= shared.capacity {
            drop(queue);
            // ORDERING: a statistic.
            shared.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        // SAFETY: the caller gives the envelope up when this returns true.
        queue.push_back(unsafe { ptr::read(message.cast::<Message<R>>()) });
    }
    shared.waker.wake();
    true
}

/// # Safety
/// `ctx` is a live `Shared<R>` of this binary from `Arc::into_raw`.
unsafe extern "C" fn retain<R>(ctx: *const c_void) {
    let shared = ctx.cast::<Shared<R>>();
    // SAFETY: the caller holds a handle, so the queue is alive.
    unsafe {
        // ORDERING: like `Arc::clone`, made from a live handle.
        (*shared).outboxes.fetch_add(1, Ordering::Relaxed);
        Arc::increment_strong_count(shared);
    }
}

/// # Safety
/// `ctx` is a `Shared<R>` of this binary from `Arc::into_raw`, whose handle
/// the caller gives up.
unsafe extern "C" fn release<R>(ctx: *const c_void) -> *const ImageOwner {
    // SAFETY: the caller's handle, given up here.
    let shared = unsafe { Arc::from_raw(ctx.cast::<Shared<R>>()) };
    // ORDERING: AcqRel so the receiver that sees zero also sees every reply
    // queued before (they are under the queue lock anyway).
    if shared.outboxes.fetch_sub(1, Ordering::AcqRel) == 1 {
        shared.waker.wake();
    }
    free_if_last(shared)
}

/// Drops a handle to the queue; if it was the last, frees the queue and
/// returns its owner, which the caller releases once nothing of the queue
/// is touched any more.
fn free_if_last<R>(shared: Arc<Shared<R>>) -> *const ImageOwner {
    let owner = shared.owner;
    match Arc::into_inner(shared) {
        Some(last) => {
            drop(last);
            owner
        }
        None => ptr::null(),
    }
}

/// A reply the outbox could not take: it was full. The value is handed back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct OutboxFull<R>(pub R);

impl<R> fmt::Debug for OutboxFull<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OutboxFull(..)")
    }
}

impl<R> fmt::Display for OutboxFull<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the outbox is full")
    }
}

impl<R> core::error::Error for OutboxFull<R> {}

impl<R> Outbox<R> {
    /// Queues a reply without blocking, in an envelope of this binary.
    ///
    /// # Errors
    /// [`OutboxFull`] with the value when the host has not read enough; the
    /// loss is counted in [`Replies::dropped`].
    pub fn send(&self, value: R) -> Result<(), OutboxFull<R>> {
        self.send_message(Message::new(value))
            .map_err(|OutboxFull(message)| match Message::unwrap_own(message) {
                Ok(value) => OutboxFull(value),
                // `Message::new` above made it, and `push` refused it
                // without sharing it.
                Err(_) => unreachable!("a refused reply is no longer unique"),
            })
    }

    /// Queues an envelope without blocking (one this plugin received, for
    /// instance, to pass it on without a copy).
    ///
    /// # Errors
    /// [`OutboxFull`] with the envelope, as [`send`](Outbox::send).
    pub fn send_message(&self, message: Message<R>) -> Result<(), OutboxFull<Message<R>>> {
        let mut message = ManuallyDrop::new(message);
        // SAFETY: `ctx` is alive while this handle is; `push` takes the
        // envelope only when it returns true, so it is either queued or
        // still ours, never both.
        let queued = unsafe { (self.push)(self.ctx, ptr::from_mut(&mut message).cast()) };
        if queued {
            Ok(())
        } else {
            Err(OutboxFull(ManuallyDrop::into_inner(message)))
        }
    }
}

impl<R> Clone for Outbox<R> {
    fn clone(&self) -> Self {
        // SAFETY: made from a live handle; the creator's function.
        unsafe { (self.retain)(self.ctx) };
        Outbox {
            ctx: self.ctx,
            push: self.push,
            retain: self.retain,
            release: self.release,
            _marker: PhantomData,
        }
    }
}

impl<R> Drop for Outbox<R> {
    fn drop(&mut self) {
        // SAFETY: this handle is given up once, here; the creator's function
        // frees the queue with the creator's allocator if it was the last.
        // Its owner is released only after that call returned, so the
        // creator's library is still mapped while its code runs.
        unsafe {
            let owner = (self.release)(self.ctx);
            release_owner(owner);
        }
    }
}

impl<R> Drop for Replies<R> {
    fn drop(&mut self) {
        // SAFETY: taken once, here.
        let shared = unsafe { ManuallyDrop::take(&mut self.shared) };
        let owner = free_if_last(shared);
        // SAFETY: the queue is gone if `owner` is not null; it was retained
        // by `outbox` and is released once, by whoever freed the queue.
        unsafe { release_owner(owner) };
    }
}

impl<R> Replies<R> {
    /// Takes the oldest reply, if any.
    pub fn try_recv(&self) -> Option<Message<R>> {
        self.shared.queue.lock().pop_front()
    }

    /// Waits for the next reply; `None` once the queue is empty and every
    /// [`Outbox`] is gone (the plugins exited).
    pub fn recv(&self) -> Recv<'_, R> {
        Recv { replies: self }
    }

    /// Replies that were refused because the outbox was full.
    pub fn dropped(&self) -> u64 {
        // ORDERING: a statistic.
        self.shared.dropped.load(Ordering::Relaxed) as u64
    }

    /// How many replies wait.
    pub fn len(&self) -> usize {
        self.shared.queue.lock().len()
    }

    /// Whether no reply waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes every waiting reply.
    pub fn drain(&self) -> alloc::vec::Vec<Message<R>> {
        self.shared.queue.lock().drain(..).collect()
    }

    fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<Message<R>>> {
        if let Some(value) = self.try_recv() {
            return Poll::Ready(Some(value));
        }
        self.shared.waker.register(cx.waker());
        // Re-check after registering: a reply queued in between woke the
        // old waker or none.
        if let Some(value) = self.try_recv() {
            return Poll::Ready(Some(value));
        }
        // ORDERING: Acquire pairs with the AcqRel decrement.
        if self.shared.outboxes.load(Ordering::Acquire) == 0 {
            return Poll::Ready(self.try_recv());
        }
        Poll::Pending
    }

    /// Waits for the next reply on the calling thread.
    #[cfg(feature = "std")]
    pub fn recv_blocking(&self) -> Option<Message<R>> {
        extern crate std;
        struct Unpark(std::thread::Thread);
        impl std::task::Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = core::task::Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            match self.poll_next(&mut cx) {
                Poll::Ready(value) => return value,
                Poll::Pending => std::thread::park(),
            }
        }
    }
}

/// The future of [`Replies::recv`].
#[must_use = "futures do nothing unless polled"]
pub struct Recv<'a, R> {
    replies: &'a Replies<R>,
}

impl<R> Future for Recv<'_, R> {
    type Output = Option<Message<R>>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message<R>>> {
        self.replies.poll_next(cx)
    }
}

impl<R> fmt::Debug for Outbox<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbox").finish_non_exhaustive()
    }
}

impl<R> fmt::Debug for Replies<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replies")
            .field("len", &self.len())
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl<R> fmt::Debug for Recv<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Recv")
    }
}

/// Outboxes decoded on the far side of a process boundary (feature
/// `crossing`, see [`crate::crossing`]): the same `Outbox`, whose functions
/// send each reply encoded through the runner's [`ChildEnd`] instead of
/// queueing it.
#[cfg(feature = "crossing")]
mod remote {
    use alloc::sync::Arc;
    use core::ffi::c_void;
    use core::marker::PhantomData;
    use core::ptr;

    use serde::Serialize;

    use super::Outbox;
    use crate::crossing::ChildEnd;
    use crate::message::{ImageOwner, Message};

    extern crate std;

    /// The queue behind a decoded outbox: the host's number for it.
    struct Remote {
        number: u32,
        end: Arc<dyn ChildEnd>,
    }

    impl<R> Outbox<R> {
        /// The queue's identity, the same for every clone.
        pub(crate) fn key(&self) -> usize {
            self.ctx.addr()
        }
    }

    impl<R: Serialize + Send + Sync + 'static> Outbox<R> {
        /// An outbox sending to the host's outbox `number` through `end`.
        pub(crate) fn remote(number: u32, end: Arc<dyn ChildEnd>) -> Outbox<R> {
            Outbox {
                ctx: Arc::into_raw(Arc::new(Remote { number, end })).cast(),
                push: push::<R>,
                retain,
                release,
                _marker: PhantomData,
            }
        }
    }

    /// Encodes and sends the `Message<R>` behind `message`, taking it if
    /// sent.
    ///
    /// # Safety
    /// `ctx` is a live `Remote` from `Arc::into_raw`; `message` points to a
    /// `Message<R>` that this call takes only when it returns true.
    unsafe extern "C" fn push<R: Serialize>(ctx: *const c_void, message: *mut c_void) -> bool {
        // SAFETY: the caller holds a handle, so the queue is alive.
        let remote = unsafe { &*ctx.cast::<Remote>() };
        // SAFETY: a live `Message<R>` by the caller's contract; only read.
        let value = unsafe { &*message.cast::<Message<R>>() };
        let sent = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| {
            postcard::to_allocvec(&**value)
                .is_ok_and(|bytes| remote.end.reply(remote.number, &bytes))
        }))
        .unwrap_or(false);
        if sent {
            // SAFETY: sent: the caller gives the envelope up (true below).
            drop(unsafe { ptr::read(message.cast::<Message<R>>()) });
        }
        sent
    }

    /// # Safety
    /// `ctx` is a live `Remote` from `Arc::into_raw`.
    unsafe extern "C" fn retain(ctx: *const c_void) {
        // SAFETY: the caller holds a handle.
        unsafe { Arc::increment_strong_count(ctx.cast::<Remote>()) }
    }

    /// # Safety
    /// `ctx` is a `Remote` from `Arc::into_raw` whose handle the caller
    /// gives up.
    unsafe extern "C" fn release(ctx: *const c_void) -> *const ImageOwner {
        // SAFETY: the caller's handle, given up.
        unsafe { Arc::decrement_strong_count(ctx.cast::<Remote>()) };
        ptr::null()
    }
}
