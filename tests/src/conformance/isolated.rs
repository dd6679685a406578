//! The isolated lane (issue 14) under the shared suite: the crash plugin
//! in a child process of its own, attached to each host as an ordinary
//! plugin (`Isolated<Task>`), checked with the assertions the in-process
//! scenarios make where they apply: order and draining at shutdown
//! (`ordering`, `shutdown_drains`, here across a crash), detach with a
//! status (`detach_with_status`), a death without restarts reported as a
//! panic (`panic_is_isolated`), questions (`ask_all_answer`, declines) and
//! outbox replies (`outbox_replies`). What only an isolated lane does
//! (each kind of death, limits, leaks, a killed host) is in
//! `tests/tests/isolated.rs`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use plugbus_core::lifecycle::Restart;
use plugbus_core::{AttachOptions, Exit, Status};
use plugbus_crash::Task;
use plugbus_host_std::isolated::{IsolateOptions, Isolated, IsolatedHandle};

use super::scenarios::{report, wait_until};
use super::{Counter, Family, TestHost};
use crate::dylib::{library, logged_numbers, scratch_dir};

/// The tests' runner (`src/bin/isolated-runner.rs`), which cargo builds
/// beside the test binaries: `target/<profile>/`.
fn runner() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join("isolated-runner"))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("isolated-runner not found next to {}", exe.display()))
}

fn options() -> IsolateOptions {
    IsolateOptions::new().runner(runner())
}

/// The crash plugin in a child, logging what it finished to `log` if given.
fn spawn<F: Family>(
    log: Option<&Path>,
    options: IsolateOptions,
) -> (Isolated<Task>, IsolatedHandle) {
    let config = log
        .map(|log| format!("log={}", log.display()))
        .unwrap_or_default();
    let plugin = Isolated::<Task>::spawn(library("plugbus_crash"), &config, options)
        .unwrap_or_else(|e| panic!("{}: spawn an isolated plugin: {e}", F::NAME));
    let handle = plugin.handle();
    (plugin, handle)
}

fn scratch<F: Family>(scenario: &str) -> PathBuf {
    let name = format!("{scenario}-{}", F::NAME).replace(|c: char| !c.is_ascii_alphanumeric(), "-");
    scratch_dir(&name)
}

/// Forty messages with a null write at the twentieth: every other one is
/// finished once, in order, and the shutdown drains them all; the plugin
/// beside sees all forty.
pub fn isolated_order_across_a_crash<F: Family>() {
    let dir = scratch::<F>("isolated-order");
    let log = dir.join("log");
    let mut host = F::host::<Task>(64);
    let (plugin, handle) = spawn::<F>(Some(&log), options());
    let id = host
        .attach_with(Box::new(plugin), AttachOptions::new())
        .unwrap();
    let (beside, count) = Counter::new();
    host.attach(beside).unwrap();
    for n in 0..40 {
        let task = if n == 20 {
            Task::Segfault(n)
        } else {
            Task::Record(n)
        };
        host.send(task)
            .unwrap_or_else(|e| panic!("{}: send {n}: {e}", F::NAME));
        host.run_pending();
    }
    let reports = host.shutdown();
    let expected: Vec<u64> = (0..40).filter(|&n| n != 20).collect();
    assert_eq!(
        logged_numbers(&log),
        expected,
        "{}: the child's log",
        F::NAME
    );
    let report = report(&reports, id);
    assert_eq!(report.exit, Exit::Shutdown, "{}", F::NAME);
    assert_eq!(
        (report.stats.received, report.stats.handled),
        (40, 40),
        "{}",
        F::NAME
    );
    let stats = handle.stats();
    assert_eq!(
        (
            stats.forwarded,
            stats.acknowledged,
            stats.dead_lettered,
            stats.restarts
        ),
        (40, 39, 1, 1),
        "{}: {stats:?}",
        F::NAME
    );
    assert_eq!(
        stats.last_death.and_then(|d| d.message),
        Some(20),
        "{}",
        F::NAME
    );
    assert_eq!(
        count.load(std::sync::atomic::Ordering::Relaxed),
        40,
        "{}",
        F::NAME
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A plugin that returns `Flow::Detach` in its child ends its lane with
/// that status, as in process.
pub fn isolated_detach_with_status<F: Family>() {
    let mut host = F::host::<Task>(64);
    let (plugin, handle) = spawn::<F>(None, options());
    let id = host
        .attach_with(Box::new(plugin), AttachOptions::new())
        .unwrap();
    host.send(Task::Record(0)).unwrap();
    host.send(Task::Leave(1)).unwrap();
    wait_until::<F, _>(&mut host, "the child to leave", |_| {
        handle.child_pid().is_none()
    });
    host.send(Task::Record(2)).unwrap();
    host.run_pending();
    let reports = host.shutdown();
    assert_eq!(
        report(&reports, id).exit,
        Exit::Detached(Status(3)),
        "{}",
        F::NAME
    );
    assert_eq!(handle.stats().acknowledged, 2, "{}", F::NAME);
}

/// Without restarts, a child's death ends the lane as a panic would, with
/// the death in the report; the plugin beside goes on.
pub fn isolated_death_without_restart_is_a_panic<F: Family>() {
    let mut host = F::host::<Task>(64);
    let (plugin, handle) = spawn::<F>(None, options().restart(Restart::Never));
    let id = host
        .attach_with(Box::new(plugin), AttachOptions::new())
        .unwrap();
    let (beside, count) = Counter::new();
    host.attach(beside).unwrap();
    host.send(Task::Abort(0)).unwrap();
    wait_until::<F, _>(&mut host, "the child's death", |_| {
        handle.stats().last_death.is_some()
    });
    host.send(Task::Record(1)).unwrap();
    host.run_pending();
    let reports = host.shutdown();
    let report = report(&reports, id);
    assert_eq!(report.exit, Exit::Panicked, "{}", F::NAME);
    let panic = report.panic.as_deref().unwrap_or_default();
    assert!(
        panic.contains("SIGABRT") && panic.contains("restarts are off"),
        "{}: {panic}",
        F::NAME
    );
    assert_eq!(
        count.load(std::sync::atomic::Ordering::Relaxed),
        2,
        "{}",
        F::NAME
    );
}

/// A host's `ask` reaches the plugin in its child: answered, answered
/// later from another thread, declined; an outbox in a message gets the
/// child's replies.
pub fn isolated_ask_and_outbox<F: Family>() {
    let timeout = Duration::from_secs(20);
    let mut host = F::host::<Task>(64);
    let (plugin, handle) = spawn::<F>(None, options());
    let id = host
        .attach_with(Box::new(plugin), AttachOptions::new())
        .unwrap();
    let answers = host.ask(|r| Task::Ask(0, r), 21, timeout).unwrap();
    assert_eq!(answers.get(id), Some(&42), "{}: {answers:?}", F::NAME);
    assert!(answers.is_complete(), "{}: {answers:?}", F::NAME);
    let answers = host.ask(|r| Task::AskLater(1, r), 5, timeout).unwrap();
    assert_eq!(answers.get(id), Some(&10), "{}: {answers:?}", F::NAME);
    let answers = host.ask(|r| Task::Decline(2, r), 5, timeout).unwrap();
    assert_eq!(answers.declined(), [id], "{}: {answers:?}", F::NAME);
    assert!(answers.timed_out().is_empty(), "{}: {answers:?}", F::NAME);
    let (tx, replies) = plugbus_core::outbox::<u64>(16);
    host.send(Task::ReplyTo(3, tx)).unwrap();
    host.send(Task::Record(4)).unwrap();
    host.send(Task::Record(5)).unwrap();
    host.run_pending();
    host.shutdown();
    let got: Vec<u64> = replies.drain().iter().map(|m| **m).collect();
    assert_eq!(got, [3, 4, 5], "{}", F::NAME);
    let stats = handle.stats();
    assert_eq!(
        (stats.bad_replies, stats.replies_refused),
        (0, 0),
        "{}: {stats:?}",
        F::NAME
    );
}
