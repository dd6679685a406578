//! Replies: a bounded queue from plugins back to the host.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll};

use crate::ring::{TaskWake, Wake};

/// Makes a reply queue holding at most `capacity` values (at least 1): the
/// [`Outbox`] goes into plugins (clone it for several), the [`Replies`] stay
/// with the host. Sending never blocks a plugin: a full outbox hands the
/// value back and counts it.
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
/// assert_eq!(replies.try_recv(), Some(42));
/// ```
pub fn outbox<R>(capacity: usize) -> (Outbox<R>, Replies<R>) {
    let shared = Arc::new(Shared {
        queue: spin::Mutex::new(VecDeque::new()),
        capacity: capacity.max(1),
        dropped: AtomicUsize::new(0),
        outboxes: AtomicUsize::new(1),
        waker: TaskWake::new(),
    });
    (
        Outbox {
            shared: shared.clone(),
        },
        Replies { shared },
    )
}

struct Shared<R> {
    queue: spin::Mutex<VecDeque<R>>,
    capacity: usize,
    dropped: AtomicUsize,
    /// Live `Outbox` handles; when it reaches zero no reply can come.
    outboxes: AtomicUsize,
    waker: TaskWake,
}

/// The plugins' end of a reply queue. Cloning it adds a sender.
pub struct Outbox<R> {
    shared: Arc<Shared<R>>,
}

/// The host's end of a reply queue.
pub struct Replies<R> {
    shared: Arc<Shared<R>>,
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
    /// Queues a reply without blocking.
    ///
    /// # Errors
    /// [`OutboxFull`] with the value when the host has not read enough; the
    /// loss is counted in [`Replies::dropped`].
    pub fn send(&self, value: R) -> Result<(), OutboxFull<R>> {
        {
            let mut queue = self.shared.queue.lock();
            if queue.len() >= self.shared.capacity {
                drop(queue);
                // ORDERING: a statistic.
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                return Err(OutboxFull(value));
            }
            queue.push_back(value);
        }
        self.shared.waker.wake();
        Ok(())
    }
}

impl<R> Clone for Outbox<R> {
    fn clone(&self) -> Self {
        // ORDERING: like `Arc::clone`, made from a live handle.
        self.shared.outboxes.fetch_add(1, Ordering::Relaxed);
        Outbox {
            shared: self.shared.clone(),
        }
    }
}

impl<R> Drop for Outbox<R> {
    fn drop(&mut self) {
        // ORDERING: AcqRel so the receiver that sees zero also sees every
        // reply queued before (they are under the queue lock anyway).
        if self.shared.outboxes.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.waker.wake();
        }
    }
}

impl<R> Replies<R> {
    /// Takes the oldest reply, if any.
    pub fn try_recv(&self) -> Option<R> {
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
    pub fn drain(&self) -> alloc::vec::Vec<R> {
        self.shared.queue.lock().drain(..).collect()
    }

    fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<R>> {
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
    pub fn recv_blocking(&self) -> Option<R> {
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
    type Output = Option<R>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<R>> {
        self.replies.poll_next(cx)
    }
}

impl<R> fmt::Debug for Outbox<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbox")
            .field("capacity", &self.shared.capacity)
            .finish_non_exhaustive()
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
