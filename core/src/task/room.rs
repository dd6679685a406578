//! Waiting for room as a future: what an async sender awaits while a
//! `Block` plugin is full.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use crate::dispatch::Bus;
use crate::ring::{Heap, Storage, WaiterKey};

/// Resolves once a send may find room for every
/// [`Overflow::Block`](crate::Overflow::Block) plugin (or fail for another
/// reason): the async twin of a thread parking until the bus wakes it.
///
/// On its first poll it registers as a waiting sender
/// ([`Bus::add_waiting_sender`]) with the task's waker, then checks
/// [`Bus::has_room`]; the bus wakes it when a lane moves on, leaves, or the
/// bus closes. A later poll with another waker replaces it. Dropping the
/// future (on completion or when the send is cancelled) deregisters it, so
/// nothing is left behind. Retry the send once it resolves: another sender
/// may have taken the room first.
///
/// # Example
/// ```
/// use std::pin::pin;
/// use std::task::{Context, Waker};
///
/// use plugbus_core::task::Room;
/// use plugbus_core::{AttachOptions, Bus, Flow, Message, Plugin, TrySendError};
///
/// struct Count;
/// impl Plugin<u32> for Count {
///     fn handle_message(&mut self, _: &Message<u32>) -> Flow {
///         Flow::Continue
///     }
/// }
///
/// let bus = Bus::with_capacity(1);
/// let mut lane = bus.attach(Count, AttachOptions::new())?;
/// bus.try_send(1).unwrap();
/// assert!(matches!(bus.try_send(2), Err(TrySendError::Full(2))));
///
/// let mut cx = Context::from_waker(Waker::noop());
/// let mut room = pin!(Room::new(&bus));
/// assert!(room.as_mut().poll(&mut cx).is_pending());
/// lane.run(16); // the lane moves on, and wakes the waiting sender
/// assert!(room.as_mut().poll(&mut cx).is_ready());
/// bus.try_send(2).unwrap();
/// # Ok::<(), plugbus_core::AttachError>(())
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Room<'a, M: Send + Sync + 'static, S: Storage<M> = Heap<M>> {
    bus: &'a Bus<M, S>,
    /// The registration and the waker it holds.
    waiting: Option<(WaiterKey, Waker)>,
}

impl<'a, M: Send + Sync + 'static, S: Storage<M>> Room<'a, M, S> {
    /// Waits for room on `bus`.
    pub fn new(bus: &'a Bus<M, S>) -> Self {
        Room { bus, waiting: None }
    }
}

impl<M: Send + Sync + 'static, S: Storage<M>> Future for Room<'_, M, S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        match &mut this.waiting {
            Some((key, waker)) => {
                if !waker.will_wake(cx.waker()) {
                    this.bus.update_waiting_sender(*key, cx.waker());
                    waker.clone_from(cx.waker());
                }
            }
            None => {
                let key = this.bus.add_waiting_sender(cx.waker());
                this.waiting = Some((key, cx.waker().clone()));
            }
        }
        // Registered before checking: a lane that moves on after this check
        // sees us waiting and wakes us.
        if this.bus.has_room() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl<M: Send + Sync + 'static, S: Storage<M>> Drop for Room<'_, M, S> {
    fn drop(&mut self) {
        if let Some((key, _)) = self.waiting.take() {
            // Once removed, the bus holds no clone of the waker and calls it
            // no more.
            self.bus.remove_waiting_sender(key);
        }
    }
}

impl<M: Send + Sync + 'static, S: Storage<M>> fmt::Debug for Room<'_, M, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Room")
            .field("waiting", &self.waiting.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use core::pin::pin;

    use super::*;
    use crate::policy::AttachOptions;
    use crate::task::test_support::{lane, no_waker};

    #[test]
    fn a_cancelled_wait_deregisters() {
        let bus = Bus::with_capacity(1);
        let lane = lane(&bus, AttachOptions::new());
        bus.try_send(1).unwrap();
        let mut cx = no_waker();
        {
            let mut room = pin!(Room::new(&bus));
            assert!(room.as_mut().poll(&mut cx).is_pending());
            assert_eq!(bus.ring.senders().waiting(), 1);
        }
        assert_eq!(bus.ring.senders().waiting(), 0);
        // The lane leaving frees the room; a new wait sees it at once.
        drop(lane);
        let mut room = pin!(Room::new(&bus));
        assert!(room.as_mut().poll(&mut cx).is_ready());
    }
}
