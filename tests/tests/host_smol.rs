//! plugbus-host-smol against its public API. The scenarios it shares with
//! host-tokio (broadcast counts, the `Block` policy with a slow plugin,
//! shutdown draining, blocking plugins on their own threads, panics, what a
//! not yet running executor does) are defined once in
//! `plugbus_tests::async_hosts`; what is smol's own is here: an executor the
//! host owns or borrows, and what dropping each does.

use std::sync::mpsc;
use std::time::Duration;

use async_executor::Executor;
use futures_lite::future::block_on;
use plugbus_core::SendError;
use plugbus_host_smol::{Builder, Host};
use plugbus_tests::async_host_tests;
use plugbus_tests::async_hosts::scenarios::{self, SlowLane};
use plugbus_tests::async_hosts::{Counting, Recorder, SmolBorrowed, SmolOwned, complete, records};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

async_host_tests!(owned_executor, SmolOwned: running, self_driven);
async_host_tests!(borrowed_executor, SmolBorrowed: running, idle);

#[test]
fn dropping_a_host_that_owns_its_executor_drains_before_returning() {
    plugbus_tests::watch::run(
        "host-smol",
        "dropping_a_host_that_owns_its_executor_drains_before_returning",
        || {
            let (tx, rx) = mpsc::channel();
            let host = Builder::new().capacity(64).threads(1).build().unwrap();
            host.attach(Recorder::slow(&tx, Duration::from_micros(20)))
                .unwrap();
            let sender = host.sender();
            block_on(host.send_batch(0..500)).unwrap();
            drop(host);
            // The drop waited: every record is there already.
            assert_eq!(rx.try_recv(), Ok(complete(500)));
            assert!(sender.is_closed());
            match sender.send_blocking(7) {
                Err(SendError::Closed(7)) => {}
                other => panic!("expected Closed(7), got {other:?}"),
            }
        },
    );
}

#[test]
fn dropping_a_host_on_a_borrowed_executor_lets_lanes_drain_there() {
    plugbus_tests::watch::run(
        "host-smol",
        "dropping_a_host_on_a_borrowed_executor_lets_lanes_drain_there",
        || {
            let (tx, rx) = mpsc::channel();
            let executor = Executor::new();
            let host = Host::on(&executor);
            host.attach(Recorder::new(&tx)).unwrap();
            host.attach(Recorder::new(&tx)).unwrap();
            for n in 0..100 {
                host.try_send(n).unwrap();
            }
            // Nothing has run the executor: the lanes have not started.
            assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Empty));
            drop(host);
            while executor.try_tick() {}
            assert_eq!(records(&rx, 2), vec![complete(100); 2]);
        },
    );
}

#[test]
fn a_blocking_plugin_on_its_own_thread_leaves_a_one_thread_executor_free() {
    plugbus_tests::watch::run(
        "host-smol",
        "a_blocking_plugin_on_its_own_thread_leaves_a_one_thread_executor_free",
        || {
            scenarios::a_blocking_plugin_on_its_own_thread_keeps_the_others_going(
                &SmolOwned::with_threads(1),
            );
        },
    );
}

#[test]
fn an_idle_host_uses_no_cpu() {
    plugbus_tests::watch::run("host-smol", "an_idle_host_uses_no_cpu", || {
        let host = Builder::new()
            .threads(2)
            .thread_name("smol-idle")
            .build()
            .unwrap();
        scenarios::an_idle_host_uses_no_cpu(host, "smol-idle");
    });
}

#[test]
fn sending_allocates_once_per_message_waiting_included() {
    plugbus_tests::watch::run(
        "host-smol",
        "sending_allocates_once_per_message_waiting_included",
        || {
            // On its own thread, the lane is woken by an unpark. A task lane would
            // be woken through async-executor's queue, which allocates a block per
            // 31 wakes on the waking thread: the executor's cost, not per message.
            scenarios::sending_allocates_once_per_message_waiting_included(
                &SmolOwned::with_threads(1),
                SlowLane::Thread,
            );
        },
    );
}
