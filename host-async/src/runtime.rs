//! Where an async host's lanes run: the one thing an executor adapter
//! provides.

use std::future::Future;

/// An executor or runtime that an async [`Host`](crate::Host) runs its
/// lanes on: the glue between the host, written once, and smol, tokio or
/// any other executor.
///
/// A lane is a `'static` future that runs one plugin until it exits; the
/// host spawns one per [`attach`](crate::Host::attach) and never awaits it
/// (each lane leaves its report where the host collects it at shutdown).
///
/// There is no hook for the host's `*_blocking` calls: the futures they
/// block on are woken by lanes, never by an I/O reactor or a timer, so one
/// executor-independent `block_on` that parks the calling thread serves
/// every runtime (a runtime's own would add nothing, and tokio's panics on
/// a thread that is inside the runtime).
///
/// # Example
/// A runtime that gives every lane a thread of its own, polled by a
/// `block_on` (the lanes of an async host need nothing more from a runtime):
/// ```
/// use std::future::Future;
///
/// use plugbus_core::{Flow, Message, Plugin};
/// use plugbus_host_async::Runtime;
///
/// #[derive(Debug)]
/// struct ThreadPerLane;
///
/// type Host<M> = plugbus_host_async::Host<M, ThreadPerLane>;
///
/// impl Runtime for ThreadPerLane {
///     fn spawn<F>(&self, lane: F)
///     where
///         F: Future<Output = ()> + Send + 'static,
///     {
///         std::thread::spawn(move || futures_lite::future::block_on(lane));
///     }
/// }
///
/// struct Count(u64);
/// impl Plugin<u64> for Count {
///     fn handle_message(&mut self, _: &Message<u64>) -> Flow {
///         self.0 += 1;
///         Flow::Continue
///     }
/// }
///
/// let host = Host::on(ThreadPerLane);
/// host.attach(Count(0))?;
/// host.send_batch_blocking(0..10)?;
/// assert_eq!(host.shutdown_blocking()[0].stats.handled, 10);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Runtime: Send + Sync {
    /// Runs `lane` to completion as a task of its own, detached.
    ///
    /// A runtime that cannot run it (it is shutting down) may drop it: a
    /// lane dropped before its plugin exited still ends properly (it drains
    /// what was sent to it once the host is closed, or leaves with
    /// [`Exit::Removed`](plugbus_core::Exit::Removed) while the host is
    /// open) and reports.
    fn spawn<F>(&self, lane: F)
    where
        F: Future<Output = ()> + Send + 'static;

    /// Whether this runtime stops when the host drops it: an executor the
    /// host owns, whose threads end with it. Dropping such a host without
    /// [`shutdown`](crate::Host::shutdown) first waits until every lane has
    /// drained, since no thread would run them afterwards. False by
    /// default: the runtime outlives the host and drains the lanes itself.
    fn stops_with_host(&self) -> bool {
        false
    }
}
