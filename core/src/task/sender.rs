//! Sending from async code: one message or a batch, awaiting room under the
//! `Block` policy.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use super::room::Room;
use crate::dispatch::{Bus, into_value};
use crate::error::{SendError, TrySendError};
use crate::message::Message;
use crate::ring::{Heap, Storage};
use crate::sync::Mutex;

/// Sends to every lane of a [`Bus`] from async code, awaiting [`Room`]
/// while a plugin with [`Overflow::Block`](crate::Overflow::Block) is full.
/// The sending half an async host wraps, adding its blocking twins.
///
/// Once warm, waiting and batching allocate nothing: waiting registers a
/// clone of the task's waker in room the bus reserved, and the sender keeps
/// its batch buffer from one send to the next, so each message costs its
/// one envelope. A batch that finds the buffer taken (another batch through
/// the same handle is under way) makes its own. A clone starts without one.
///
/// # Example
/// ```
/// use std::pin::pin;
/// use std::task::{Context, Poll, Waker};
///
/// use plugbus_core::task::AsyncSender;
/// use plugbus_core::{Bus, SendError};
///
/// let sender = AsyncSender::new(Bus::<u32>::with_capacity(8));
/// let mut cx = Context::from_waker(Waker::noop());
/// // No plugin gates the ring: both complete on their first poll.
/// assert!(matches!(pin!(sender.send(1)).poll(&mut cx), Poll::Ready(Ok(()))));
/// assert!(matches!(pin!(sender.send_batch(2..10)).poll(&mut cx), Poll::Ready(Ok(8))));
/// sender.bus().close();
/// assert!(sender.is_closed());
/// match pin!(sender.send(10)).poll(&mut cx) {
///     Poll::Ready(Err(SendError::Closed(10))) => {}
///     other => panic!("{other:?}"),
/// }
/// ```
pub struct AsyncSender<M: Send + Sync + 'static, S: Storage<M> = Heap<M>> {
    bus: Arc<Bus<M, S>>,
    /// The buffer of the last batch, empty, for the next.
    batch: Mutex<VecDeque<Message<M>>>,
}

impl<M: Send + Sync + 'static, S: Storage<M>> AsyncSender<M, S> {
    /// A sender into `bus`.
    pub fn new(bus: Arc<Bus<M, S>>) -> Self {
        AsyncSender {
            bus,
            batch: Mutex::new(VecDeque::new()),
        }
    }

    /// The bus it sends into.
    pub fn bus(&self) -> &Arc<Bus<M, S>> {
        &self.bus
    }

    /// Sends a message to every plugin, waiting while a plugin with
    /// [`Overflow::Block`](crate::Overflow::Block) is full.
    ///
    /// # Errors
    /// [`SendError::Closed`] once the bus is closed;
    /// [`SendError::Rejected`] when a plugin with
    /// [`Overflow::Reject`](crate::Overflow::Reject) is full.
    pub async fn send(&self, value: M) -> Result<(), SendError<M>> {
        let mut message = Message::new(value);
        loop {
            match self.bus.try_send_message(message) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(back)) => {
                    message = back;
                    Room::new(&self.bus).await;
                }
                Err(TrySendError::Failed(error)) => return Err(error.map(into_value)),
            }
        }
    }

    /// Sends a message to every plugin if every `Block` plugin has room,
    /// without waiting.
    ///
    /// # Errors
    /// [`TrySendError::Full`] when a `Block` plugin is full, otherwise the
    /// errors of [`send`](AsyncSender::send).
    pub fn try_send(&self, value: M) -> Result<(), TrySendError<M>> {
        self.bus.try_send(value)
    }

    /// Sends every value of `values` in order, publishing as many as the
    /// ring takes at once (up to its capacity) in one step, so lanes wake
    /// and synchronise once per batch instead of once per message. Waits
    /// for room like [`send`](AsyncSender::send). Returns how many were
    /// sent.
    ///
    /// # Errors
    /// As [`send`](AsyncSender::send). The error hands back the values of
    /// the batch in progress that were not sent; values the iterator had
    /// not yet yielded are not drawn.
    pub async fn send_batch<I>(&self, values: I) -> Result<usize, SendError<Vec<M>>>
    where
        I: IntoIterator<Item = M>,
    {
        let mut values = values.into_iter();
        let chunk = self.bus.capacity();
        let mut batch = self
            .batch
            .try_lock()
            .map(|mut spare| core::mem::take(&mut *spare))
            .unwrap_or_default();
        let mut sent = 0;
        loop {
            if batch.is_empty() {
                batch.extend(values.by_ref().take(chunk).map(Message::new));
                if batch.is_empty() {
                    if let Some(mut spare) = self.batch.try_lock() {
                        *spare = batch;
                    }
                    return Ok(sent);
                }
            }
            match self.bus.try_send_batch(&mut batch) {
                Ok(n) => sent += n,
                Err(TrySendError::Full(())) => Room::new(&self.bus).await,
                Err(TrySendError::Failed(error)) => {
                    let unsent: Vec<M> = batch.drain(..).map(into_value).collect();
                    return Err(error.map(|()| unsent));
                }
            }
        }
    }

    /// Whether the bus is closed: every send now fails.
    pub fn is_closed(&self) -> bool {
        self.bus.is_closed()
    }
}

impl<M: Send + Sync + 'static, S: Storage<M>> Clone for AsyncSender<M, S> {
    fn clone(&self) -> Self {
        AsyncSender::new(self.bus.clone())
    }
}

impl<M: Send + Sync + 'static, S: Storage<M>> fmt::Debug for AsyncSender<M, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncSender")
            .field("bus", &self.bus)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;
    use core::pin::pin;
    use core::task::Poll;

    use super::*;
    use crate::Step;
    use crate::plugin::PluginId;
    use crate::policy::{AttachOptions, Overflow};
    use crate::task::test_support::{lane, no_waker};

    #[test]
    fn a_batch_waits_for_room_and_keeps_its_order() {
        let sender = AsyncSender::new(Bus::with_capacity(4));
        let mut lane = lane(sender.bus(), AttachOptions::new());
        let mut cx = no_waker();
        let mut send = pin!(sender.send_batch(0..10));
        // Four fit; the rest waits for the lane.
        assert!(send.as_mut().poll(&mut cx).is_pending());
        assert_eq!(lane.run(usize::MAX), Step::Ran(4));
        assert!(send.as_mut().poll(&mut cx).is_pending());
        assert_eq!(lane.run(usize::MAX), Step::Ran(4));
        assert!(matches!(send.as_mut().poll(&mut cx), Poll::Ready(Ok(10))));
        assert_eq!(lane.run(usize::MAX), Step::Ran(2));
        assert_eq!(lane.stats().handled, 10);
    }

    #[test]
    fn a_rejected_batch_hands_back_what_was_not_sent() {
        let sender = AsyncSender::new(Bus::with_capacity(8));
        let options = AttachOptions::new().overflow(Overflow::Reject).capacity(2);
        let lane = lane(sender.bus(), options);
        let mut cx = no_waker();
        // The first call publishes 0 and 1; the second finds the plugin
        // full and hands back all of its batch in progress.
        assert!(matches!(
            pin!(sender.send_batch(0..2)).poll(&mut cx),
            Poll::Ready(Ok(2))
        ));
        match pin!(sender.send_batch(vec![2, 3, 4])).poll(&mut cx) {
            Poll::Ready(Err(SendError::Rejected { value, refused })) => {
                assert_eq!(value, vec![2, 3, 4]);
                assert_eq!(refused, vec![PluginId(0)]);
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
        drop(lane);
    }

    #[test]
    fn a_finished_send_deregisters_and_leaves_its_buffer_for_the_next() {
        let sender = AsyncSender::new(Bus::with_capacity(1));
        let mut lane = lane(sender.bus(), AttachOptions::new());
        let mut cx = no_waker();
        assert!(matches!(
            pin!(sender.send(1)).poll(&mut cx),
            Poll::Ready(Ok(()))
        ));
        {
            let mut send = pin!(sender.send(2));
            assert!(send.as_mut().poll(&mut cx).is_pending());
            lane.run(1);
            assert!(matches!(send.as_mut().poll(&mut cx), Poll::Ready(Ok(()))));
        }
        assert_eq!(sender.bus().ring.senders().waiting(), 0);
        lane.run(1);
        assert!(matches!(
            pin!(sender.send_batch([3])).poll(&mut cx),
            Poll::Ready(Ok(1))
        ));
        assert!(sender.batch.lock().capacity() >= 1);
        assert_eq!(sender.clone().batch.lock().capacity(), 0);
    }
}
