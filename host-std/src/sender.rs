//! Sending from any thread: a cloneable handle on the host's bus; a thread
//! waits for room under [`Overflow::Block`](plugbus_core::Overflow::Block)
//! with [`park_until_room`].

#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, TryLockError};

use plugbus_core::{Bus, Message, SendError, TrySendError};
use plugbus_host_async::park_until_room;

/// A handle that sends into a [`Host`](crate::Host) from any thread.
///
/// Clone it for each sending thread. It does not keep the plugins alive:
/// once the host is shut down (or dropped), sending fails with
/// [`SendError::Closed`] and the value is handed back.
///
/// # Example
/// ```
/// use plugbus_host_std::{Flow, Host, Message, Plugin};
///
/// struct Count(u64);
/// impl Plugin<u64> for Count {
///     fn handle_message(&mut self, _: &Message<u64>) -> Flow {
///         self.0 += 1;
///         Flow::Continue
///     }
/// }
///
/// let host = Host::new();
/// host.attach(Count(0)).unwrap();
/// let threads: Vec<_> = (0..3)
///     .map(|t| {
///         let sender = host.sender();
///         std::thread::spawn(move || {
///             for i in 0..100 {
///                 sender.send(t * 100 + i).unwrap();
///             }
///         })
///     })
///     .collect();
/// for thread in threads {
///     thread.join().unwrap();
/// }
/// let reports = host.shutdown();
/// assert_eq!(reports[0].stats.handled, 300);
/// ```
pub struct Sender<M: Send + Sync + 'static> {
    bus: Arc<Bus<M>>,
    /// Reused by `send_batch`, so a batch costs one allocation per message.
    scratch: Mutex<VecDeque<Message<M>>>,
}

impl<M: Send + Sync + 'static> Sender<M> {
    pub(crate) fn new(bus: Arc<Bus<M>>) -> Self {
        Sender {
            bus,
            scratch: Mutex::new(VecDeque::new()),
        }
    }

    pub(crate) fn bus(&self) -> &Arc<Bus<M>> {
        &self.bus
    }

    /// Sends a message to every plugin. If a plugin with
    /// [`Overflow::Block`](plugbus_core::Overflow::Block) is full, the
    /// calling thread waits until it has room.
    ///
    /// A plugin that sends into its own host should use
    /// [`try_send`](Sender::try_send): waiting for room on its own thread
    /// would wait for itself when it is the one that is full.
    ///
    /// # Errors
    /// [`SendError::Closed`] once the host is shut down;
    /// [`SendError::Rejected`] if a plugin with
    /// [`Overflow::Reject`](plugbus_core::Overflow::Reject) is full.
    pub fn send(&self, value: M) -> Result<(), SendError<M>> {
        self.bus.send_with(value, park_until_room)
    }

    /// Sends a message if every blocking plugin has room, without waiting.
    ///
    /// # Errors
    /// [`TrySendError::Full`] if a blocking plugin is full; otherwise the
    /// errors of [`send`](Sender::send).
    pub fn try_send(&self, value: M) -> Result<(), TrySendError<M>> {
        self.bus.try_send(value)
    }

    /// Sends many messages, in order, publishing as many as fit at once:
    /// lanes see each publication as one batch, and sleeping lanes are woken
    /// once per publication rather than once per message. Waits for room
    /// like [`send`](Sender::send). Returns how many were sent.
    ///
    /// # Example
    /// ```
    /// # use plugbus_host_std::{Flow, Host, Message, Plugin};
    /// # struct Count;
    /// # impl Plugin<u64> for Count {
    /// #     fn handle_message(&mut self, _: &Message<u64>) -> Flow {
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// let host = Host::new();
    /// host.attach(Count)?;
    /// assert_eq!(host.sender().send_batch(0..100)?, 100);
    /// assert_eq!(host.shutdown()[0].stats.handled, 100);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`send`](Sender::send), with the values that were not sent, in
    /// order; every value before them was sent.
    pub fn send_batch(
        &self,
        values: impl IntoIterator<Item = M>,
    ) -> Result<usize, SendError<Vec<M>>> {
        match self.scratch.try_lock() {
            Ok(mut scratch) => self.send_all(&mut scratch, values),
            Err(TryLockError::Poisoned(poisoned)) => {
                // A panicking iterator left it poisoned; its content is
                // cleared before use, so it is still sound to reuse.
                self.send_all(&mut poisoned.into_inner(), values)
            }
            // Another thread batches through this very handle: use a buffer
            // of our own rather than wait for it.
            Err(TryLockError::WouldBlock) => self.send_all(&mut VecDeque::new(), values),
        }
    }

    fn send_all(
        &self,
        batch: &mut VecDeque<Message<M>>,
        values: impl IntoIterator<Item = M>,
    ) -> Result<usize, SendError<Vec<M>>> {
        batch.clear();
        batch.extend(values.into_iter().map(Message::new));
        let count = batch.len();
        self.bus.send_batch_with(batch, park_until_room)?;
        Ok(count)
    }

    /// Whether the host has shut down: every send fails from now on.
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
