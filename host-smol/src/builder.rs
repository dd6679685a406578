//! Settings for a host that owns its executor.

use std::thread;

use plugbus_core::DEFAULT_CAPACITY;

use crate::Host;
use crate::error::StartError;
use crate::runtime::Smol;

/// Starts a [`Host`] that owns its executor: the ring's capacity, and the
/// number and name of the executor's threads.
///
/// # Example
/// ```
/// use plugbus_host_smol::Builder;
///
/// let host = Builder::new().capacity(64).threads(1).build::<u32>()?;
/// assert_eq!(host.capacity(), 64);
/// # Ok::<(), plugbus_host_smol::StartError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    capacity: usize,
    threads: Option<usize>,
    thread_name: String,
}

impl Builder {
    /// A ring of [`DEFAULT_CAPACITY`] messages and one executor thread per
    /// available core.
    pub fn new() -> Self {
        Builder {
            capacity: DEFAULT_CAPACITY,
            threads: None,
            thread_name: String::from("plugbus-smol"),
        }
    }

    /// The ring holds at least this many messages (rounded up to a power of
    /// two, at most [`MAX_HEAP_CAPACITY`](plugbus_core::ring::MAX_HEAP_CAPACITY)):
    /// how far a `Block` plugin may lag before senders wait.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// How many threads run the executor.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// The executor's threads are named `<name>-N`, counting from 0; the
    /// default name is `plugbus-smol`.
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.thread_name = name.into();
        self
    }

    /// Starts the executor's threads and a host on it.
    ///
    /// # Errors
    /// [`StartError::NoThreads`] for zero threads; [`StartError::Thread`]
    /// when a thread cannot start.
    pub fn build<M: Send + Sync + 'static>(self) -> Result<Host<'static, M>, StartError> {
        let threads = match self.threads {
            Some(0) => return Err(StartError::NoThreads),
            Some(n) => n,
            None => thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let runtime = Smol::start(threads, &self.thread_name)?;
        Ok(Host::on_with_capacity(runtime, self.capacity))
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}
