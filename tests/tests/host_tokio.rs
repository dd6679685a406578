//! plugbus-host-tokio against its public API, on the multi-thread and the
//! current-thread runtime. The scenarios it shares with host-smol
//! (broadcast counts, the `Block` policy with a slow plugin, shutdown
//! draining, blocking plugins on their own threads, panics, what a runtime
//! not yet driven does) are defined once in `plugbus_tests::async_hosts`;
//! what is tokio's own is here: sending tasks, and what dropping the host
//! or the runtime does.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use plugbus_core::{Exit, SendError};
use plugbus_host_tokio::Host;
use plugbus_tests::async_host_tests;
use plugbus_tests::async_hosts::scenarios::{self, SlowLane};
use plugbus_tests::async_hosts::{
    Bed, Counting, HANG, Recorder, TokioCurrentThread, TokioMultiThread, complete,
};
use tokio::runtime::{Builder as Runtime, Runtime as Rt};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

async_host_tests!(multi_thread, TokioMultiThread: running, self_driven);
async_host_tests!(current_thread, TokioCurrentThread: running, idle);

fn multi_thread_runtime() -> Rt {
    Runtime::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

fn current_thread_runtime() -> Rt {
    Runtime::new_current_thread().build().unwrap()
}

#[test]
fn senders_in_several_tasks_are_all_delivered() {
    plugbus_tests::watch::run(
        "host-tokio",
        "senders_in_several_tasks_are_all_delivered",
        || {
            let (tx, rx) = mpsc::channel();
            let runtime = multi_thread_runtime();
            let host = Host::on(runtime.handle().clone());
            host.attach(Recorder::slow(&tx, Duration::from_micros(5)))
                .unwrap();
            let tasks: Vec<_> = (0..4)
                .map(|_| {
                    let sender = host.sender();
                    runtime.spawn(async move {
                        for _ in 0..250 {
                            sender.send(1).await.unwrap();
                        }
                    })
                })
                .collect();
            for task in tasks {
                runtime.block_on(task).unwrap();
            }
            let reports = host.shutdown_blocking();
            assert_eq!(reports[0].stats.handled, 1000);
            let record = rx.recv_timeout(HANG).unwrap();
            assert_eq!((record.count, record.sum), (1000, 1000));
        },
    );
}

#[test]
fn dropping_the_host_lets_lanes_drain_on_the_runtime() {
    plugbus_tests::watch::run(
        "host-tokio",
        "dropping_the_host_lets_lanes_drain_on_the_runtime",
        || {
            let runtimes = [
                ("multi-thread", multi_thread_runtime()),
                ("current-thread", current_thread_runtime()),
            ];
            for (runtime_name, runtime) in runtimes {
                let (tx, rx) = mpsc::channel();
                let sender = runtime.block_on(async {
                    let host = Host::new();
                    host.attach(Recorder::slow(&tx, Duration::from_micros(10)))
                        .unwrap();
                    host.attach(Recorder::new(&tx)).unwrap();
                    host.send_batch(0..500).await.unwrap();
                    let sender = host.sender();
                    drop(host);
                    // The drop did not wait; the runtime runs the lanes to the end.
                    let waiting = Instant::now();
                    let mut seen = Vec::new();
                    while seen.len() < 2 {
                        match rx.try_recv() {
                            Ok(record) => seen.push(record),
                            Err(_) => {
                                assert!(waiting.elapsed() < HANG, "the lanes never drained");
                                tokio::task::yield_now().await;
                            }
                        }
                    }
                    assert_eq!(seen, vec![complete(500); 2], "{runtime_name}");
                    sender
                });
                match sender.send_blocking(7) {
                    Err(SendError::Closed(7)) => {}
                    other => panic!("{runtime_name}: expected Closed(7), got {other:?}"),
                }
            }
        },
    );
}

#[test]
fn a_runtime_gone_before_the_host_shows_in_the_reports() {
    plugbus_tests::watch::run(
        "host-tokio",
        "a_runtime_gone_before_the_host_shows_in_the_reports",
        || {
            let (tx, rx) = mpsc::channel();
            let runtime = current_thread_runtime();
            let host = Host::on(runtime.handle().clone());
            host.attach(Recorder::new(&tx)).unwrap();
            drop(tx);
            for n in 0..100 {
                host.try_send(n).unwrap();
            }
            // The host is still open, so the lane cannot drain: it is removed, and
            // says so, instead of leaving the host waiting for it.
            drop(runtime);
            let reports = host.shutdown_blocking();
            assert_eq!(reports.len(), 1);
            assert_eq!(reports[0].exit, Exit::Removed);
            assert_eq!(reports[0].stats.handled, 0);
            // It never ran: no hook was called on it either.
            assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Disconnected));
        },
    );
}

#[test]
fn an_idle_host_uses_no_cpu() {
    plugbus_tests::watch::run("host-tokio", "an_idle_host_uses_no_cpu", || {
        let runtime = Runtime::new_multi_thread()
            .worker_threads(2)
            .thread_name("tokio-idle")
            .build()
            .unwrap();
        let host = Host::on(runtime.handle().clone());
        scenarios::an_idle_host_uses_no_cpu(host, "tokio-idle");
    });
}

#[test]
fn sending_allocates_once_per_message_waiting_included() {
    plugbus_tests::watch::run(
        "host-tokio",
        "sending_allocates_once_per_message_waiting_included",
        || {
            scenarios::sending_allocates_once_per_message_waiting_included(
                &TokioMultiThread::start(),
                SlowLane::Task,
            );
        },
    );
}
