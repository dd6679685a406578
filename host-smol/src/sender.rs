//! The sending side: a cloneable handle on the bus, and the wait for room
//! under the `Block` policy.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use plugbus_core::ring::TaskWake;
use plugbus_core::{Bus, Message, SendError, TrySendError, WaiterKey};

/// A cloneable handle that sends to every plugin of one [`Host`](crate::Host),
/// for tasks and threads that do not own the host.
///
/// Once the host is shut down or dropped, every send fails with
/// [`SendError::Closed`], handing the value back.
///
/// # Example
/// ```
/// use plugbus_core::{Flow, Message, Plugin};
/// use plugbus_host_smol::Host;
///
/// struct Sum(u64);
/// impl Plugin<u64> for Sum {
///     fn handle_message(&mut self, message: &Message<u64>) -> Flow {
///         self.0 += **message;
///         Flow::Continue
///     }
/// }
///
/// let host = Host::with_threads(1).unwrap();
/// host.attach(Sum(0)).unwrap();
/// let sender = host.sender();
/// let worker = std::thread::spawn(move || sender.send_blocking(7));
/// worker.join().unwrap().unwrap();
/// assert_eq!(host.shutdown_blocking()[0].stats.handled, 1);
/// ```
pub struct Sender<M: Send + Sync + 'static> {
    bus: Arc<Bus<M>>,
    /// Kept from one send to the next, so that once warm, waiting for room
    /// and batching allocate nothing: each message costs its one envelope.
    spare: Mutex<Spare<M>>,
}

/// What a send borrows and gives back. A send that finds it taken (another
/// send of this handle is under way) makes its own.
struct Spare<M> {
    wake: Option<Arc<TaskWake>>,
    batch: VecDeque<Message<M>>,
}

impl<M> Default for Spare<M> {
    fn default() -> Self {
        Spare {
            wake: None,
            batch: VecDeque::new(),
        }
    }
}

impl<M: Send + Sync + 'static> Sender<M> {
    pub(crate) fn new(bus: Arc<Bus<M>>) -> Self {
        Sender {
            bus,
            spare: Mutex::default(),
        }
    }

    pub(crate) fn bus(&self) -> &Arc<Bus<M>> {
        &self.bus
    }

    /// Sends a message to every plugin, waiting while a plugin with
    /// [`Overflow::Block`](plugbus_core::Overflow::Block) is full.
    ///
    /// # Errors
    /// [`SendError::Closed`] once the host is shut down;
    /// [`SendError::Rejected`] when a plugin with
    /// [`Overflow::Reject`](plugbus_core::Overflow::Reject) is full.
    pub async fn send(&self, value: M) -> Result<(), SendError<M>> {
        let mut message = Message::new(value);
        loop {
            match self.bus.try_send_message(message) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(back)) => {
                    message = back;
                    Room::new(self).await;
                }
                Err(TrySendError::Failed(error)) => return Err(error.map(into_value)),
                Err(other) => return Err(SendError::Closed(into_value(other.into_inner()))),
            }
        }
    }

    /// Sends a message to every plugin if every `Block` plugin has room,
    /// without waiting.
    ///
    /// # Errors
    /// [`TrySendError::Full`] when a `Block` plugin is full, otherwise the
    /// errors of [`send`](Sender::send).
    pub fn try_send(&self, value: M) -> Result<(), TrySendError<M>> {
        self.bus.try_send(value)
    }

    /// Sends every value of `values` in order, publishing as many as the
    /// ring takes at once (up to its capacity) in one step, so lanes wake
    /// and synchronise once per batch instead of once per message. Waits
    /// for room like [`send`](Sender::send). Returns how many were sent.
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
    /// use plugbus_host_smol::Host;
    ///
    /// let host = Host::with_threads(1).unwrap();
    /// host.attach(Count).unwrap();
    /// let sender = host.sender();
    /// let task = async move {
    ///     let sent = sender.send_batch((0..100).map(|n| n * 2)).await.unwrap();
    ///     assert_eq!(sent, 100);
    ///     assert!(!sender.is_closed());
    /// };
    /// futures_lite::future::block_on(task);
    /// let reports = host.shutdown_blocking();
    /// assert_eq!(reports[0].stats.handled, 100);
    /// ```
    ///
    /// # Errors
    /// As [`send`](Sender::send). The error hands back the values of the
    /// batch in progress that were not sent; values the iterator had not
    /// yet yielded are not drawn.
    pub async fn send_batch<I>(&self, values: I) -> Result<usize, SendError<Vec<M>>>
    where
        I: IntoIterator<Item = M>,
    {
        let mut values = values.into_iter();
        let chunk = self.bus.capacity();
        let mut batch = self
            .spare
            .try_lock()
            .map(|mut spare| std::mem::take(&mut spare.batch))
            .unwrap_or_default();
        let mut sent = 0;
        loop {
            if batch.is_empty() {
                batch.extend(values.by_ref().take(chunk).map(Message::new));
                if batch.is_empty() {
                    if let Ok(mut spare) = self.spare.try_lock() {
                        spare.batch = batch;
                    }
                    return Ok(sent);
                }
            }
            match self.bus.try_send_batch(&mut batch) {
                Ok(n) => sent += n,
                Err(TrySendError::Full(())) => Room::new(self).await,
                Err(error) => {
                    let unsent: Vec<M> = batch.drain(..).map(into_value).collect();
                    return Err(match error {
                        TrySendError::Failed(error) => error.map(|()| unsent),
                        _ => SendError::Closed(unsent),
                    });
                }
            }
        }
    }

    /// The blocking twin of [`send`](Sender::send), for threads outside
    /// async code. Do not call it on an executor thread that also runs the
    /// host's lanes: if a plugin is full it waits for lanes that cannot run.
    ///
    /// # Errors
    /// As [`send`](Sender::send).
    pub fn send_blocking(&self, value: M) -> Result<(), SendError<M>> {
        futures_lite::future::block_on(self.send(value))
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
        futures_lite::future::block_on(self.send_batch(values))
    }

    /// Whether the host is shut down (or dropped): every send now fails.
    pub fn is_closed(&self) -> bool {
        self.bus.is_closed()
    }
}

impl<M: Send + Sync + 'static> Clone for Sender<M> {
    fn clone(&self) -> Self {
        Sender::new(self.bus.clone())
    }
}

impl<M: Send + Sync + 'static> fmt::Debug for Sender<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("bus", &self.bus)
            .finish_non_exhaustive()
    }
}

/// The value inside a message the bus handed back unpublished: it has one
/// reference, so unwrapping cannot fail.
fn into_value<M>(message: Message<M>) -> M {
    match Message::try_unwrap(message) {
        Ok(value) => value,
        Err(_) => unreachable!("an unpublished message has a single reference"),
    }
}

/// Resolves once a `Block` plugin may have room: registered as a waiting
/// sender, woken by the bus when a lane moves on, leaves or the bus closes.
/// Deregisters when dropped, so a cancelled send leaves nothing behind.
struct Room<'a, M: Send + Sync + 'static> {
    sender: &'a Sender<M>,
    waiting: Option<(Arc<TaskWake>, WaiterKey)>,
}

impl<'a, M: Send + Sync + 'static> Room<'a, M> {
    fn new(sender: &'a Sender<M>) -> Self {
        Room {
            sender,
            waiting: None,
        }
    }
}

impl<M: Send + Sync + 'static> Future for Room<'_, M> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let bus = &this.sender.bus;
        match &this.waiting {
            Some((wake, _)) => wake.register(cx.waker()),
            None => {
                let wake = this
                    .sender
                    .spare
                    .try_lock()
                    .ok()
                    .and_then(|mut spare| spare.wake.take())
                    .unwrap_or_default();
                wake.register(cx.waker());
                let key = bus.add_waiting_sender(wake.clone());
                this.waiting = Some((wake, key));
            }
        }
        // Registered before checking: a lane that moves on after this check
        // sees us waiting and wakes us.
        if bus.has_room() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl<M: Send + Sync + 'static> Drop for Room<'_, M> {
    fn drop(&mut self) {
        let Some((wake, key)) = self.waiting.take() else {
            return;
        };
        // Once removed, the bus holds no clone and calls it no more.
        self.sender.bus.remove_waiting_sender(key);
        // Let go of this task's waker: a kept one would keep the task alive.
        wake.register(Waker::noop());
        if let Ok(mut spare) = self.sender.spare.try_lock() {
            spare.wake.get_or_insert(wake);
        }
    }
}
