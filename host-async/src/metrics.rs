//! The names of the metrics every std-based host exports through the
//! [`metrics`](https://docs.rs/metrics) facade (feature `metrics`), one
//! series per plugin, labelled [`PLUGIN`] (its name) and [`ID`] (its id).
//!
//! They are the plugin's [`Stats`](plugbus_core::Stats): counters, set to
//! the lane's totals (with `Counter::absolute`) after every 4096 messages
//! it takes, when it goes idle and when it exits, never per message; and
//! the lag high-water mark as a gauge. The lifecycle counters
//! ([`RESTARTS`], [`DEAD_LETTERED`], [`REPLACED`], [`ROLLED_BACK`]) stay 0
//! for a plugin that is neither supervised nor replaced. A recorder sees the lanes attached
//! while it is in force on the attaching thread (the global one, or one
//! installed with `metrics::with_local_recorder` around `attach`).
//!
//! ```
//! use plugbus_host_async::metrics;
//!
//! assert_eq!(metrics::HANDLED, "plugbus_handled_total");
//! assert_eq!((metrics::PLUGIN, metrics::ID), ("plugin", "id"));
//! ```

/// Label: the plugin's name (as in its [`Report`](plugbus_core::Report)).
pub const PLUGIN: &str = "plugin";
/// Label: the plugin's id within its host, as a decimal number.
pub const ID: &str = "id";

/// Counter: messages the plugin's lane took.
pub const RECEIVED: &str = "plugbus_received_total";
/// Counter: messages its handler ran on.
pub const HANDLED: &str = "plugbus_handled_total";
/// Counter: messages its filter declined.
pub const FILTERED: &str = "plugbus_filtered_total";
/// Counter: messages its overflow policy dropped, or that it had not taken
/// when the host detached it.
pub const DROPPED: &str = "plugbus_dropped_total";
/// Counter: sends refused because it was full (`Reject`).
pub const REJECTED: &str = "plugbus_rejected_total";
/// Counter: messages whose filter or handler panicked.
pub const PANICKED: &str = "plugbus_panicked_total";
/// Counter: times its lane built a new instance after a failure
/// (supervised plugins).
pub const RESTARTS: &str = "plugbus_restarts_total";
/// Counter: messages whose handling panicked on a supervised plugin and
/// that no instance got again (also counted in [`PANICKED`]).
pub const DEAD_LETTERED: &str = "plugbus_dead_lettered_total";
/// Counter: times the host replaced its instance (`replace`, `reload`).
pub const REPLACED: &str = "plugbus_replaced_total";
/// Counter: times a replacement panicked within its first messages and the
/// instance before it was put back.
pub const ROLLED_BACK: &str = "plugbus_rolled_back_total";
/// Gauge: the most messages it was ever behind.
pub const LAG_MAX: &str = "plugbus_lag_max";

/// Describes the metrics to the recorder in force (its exporter may show
/// the text, Prometheus as `# HELP`).
#[cfg(feature = "metrics")]
pub(crate) fn describe() {
    use ::metrics::{Unit, describe_counter, describe_gauge};
    describe_counter!(RECEIVED, Unit::Count, "messages the plugin's lane took");
    describe_counter!(HANDLED, Unit::Count, "messages the plugin's handler ran on");
    describe_counter!(
        FILTERED,
        Unit::Count,
        "messages the plugin's filter declined"
    );
    describe_counter!(
        DROPPED,
        Unit::Count,
        "messages dropped for the plugin (overflow policy, or not taken before it was detached)"
    );
    describe_counter!(
        REJECTED,
        Unit::Count,
        "sends refused because the plugin was full"
    );
    describe_counter!(
        PANICKED,
        Unit::Count,
        "messages whose filter or handler panicked"
    );
    describe_counter!(
        RESTARTS,
        Unit::Count,
        "times the plugin's lane built a new instance after a failure"
    );
    describe_counter!(
        DEAD_LETTERED,
        Unit::Count,
        "messages whose handling panicked on a supervised plugin and that no instance got again"
    );
    describe_counter!(
        REPLACED,
        Unit::Count,
        "times the host replaced the plugin's instance (replace, reload)"
    );
    describe_counter!(
        ROLLED_BACK,
        Unit::Count,
        "times a replacement panicked early and the instance before it was put back"
    );
    describe_gauge!(
        LAG_MAX,
        Unit::Count,
        "the most messages the plugin was ever behind"
    );
}
