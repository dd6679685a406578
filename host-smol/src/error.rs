//! Why a host that owns its executor could not start.

use std::{error, fmt, io};

/// A host that owns its executor could not start its threads.
///
/// # Example
/// ```
/// use plugbus_host_smol::{Builder, StartError};
///
/// let error = Builder::new().threads(0).build::<u64>().unwrap_err();
/// assert!(matches!(error, StartError::NoThreads));
/// assert_eq!(error.to_string(), "an executor needs at least one thread");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// Zero threads were asked for.
    NoThreads,
    /// The operating system refused to start an executor thread.
    Thread {
        /// Which thread (counting from 0) failed to start.
        index: usize,
        /// What the operating system said.
        source: io::Error,
    },
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::NoThreads => f.write_str("an executor needs at least one thread"),
            StartError::Thread { index, source } => {
                write!(f, "cannot start executor thread {index}: {source}")
            }
        }
    }
}

impl error::Error for StartError {
    fn source(&self) -> Option<&(dyn error::Error + 'static)> {
        match self {
            StartError::NoThreads => None,
            StartError::Thread { source, .. } => Some(source),
        }
    }
}
