//! A sleeping lane is woken by the send that reaches it: after each single
//! send, every plugin handles it without any further send. A lost wake-up
//! leaves the message unhandled until the next send, which never comes here,
//! so the wait below runs out (a deadlock guard, not a timing assertion).
//!
//! With 4 plugins the sender wakes every sleeping lane itself; with 200 it
//! wakes the first few and the lanes it woke pass the wake-up on (the ring
//! wakes at most 32 sleepers per send), so a wake-up not passed on fails
//! here on every host too.

use std::time::{Duration, Instant};

use plugbus_core::PluginId;
use plugbus_tests::conformance::{
    Counter, Family, Smol, TestHost, Threads, TokioCurrent, TokioMulti,
};

fn every_send_wakes<F: Family>() {
    for plugins in [4, 200] {
        sends_wake::<F>(plugins);
    }
}

fn sends_wake<F: Family>(plugins: usize) {
    let mut host = F::host::<u64>(64);
    let mut counts = Vec::new();
    let mut ids: Vec<PluginId> = Vec::new();
    for _ in 0..plugins {
        let (plugin, count) = Counter::new();
        ids.push(host.attach(plugin).unwrap());
        counts.push(count);
    }
    for i in 1..=200u64 {
        host.send(i).unwrap();
        // Give the lanes time to fall asleep now and then, so the next send
        // must wake them.
        if i % 10 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let start = Instant::now();
        while counts
            .iter()
            .any(|c| c.load(std::sync::atomic::Ordering::Relaxed) < i)
        {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{} with {plugins} plugins: message {i} not handled by every plugin: a lost wake-up ({:?})",
                F::NAME,
                counts
                    .iter()
                    .map(|c| c.load(std::sync::atomic::Ordering::Relaxed))
                    .collect::<Vec<_>>()
            );
            std::thread::yield_now();
        }
    }
    host.shutdown();
}

#[test]
fn threads() {
    plugbus_tests::watch::run("threads", "threads", || {
        every_send_wakes::<Threads>();
    });
}

#[test]
fn smol() {
    plugbus_tests::watch::run("smol", "smol", || {
        every_send_wakes::<Smol>();
    });
}

#[test]
fn tokio_multi_thread() {
    plugbus_tests::watch::run("tokio_multi_thread", "tokio_multi_thread", || {
        every_send_wakes::<TokioMulti>();
    });
}

#[test]
fn tokio_current_thread() {
    plugbus_tests::watch::run("tokio_current_thread", "tokio_current_thread", || {
        every_send_wakes::<TokioCurrent>();
    });
}
