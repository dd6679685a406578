//! The hosts' logs and metrics, checked field by field: one definition of
//! each scenario, run on every std-based host (`tests/observe.rs`).
//!
//! Events are captured by a [`Capture`] subscriber installed around the
//! scenario with `tracing::subscriber::with_default`; the hosts raise a
//! lane's events under the subscriber that was the default where it was
//! attached, so the capture sees them from every lane thread and task.
//! Metrics (feature `metrics`) go to `metrics-util`'s debugging recorder,
//! installed around `attach` with `metrics::with_local_recorder`.
//!
//! Every scenario runs under a capture, also those that check no event: an
//! event raised with no subscriber while only one other is alive makes
//! tracing-core cache its call site as of no interest (its shortcut for a
//! single dispatcher asks only the raising thread's default), and then a
//! parallel test misses that event until the next subscriber is made.

mod capture;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod scenarios;

pub use capture::{Capture, Event};

/// Defines one `#[test]` per scenario for a host family, in a module named
/// after the host.
#[macro_export]
macro_rules! observe {
    ($module:ident, $family:ty) => {
        mod $module {
            $crate::observe!(@tests $family, $crate::observe::scenarios;
                logs_attach_exit_and_panic, logs_lossy_drops,
                plugin_events_follow_the_attaching_subscriber,
                logs_restart_replace_and_give_up, logs_reload);
            #[cfg(feature = "metrics")]
            $crate::observe!(@tests $family, $crate::observe::metrics;
                exports_counters_with_labels, exports_lifecycle_counters);
        }
    };
    (@tests $family:ty, $module:path; $($scenario:ident),* $(,)?) => {
        $(
            #[test]
            fn $scenario() {
                use $module as scenarios;
                scenarios::$scenario::<$family>();
            }
        )*
    };
}
