//! How a lane runs: as a task that sleeps through its waker, or on a thread
//! of its own that parks.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::thread::{self, Thread};

use plugbus_core::ring::{TaskWake, Wake};
use plugbus_core::{AttachError, Bus, Lane, PluginId, Report, Step};

/// The most messages a lane takes as one batch. After each batch the lane
/// yields to the executor, so one busy plugin holds a worker for at most
/// this many messages before the other tasks get a turn; yielding also lets
/// the next batch grow instead of chasing the sender message by message.
const BATCH: usize = 256;

/// How many times an idle lane yields before it sleeps: a lane that was just
/// busy is likely to get more work at once, and a yield costs far less than
/// the wake a sleep needs. Bounded, so an idle host goes quiet.
const IDLE_YIELDS: u8 = 2;

/// Where a finished lane leaves its report: the host collects one per lane.
pub(crate) type Reports = async_channel::Sender<Report>;

/// One plugin's lane as a task: runs one batch per turn while there is
/// work, and sleeps through its [`TaskWake`] when idle. Sends its report
/// when the plugin exits.
///
/// If the task is dropped before the plugin exited (its executor or runtime
/// went away), the lane still ends properly: when the host is closed it
/// first handles what was sent to it, otherwise the plugin is detached with
/// `Exit::Removed`; either way its report is sent.
pub(crate) struct LaneTask<M: Send + Sync + 'static> {
    lane: Option<Lane<M>>,
    bus: Arc<Bus<M>>,
    wake: Arc<TaskWake>,
    reports: Reports,
    idle_yields: u8,
}

impl<M: Send + Sync + 'static> LaneTask<M> {
    pub(crate) fn new(
        lane: Lane<M>,
        bus: Arc<Bus<M>>,
        wake: Arc<TaskWake>,
        reports: Reports,
    ) -> Self {
        LaneTask {
            lane: Some(lane),
            bus,
            wake,
            reports,
            idle_yields: 0,
        }
    }

    fn finish(&mut self, lane: Lane<M>) {
        // The host may be gone (nobody will read the report): nothing to do.
        let _ = self.reports.try_send(lane.finish());
    }
}

// The task is never pinned structurally: `poll` only reaches its fields
// through `&mut`, so moving it between polls is fine (the plugin and the
// messages are behind pointers anyway).
impl<M: Send + Sync + 'static> Unpin for LaneTask<M> {}

impl<M: Send + Sync + 'static> Future for LaneTask<M> {
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
                    // The waker first, then the sleep bit: a sender that
                    // publishes after `prepare_sleep` finds the bit and calls
                    // the waker registered here.
                    this.wake.register(cx.waker());
                    if lane.prepare_sleep() {
                        this.idle_yields = 0;
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

impl<M: Send + Sync + 'static> Drop for LaneTask<M> {
    fn drop(&mut self) {
        let Some(mut lane) = self.lane.take() else {
            return;
        };
        if self.bus.is_closed() {
            // Closed: nothing more can arrive, so draining ends.
            while lane.run(BATCH) != Step::Done {}
        }
        self.finish(lane);
    }
}

/// Wakes a lane's thread. The thread fills in its own handle before it
/// first runs the lane, so it is set before the lane can ever sleep (and the
/// bus wakes only sleeping lanes).
struct Unpark(OnceLock<Thread>);

impl Wake for Unpark {
    fn wake(&self) {
        if let Some(thread) = self.0.get() {
            thread.unpark();
        }
    }
}

/// Attaches through `attach` with a waker for a new thread, then runs the
/// lane on that thread until the plugin exits, parking while idle.
pub(crate) fn spawn_thread<M: Send + Sync + 'static>(
    attach: impl FnOnce(Arc<dyn Wake>) -> Result<Lane<M>, AttachError>,
    reports: Reports,
) -> Result<PluginId, AttachError> {
    let unpark = Arc::new(Unpark(OnceLock::new()));
    let lane = attach(unpark.clone())?;
    let id = lane.id();
    let plugin = lane.name().to_owned();
    thread::Builder::new()
        .name(format!("plugbus-{}", plugin.replace('\0', " ")))
        .spawn(move || {
            let _ = unpark.0.set(thread::current());
            run_parked(lane, &reports);
        })
        // If the thread cannot start, the closure and the lane in it are
        // dropped: the lane leaves the bus and gates no sender.
        .map_err(|error| AttachError::Spawn {
            plugin,
            reason: error.to_string(),
        })?;
    Ok(id)
}

fn run_parked<M: Send + Sync + 'static>(mut lane: Lane<M>, reports: &Reports) {
    loop {
        match lane.run(BATCH) {
            Step::Ran(_) => {}
            Step::Idle => {
                if lane.prepare_sleep() {
                    // Parking may wake spuriously; the sleep bit says when a
                    // sender (or close, or detach) really woke us.
                    while lane.is_sleeping() {
                        thread::park();
                    }
                }
            }
            Step::Done => break,
        }
    }
    let _ = reports.try_send(lane.finish());
}
