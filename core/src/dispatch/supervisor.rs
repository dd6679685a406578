//! A supervised lane's decisions: restart or give up, and how long to wait
//! first. No instance, no clock of its own: the lane passes the time in, so
//! the decisions are tested here with a clock the test moves.

use alloc::collections::VecDeque;
use core::time::Duration;

use crate::lifecycle::{Backoff, Intensity, Restart};
use crate::plugin::Status;

/// Why an instance ended, as far as its supervisor cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// `handle_message` or `wants` panicked.
    Panicked,
    /// It returned `Flow::Detach` with this status.
    Detached(Status),
    /// The factory failed or the new instance's `on_attach` panicked.
    RestartFailed,
}

/// What the lane does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// The policy does not restart after this: the plugin leaves as an
    /// unsupervised one would.
    Leave,
    /// Build a new instance once `at` has come (`None`: at once).
    Restart { at: Option<Duration> },
    /// Too many failures within the period.
    GiveUp { failures: u32, period: Duration },
}

/// The restart policy of one lane and the failures it has seen.
#[derive(Debug)]
pub(crate) struct Supervisor {
    restart: Restart,
    intensity: Intensity,
    backoff: Backoff,
    /// When each restart within the period was decided, oldest first: at
    /// most `intensity.restarts()` entries. Without a clock every restart
    /// stays (the period never ends).
    recent: VecDeque<Option<Duration>>,
}

impl Supervisor {
    pub(crate) fn new(restart: Restart, intensity: Intensity, backoff: Backoff) -> Self {
        Supervisor {
            restart,
            intensity,
            backoff,
            recent: VecDeque::new(),
        }
    }

    /// How many restarts the period allows.
    pub(crate) fn limit(&self) -> usize {
        self.intensity.restarts() as usize
    }

    /// The intensity period.
    pub(crate) fn period(&self) -> Duration {
        self.intensity.period()
    }

    /// Whether this policy restarts at all.
    #[cfg(test)]
    pub(crate) fn supervises(&self) -> bool {
        self.restart != Restart::Never
    }

    /// Decides what follows `failure`, which happened at `now` (`None`
    /// without a clock).
    pub(crate) fn decide(&mut self, failure: Failure, now: Option<Duration>) -> Decision {
        let restarts = match (self.restart, failure) {
            (Restart::Never, _) => false,
            (_, Failure::Panicked | Failure::RestartFailed) => true,
            (Restart::Always, Failure::Detached(status)) => status != Status::SUCCESS,
            (_, Failure::Detached(_)) => false,
        };
        if !restarts {
            return Decision::Leave;
        }
        let period = self.intensity.period();
        if let Some(now) = now {
            // Restarts longer ago than the period no longer count.
            while let Some(&Some(at)) = self.recent.front() {
                if now.saturating_sub(at) < period {
                    break;
                }
                self.recent.pop_front();
            }
        }
        let allowed = self.intensity.restarts() as usize;
        if self.recent.len() >= allowed {
            let failures = u32::try_from(self.recent.len() + 1).unwrap_or(u32::MAX);
            return Decision::GiveUp { failures, period };
        }
        self.recent.push_back(now);
        let nth = u32::try_from(self.recent.len()).unwrap_or(u32::MAX);
        let delay = self.backoff.delay(nth);
        let at = match now {
            Some(now) if !delay.is_zero() => Some(now.saturating_add(delay)),
            _ => None,
        };
        Decision::Restart { at }
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn on_panic(restarts: u32, period: Duration, backoff: Backoff) -> Supervisor {
        Supervisor::new(Restart::OnPanic, Intensity::new(restarts, period), backoff)
    }

    #[test]
    fn never_leaves_and_on_panic_restarts_only_after_a_panic() {
        let mut never = Supervisor::new(Restart::Never, Intensity::default(), Backoff::None);
        assert!(!never.supervises());
        assert_eq!(
            never.decide(Failure::Panicked, Some(ms(0))),
            Decision::Leave
        );

        let mut transient = on_panic(5, ms(5000), Backoff::None);
        assert!(transient.supervises());
        assert_eq!(
            transient.decide(Failure::Panicked, Some(ms(0))),
            Decision::Restart { at: None }
        );
        assert_eq!(
            transient.decide(Failure::RestartFailed, Some(ms(1))),
            Decision::Restart { at: None }
        );
        for status in [Status::SUCCESS, Status::FAILURE] {
            assert_eq!(
                transient.decide(Failure::Detached(status), Some(ms(2))),
                Decision::Leave
            );
        }
    }

    #[test]
    fn always_restarts_after_a_failure_status_but_not_after_success() {
        let mut permanent = Supervisor::new(Restart::Always, Intensity::default(), Backoff::None);
        assert_eq!(
            permanent.decide(Failure::Detached(Status(7)), Some(ms(0))),
            Decision::Restart { at: None }
        );
        assert_eq!(
            permanent.decide(Failure::Detached(Status::SUCCESS), Some(ms(1))),
            Decision::Leave
        );
        assert_eq!(
            permanent.decide(Failure::Panicked, Some(ms(2))),
            Decision::Restart { at: None }
        );
    }

    #[test]
    fn n_plus_one_failures_within_the_period_give_up() {
        let mut s = on_panic(5, ms(5000), Backoff::None);
        for t in 0..5 {
            assert_eq!(
                s.decide(Failure::Panicked, Some(ms(t * 100))),
                Decision::Restart { at: None },
                "restart {t}"
            );
        }
        assert_eq!(
            s.decide(Failure::Panicked, Some(ms(4999))),
            Decision::GiveUp {
                failures: 6,
                period: ms(5000)
            }
        );
    }

    #[test]
    fn failures_spread_over_more_than_the_period_do_not_give_up() {
        let mut s = on_panic(5, ms(5000), Backoff::None);
        // 100 failures, one every 1001 ms: never more than 5 in 5 s.
        for t in 0..100 {
            assert_eq!(
                s.decide(Failure::Panicked, Some(ms(t * 1001))),
                Decision::Restart { at: None },
                "failure {t}"
            );
        }
        // The window slides: 5 at 100..104 s, then a sixth at 105 s is
        // more than 5 s after the first of them.
        let mut s = on_panic(5, ms(5000), Backoff::None);
        for t in [100_000, 101_000, 102_000, 103_000, 104_000, 105_000] {
            assert_eq!(
                s.decide(Failure::Panicked, Some(ms(t))),
                Decision::Restart { at: None },
                "failure at {t} ms"
            );
        }
        assert!(matches!(
            s.decide(Failure::Panicked, Some(ms(105_500))),
            Decision::GiveUp { failures: 6, .. }
        ));
    }

    #[test]
    fn zero_restarts_gives_up_at_the_first_failure() {
        let mut s = on_panic(0, ms(1000), Backoff::None);
        assert_eq!(
            s.decide(Failure::Panicked, Some(ms(0))),
            Decision::GiveUp {
                failures: 1,
                period: ms(1000)
            }
        );
    }

    #[test]
    fn without_a_clock_the_period_never_ends_and_nobody_waits() {
        let mut s = on_panic(3, ms(1), Backoff::fixed(ms(50)));
        for _ in 0..3 {
            assert_eq!(
                s.decide(Failure::Panicked, None),
                Decision::Restart { at: None }
            );
        }
        assert!(matches!(
            s.decide(Failure::Panicked, None),
            Decision::GiveUp { failures: 4, .. }
        ));
    }

    #[test]
    fn backoff_waits_grow_within_the_period_and_start_over_after_it() {
        let mut s = on_panic(10, ms(1000), Backoff::exponential(ms(10), ms(50)));
        let mut at = Vec::new();
        for t in [0, 10, 20, 30, 40] {
            match s.decide(Failure::Panicked, Some(ms(t))) {
                Decision::Restart { at: Some(when) } => at.push(when - ms(t)),
                other => panic!("failure at {t} ms: {other:?}"),
            }
        }
        assert_eq!(at, [ms(10), ms(20), ms(40), ms(50), ms(50)]);
        // A quiet period later the first wait is short again.
        assert_eq!(
            s.decide(Failure::Panicked, Some(ms(5000))),
            Decision::Restart { at: Some(ms(5010)) }
        );
        let mut fixed = on_panic(10, ms(1000), Backoff::fixed(ms(3)));
        assert_eq!(
            fixed.decide(Failure::Panicked, Some(ms(7))),
            Decision::Restart { at: Some(ms(10)) }
        );
    }

    #[test]
    fn exponential_backoff_saturates_instead_of_overflowing() {
        let b = Backoff::exponential(Duration::from_secs(u64::MAX / 2), Duration::MAX);
        assert_eq!(b.delay(3), Duration::MAX);
        assert_eq!(Backoff::exponential(ms(1), ms(9)).delay(u32::MAX), ms(9));
        assert_eq!(Backoff::exponential(ms(1), ms(9)).delay(0), ms(1));
    }
}
