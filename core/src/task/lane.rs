//! A lane as a future: what an async host spawns for each plugin.

use alloc::sync::Arc;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::dispatch::{Bus, Lane, Report, Stats, Step};
use crate::error::AttachError;
use crate::plugin::{Plugin, PluginId};
use crate::policy::AttachOptions;
use crate::ring::{Heap, Storage};

/// The most messages a lane takes as one batch. After each batch the lane
/// yields to the executor, so one busy plugin holds a worker for at most
/// this many messages before the other tasks get a turn; yielding also lets
/// the next batch grow instead of chasing the sender message by message.
const BATCH: usize = 256;

/// How many times an idle lane yields before it sleeps: a lane that was just
/// busy is likely to get more work at once, and a yield costs far less than
/// the wake a sleep needs. Bounded, so an idle host goes quiet.
const IDLE_YIELDS: u8 = 2;

/// One plugin's lane as a future, for an async host to spawn on its
/// executor: each poll runs one batch (at most 256 messages) and yields
/// while there is work, and sleeps through the task's waker when idle.
/// When the plugin exits, `finish` gets its report and the future
/// completes.
///
/// If the future is dropped before the plugin exited (its executor or
/// runtime went away), the lane still ends properly: when the bus is closed
/// it first handles what was sent to it, otherwise the plugin is detached
/// with [`Exit::Removed`](crate::Exit::Removed); either way `finish` gets
/// the report.
///
/// # Example
/// ```
/// use std::pin::pin;
/// use std::sync::mpsc;
/// use std::task::{Context, Waker};
///
/// use plugbus_core::task::LaneTask;
/// use plugbus_core::{AttachOptions, Bus, Exit, Flow, Message, Plugin};
///
/// struct Count(u32);
/// impl Plugin<u32> for Count {
///     fn handle_message(&mut self, _: &Message<u32>) -> Flow {
///         self.0 += 1;
///         Flow::Continue
///     }
/// }
///
/// let bus = Bus::with_capacity(16);
/// let (reports, report) = mpsc::channel();
/// let finish = move |r| reports.send(r).unwrap();
/// let task = LaneTask::attach(&bus, Count(0), AttachOptions::new(), finish)?;
/// bus.try_send(1).unwrap();
/// bus.close();
/// // An executor would spawn the task; here a loop polls it to the end.
/// let mut task = pin!(task);
/// let mut cx = Context::from_waker(Waker::noop());
/// while task.as_mut().poll(&mut cx).is_pending() {}
/// let report = report.recv().unwrap();
/// assert_eq!((report.exit, report.stats.handled), (Exit::Shutdown, 1));
/// # Ok::<(), plugbus_core::AttachError>(())
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct LaneTask<M, F, S = Heap<M>>
where
    M: Send + Sync + 'static,
    F: FnOnce(Report),
    S: Storage<M>,
{
    /// `None` once the report has gone to `finish`.
    lane: Option<Lane<M, S>>,
    id: PluginId,
    finish: Option<F>,
    idle_yields: u8,
    timer: Option<Arc<dyn Timer>>,
}

/// Wakes a task after a delay: what a [`LaneTask`] needs from its runtime
/// to wait out a supervised plugin's backoff without polling (see
/// [`LaneTask::timer`]).
pub trait Timer: Send + Sync {
    /// Wakes `waker` once `delay` has passed (or later; never much sooner).
    fn wake_after(&self, delay: core::time::Duration, waker: &core::task::Waker);
}

impl<M, F, S> LaneTask<M, F, S>
where
    M: Send + Sync + 'static,
    F: FnOnce(Report),
    S: Storage<M>,
{
    /// Attaches `plugin` to `bus` and returns its lane as a future; the
    /// plugin sees exactly the messages
    /// sent after this returns. `finish` is called once, with the plugin's
    /// report, when the lane ends.
    ///
    /// # Errors
    /// As [`Bus::attach`]: [`AttachError::Closed`] after the bus closed,
    /// [`AttachError::Capacity`] for a capacity the ring cannot give. The
    /// plugin and `finish` are dropped.
    pub fn attach<P: Plugin<M>>(
        bus: &Arc<Bus<M, S>>,
        plugin: P,
        options: AttachOptions,
        finish: F,
    ) -> Result<Self, AttachError> {
        let lane = bus.attach(plugin, options)?;
        Ok(LaneTask {
            id: lane.id(),
            lane: Some(lane),
            finish: Some(finish),
            idle_yields: 0,
            timer: None,
        })
    }

    /// Attaches a supervised plugin, built by `factory` now and again each
    /// time its lane restarts it (see [`Bus::attach_supervised`]).
    ///
    /// # Errors
    /// As [`Bus::attach_supervised`]; `factory` and `finish` are dropped.
    pub fn attach_supervised(
        bus: &Arc<Bus<M, S>>,
        factory: impl crate::lifecycle::Factory<M>,
        options: AttachOptions,
        finish: F,
    ) -> Result<Self, AttachError> {
        let lane = bus.attach_supervised(factory, options)?;
        Ok(LaneTask {
            id: lane.id(),
            lane: Some(lane),
            finish: Some(finish),
            idle_yields: 0,
            timer: None,
        })
    }

    /// The timer that ends a supervised plugin's backoff. Without one the
    /// task yields to its executor until the backoff ends.
    pub fn timer(mut self, timer: Arc<dyn Timer>) -> Self {
        self.timer = Some(timer);
        self
    }

    /// The plugin's id.
    pub fn id(&self) -> PluginId {
        self.id
    }

    /// The plugin's name; `None` once the lane has ended.
    pub fn name(&self) -> Option<&str> {
        self.lane.as_ref().map(Lane::name)
    }

    /// A snapshot of the plugin's counters (what a host exports as
    /// metrics between two polls); `None` once the lane has ended.
    pub fn stats(&self) -> Option<Stats> {
        self.lane.as_ref().map(Lane::stats)
    }

    fn finish(&mut self, lane: Lane<M, S>) {
        let report = lane.finish();
        if let Some(finish) = self.finish.take() {
            finish(report);
        }
    }
}

// Never pinned structurally: `poll` reaches the fields only through `&mut`,
// and moves nothing out of them that it relies on staying put (the plugin
// and the messages are behind pointers anyway).
impl<M, F, S> Unpin for LaneTask<M, F, S>
where
    M: Send + Sync + 'static,
    F: FnOnce(Report),
    S: Storage<M>,
{
}

impl<M, F, S> Future for LaneTask<M, F, S>
where
    M: Send + Sync + 'static,
    F: FnOnce(Report),
    S: Storage<M>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(lane) = this.lane.as_mut() else {
            return Poll::Ready(());
        };
        loop {
            match lane.run(BATCH) {
                Step::Ran(_) => {
                    this.idle_yields = 0;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Step::Idle if this.idle_yields < IDLE_YIELDS => {
                    this.idle_yields += 1;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Step::Idle => {
                    // The waker is registered before the sleep bit is set:
                    // a sender that publishes after `prepare_sleep` finds
                    // the bit and wakes this task.
                    if lane.prepare_sleep(cx.waker()) {
                        this.idle_yields = 0;
                        return Poll::Pending;
                    }
                }
                Step::Wait(delay) => {
                    // A supervised plugin's backoff: the timer wakes the
                    // task when it ends, a sender or the host sooner.
                    match &this.timer {
                        Some(timer) => timer.wake_after(delay, cx.waker()),
                        None => cx.waker().wake_by_ref(),
                    }
                    if this.timer.is_none() || lane.prepare_sleep(cx.waker()) {
                        return Poll::Pending;
                    }
                }
                Step::Done => {
                    if let Some(lane) = this.lane.take() {
                        this.finish(lane);
                    }
                    return Poll::Ready(());
                }
            }
        }
    }
}

impl<M, F, S> Drop for LaneTask<M, F, S>
where
    M: Send + Sync + 'static,
    F: FnOnce(Report),
    S: Storage<M>,
{
    fn drop(&mut self) {
        let Some(mut lane) = self.lane.take() else {
            return;
        };
        if lane.bus_is_closed() {
            // Closed: nothing more can arrive, so draining ends, unless an
            // async plugin's future waits on something this dropped task's
            // executor would have driven: `finish` then drops the future.
            loop {
                match lane.run(BATCH) {
                    Step::Done => break,
                    Step::Idle if lane.awaits_plugin() => break,
                    _ => {}
                }
            }
        }
        self.finish(lane);
    }
}

impl<M, F, S> fmt::Debug for LaneTask<M, F, S>
where
    M: Send + Sync + 'static,
    F: FnOnce(Report),
    S: Storage<M>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LaneTask")
            .field("id", &self.id)
            .field("finished", &self.lane.is_none())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;
    use core::cell::RefCell;
    use core::pin::pin;

    use super::*;
    use crate::Exit;
    use crate::task::test_support::{no_waker, task};

    #[test]
    fn a_busy_lane_yields_after_each_batch_then_sleeps() {
        let bus = Bus::with_capacity(1024);
        let reports = RefCell::new(Vec::new());
        let mut task = pin!(task(&bus, &reports));
        for n in 0..600 {
            bus.try_send(n).unwrap();
        }
        let mut cx = no_waker();
        // 256 + 256 + 88 messages, one batch per poll; then the idle yields,
        // then a poll that goes to sleep.
        for handled in [256, 512, 600, 600, 600, 600] {
            assert!(task.as_mut().poll(&mut cx).is_pending());
            assert_eq!(bus.stats(task.id()).unwrap().handled, handled);
        }
        assert!(task.lane.as_ref().unwrap().is_sleeping());
        bus.close();
        assert!(task.as_mut().poll(&mut cx).is_ready());
        let reports = reports.borrow();
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].exit, Exit::Shutdown);
        assert_eq!(reports[0].stats.handled, 600);
    }

    #[test]
    fn a_dropped_task_drains_a_closed_bus_and_reports_once() {
        let bus = Bus::with_capacity(16);
        let reports = RefCell::new(Vec::new());
        let task = task(&bus, &reports);
        for n in 0..10 {
            bus.try_send(n).unwrap();
        }
        bus.close();
        drop(task);
        let reports = reports.borrow();
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].exit, Exit::Shutdown);
        assert_eq!(reports[0].stats.handled, 10);
    }

    #[test]
    fn a_dropped_task_on_an_open_bus_is_removed() {
        let bus = Bus::with_capacity(16);
        let reports = RefCell::new(Vec::new());
        let task = task(&bus, &reports);
        bus.try_send(1).unwrap();
        drop(task);
        // The lane left the bus: it gates no sender any more.
        assert!(bus.is_empty());
        let reports = reports.borrow();
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].exit, Exit::Removed);
        assert_eq!(reports[0].stats.handled, 0);
    }
}
