//! Why an isolated plugin could not start.

use std::fmt;
use std::io;

use plugbus_core::AttachError;

use crate::LoadError;

/// An isolated plugin that did not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum IsolateError {
    /// The host's own check of the library failed (the same checks the
    /// loader makes, read from the file without loading it).
    Load(LoadError),
    /// The shared memory, the watcher thread or the child process could
    /// not be created.
    Spawn(io::Error),
    /// The child started but could not load the plugin; the text is the
    /// child's error (a [`LoadError`] there, or a bad runner).
    Child(String),
    /// The child did not say it was ready within the start timeout (it
    /// was killed).
    Timeout,
    /// The child started, but the host refused to attach the plugin.
    Attach(AttachError),
    /// This platform has no isolated plugins (they need Linux: `memfd`,
    /// shared futexes, `pidfd`, `PR_SET_PDEATHSIG`).
    Unsupported,
}

impl fmt::Display for IsolateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IsolateError::Load(_) => f.write_str("isolated plugin refused"),
            IsolateError::Spawn(_) => f.write_str("could not start the isolated plugin's process"),
            IsolateError::Child(text) => {
                write!(f, "isolated plugin's process did not start: {text}")
            }
            IsolateError::Timeout => {
                f.write_str("isolated plugin's process did not become ready in time")
            }
            IsolateError::Attach(_) => f.write_str("could not attach the isolated plugin"),
            IsolateError::Unsupported => {
                f.write_str("isolated plugins need linux (memfd, futex, pidfd, pdeathsig)")
            }
        }
    }
}

impl std::error::Error for IsolateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            IsolateError::Load(error) => Some(error),
            IsolateError::Spawn(error) => Some(error),
            IsolateError::Attach(error) => Some(error),
            _ => None,
        }
    }
}

impl From<LoadError> for IsolateError {
    fn from(error: LoadError) -> Self {
        IsolateError::Load(error)
    }
}
