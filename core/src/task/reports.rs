//! Where lanes leave their reports, and where an async host collects them
//! when it shuts down.

use alloc::vec::Vec;
use core::fmt;

use crate::dispatch::Report;
use crate::message::Message;
use crate::outbox::{Outbox, Replies, outbox};

/// Collects one [`Report`] per lane: each lane gets a
/// [`sink`](Reports::sink) to call when it ends (the `finish` of
/// [`LaneTask::attach`](super::LaneTask::attach), or of a lane on a thread),
/// and the host collects them all once it has closed the bus.
///
/// Collecting ends when every sink handed out has been called or dropped,
/// so it also covers lanes that ended long before shutdown, and lanes whose
/// task was dropped by its executor (a [`LaneTask`](super::LaneTask)
/// reports from its `drop`).
///
/// # Example
/// ```
/// use std::future::Future;
/// use std::pin::{Pin, pin};
/// use std::task::{Context, Poll, Waker};
///
/// use plugbus_core::task::{LaneTask, Reports};
/// use plugbus_core::{AttachOptions, Bus, Flow, Message, Plugin};
///
/// struct Count;
/// impl Plugin<u32> for Count {
///     fn handle_message(&mut self, _: &Message<u32>) -> Flow {
///         Flow::Continue
///     }
/// }
///
/// let bus = Bus::with_capacity(16);
/// let mut reports = Reports::new();
/// let mut lanes = Vec::new();
/// for _ in 0..2 {
///     let finish = reports.sink().expect("not closed yet");
///     lanes.push(LaneTask::attach(&bus, Box::new(Count), AttachOptions::new(), finish)?);
/// }
/// bus.try_send(7).unwrap();
/// bus.close();
/// // An executor would run the lanes while the host awaits the reports.
/// let mut cx = Context::from_waker(Waker::noop());
/// for lane in &mut lanes {
///     while Pin::new(&mut *lane).poll(&mut cx).is_pending() {}
/// }
/// let Poll::Ready(all) = pin!(reports.collect()).poll(&mut cx) else {
///     panic!("every lane has reported");
/// };
/// assert_eq!(all.len(), 2);
/// assert!(all.iter().all(|r| r.stats.handled == 1));
/// assert!(reports.sink().is_none());
/// # Ok::<(), plugbus_core::AttachError>(())
/// ```
pub struct Reports {
    /// Cloned into every sink; dropped by `close`, so that collecting ends
    /// once every sink is gone.
    to: Option<Outbox<Report>>,
    from: Replies<Report>,
}

impl Reports {
    /// No lane yet.
    pub fn new() -> Self {
        // Unbounded in practice: a lane must always be able to leave its
        // report, and there is one per lane.
        let (to, from) = outbox(usize::MAX);
        Reports { to: Some(to), from }
    }

    /// Where one more lane leaves its report; `None` once closed.
    pub fn sink(&self) -> Option<impl FnOnce(Report) + Send + 'static> {
        let to = self.to.clone()?;
        // The outbox has room for every report; if the host is gone,
        // nobody would read it anyway.
        Some(move |report| drop(to.send(report)))
    }

    /// Hands out no more sinks: collecting ends once every sink handed out
    /// has been called or dropped. Idempotent.
    pub fn close(&mut self) {
        self.to = None;
    }

    /// Whether [`close`](Reports::close) was called.
    pub fn is_closed(&self) -> bool {
        self.to.is_none()
    }

    /// Closes, waits until every lane has reported, and returns the reports
    /// not collected before, by plugin id.
    pub async fn collect(&mut self) -> Vec<Report> {
        self.close();
        let mut all = Vec::new();
        while let Some(report) = self.from.recv().await {
            all.push(own(report));
        }
        all.sort_by_key(|r| r.id);
        all
    }

    /// The blocking twin of [`collect`](Reports::collect), for threads
    /// outside async code (feature `std`).
    #[cfg(feature = "std")]
    pub fn collect_blocking(&mut self) -> Vec<Report> {
        self.close();
        let mut all = Vec::new();
        while let Some(report) = self.from.recv_blocking() {
            all.push(own(report));
        }
        all.sort_by_key(|r| r.id);
        all
    }
}

/// The report out of its envelope: the lanes that make reports are this
/// binary's code, so the envelope is ours and unique.
fn own(report: Message<Report>) -> Report {
    Message::try_unwrap(report).unwrap_or_else(|shared| (*shared).clone())
}

impl Default for Reports {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Reports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reports")
            .field("closed", &self.is_closed())
            .field("waiting", &self.from.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::String;
    use core::pin::pin;
    use core::task::Poll;

    use super::*;
    use crate::dispatch::Stats;
    use crate::plugin::{Exit, PluginId};
    use crate::task::test_support::no_waker;

    fn report(id: u64) -> Report {
        Report {
            id: PluginId(id),
            name: String::from("lane"),
            exit: Exit::Shutdown,
            stats: Stats::default(),
            panic: None,
            panics: Vec::new(),
            events: Vec::new(),
        }
    }

    #[test]
    fn collecting_waits_for_every_sink_and_sorts_by_id() {
        let mut reports = Reports::new();
        let first = reports.sink().unwrap();
        let second = reports.sink().unwrap();
        let never_called = reports.sink().unwrap();
        second(report(1));
        let mut cx = no_waker();
        let mut collect = pin!(reports.collect());
        assert!(collect.as_mut().poll(&mut cx).is_pending());
        first(report(0));
        assert!(collect.as_mut().poll(&mut cx).is_pending());
        // A lane that is dropped without reporting ends the wait too.
        drop(never_called);
        let Poll::Ready(all) = collect.as_mut().poll(&mut cx) else {
            panic!("every sink is gone");
        };
        let ids: Vec<u64> = all.iter().map(|r| r.id.get()).collect();
        assert_eq!(ids, [0, 1]);
    }

    #[test]
    fn a_closed_collector_hands_out_no_sink() {
        let mut reports = Reports::new();
        assert!(!reports.is_closed());
        reports.close();
        assert!(reports.is_closed());
        assert!(reports.sink().is_none());
        let mut cx = no_waker();
        let Poll::Ready(all) = pin!(reports.collect()).poll(&mut cx) else {
            panic!("no sink was handed out");
        };
        assert!(all.is_empty());
    }
}
