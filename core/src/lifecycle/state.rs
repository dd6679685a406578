//! The state one instance of a plugin hands to the next.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// A plugin's state as bytes with a version: what
/// [`Plugin::export_state`](crate::Plugin::export_state) gives before its
/// instance is replaced and
/// [`Plugin::import_state`](crate::Plugin::import_state) receives in the
/// new one.
///
/// Bytes rather than a Rust value, so a new build of a dynamic plugin, with
/// other types, reads what the old build wrote: the version says which
/// layout the bytes have. Across a dynamic-library boundary the bytes are
/// copied into the host's allocation as they leave the old library, so
/// each side frees only what it allocated.
///
/// # Example
/// ```
/// use plugbus_core::lifecycle::State;
///
/// let state = State::new(1, 41u64.to_le_bytes().to_vec());
/// assert_eq!(state.version(), 1);
/// let count = u64::from_le_bytes(state.bytes().try_into().unwrap());
/// assert_eq!(count + 1, 42);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct State {
    version: u32,
    bytes: Vec<u8>,
}

impl State {
    /// State in the layout `version` names.
    pub fn new(version: u32, bytes: Vec<u8>) -> Self {
        State { version, bytes }
    }

    /// The layout of the bytes.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("version", &self.version)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// Why a new instance did not take the state it was handed. It then starts
/// fresh, and the lane's report says why.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StateError {
    /// The instance does not know this layout.
    UnknownVersion {
        /// The version it was handed.
        version: u32,
    },
    /// The bytes did not read as the version says.
    Invalid {
        /// The version it was handed.
        version: u32,
        /// What was wrong.
        reason: String,
    },
}

impl StateError {
    /// The instance does not know `state`'s version.
    pub fn unknown_version(state: &State) -> Self {
        StateError::UnknownVersion {
            version: state.version,
        }
    }

    /// `state` did not read as its version says.
    pub fn invalid(state: &State, reason: impl Into<String>) -> Self {
        StateError::Invalid {
            version: state.version,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::UnknownVersion { version } => {
                write!(
                    f,
                    "state version {version} is not known to the new instance"
                )
            }
            StateError::Invalid { version, reason } => {
                write!(f, "state of version {version} is invalid: {reason}")
            }
        }
    }
}

impl core::error::Error for StateError {}
