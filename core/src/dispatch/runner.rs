//! A plugin as its lane runs it: one call per batch, compiled for the
//! plugin's own type.

use alloc::collections::VecDeque;

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
/// message. `Box<dyn Plugin<M>>` (a dynamic plugin, the registry's) takes
/// the same path, with its calls then indirect.
pub(crate) trait Runner<M: Send + Sync + 'static>: Send {
    /// The plugin, for its hooks.
    fn plugin(&mut self) -> &mut dyn Plugin<M>;

    /// Runs the filter and the handler on each message of `batch` until it
    /// ends or the handler asks to leave; counts each message in `local`
    /// and, if `questions` names the plugin (some question lives), tells a
    /// question the message carries how it went. A panic leaves `batch` and
    /// `local` saying how far it got: the message it struck is the batch's
    /// last, counted as received.
    fn run_ring(
        &mut self,
        batch: &mut Batch<'_, M, LaneShared<M>>,
        local: &mut Local,
        questions: Option<PluginId>,
    ) -> Flow;

    /// The same for a lossy lane's queue: takes messages from the front,
    /// popping each once it has been handled; after a panic the message it
    /// struck is still at the front, counted as received.
    fn run_queue(
        &mut self,
        queue: &mut VecDeque<Message<M>>,
        local: &mut Local,
        questions: Option<PluginId>,
    ) -> Flow;
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
    ) -> Flow {
        while let Some(message) = batch.next() {
            if let Some(flow) = deliver(self, message, local, questions) {
                return flow;
            }
        }
        Flow::Continue
    }

    fn run_queue(
        &mut self,
        queue: &mut VecDeque<Message<M>>,
        local: &mut Local,
        questions: Option<PluginId>,
    ) -> Flow {
        while let Some(message) = queue.front() {
            let stop = deliver(self, message, local, questions);
            queue.pop_front();
            if let Some(flow) = stop {
                return flow;
            }
        }
        Flow::Continue
    }
}

/// The filter, then the handler, on one message, counted, and told to a
/// question the message carries if questions live. Returns the flow if the
/// plugin asked to leave.
#[inline(always)]
fn deliver<M, P: Plugin<M>>(
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
