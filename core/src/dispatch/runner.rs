//! A plugin as its lane runs it: one call per batch, compiled for the
//! plugin's own type.

use alloc::collections::VecDeque;
use alloc::sync::Arc;

use super::shared::LaneShared;
use super::stats::Local;
use crate::ask::Delivery;
use crate::message::Message;
use crate::plugin::{Flow, Plugin, PluginId};
use crate::ring::Batch;

/// A plugin behind one virtual call per batch. It is implemented for every
/// `P: Plugin<M>` and erased when the plugin is attached, so the loop over
/// a batch (filter, then handler, per message) is compiled for `P`: a
/// plugin that keeps the default [`Plugin::wants`] pays nothing for the
/// filter, and a lane makes one indirect call per batch instead of two per
/// message. The loop itself is [`Plugin`]'s hidden default method, so that
/// [`Async`](crate::Async) can run a batch its own way and a
/// `Box<dyn Plugin<M>>` (a dynamic plugin, the registry's) still runs the
/// loop of the plugin inside.
pub(crate) trait Runner<M: Send + Sync + 'static>: Send {
    /// The plugin, for its hooks.
    fn plugin(&mut self) -> &mut dyn Plugin<M>;

    /// Runs the filter and the handler on each message of `batch` until it
    /// ends, the handler asks to leave, or (an async plugin) its future is
    /// pending: then the message it waits on is given back to the batch,
    /// so the lane's position stays before it and its slot is not reused.
    /// Counts each message in `local` and, if `questions` names the plugin
    /// (some question lives), tells a question the message carries how it
    /// went. A panic leaves `batch` and `local` saying how far it got: the
    /// message it struck is the batch's last, counted as received.
    fn run_ring(
        &mut self,
        batch: &mut Batch<'_, M, LaneShared<M>>,
        local: &mut Local,
        questions: Option<PluginId>,
        lane: &Arc<LaneShared<M>>,
    ) -> Flow;

    /// The same for a lossy lane's queue: takes messages from the front,
    /// popping each once it has been handled; after a panic, or while a
    /// future is pending, the message it struck is still at the front.
    fn run_queue(
        &mut self,
        queue: &mut VecDeque<Message<M>>,
        local: &mut Local,
        questions: Option<PluginId>,
        lane: &Arc<LaneShared<M>>,
    ) -> Flow;

    /// Whether a handler's future is pending (an async plugin).
    fn is_pending(&self) -> bool;

    /// Drops a pending handler's future.
    fn cancel(&mut self);
}

/// What a lane lends a plugin to run a batch of ring messages. Not part of
/// the API (see [`Plugin::__run_ring`]).
#[allow(unreachable_pub, missing_debug_implementations)]
pub struct RingWork<'w, 'b, M: Send + Sync + 'static> {
    pub(crate) batch: &'w mut Batch<'b, M, LaneShared<M>>,
    pub(crate) local: &'w mut Local,
    pub(crate) questions: Option<PluginId>,
    pub(crate) lane: &'w Arc<LaneShared<M>>,
}

/// What a lossy lane lends a plugin to run a batch from its queue. Not
/// part of the API (see [`Plugin::__run_queue`]).
#[allow(unreachable_pub, missing_debug_implementations)]
pub struct QueueWork<'w, M: Send + Sync + 'static> {
    pub(crate) queue: &'w mut VecDeque<Message<M>>,
    pub(crate) local: &'w mut Local,
    pub(crate) questions: Option<PluginId>,
    pub(crate) lane: &'w Arc<LaneShared<M>>,
}

impl<M: Send + Sync + 'static, P: Plugin<M>> Runner<M> for P {
    fn plugin(&mut self) -> &mut dyn Plugin<M> {
        self
    }

    fn run_ring(
        &mut self,
        batch: &mut Batch<'_, M, LaneShared<M>>,
        local: &mut Local,
        questions: Option<PluginId>,
        lane: &Arc<LaneShared<M>>,
    ) -> Flow {
        self.__run_ring(RingWork {
            batch,
            local,
            questions,
            lane,
        })
    }

    fn run_queue(
        &mut self,
        queue: &mut VecDeque<Message<M>>,
        local: &mut Local,
        questions: Option<PluginId>,
        lane: &Arc<LaneShared<M>>,
    ) -> Flow {
        self.__run_queue(QueueWork {
            queue,
            local,
            questions,
            lane,
        })
    }

    fn is_pending(&self) -> bool {
        self.__pending()
    }

    fn cancel(&mut self) {
        self.__cancel();
    }
}

/// The batch loop of a synchronous plugin (`Plugin::__run_ring`'s default).
#[inline]
pub(crate) fn run_ring<M, P>(plugin: &mut P, work: RingWork<'_, '_, M>) -> Flow
where
    M: Send + Sync + 'static,
    P: Plugin<M> + ?Sized,
{
    let RingWork {
        batch,
        local,
        questions,
        ..
    } = work;
    while let Some(message) = batch.next() {
        if let Some(flow) = deliver(plugin, message, local, questions) {
            return flow;
        }
    }
    Flow::Continue
}

/// The queue loop of a synchronous plugin (`Plugin::__run_queue`'s default).
#[inline]
pub(crate) fn run_queue<M, P>(plugin: &mut P, work: QueueWork<'_, M>) -> Flow
where
    M: Send + Sync + 'static,
    P: Plugin<M> + ?Sized,
{
    let QueueWork {
        queue,
        local,
        questions,
        ..
    } = work;
    while let Some(message) = queue.front() {
        let stop = deliver(plugin, message, local, questions);
        queue.pop_front();
        if let Some(flow) = stop {
            return flow;
        }
    }
    Flow::Continue
}

/// The filter, then the handler, on one message, counted, and told to a
/// question the message carries if questions live. Returns the flow if the
/// plugin asked to leave.
#[inline(always)]
fn deliver<M, P: Plugin<M> + ?Sized>(
    plugin: &mut P,
    message: &Message<M>,
    local: &mut Local,
    questions: Option<PluginId>,
) -> Option<Flow> {
    local.received += 1;
    if plugin.wants(message) {
        let flow = plugin.handle_message(message);
        local.handled += 1;
        if let Some(id) = questions {
            message.delivered(id, Delivery::Handled);
        }
        if flow != Flow::Continue {
            return Some(flow);
        }
    } else {
        local.filtered += 1;
        if let Some(id) = questions {
            message.delivered(id, Delivery::Filtered);
        }
    }
    None
}
