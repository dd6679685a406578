//! 1,000 restarts of an isolated plugin in a row leave no descriptor,
//! shared-memory segment or zombie behind (issue 14). Alone in its test
//! binary: it counts this process's descriptors and children, which other
//! tests running beside it would change.

#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

use plugbus_crash::Task;
use plugbus_host_std::Host;
use plugbus_host_std::isolated::IsolateOptions;
use plugbus_host_std::lifecycle::Intensity;
use plugbus_tests::dylib::library;

const RUNNER: &str = env!("CARGO_BIN_EXE_isolated-runner");

fn options() -> IsolateOptions {
    IsolateOptions::new().runner(RUNNER)
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "isolated (std host): timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

fn shm_entries() -> usize {
    std::fs::read_dir("/dev/shm").map_or(0, Iterator::count)
}

/// Children of this process that died and were not reaped.
fn zombies() -> usize {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            // pid (comm) state ppid ...: comm may hold spaces, so split
            // after its closing parenthesis.
            let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            let mut fields = after.split_whitespace();
            fields.next() == Some("Z") && fields.next() == Some(me.as_str())
        })
        .count()
}

#[test]
fn a_thousand_restarts_leak_nothing() {
    // Warm up: the first isolated plugin opens what stays open (the
    // library's inspection caches nothing, but the test harness may).
    let host = Host::new();
    let (_, warm) = host
        .attach_isolated(library("plugbus_crash"), "", options())
        .expect("attach");
    host.send(Task::Exit(0, 3)).expect("send");
    wait_until("the warm-up restart", || warm.stats().restarts == 1);
    host.shutdown();
    // A handle keeps the shared memory (its counters) until it is dropped.
    drop(warm);
    let (fds, shm, zombies_before) = (open_fds(), shm_entries(), zombies());

    let host = Host::new();
    let options = options().intensity(Intensity::new(u32::MAX, Duration::from_secs(1)));
    let (_, handle) = host
        .attach_isolated(library("plugbus_crash"), "", options)
        .expect("attach");
    let started = Instant::now();
    for n in 0..1_000 {
        host.send(Task::Exit(n, 3)).expect("send");
    }
    host.send(Task::Record(1_000)).expect("send");
    let deadline = Instant::now() + Duration::from_secs(240);
    while handle.stats().acknowledged < 1 {
        assert!(
            Instant::now() < deadline,
            "isolated (std host): 1,000 restarts took over 240 s: {:?}",
            handle.stats()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    host.shutdown();
    let stats = handle.stats();
    drop(handle);
    assert_eq!(
        (stats.restarts, stats.dead_lettered, stats.acknowledged),
        (1_000, 1_000, 1)
    );
    eprintln!("1,000 restarts in {:?}", started.elapsed());
    assert_eq!(open_fds(), fds, "descriptors before and after");
    assert_eq!(shm_entries(), shm, "/dev/shm entries before and after");
    assert_eq!(zombies(), zombies_before, "zombies before and after");
    assert_eq!(zombies(), 0);
}
