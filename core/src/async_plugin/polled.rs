//! The batch loops of a plugin whose handler is polled: [`Async`] and a
//! dynamic plugin (whose library may export an async one). Not part of the
//! API: a host's loader implements [`PollHandler`] and calls these from
//! its plugin's hidden batch methods.
//!
//! A pending handler keeps its message where it is: on a ring lane the
//! message is given back to the batch (`Batch::unread_last`), so the lane's
//! position stays before it and its slot is not reused; on a lossy lane it
//! stays the first of the lane's batch, which does not grow meanwhile. The
//! next batch starts with it, and the loop polls the handler again before
//! it takes another message. The lane cancels a pending handler before it
//! lets the message go (a detach, a panic, its exit).
//!
//! [`Async`]: crate::Async

use core::task::{Context, Poll, Waker};

use crate::ask::Delivery;
use crate::dispatch::{Local, QueueWork, RingWork};
use crate::message::Message;
use crate::plugin::{Flow, PluginId};

/// A handler the lane polls. Not part of the API.
#[doc(hidden)]
pub trait PollHandler<M> {
    /// The plugin's filter.
    fn wants(&self, message: &M) -> bool;

    /// Starts handling `message` if no handler is pending, or polls the
    /// pending one, which was started with this same `message`.
    ///
    /// # Safety
    /// If it returns `Pending`, `message` stays valid and in place until
    /// this returns `Ready` or the handler is cancelled.
    unsafe fn poll_message(&mut self, message: &Message<M>, cx: &mut Context<'_>) -> Poll<Flow>;

    /// Whether a handler is pending.
    fn is_pending(&self) -> bool;
}

/// Counts a completed handler and tells a question about it; returns the
/// flow if the plugin asked to leave.
fn handled<M>(
    message: &Message<M>,
    flow: Flow,
    local: &mut Local,
    questions: Option<PluginId>,
) -> Option<Flow> {
    local.handled += 1;
    if let Some(id) = questions {
        message.delivered(id, Delivery::Handled);
    }
    (flow != Flow::Continue).then_some(flow)
}

/// Counts a message the filter declined.
fn filtered<M>(message: &Message<M>, local: &mut Local, questions: Option<PluginId>) {
    local.filtered += 1;
    if let Some(id) = questions {
        message.delivered(id, Delivery::Filtered);
    }
}

/// The ring lane's loop of a polled handler; `waker` caches the lane's
/// waker between batches.
#[doc(hidden)]
#[inline]
pub fn run_ring<M, H>(handler: &mut H, waker: &mut Option<Waker>, work: RingWork<'_, '_, M>) -> Flow
where
    M: Send + Sync + 'static,
    H: PollHandler<M> + ?Sized,
{
    let RingWork {
        batch,
        local,
        questions,
        lane,
    } = work;
    let waker = waker.get_or_insert_with(|| Waker::from(lane.clone()));
    let mut cx = Context::from_waker(waker);
    let resuming = handler.is_pending();
    while let Some(message) = batch.next() {
        // A pending handler's message is first again, counted already.
        if !handler.is_pending() {
            local.received += 1;
            if !handler.wants(message) {
                filtered(message, local, questions);
                continue;
            }
        }
        // SAFETY: if it stays pending, the message is given back to the
        // batch below, so the lane's position stays before it and its slot
        // keeps it; the lane cancels the handler before it moves past it.
        match unsafe { handler.poll_message(message, &mut cx) } {
            Poll::Pending => {
                batch.unread_last();
                return Flow::Continue;
            }
            Poll::Ready(flow) => {
                if let Some(flow) = handled(message, flow, local, questions) {
                    return flow;
                }
            }
        }
    }
    debug_assert!(
        !resuming || !handler.is_pending(),
        "a pending handler's message is in the batch"
    );
    Flow::Continue
}

/// The lossy lane's loop of a polled handler.
#[doc(hidden)]
#[inline]
pub fn run_queue<M, H>(handler: &mut H, waker: &mut Option<Waker>, work: QueueWork<'_, M>) -> Flow
where
    M: Send + Sync + 'static,
    H: PollHandler<M> + ?Sized,
{
    let QueueWork {
        queue,
        local,
        questions,
        lane,
    } = work;
    let waker = waker.get_or_insert_with(|| Waker::from(lane.clone()));
    let mut cx = Context::from_waker(waker);
    while let Some(message) = queue.front() {
        if !handler.is_pending() {
            local.received += 1;
            if !handler.wants(message) {
                filtered(message, local, questions);
                queue.pop_front();
                continue;
            }
        }
        // SAFETY: a pending handler's message stays the queue's first,
        // unmoved (the lane adds nothing to this batch meanwhile), until it
        // completes or the lane cancels it.
        match unsafe { handler.poll_message(message, &mut cx) } {
            Poll::Pending => return Flow::Continue,
            Poll::Ready(flow) => {
                let stop = handled(message, flow, local, questions);
                queue.pop_front();
                if let Some(flow) = stop {
                    return flow;
                }
            }
        }
    }
    Flow::Continue
}
