//! What the task module's unit tests share: a plugin, a lane no task
//! polls, a task that keeps its report, and a context whose waker does
//! nothing (the tests poll by hand).

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::task::{Context, Waker};

use super::LaneTask;
use crate::dispatch::{Bus, Lane, Report};
use crate::message::Message;
use crate::plugin::{Flow, Plugin};
use crate::policy::AttachOptions;

/// Takes every message.
pub(super) struct Count;

impl Plugin<u32> for Count {
    fn handle_message(&mut self, _: &Message<u32>) -> Flow {
        Flow::Continue
    }
}

/// A [`Count`] lane on `bus` that the test runs by hand.
pub(super) fn lane(bus: &Arc<Bus<u32>>, options: AttachOptions) -> Lane<u32> {
    bus.attach(Count, options).unwrap()
}

/// A [`Count`] lane as a task that leaves its report in `reports`.
pub(super) fn task<'a>(
    bus: &Arc<Bus<u32>>,
    reports: &'a RefCell<Vec<Report>>,
) -> LaneTask<u32, impl FnOnce(Report) + 'a> {
    let finish = |report| reports.borrow_mut().push(report);
    LaneTask::attach(bus, Count, AttachOptions::new(), finish).unwrap()
}

/// A context whose waker does nothing.
pub(super) fn no_waker() -> Context<'static> {
    Context::from_waker(Waker::noop())
}
