//! Where the lanes run: the caller's executor, or one the host owns with
//! threads of its own.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use async_executor::Executor;
use futures_lite::future::block_on;
use plugbus_host_async::Runtime;

use crate::error::StartError;

/// The smol executor a [`Host`](crate::Host) runs its lanes on: one you
/// lend it (`Host::on(&executor)`: you keep running it), or one it owns
/// with threads of its own ([`Builder`](crate::Builder)).
///
/// # Example
/// ```
/// use async_executor::Executor;
/// use plugbus_host_smol::{Builder, Host};
///
/// let executor = Executor::new();
/// let borrowed = Host::<u32>::on(&executor);
/// assert!(borrowed.runtime().executor().is_none());
///
/// let owned = Builder::new().threads(1).build::<u32>()?;
/// assert!(owned.runtime().executor().is_some());
/// # Ok::<(), plugbus_host_smol::StartError>(())
/// ```
#[derive(Debug)]
pub struct Smol<'ex>(Place<'ex>);

#[derive(Debug)]
enum Place<'ex> {
    /// The caller's executor, whatever its own lifetime: lanes are
    /// `'static`, so they fit on any, but naming `Executor<'a>` (invariant
    /// in `'a`) would add a lifetime to every host; so a lane spawned here
    /// is boxed, once per attach.
    Borrowed(&'ex (dyn SpawnBoxed + 'ex)),
    Owned(Owned),
}

/// Spawns a boxed lane on an executor of any lifetime.
trait SpawnBoxed: Sync + Debug {
    fn spawn_boxed(&self, lane: Pin<Box<dyn Future<Output = ()> + Send>>);
}

impl SpawnBoxed for Executor<'_> {
    fn spawn_boxed(&self, lane: Pin<Box<dyn Future<Output = ()> + Send>>) {
        self.spawn(lane).detach();
    }
}

/// An executor the host owns, and the threads that run it until `stop` closes.
#[derive(Debug)]
struct Owned {
    executor: Arc<Executor<'static>>,
    stop: async_channel::Sender<()>,
    threads: Vec<JoinHandle<()>>,
}

impl Smol<'static> {
    /// An executor of its own, run by `threads` threads named `<name>-N`
    /// (see [`Builder`](crate::Builder)).
    pub(crate) fn start(threads: usize, name: &str) -> Result<Self, StartError> {
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let executor = Arc::new(Executor::new());
        // On an error `stop` is dropped, which ends the threads started so far.
        let threads = (0..threads)
            .map(|index| {
                let (executor, stopped) = (executor.clone(), stopped.clone());
                thread::Builder::new()
                    .name(format!("{}-{index}", name.replace('\0', " ")))
                    // Runs the executor until `stop` closes (an `Err` here).
                    .spawn(move || block_on(executor.run(stopped.recv())).unwrap_or(()))
                    .map_err(|source| StartError::Thread { index, source })
            })
            .collect::<Result<_, _>>()?;
        let owned = Owned {
            executor,
            stop,
            threads,
        };
        Ok(Smol(Place::Owned(owned)))
    }
}

impl Smol<'_> {
    /// The executor the host owns, to run tasks of your own (a sending
    /// loop, say) on the same threads as the lanes; `None` for a borrowed
    /// executor, which you hold already.
    ///
    /// # Example
    /// ```
    /// let host = plugbus_host_smol::Builder::new().threads(2).build::<u64>()?;
    /// let sender = host.sender();
    /// let executor = host.runtime().executor().expect("owned");
    /// let task = executor.spawn(async move { sender.send_batch(0..10).await });
    /// assert_eq!(futures_lite::future::block_on(task)?, 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn executor(&self) -> Option<&Arc<Executor<'static>>> {
        match &self.0 {
            Place::Borrowed(_) => None,
            Place::Owned(owned) => Some(&owned.executor),
        }
    }
}

impl<'ex> From<&'ex Executor<'_>> for Smol<'ex> {
    /// The caller's executor, which the caller keeps running (for example
    /// with `executor.run(..)` on threads of its own).
    fn from(executor: &'ex Executor<'_>) -> Self {
        Smol(Place::Borrowed(executor))
    }
}

impl Runtime for Smol<'_> {
    fn spawn<F>(&self, lane: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // Detached: the lane leaves its report with the host when it ends.
        match &self.0 {
            Place::Borrowed(executor) => executor.spawn_boxed(Box::pin(lane)),
            Place::Owned(owned) => owned.executor.spawn(lane).detach(),
        }
    }

    fn stops_with_host(&self) -> bool {
        matches!(self.0, Place::Owned(_))
    }
}

impl Drop for Owned {
    /// Ends every thread's run and joins it.
    fn drop(&mut self) {
        self.stop.close();
        for thread in self.threads.drain(..) {
            // A thread only ends by `stop`; a panic in a task is caught by
            // the executor, so there is nothing to report here.
            let _ = thread.join();
        }
    }
}
