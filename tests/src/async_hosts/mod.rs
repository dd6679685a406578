//! One definition of each scenario the async hosts share, run on
//! `plugbus-host-smol` and `plugbus-host-tokio` alike.
//!
//! A runtime takes part through [`Bed`] (how to start it, put a host on it
//! and drive it); both hosts meet the scenarios through [`AsyncTestHost`],
//! which is their common API. `tests/host_smol.rs` and `tests/host_tokio.rs`
//! instantiate the scenarios with [`async_host_tests!`](crate::async_host_tests)
//! and keep what only one host has (executor borrowing, current-thread
//! behaviour, what dropping does).

mod bed;
mod measure;
mod plugins;
pub mod scenarios;

pub use bed::{
    AsyncTestHost, Bed, IdleBed, RunsItself, SmolBorrowed, SmolOwned, TestSender,
    TokioCurrentThread, TokioMultiThread,
};
pub use measure::{Counting, allocations, cpu_ticks};
pub use plugins::{
    Blocker, Busy, HANG, Leaves, PanicsOn, Record, Recorder, Releaser, Watcher, complete, records,
    sum_below,
};

/// Defines one `#[test]` per shared scenario for a runtime, in a module
/// named after it, so a failing test names the host and runtime.
///
/// After the bed come the groups of scenarios it takes part in:
/// - `running`: every bed;
/// - `self_driven`: beds whose runtime runs without the caller
///   ([`RunsItself`]): blocking calls from threads outside it;
/// - `idle`: beds whose runtime runs only while the caller drives it
///   ([`IdleBed`]): what happens to work queued before it runs.
#[macro_export]
macro_rules! async_host_tests {
    ($module:ident, $bed:ty: $($group:ident),+ $(,)?) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            use $crate::async_hosts::{Bed as _, scenarios};
            $( $crate::async_host_tests!(@$group $bed); )+
        }
    };
    (@running $bed:ty) => {
        $crate::async_host_tests!(@tests $bed;
            broadcast_reaches_every_plugin_exactly_once,
            block_loses_nothing_with_a_slow_plugin,
            shutdown_drains_what_was_sent,
            a_blocking_plugin_on_its_own_thread_keeps_the_others_going,
            a_panic_is_reported_and_the_others_go_on,
            reports_cover_plugins_that_left_earlier_and_boxed_plugins,
            a_sender_fails_with_its_values_once_the_host_is_shut_down,
            hosts_senders_and_their_futures_can_cross_threads,
        );
    };
    (@self_driven $bed:ty) => {
        $crate::async_host_tests!(@tests $bed;
            send_blocking_waits_for_a_slow_plugin_from_other_threads,
        );
    };
    (@idle $bed:ty) => {
        $crate::async_host_tests!(@tests $bed;
            try_send_says_full_and_hands_the_value_back,
            lossy_policies_count_what_they_drop,
            a_busy_plugin_yields_so_others_on_the_same_thread_run,
        );
        #[test]
        fn dropping_the_host_then_the_runtime_drains_lanes_it_never_ran() {
            $crate::watch::run(
                stringify!($bed),
                "dropping_the_host_then_the_runtime_drains_lanes_it_never_ran",
                || {
                    scenarios::dropping_the_host_then_the_runtime_drains_lanes_it_never_ran(
                        <$bed>::start(),
                    )
                },
            );
        }
    };
    (@tests $bed:ty; $($scenario:ident),* $(,)?) => {
        $(
            // Watched: a wait that never ends fails the test (see `watch`).
            #[test]
            fn $scenario() {
                $crate::watch::run(stringify!($bed), stringify!($scenario), || {
                    scenarios::$scenario(&<$bed>::start())
                });
            }
        )*
    };
}
