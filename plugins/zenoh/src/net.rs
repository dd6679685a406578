//! [`Net`]: the message type of a host joined over zenoh.

use core::fmt;
use core::ops::Deref;

use crate::wire::Header;

/// A message on a host joined over zenoh: the value, and the header it came
/// with when it arrived from the network.
///
/// The header is what keeps the network exactly-once: a [`Publisher`]
/// publishes a local message under its own origin and the next sequence
/// number, and does not publish a message that came from the network again
/// unless it relays (then under the header it came with). Plugins read the
/// value through `Deref`.
///
/// ```
/// use plugbus_zenoh::Net;
///
/// let local = Net::local(5u64);
/// assert_eq!(*local + 1, 6);
/// assert!(local.header().is_none());
/// let same: Net<u64> = 5.into();
/// assert_eq!(same, local);
/// ```
///
/// [`Publisher`]: crate::Publisher
#[derive(Clone, PartialEq, Eq, Hash, plugbus_core::Fingerprint)]
pub struct Net<T> {
    header: Option<Header>,
    value: T,
}

impl<T> Net<T> {
    /// A message sent on this host.
    pub fn local(value: T) -> Self {
        Net {
            header: None,
            value,
        }
    }

    /// A message that arrived from the network with `header`.
    pub fn remote(header: Header, value: T) -> Self {
        Net {
            header: Some(header),
            value,
        }
    }

    /// The header it arrived with; `None` for a local message.
    pub fn header(&self) -> Option<Header> {
        self.header
    }

    /// Whether it arrived from the network.
    pub fn is_remote(&self) -> bool {
        self.header.is_some()
    }

    /// The value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The value, without its header.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> From<T> for Net<T> {
    fn from(value: T) -> Self {
        Net::local(value)
    }
}

impl<T> Deref for Net<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for Net<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.header {
            Some(header) => write!(f, "{:?} ({header})", self.value),
            None => write!(f, "{:?} (local)", self.value),
        }
    }
}
