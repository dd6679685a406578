//! Where the lanes run: the tokio runtime of a handle.

use std::future::Future;

use plugbus_host_async::Runtime;
use tokio::runtime::{Handle, TryCurrentError};

/// The tokio runtime a [`Host`](crate::Host) runs its lanes on, multi-thread
/// or current-thread: the current one ([`Host::new`](crate::Host::new)), or
/// the one of a handle (`Host::on(handle)`).
///
/// # Example
/// ```
/// use plugbus_host_tokio::{Host, Tokio};
///
/// let runtime = tokio::runtime::Builder::new_current_thread().build()?;
/// // Outside the runtime there is no current one: a typed error, no panic.
/// assert!(Tokio::try_current().is_err());
/// let host = Host::<u32>::on(runtime.handle().clone());
/// assert_eq!(host.runtime().handle().id(), runtime.handle().id());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Tokio {
    handle: Handle,
}

impl Tokio {
    /// The runtime this code runs in.
    ///
    /// # Errors
    /// Outside a tokio runtime, tokio's error saying so.
    pub fn try_current() -> Result<Self, TryCurrentError> {
        Handle::try_current().map(Tokio::from)
    }

    /// The handle of the runtime the lanes run on.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Default for Tokio {
    /// The current runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime, like `tokio::spawn`; use
    /// [`try_current`](Tokio::try_current) or a handle there.
    fn default() -> Self {
        Tokio::from(Handle::current())
    }
}

impl From<Handle> for Tokio {
    fn from(handle: Handle) -> Self {
        Tokio { handle }
    }
}

impl Runtime for Tokio {
    fn spawn<F>(&self, lane: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // Detached: the lane leaves its report with the host when it ends.
        // On a runtime that is shutting down tokio drops the task at once,
        // and the lane reports `Exit::Removed`.
        drop(self.handle.spawn(lane));
    }
}
