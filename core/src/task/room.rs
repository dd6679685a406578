//! Waiting for room as a future: what an async sender awaits while a
//! `Block` plugin is full.

use alloc::sync::Arc;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use crate::dispatch::{Bus, WaiterKey};
use crate::ring::{Heap, Storage, TaskWake};

/// Resolves once a send may find room for every
/// [`Overflow::Block`](crate::Overflow::Block) plugin (or fail for another
/// reason): the async twin of a thread parking until the bus wakes it.
///
/// On its first poll it registers as a waiting sender
/// ([`Bus::add_waiting_sender`]) with a [`TaskWake`] holding the task's
/// waker, then checks [`Bus::has_room`]; the bus wakes it when a lane moves
/// on, leaves, or the bus closes. Dropping it (on completion or when the
/// send is cancelled) deregisters it, so nothing is left behind. Retry the
/// send once it resolves: another sender may have taken the room first.
///
/// # Example
/// ```
/// use std::pin::pin;
/// use std::sync::Arc;
/// use std::task::{Context, Waker};
///
/// use plugbus_core::ring::TaskWake;
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
/// let mut lane = bus.attach(Box::new(Count), AttachOptions::new(), Arc::new(TaskWake::new()))?;
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
    /// Where a sender keeps its waker from one wait to the next, so that
    /// waiting allocates nothing once warm.
    spare: Option<&'a spin::Mutex<Option<Arc<TaskWake>>>>,
    waiting: Option<(Arc<TaskWake>, WaiterKey)>,
}

impl<'a, M: Send + Sync + 'static, S: Storage<M>> Room<'a, M, S> {
    /// Waits for room on `bus`; the waker is made on the first poll that
    /// has to wait.
    pub fn new(bus: &'a Bus<M, S>) -> Self {
        Room {
            bus,
            spare: None,
            waiting: None,
        }
    }

    /// Like [`new`](Room::new), taking the waker from `spare` if it holds
    /// one and giving it back when done.
    pub(crate) fn reusing(
        bus: &'a Bus<M, S>,
        spare: &'a spin::Mutex<Option<Arc<TaskWake>>>,
    ) -> Self {
        Room {
            bus,
            spare: Some(spare),
            waiting: None,
        }
    }
}

impl<M: Send + Sync + 'static, S: Storage<M>> Future for Room<'_, M, S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        match &this.waiting {
            Some((wake, _)) => wake.register(cx.waker()),
            None => {
                // A spare taken by a concurrent wait of the same sender (or
                // none yet): make one.
                let wake = this
                    .spare
                    .and_then(|spare| spare.try_lock()?.take())
                    .unwrap_or_default();
                wake.register(cx.waker());
                let key = this.bus.add_waiting_sender(wake.clone());
                this.waiting = Some((wake, key));
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
        let Some((wake, key)) = self.waiting.take() else {
            return;
        };
        // Once removed, the bus holds no clone and calls it no more.
        self.bus.remove_waiting_sender(key);
        // Let go of this task's waker: a kept one would keep the task alive.
        wake.register(Waker::noop());
        if let Some(mut spare) = self.spare.and_then(spin::Mutex::try_lock) {
            spare.get_or_insert(wake);
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
    fn a_cancelled_wait_deregisters_and_leaves_its_waker_for_the_next() {
        let bus = Bus::with_capacity(1);
        let lane = lane(&bus, AttachOptions::new());
        bus.try_send(1).unwrap();
        let spare = spin::Mutex::new(None);
        let mut cx = no_waker();
        {
            let mut room = pin!(Room::reusing(&bus, &spare));
            assert!(room.as_mut().poll(&mut cx).is_pending());
            assert!(spare.lock().is_none(), "the wait holds the waker");
        }
        let kept = spare.lock().clone().expect("the wait gave its waker back");
        // Only `spare` holds it now: the bus let go of its clone.
        assert_eq!(Arc::strong_count(&kept), 2);
        {
            let mut room = pin!(Room::reusing(&bus, &spare));
            assert!(room.as_mut().poll(&mut cx).is_pending());
            assert!(spare.lock().is_none(), "the second wait reused it");
        }
        assert!(Arc::ptr_eq(&kept, spare.lock().as_ref().unwrap()));
        // The lane leaving frees the room; a new wait sees it at once.
        drop(lane);
        let mut room = pin!(Room::new(&bus));
        assert!(room.as_mut().poll(&mut cx).is_ready());
    }
}
