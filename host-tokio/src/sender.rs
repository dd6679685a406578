//! The sending side: a cloneable handle on the bus. Sending and waiting for
//! room are the core's ([`AsyncSender`]); this adds the blocking twins.

use std::fmt;
use std::sync::Arc;

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
/// use plugbus_core::{Flow, Message, Plugin};
/// use plugbus_host_tokio::Host;
///
/// struct Sum(u64);
/// impl Plugin<u64> for Sum {
///     fn handle_message(&mut self, message: &Message<u64>) -> Flow {
///         self.0 += **message;
///         Flow::Continue
///     }
/// }
///
/// let runtime = tokio::runtime::Builder::new_multi_thread().build().unwrap();
/// let host = Host::with_handle(runtime.handle().clone());
/// host.attach(Sum(0)).unwrap();
/// let sender = host.sender();
/// let worker = std::thread::spawn(move || sender.send_blocking(7));
/// worker.join().unwrap().unwrap();
/// assert_eq!(host.shutdown_blocking()[0].stats.handled, 1);
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
    /// As [`AsyncSender::send`]: `Closed` once the host is shut down,
    /// `Rejected` when a plugin with
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
    /// ring allows, waiting for room like [`send`](Sender::send); see
    /// [`AsyncSender::send_batch`]. Returns how many were sent.
    ///
    /// # Example
    /// ```
    /// # use plugbus_core::{Flow, Message, Plugin};
    /// # struct Count;
    /// # impl Plugin<u64> for Count {
    /// #     fn handle_message(&mut self, _: &Message<u64>) -> Flow {
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// use plugbus_host_tokio::Host;
    ///
    /// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let host = Host::with_handle(runtime.handle().clone());
    /// host.attach(Count).unwrap();
    /// let sender = host.sender();
    /// let task = async move {
    ///     let sent = sender.send_batch((0..100).map(|n| n * 2)).await.unwrap();
    ///     assert_eq!(sent, 100);
    ///     assert!(!sender.is_closed());
    /// };
    /// runtime.block_on(task);
    /// let reports = runtime.block_on(host.shutdown());
    /// assert_eq!(reports[0].stats.handled, 100);
    /// ```
    ///
    /// # Errors
    /// As [`AsyncSender::send_batch`], handing back the unsent values of
    /// the batch in progress.
    pub async fn send_batch<I>(&self, values: I) -> Result<usize, SendError<Vec<M>>>
    where
        I: IntoIterator<Item = M>,
    {
        self.inner.send_batch(values).await
    }

    /// The blocking twin of [`send`](Sender::send), for threads outside
    /// async code. Do not call it on a runtime thread: if a plugin is full
    /// it blocks the thread while waiting for lanes (on a current-thread
    /// runtime, lanes that can then never run).
    ///
    /// # Errors
    /// As [`send`](Sender::send).
    pub fn send_blocking(&self, value: M) -> Result<(), SendError<M>> {
        futures_lite::future::block_on(self.inner.send(value))
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
        futures_lite::future::block_on(self.inner.send_batch(values))
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
