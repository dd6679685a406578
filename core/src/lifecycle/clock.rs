//! The time restart limits and backoff are measured in, without `std`.

use core::fmt;
use core::time::Duration;

/// A monotonic clock: the time since some fixed moment, never going back.
///
/// The core is `no_std`, so it reads time through this trait: the std hosts
/// use [`StdClock`] (`std::time::Instant`); on `LocalHost` without `std`,
/// give a clock of the target (a timer peripheral, a tick counter) with
/// [`AttachOptions::clock`](crate::AttachOptions::clock). A supervised
/// plugin without any clock counts every restart in its
/// [`Intensity`](super::Intensity) (the period never ends) and restarts
/// without [`Backoff`](super::Backoff).
///
/// # Example
/// ```
/// use core::sync::atomic::{AtomicU64, Ordering};
/// use core::time::Duration;
/// use plugbus_core::lifecycle::Clock;
///
/// /// Milliseconds counted by a timer interrupt.
/// struct Ticks(AtomicU64);
///
/// impl Clock for Ticks {
///     fn now(&self) -> Duration {
///         Duration::from_millis(self.0.load(Ordering::Relaxed))
///     }
/// }
///
/// let ticks = Ticks(AtomicU64::new(1500));
/// assert_eq!(ticks.now(), Duration::from_millis(1500));
/// ```
pub trait Clock: Send + Sync + 'static {
    /// The time since the clock's fixed moment.
    fn now(&self) -> Duration;
}

/// The standard library's monotonic clock (`Instant`), counted from the
/// first time any `StdClock` was read in the process.
#[cfg(feature = "std")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StdClock;

#[cfg(feature = "std")]
impl Clock for StdClock {
    fn now(&self) -> Duration {
        extern crate std;
        use std::sync::OnceLock;
        use std::time::Instant;

        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed()
    }
}

/// A clock inside options, compared by identity.
#[derive(Clone)]
pub(crate) struct SharedClock(pub(crate) alloc::sync::Arc<dyn Clock>);

impl PartialEq for SharedClock {
    fn eq(&self, other: &Self) -> bool {
        alloc::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for SharedClock {}

impl fmt::Debug for SharedClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}
