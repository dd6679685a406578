//! The sending side: a cloneable handle on the bus. Sending and waiting for
//! room are the core's ([`AsyncSender`]); this adds the blocking twins.

use std::fmt;
use std::sync::Arc;

use futures_lite::future::block_on;
use plugbus_core::task::AsyncSender;
use plugbus_core::{Bus, SendError, TrySendError};

/// A cloneable handle that sends to every plugin of one [`Host`](crate::Host),
/// for tasks and threads that do not own the host.
///
/// Once the host is shut down or dropped, every send fails with
/// [`SendError::Closed`], handing the value back.
///
/// # Example
/// ```
/// # use plugbus_host_async::Runtime;
/// # #[derive(Debug)]
/// # struct ThreadPerLane;
/// # impl Runtime for ThreadPerLane {
/// #     fn spawn<F: Future<Output = ()> + Send + 'static>(&self, lane: F) {
/// #         std::thread::spawn(move || futures_lite::future::block_on(lane));
/// #     }
/// # }
/// # type Host<M> = plugbus_host_async::Host<M, ThreadPerLane>;
/// # struct Count;
/// # impl plugbus_core::Plugin<u64> for Count {
/// #     fn handle_message(&mut self, _: &plugbus_core::Message<u64>) -> plugbus_core::Flow {
/// #         plugbus_core::Flow::Continue
/// #     }
/// # }
/// let host = Host::on(ThreadPerLane);
/// host.attach(Count)?;
/// let sender = host.sender();
/// let worker = std::thread::spawn(move || {
///     sender.send_blocking(1).unwrap();
///     futures_lite::future::block_on(sender.send_batch(2..10)).unwrap()
/// });
/// assert_eq!(worker.join().unwrap(), 8);
/// assert_eq!(host.shutdown_blocking()[0].stats.handled, 9);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Sender<M: Send + Sync + 'static> {
    inner: AsyncSender<M>,
}

impl<M: Send + Sync + 'static> Sender<M> {
    pub(crate) fn new(bus: Arc<Bus<M>>) -> Self {
        Sender {
            inner: AsyncSender::new(bus),
        }
    }

    pub(crate) fn bus(&self) -> &Arc<Bus<M>> {
        self.inner.bus()
    }

    /// Sends a message to every plugin, waiting while a plugin with
    /// [`Overflow::Block`](plugbus_core::Overflow::Block) is full.
    ///
    /// # Errors
    /// [`SendError::Closed`] once the host is shut down;
    /// [`SendError::Rejected`] when a plugin with
    /// [`Overflow::Reject`](plugbus_core::Overflow::Reject) is full.
    pub async fn send(&self, value: M) -> Result<(), SendError<M>> {
        self.inner.send(value).await
    }

    /// Sends a message if every `Block` plugin has room, without waiting.
    ///
    /// # Errors
    /// [`TrySendError::Full`] when a `Block` plugin is full, otherwise the
    /// errors of [`send`](Sender::send).
    pub fn try_send(&self, value: M) -> Result<(), TrySendError<M>> {
        self.inner.try_send(value)
    }

    /// Sends every value of `values` in order, as few publications as the
    /// ring allows, waiting for room like [`send`](Sender::send); lanes see
    /// each publication as one batch and wake once for it. Returns how many
    /// were sent.
    ///
    /// # Errors
    /// As [`send`](Sender::send), handing back the unsent values of the
    /// batch in progress (see [`AsyncSender::send_batch`]).
    pub async fn send_batch<I>(&self, values: I) -> Result<usize, SendError<Vec<M>>>
    where
        I: IntoIterator<Item = M>,
    {
        self.inner.send_batch(values).await
    }

    /// The blocking twin of [`send`](Sender::send), for threads outside
    /// async code. Do not call it on a thread that runs the host's lanes
    /// (an executor thread, a runtime worker): if a plugin is full it
    /// blocks that thread while waiting for lanes, which on a runtime with
    /// one thread can then never run.
    ///
    /// # Errors
    /// As [`send`](Sender::send).
    pub fn send_blocking(&self, value: M) -> Result<(), SendError<M>> {
        block_on(self.inner.send(value))
    }

    /// The blocking twin of [`send_batch`](Sender::send_batch), with the
    /// same caveat as [`send_blocking`](Sender::send_blocking).
    ///
    /// # Errors
    /// As [`send_batch`](Sender::send_batch).
    pub fn send_batch_blocking<I>(&self, values: I) -> Result<usize, SendError<Vec<M>>>
    where
        I: IntoIterator<Item = M>,
    {
        block_on(self.inner.send_batch(values))
    }

    /// Whether the host is shut down (or dropped): every send now fails.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

impl<M: Send + Sync + 'static> Clone for Sender<M> {
    fn clone(&self) -> Self {
        Sender {
            inner: self.inner.clone(),
        }
    }
}

impl<M: Send + Sync + 'static> fmt::Debug for Sender<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("bus", self.inner.bus())
            .finish_non_exhaustive()
    }
}
