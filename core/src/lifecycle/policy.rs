//! When a plugin is restarted, how often at most, and how far apart.

use core::time::Duration;

/// When a supervised plugin gets a fresh instance from its
/// [`Factory`](super::Factory) (OTP's restart types).
///
/// Whatever the policy, a plugin that detaches with
/// [`Status::SUCCESS`](crate::Status::SUCCESS) or is detached by the host
/// leaves for good, and the host's shutdown ends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Restart {
    /// A panic detaches the plugin (OTP's "temporary"). The default.
    #[default]
    Never,
    /// Restarted after a panic in `handle_message`, `wants` or a
    /// restarted instance's `on_attach` (OTP's "transient").
    OnPanic,
    /// Restarted after a panic, and also after it detaches with a failure
    /// status (any [`Status`](crate::Status) but `SUCCESS`; OTP's
    /// "permanent").
    Always,
}

/// At most `restarts` restarts within any `period`: one more failure in
/// that time and the lane gives up (the plugin is detached and its report
/// says [`Exit::GaveUp`](crate::Exit::GaveUp)). The default is 5 in 5
/// seconds, as kameo's and close to OTP's (1 in 5 s there).
///
/// A failed restart (the factory failed, or the new instance panicked in
/// `on_attach`) counts as a failure under the same limit.
///
/// # Example
/// ```
/// use core::time::Duration;
/// use plugbus_core::lifecycle::Intensity;
///
/// let limit = Intensity::new(10, Duration::from_secs(60));
/// assert_eq!((limit.restarts(), limit.period()), (10, Duration::from_secs(60)));
/// assert_eq!(Intensity::default(), Intensity::new(5, Duration::from_secs(5)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Intensity {
    restarts: u32,
    period: Duration,
}

impl Intensity {
    /// At most `restarts` restarts within `period` (0: give up at the
    /// first failure).
    pub const fn new(restarts: u32, period: Duration) -> Self {
        Intensity { restarts, period }
    }

    /// How many restarts the period allows.
    pub const fn restarts(&self) -> u32 {
        self.restarts
    }

    /// The sliding window they are counted in.
    pub const fn period(&self) -> Duration {
        self.period
    }
}

impl Default for Intensity {
    fn default() -> Self {
        Intensity::new(5, Duration::from_secs(5))
    }
}

/// How long a lane waits before it restarts its plugin.
///
/// While it waits the lane keeps its position: messages sent meanwhile wait
/// for the new instance. Under [`Overflow::Block`](crate::Overflow::Block)
/// they fill the plugin's share of the ring and then the sender waits too,
/// as for any slow plugin; other plugins go on. A detach or the host's
/// shutdown ends the wait at once (at shutdown the lane restarts without
/// waiting, to drain what was sent to it).
///
/// # Example
/// ```
/// use core::time::Duration;
/// use plugbus_core::lifecycle::Backoff;
///
/// let ms = Duration::from_millis;
/// let backoff = Backoff::exponential(ms(10), ms(35));
/// assert_eq!(backoff.delay(1), ms(10));
/// assert_eq!(backoff.delay(2), ms(20));
/// assert_eq!(backoff.delay(3), ms(35));
/// assert_eq!(Backoff::fixed(ms(5)).delay(7), ms(5));
/// assert_eq!(Backoff::None.delay(1), Duration::ZERO);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Backoff {
    /// Restart at once. The default.
    #[default]
    None,
    /// Wait the same time before every restart.
    Fixed(Duration),
    /// Wait `first`, then twice as long for each further restart within the
    /// [`Intensity`] period, at most `max`. Restarts that fall out of the
    /// period no longer count, so a plugin that has run quietly for a
    /// period starts again from `first`.
    Exponential {
        /// The first wait.
        first: Duration,
        /// The longest wait.
        max: Duration,
    },
}

impl Backoff {
    /// [`Backoff::Fixed`].
    pub const fn fixed(wait: Duration) -> Self {
        Backoff::Fixed(wait)
    }

    /// [`Backoff::Exponential`].
    pub const fn exponential(first: Duration, max: Duration) -> Self {
        Backoff::Exponential { first, max }
    }

    /// The wait before the `nth` restart within the period (counting from
    /// 1).
    pub fn delay(&self, nth: u32) -> Duration {
        match *self {
            Backoff::None => Duration::ZERO,
            Backoff::Fixed(wait) => wait,
            Backoff::Exponential { first, max } => {
                let doublings = nth.saturating_sub(1);
                if doublings >= u32::BITS {
                    return max;
                }
                first
                    .checked_mul(1 << doublings)
                    .map_or(max, |d| d.min(max))
            }
        }
    }
}
