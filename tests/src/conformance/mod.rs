//! One definition of each scenario, run on every host.
//!
//! A host takes part by implementing [`Family`] (its name and how to make
//! one) and [`TestHost`] (a thin adapter over its API), then one line in
//! `tests/conformance.rs`: `conformance!(name, Adapter);`. Every scenario
//! asserts exact counts and contents, and every failure message starts with
//! the host's name.

mod adapters;
pub mod ask;
pub mod async_plugins;
#[cfg(target_os = "linux")]
pub mod isolated;
pub mod lifecycle;
mod plugins;
pub mod scenarios;

pub use adapters::{Local, Smol, SmolHost, Threads, TokioCurrent, TokioHost, TokioMulti};
pub use plugins::{Counter, Gate, PanickyPayload, Recorder, Seen};

use std::time::Duration;

use plugbus_core::ask::{Answers, Request};
use plugbus_core::lifecycle::{Factory, ReplaceError, Replaced, Replacement};
use plugbus_core::{
    AttachError, AttachOptions, Plugin, PluginId, Report, SendError, Stats, TrySendError,
};

/// A send from another thread (see [`TestHost::sender`]); `Sync`, so
/// several threads can share one.
pub type SendFn<M> = Box<dyn Fn(M) -> Result<(), SendError<M>> + Send + Sync>;

/// A host under test: how to make one for any message type.
pub trait Family {
    /// The name failures are reported under.
    const NAME: &'static str;
    /// Whether lanes run on their own while the test thread sends (threads,
    /// tasks); false for the poll-driven host, whose lanes run only in
    /// [`TestHost::run_pending`].
    const CONCURRENT: bool;
    /// The adapter for message type `M`.
    type Host<M: Send + Sync + 'static>: TestHost<M>;
    /// A host whose ring holds `capacity` messages.
    fn host<M: Send + Sync + 'static>(capacity: usize) -> Self::Host<M>;
}

/// The operations the scenarios use, the same on every host.
pub trait TestHost<M: Send + Sync + 'static> {
    /// Attaches a plugin.
    fn attach_with(
        &mut self,
        plugin: Box<dyn Plugin<M>>,
        options: AttachOptions,
    ) -> Result<PluginId, AttachError>;
    /// Sends, waiting under `Block`.
    fn send(&mut self, value: M) -> Result<(), SendError<M>>;
    /// Sends without waiting.
    fn try_send(&mut self, value: M) -> Result<(), TrySendError<M>>;
    /// A handle that sends from another thread, waiting under `Block`;
    /// `None` for the poll-driven host, whose lanes run only on its own
    /// thread.
    fn sender(&self) -> Option<SendFn<M>>;
    /// Sends a batch, waiting under `Block`; returns how many were sent.
    fn send_batch(&mut self, values: Vec<M>) -> Result<usize, SendError<Vec<M>>>;
    /// Lets lanes run what is queued: the poll-driven host runs them until
    /// idle; hosts whose lanes run by themselves do nothing.
    fn run_pending(&mut self);
    /// Asks a plugin to leave.
    fn detach(&mut self, id: PluginId) -> bool;
    /// A plugin's counters now.
    fn stats(&self, id: PluginId) -> Option<Stats>;
    /// Shuts down, draining, and returns the reports by id.
    fn shutdown(self) -> Vec<Report>;
    /// Asks every plugin (the async hosts: their `ask` future, blocked on).
    fn ask<Q, A: Send + Sync + 'static>(
        &mut self,
        make: impl FnOnce(Request<Q, A>) -> M,
        question: Q,
        timeout: Duration,
    ) -> Result<Answers<A>, SendError<M>>;
    /// Asks through the blocking twin where the host has one (the async
    /// hosts' `ask_blocking`), else as [`ask`](TestHost::ask).
    fn ask_blocking<Q, A: Send + Sync + 'static>(
        &mut self,
        make: impl FnOnce(Request<Q, A>) -> M,
        question: Q,
        timeout: Duration,
    ) -> Result<Answers<A>, SendError<M>> {
        self.ask(make, question, timeout)
    }

    /// Attaches a supervised plugin.
    fn attach_supervised(
        &mut self,
        factory: impl Factory<M>,
        options: AttachOptions,
    ) -> Result<PluginId, AttachError>;
    /// Replaces a plugin's instance, returning once the swap happened.
    fn replace_with(
        &mut self,
        id: PluginId,
        replacement: Replacement<M>,
    ) -> Result<Replaced, ReplaceError>;

    /// Attaches a plugin with default options.
    fn attach(&mut self, plugin: impl Plugin<M>) -> Result<PluginId, AttachError>
    where
        Self: Sized,
    {
        self.attach_with(Box::new(plugin), AttachOptions::new())
    }
}

/// Defines one `#[test]` per scenario for a host family, in a module named
/// after the host so a failing test names the host it failed on.
#[macro_export]
macro_rules! conformance {
    ($module:ident, $family:ty) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            use $crate::conformance::scenarios;
            $crate::conformance!(@tests $family;
                ordering, broadcast, filters, block_never_loses, try_send_full, send_batch,
                drop_newest, drop_oldest, reject, detach_with_status,
                host_detach, attach_while_flowing, panic_is_isolated,
                panic_in_hooks, shutdown_drains, outbox_replies, stats_while_running,
                bad_capacity, concat_static, panicky_payload_is_isolated,
                detach_counts_what_was_waiting, reject_batch_counted_once,
                filters_on_lossy_lanes, a_detached_plugin_frees_a_waiting_sender,
                an_exited_lane_neither_gates_nor_counts, dropping_the_host_drains
            );
            $crate::conformance!(@tests $family;
                ask_all_answer, ask_timeout_names_who_did_not_answer,
                ask_late_answers_are_dropped, ask_panic_is_reported
            );
            $crate::conformance!(@tests $family;
                async_ordering, async_shutdown_drains, async_panic_restarts,
                async_waits_on_a_channel
            );
            $crate::conformance!(@tests $family;
                restart_under_flood, restart_intensity, restart_backoff, restart_policies,
                replace_under_flood, replace_state, replace_rollback
            );
            $crate::conformance!(@dynamic $family;
                concat_dynamic, dynamic_panic_is_isolated, dynamic_panicky_payload_is_isolated,
                ask_dynamic, reload_under_flood, reload_refused_and_rolled_back, async_dynamic
            );
            $crate::conformance!(@isolated $family;
                isolated_order_across_a_crash, isolated_detach_with_status,
                isolated_death_without_restart_is_a_panic, isolated_ask_and_outbox
            );
        }
    };
    // Each runs watched: a wait that never ends fails it after
    // `watch::WAIT`, naming the host and the wait (see `watch`).
    (@tests $family:ty; $($scenario:ident),* $(,)?) => {
        $(
            #[test]
            fn $scenario() {
                $crate::watch::run(
                    <$family as $crate::conformance::Family>::NAME,
                    stringify!($scenario),
                    scenarios::$scenario::<$family>,
                );
            }
        )*
    };
    // Scenarios on an isolated lane (a child process; Linux only), which
    // miri cannot run either.
    (@isolated $family:ty; $($scenario:ident),* $(,)?) => {
        $(
            #[test]
            #[cfg(target_os = "linux")]
            #[cfg_attr(miri, ignore = "miri cannot start a child process")]
            fn $scenario() {
                $crate::watch::run(
                    <$family as $crate::conformance::Family>::NAME,
                    stringify!($scenario),
                    $crate::conformance::isolated::$scenario::<$family>,
                );
            }
        )*
    };
    // Scenarios that load a dynamic library, which miri cannot do (the
    // LocalHost scenarios run under miri in `.ci/run`).
    (@dynamic $family:ty; $($scenario:ident),* $(,)?) => {
        $(
            #[test]
            #[cfg_attr(miri, ignore = "miri cannot load a dynamic library")]
            fn $scenario() {
                $crate::watch::run(
                    <$family as $crate::conformance::Family>::NAME,
                    stringify!($scenario),
                    scenarios::$scenario::<$family>,
                );
            }
        )*
    };
}
