//! Isolated plugins (issue 14): a plugin in a child process of its own.
//!
//! Each fault (a null write, abort, a stack overflow, an endless loop,
//! `exit(3)`, a panic, `SIGKILL` from outside) kills one child; the host
//! and an in-process plugin beside it go on, a new child is started, and
//! the plugin's log shows every message but the fatal one finished exactly
//! once, in order. Also: a killed host's children exit within a second;
//! typed errors for bad libraries; detach, give-up and limits. (1,000
//! restarts in a row are in `isolated_restarts.rs`, alone in their process
//! so that they can count its descriptors.)
//! The smol and tokio hosts run the same proxy (`attach_on_thread`).
//! Every wait has a deadline and names what it waited for.

#![cfg(target_os = "linux")]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use plugbus_crash::Task;
use plugbus_host_std::isolated::{IsolateError, IsolateOptions, Isolated, IsolatedHandle};
use plugbus_host_std::lifecycle::{Backoff, Intensity, Restart};
use plugbus_host_std::{AttachOptions, Exit, Flow, Host, Message, Plugin, Status};
use plugbus_tests::dylib::{library, logged_numbers, scratch_dir};

const RUNNER: &str = env!("CARGO_BIN_EXE_isolated-runner");

fn crash_library() -> PathBuf {
    library("plugbus_crash")
}

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

/// A thread host with the crash plugin isolated, logging what it finished
/// to a file in a scratch directory of its own.
struct Logged {
    dir: PathBuf,
    log: PathBuf,
    host: Host<Task>,
    handle: IsolatedHandle,
}

fn logged(name: &str, options: IsolateOptions) -> Logged {
    let dir = scratch_dir(name);
    let log = dir.join("log");
    let host = Host::new();
    let (_, handle) = host
        .attach_isolated(crash_library(), &format!("log={}", log.display()), options)
        .unwrap_or_else(|e| panic!("isolated (std host), {name}: attach: {e}"));
    Logged {
        dir,
        log,
        host,
        handle,
    }
}

/// Counts what an in-process plugin beside the isolated one saw.
struct Beside(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl Plugin<Task> for Beside {
    fn handle_message(&mut self, _: &Message<Task>) -> Flow {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Flow::Continue
    }
}

/// Sends 0..20 with `fault(10)` as message 10, on the thread host, with an
/// in-process plugin beside the isolated one; checks the log, the counters
/// and the reports.
fn survives(name: &str, fault: fn(u64) -> Task, options: IsolateOptions) -> IsolatedHandle {
    let dir = scratch_dir(&format!("isolated-{name}"));
    let log = dir.join("log");
    let host = Host::new();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    host.attach(Beside(seen.clone())).expect("attach beside");
    let (id, handle) = host
        .attach_isolated(crash_library(), &format!("log={}", log.display()), options)
        .expect("attach isolated");
    for n in 0..20 {
        let task = if n == 10 { fault(n) } else { Task::Record(n) };
        host.send(task).expect("send");
    }
    let reports = host.shutdown();
    let expected: Vec<u64> = (0..20).filter(|&n| n != 10).collect();
    assert_eq!(
        logged_numbers(&log),
        expected,
        "{name}: every message but the fatal one, once, in order"
    );
    let stats = handle.stats();
    assert_eq!(stats.forwarded, 20, "{name}: {stats:?}");
    assert_eq!(stats.acknowledged, 19, "{name}: {stats:?}");
    assert_eq!(stats.dead_lettered, 1, "{name}: {stats:?}");
    assert_eq!(stats.restarts, 1, "{name}: {stats:?}");
    let death = stats.last_death.clone().expect("a death");
    assert_eq!(death.message, Some(10), "{name}: {death}");
    assert_eq!(
        seen.load(std::sync::atomic::Ordering::Relaxed),
        20,
        "{name}: the plugin beside"
    );
    let report = reports
        .iter()
        .find(|r| r.id == id)
        .expect("the isolated plugin's report");
    assert_eq!(report.exit, Exit::Shutdown, "{name}");
    assert_eq!(
        report.stats.handled, 20,
        "{name}: the lane counts what it forwarded"
    );
    assert!(reports.iter().all(|r| r.exit == Exit::Shutdown));
    let _ = std::fs::remove_dir_all(dir);
    handle
}

#[test]
fn segfault_is_survived() {
    let handle = survives("segfault", Task::Segfault, options());
    let death = handle.stats().last_death.expect("death");
    assert_eq!(death.signal, Some(libc::SIGSEGV), "{death}");
}

#[test]
fn abort_is_survived() {
    let handle = survives("abort", Task::Abort, options());
    let death = handle.stats().last_death.expect("death");
    assert_eq!(death.signal, Some(libc::SIGABRT), "{death}");
}

#[test]
fn stack_overflow_is_survived() {
    let handle = survives("overflow", Task::Overflow, options());
    let death = handle.stats().last_death.expect("death");
    // Rust's guard page handler reports the overflow and aborts; without
    // it the kernel's SIGSEGV ends the process.
    assert!(
        matches!(death.signal, Some(libc::SIGABRT | libc::SIGSEGV)),
        "{death}"
    );
}

#[test]
fn endless_loop_is_killed_at_the_deadline() {
    let options = options().hang_deadline(Duration::from_millis(300));
    let handle = survives("spin", Task::Spin, options);
    let stats = handle.stats();
    assert_eq!(stats.hung, 1, "{stats:?}");
    let death = stats.last_death.expect("death");
    assert!(death.hung, "{death}");
    assert_eq!(death.signal, Some(libc::SIGKILL), "{death}");
}

#[test]
fn exit_3_is_survived() {
    let handle = survives("exit", |n| Task::Exit(n, 3), options());
    let death = handle.stats().last_death.expect("death");
    assert_eq!((death.code, death.signal), (Some(3), None), "{death}");
}

#[test]
fn panic_is_survived() {
    let handle = survives("panic", Task::Panic, options());
    let death = handle.stats().last_death.expect("death");
    assert_eq!(death.code, Some(101), "{death}");
}

#[test]
fn memory_limit_kills_an_allocation_past_it() {
    // 256 MiB of address space: the runner and the plugin fit, a 1 GiB
    // vector does not, its allocation fails and Rust aborts.
    let options = options().memory_limit(256 << 20);
    let handle = survives("memory", |n| Task::Allocate(n, 1 << 30), options);
    let death = handle.stats().last_death.expect("death");
    assert_eq!(death.signal, Some(libc::SIGABRT), "{death}");
}

#[test]
fn cpu_time_limit_kills_an_endless_loop() {
    // One second of CPU, and a hang deadline far beyond it: the kernel
    // ends the spinning child (SIGXCPU at the limit), not the host.
    let options = options()
        .cpu_time_limit(Duration::from_secs(1))
        .hang_deadline(Duration::from_secs(120));
    let handle = survives("cpu", Task::Spin, options);
    let stats = handle.stats();
    assert_eq!(stats.hung, 0, "{stats:?}");
    let death = stats.last_death.expect("death");
    assert!(!death.hung, "{death}");
    assert_eq!(death.signal, Some(libc::SIGXCPU), "{death}");
}

/// The lanes' backoff applies to a child's restart: the next child handles
/// nothing before the backoff has passed since the fatal message was sent.
#[test]
fn backoff_delays_a_restart() {
    let backoff = Duration::from_millis(300);
    let Logged {
        dir,
        log,
        host,
        handle,
    } = logged(
        "isolated-backoff",
        options().backoff(Backoff::fixed(backoff)),
    );
    let start = Instant::now();
    host.send(Task::Segfault(0)).expect("send");
    host.send(Task::Record(1)).expect("send");
    assert!(
        handle.wait_acknowledged(1, Duration::from_secs(30)),
        "isolated (std host): message 1 handled after the restart: {:?}",
        handle.stats()
    );
    // A lower bound only: the restart waited at least the backoff.
    assert!(
        start.elapsed() >= backoff,
        "isolated (std host): restarted after {:?}, before the backoff of {backoff:?}",
        start.elapsed()
    );
    host.shutdown();
    assert_eq!(logged_numbers(&log), [1]);
    assert_eq!(handle.stats().restarts, 1);
    let _ = std::fs::remove_dir_all(dir);
}

/// The host's shutdown cuts a restart's backoff short, as for a lane: the
/// next child starts at once and drains what was sent.
#[test]
fn shutdown_cuts_a_backoff_short() {
    let Logged {
        dir,
        log,
        host,
        handle,
    } = logged(
        "isolated-backoff-shutdown",
        options().backoff(Backoff::fixed(Duration::from_secs(600))),
    );
    host.send(Task::Segfault(0)).expect("send");
    host.send(Task::Record(1)).expect("send");
    wait_until("the first child's death", || {
        handle.stats().last_death.is_some()
    });
    // The shutdown waits for the restarted child to drain; a backoff not
    // cut short would hold it ten minutes, so it gets one.
    let (done, shut) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(host.shutdown());
    });
    let reports = shut
        .recv_timeout(Duration::from_secs(60))
        .expect("isolated (std host): the shutdown did not cut the backoff short");
    assert_eq!(reports[0].exit, Exit::Shutdown, "{reports:?}");
    assert_eq!(
        logged_numbers(&log),
        [1],
        "the message sent after the crash"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sigkill_from_outside_between_messages_loses_nothing() {
    let Logged {
        dir,
        log,
        host,
        handle,
    } = logged("isolated-sigkill", options());
    for n in 0..10 {
        host.send(Task::Record(n)).expect("send");
    }
    wait_until("10 acknowledgements", || handle.stats().acknowledged == 10);
    let pid = handle.child_pid().expect("a child");
    // SAFETY: kill has no memory effects; the pid is our unreaped child.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    wait_until("the restart", || handle.stats().restarts == 1);
    // One message in flight when the signal comes: dead-lettered.
    host.send(Task::Sleep(10, 2_000)).expect("send");
    wait_until("the sleeping child", || {
        handle.child_pid().is_some_and(|p| p != pid)
    });
    let sleeper = handle.child_pid().expect("a child");
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(sleeper as i32, libc::SIGKILL) }, 0);
    for n in 11..20 {
        host.send(Task::Record(n)).expect("send");
    }
    host.shutdown();
    let expected: Vec<u64> = (0..20).filter(|&n| n != 10).collect();
    assert_eq!(logged_numbers(&log), expected);
    let stats = handle.stats();
    assert_eq!((stats.restarts, stats.dead_lettered), (2, 1), "{stats:?}");
    let death = stats.last_death.expect("death");
    assert_eq!(
        (death.signal, death.message),
        (Some(libc::SIGKILL), Some(10)),
        "{death}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn shm_entries() -> usize {
    std::fs::read_dir("/dev/shm").map_or(0, Iterator::count)
}

#[test]
fn a_killed_host_leaves_no_child() {
    let shm = shm_entries();
    let mut host = Command::new(RUNNER)
        .arg("host")
        .arg(crash_library())
        .arg("3")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the host process");
    let mut line = String::new();
    let stdout = host.stdout.take().expect("stdout");
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
        .expect("the host's line of child pids");
    let children: Vec<i32> = line
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    assert_eq!(
        children.len(),
        3,
        "isolated (std host): the host printed {line:?}"
    );
    let gone = |pid: i32| {
        // Gone, or a zombie waiting for init to reap it (it has exited).
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
    };
    // The standby children too: every process started for this host.
    let host_pid = host.id().to_string();
    let of_host = || -> Vec<i32> {
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|&pid| {
                let args = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let args: Vec<&[u8]> = args.split(|&b| b == 0).collect();
                args.contains(&b"--plugbus-isolated-child".as_slice())
                    && args.contains(&host_pid.as_bytes())
                    && !gone(pid)
            })
            .collect()
    };
    // Three active children and three standbys.
    let deadline = Instant::now() + Duration::from_secs(10);
    while of_host().len() < 6 {
        assert!(
            Instant::now() < deadline,
            "isolated (std host): waiting for 6 children, have {:?}",
            of_host()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    host.kill().expect("SIGKILL the host");
    host.wait().expect("reap the host");
    let killed = Instant::now();
    while !children.iter().all(|&pid| gone(pid)) || !of_host().is_empty() {
        assert!(
            killed.elapsed() < Duration::from_secs(1),
            "isolated (std host): children {children:?} still run 1 s after their host was killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(shm_entries(), shm, "/dev/shm entries before and after");
}

#[test]
fn a_plugin_that_detaches_ends_its_lane() {
    let host = Host::new();
    let (id, handle) = host
        .attach_isolated(crash_library(), "", options())
        .expect("attach");
    host.send(Task::Record(0)).expect("send");
    host.send(Task::Leave(1)).expect("send");
    wait_until("the child's exit", || handle.child_pid().is_none());
    host.send(Task::Record(2)).expect("send");
    let reports = host.shutdown();
    assert_eq!(reports[0].id, id);
    assert_eq!(reports[0].exit, Exit::Detached(Status(3)));
    assert_eq!(handle.stats().acknowledged, 2);
}

#[test]
fn without_restarts_a_death_ends_the_lane_as_a_panic() {
    let host = Host::new();
    let options = options().restart(Restart::Never);
    let (_, handle) = host
        .attach_isolated(crash_library(), "", options)
        .expect("attach");
    host.send(Task::Segfault(0)).expect("send");
    wait_until("the death", || handle.stats().last_death.is_some());
    host.send(Task::Record(1)).expect("send");
    let reports = host.shutdown();
    assert_eq!(reports[0].exit, Exit::Panicked);
    let panic = reports[0].panic.clone().unwrap_or_default();
    assert!(
        panic.contains("SIGSEGV") && panic.contains("restarts are off"),
        "{panic}"
    );
    assert_eq!(handle.stats().restarts, 0);
}

#[test]
fn restart_intensity_is_enforced() {
    let host = Host::new();
    let options = options().intensity(Intensity::new(2, Duration::from_secs(60)));
    let (_, handle) = host
        .attach_isolated(crash_library(), "", options)
        .expect("attach");
    for n in 0..3 {
        host.send(Task::Abort(n)).expect("send");
    }
    wait_until("the third death", || {
        handle
            .stats()
            .last_death
            .is_some_and(|d| d.message == Some(2))
    });
    host.send(Task::Record(3)).expect("send");
    let reports = host.shutdown();
    assert_eq!(reports[0].exit, Exit::Panicked);
    let stats = handle.stats();
    assert_eq!((stats.restarts, stats.dead_lettered), (2, 3), "{stats:?}");
}

#[test]
fn bad_libraries_are_typed_errors() {
    let missing = Isolated::<Task>::spawn("/nonexistent/libnothing.so", "", options());
    assert!(matches!(missing, Err(IsolateError::Load(_))), "{missing:?}");
    // A plugin built for another message type: refused by the host's check.
    let other = Isolated::<Task>::spawn(library("plugbus_fault"), "", options());
    let error = other.expect_err("a plugin of another message type");
    assert!(matches!(error, IsolateError::Load(_)), "{error:?}");
    // The constructor refuses its configuration: the child's error.
    let refused = Isolated::<Task>::spawn(crash_library(), "fail", options());
    match refused {
        Err(IsolateError::Child(text)) => assert!(text.contains("fail"), "{text}"),
        other => panic!("expected the child's error, got {other:?}"),
    }
    // A runner that is not one.
    let bad = Isolated::<Task>::spawn(
        crash_library(),
        "",
        IsolateOptions::new().runner("/bin/true"),
    );
    assert!(matches!(bad, Err(IsolateError::Child(_))), "{bad:?}");
    // A runner that does not exist.
    let absent = Isolated::<Task>::spawn(
        crash_library(),
        "",
        IsolateOptions::new().runner("/nonexistent/runner"),
    );
    assert!(matches!(absent, Err(IsolateError::Spawn(_))), "{absent:?}");
    // A runner that never says it is ready: killed at the start timeout.
    let started = Instant::now();
    let silent = Isolated::<Task>::spawn(
        crash_library(),
        "",
        IsolateOptions::new()
            .runner("/bin/sh")
            .runner_arg("-c")
            .runner_arg("exec sleep 30")
            .start_timeout(Duration::from_millis(300)),
    );
    assert!(matches!(silent, Err(IsolateError::Timeout)), "{silent:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "not killed in time"
    );
}

#[test]
fn lane_options_apply() {
    let host: Host<Task> = Host::new();
    let lane = AttachOptions::new().name("isolated-crash").capacity(8);
    let (id, _) = host
        .attach_isolated(crash_library(), "", options().lane(lane))
        .expect("attach");
    let info = host
        .plugins()
        .into_iter()
        .find(|p| p.id == id)
        .expect("info");
    assert_eq!(info.name, "isolated-crash");
    host.shutdown();
}

/// The async hosts run the same proxy on a lane thread of its own
/// (`attach_isolated` from their `isolate` feature attaches it with
/// `attach_on_thread`: it may wait for room in shared memory or for a
/// restart): a null write at message 10 of 0..20, the rest once, in order.
/// `run` gets the plugin's config and returns the reports and the handle.
fn survives_on_async_host(
    host: &str,
    run: impl FnOnce(&str) -> (Vec<plugbus_host_std::Report>, IsolatedHandle),
) {
    let dir = scratch_dir(&format!("isolated-async-{}", host.replace(' ', "-")));
    let log = dir.join("log");
    let (reports, handle) = run(&format!("log={}", log.display()));
    let expected: Vec<u64> = (0..20).filter(|&n| n != 10).collect();
    assert_eq!(
        logged_numbers(&log),
        expected,
        "isolated ({host}): every message but the fatal one, once, in order"
    );
    let stats = handle.stats();
    assert_eq!(
        (stats.acknowledged, stats.dead_lettered, stats.restarts),
        (19, 1, 1),
        "isolated ({host}): {stats:?}"
    );
    assert_eq!(reports.len(), 1, "isolated ({host})");
    assert_eq!(reports[0].exit, Exit::Shutdown, "isolated ({host})");
    assert_eq!(reports[0].stats.handled, 20, "isolated ({host})");
    assert_eq!(reports[0].name, "isolated-crash", "isolated ({host})");
    let _ = std::fs::remove_dir_all(dir);
}

fn tasks() -> impl Iterator<Item = Task> {
    (0..20).map(|n| {
        if n == 10 {
            Task::Segfault(n)
        } else {
            Task::Record(n)
        }
    })
}

/// The options both async tests attach with: a lane name of their own, to
/// check the lane options reach the lane.
fn named() -> IsolateOptions {
    options().lane(AttachOptions::new().name("isolated-crash"))
}

#[test]
fn smol_host_survives_a_segfault() {
    use plugbus_host_smol::isolated::AttachIsolated;
    survives_on_async_host("smol host", |config| {
        let host = plugbus_host_smol::Builder::new()
            .threads(1)
            .build()
            .expect("smol host");
        let (_, handle) = host
            .attach_isolated(crash_library(), config, named())
            .unwrap_or_else(|e| panic!("isolated (smol host): attach: {e}"));
        for task in tasks() {
            host.send_blocking(task).expect("send");
        }
        (host.shutdown_blocking(), handle)
    });
}

#[test]
fn tokio_host_survives_a_segfault() {
    use plugbus_host_tokio::isolated::AttachIsolated;
    survives_on_async_host("tokio host", |config| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .expect("tokio runtime");
        let host = plugbus_host_tokio::Host::on(runtime.handle().clone());
        let (_, handle) = host
            .attach_isolated(crash_library(), config, named())
            .unwrap_or_else(|e| panic!("isolated (tokio host): attach: {e}"));
        for task in tasks() {
            host.send_blocking(task).expect("send");
        }
        (host.shutdown_blocking(), handle)
    });
}

/// A library the host's check refuses is a typed error on the async hosts
/// too, and nothing is attached.
#[test]
fn async_hosts_refuse_a_bad_library() {
    use plugbus_host_tokio::isolated::AttachIsolated;
    let dir = scratch_dir("isolated-async-bad");
    let bad = dir.join("libnot-a-plugin.so");
    std::fs::write(&bad, b"not an ELF file").expect("write");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .expect("tokio runtime");
    let host = plugbus_host_tokio::Host::<Task>::on(runtime.handle().clone());
    match host.attach_isolated(&bad, "", options()) {
        Err(IsolateError::Load(_)) => {}
        other => panic!("expected a load error, got {other:?}"),
    }
    assert!(host.plugins().is_empty());
    host.shutdown_blocking();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn waiting_for_acknowledgements_ends_in_time() {
    let (plugin, handle) = {
        let plugin = Isolated::<Task>::spawn(crash_library(), "", options()).expect("spawn");
        let handle = plugin.handle();
        (plugin, handle)
    };
    let host = Host::new();
    host.attach(plugin).expect("attach");
    for n in 0..100 {
        host.send(Task::Record(n)).expect("send");
    }
    assert!(
        handle.wait_acknowledged(100, Duration::from_secs(10)),
        "isolated (std host): 100 acknowledgements within 10 s: {:?}",
        handle.stats()
    );
    let started = Instant::now();
    assert!(
        !handle.wait_acknowledged(101, Duration::from_millis(50)),
        "isolated (std host): an acknowledgement for a message never sent"
    );
    assert!(started.elapsed() >= Duration::from_millis(50));
    host.shutdown();
}

/// A thread host with the crash plugin isolated (no log) and its id.
fn isolated_host(
    options: IsolateOptions,
) -> (Host<Task>, plugbus_host_std::PluginId, IsolatedHandle) {
    let host = Host::new();
    let (id, handle) = host
        .attach_isolated(crash_library(), "", options)
        .unwrap_or_else(|e| panic!("isolated (std host): attach: {e}"));
    (host, id, handle)
}

const ASKED: Duration = Duration::from_secs(20);

#[test]
fn questions_are_answered_from_the_child() {
    let (host, id, handle) = isolated_host(options());
    host.send(Task::Record(0)).expect("send");
    let answers = host.ask(|r| Task::Ask(1, r), 21, ASKED).expect("ask");
    assert_eq!(answers.get(id), Some(&42), "answered: {answers:?}");
    assert!(answers.is_complete(), "{answers:?}");
    let answers = host.ask(|r| Task::AskLater(2, r), 5, ASKED).expect("ask");
    assert_eq!(answers.get(id), Some(&10), "answered later: {answers:?}");
    let started = Instant::now();
    let answers = host.ask(|r| Task::Decline(3, r), 5, ASKED).expect("ask");
    assert_eq!(answers.declined(), [id], "declined: {answers:?}");
    assert!(answers.timed_out().is_empty(), "{answers:?}");
    assert!(
        started.elapsed() < ASKED,
        "a declined question ends the wait before the timeout"
    );
    host.shutdown();
    let stats = handle.stats();
    assert_eq!(
        (stats.bad_replies, stats.replies_refused),
        (0, 0),
        "{stats:?}"
    );
}

#[test]
fn a_child_that_dies_holding_a_question_declines_it() {
    let (host, id, handle) = isolated_host(options());
    let answers = host
        .ask(|r| Task::AskThenAbort(0, r), 1, ASKED)
        .expect("ask");
    assert_eq!(answers.declined(), [id], "{answers:?}");
    assert!(answers.timed_out().is_empty(), "{answers:?}");
    // The restarted child answers the next one.
    let answers = host.ask(|r| Task::Ask(1, r), 4, ASKED).expect("ask");
    assert_eq!(answers.get(id), Some(&8), "{answers:?}");
    host.shutdown();
    let stats = handle.stats();
    assert_eq!((stats.restarts, stats.dead_lettered), (1, 1), "{stats:?}");
}

#[test]
fn an_outbox_gets_the_childs_replies_up_to_its_death() {
    let (host, _, handle) = isolated_host(options());
    let (tx, replies) = plugbus_core::outbox::<u64>(64);
    host.send(Task::ReplyTo(0, tx)).expect("send");
    for n in 1..=5 {
        host.send(Task::Record(n)).expect("send");
    }
    // The plugin replies with each number before it handles the message,
    // so the fatal message's number arrives too; the restarted instance
    // never had the outbox (as an in-process restart).
    host.send(Task::Segfault(6)).expect("send");
    host.send(Task::Record(7)).expect("send");
    host.shutdown();
    let got: Vec<u64> = replies.drain().iter().map(|m| **m).collect();
    assert_eq!(got, [0, 1, 2, 3, 4, 5, 6], "{:?}", handle.stats());
    assert_eq!(handle.stats().restarts, 1);
    // Every handle on the queue is gone with the lane: no reply can come.
    let ended = futures_lite::future::block_on(replies.recv());
    assert!(ended.is_none());
}

#[test]
fn plain_messages_cross_without_encoding() {
    use plugbus_host_std::isolated::Plain;
    use plugbus_plain::{ABORT, Block, RECORD};

    let dir = scratch_dir("isolated-plain");
    let log = dir.join("log");
    let plugin = Isolated::<Block, Plain>::spawn(
        library("plugbus_plain"),
        &format!("log={}", log.display()),
        options().runner_arg("plain"),
    )
    .expect("spawn a plain-data plugin");
    let handle = plugin.handle();
    let host = Host::new();
    host.attach(plugin).expect("attach");
    for n in 0..20 {
        let command = if n == 10 { ABORT } else { RECORD };
        host.send(Block::new(n, command, n as u8)).expect("send");
    }
    host.shutdown();
    let expected: Vec<u64> = (0..20).filter(|&n| n != 10).collect();
    assert_eq!(logged_numbers(&log), expected);
    let stats = handle.stats();
    assert_eq!(
        (
            stats.forwarded,
            stats.acknowledged,
            stats.dead_lettered,
            stats.restarts
        ),
        (20, 19, 1, 1),
        "{stats:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_runner_of_another_encoding_is_refused() {
    use plugbus_host_std::isolated::Plain;
    use plugbus_plain::Block;

    // The runner without `plain` decodes postcard (`run_child::<Task>`).
    let refused = Isolated::<Block, Plain>::spawn(library("plugbus_plain"), "", options());
    match refused {
        Err(IsolateError::Child(text)) => assert!(
            text.contains("the host sends messages as `plain`, but this runner decodes `postcard`"),
            "{text}"
        ),
        other => panic!("expected the child's refusal, got {other:?}"),
    }
    // And the other way round: a postcard host, a plain runner.
    let refused = Isolated::<Task>::spawn(crash_library(), "", options().runner_arg("plain"));
    match refused {
        Err(IsolateError::Child(text)) => assert!(
            text.contains("the host sends messages as `postcard`, but this runner decodes `plain`"),
            "{text}"
        ),
        other => panic!("expected the child's refusal, got {other:?}"),
    }
}

/// A flood of outbox replies: each is delivered, refused by the full host
/// outbox (counted there), or refused by the full reply ring (counted in
/// the stats and handed back to the plugin): none is lost silently.
#[test]
fn a_flood_of_replies_is_counted_to_the_last() {
    const MESSAGES: u64 = 20_000;
    let (host, _, handle) = isolated_host(options());
    // Smaller than the flood, so the host's outbox refuses some too.
    let (tx, replies) = plugbus_core::outbox::<u64>(5_000);
    host.send(Task::ReplyTo(0, tx)).expect("send");
    for n in 1..=MESSAGES {
        host.send(Task::Record(n)).expect("send");
    }
    host.shutdown();
    let stats = handle.stats();
    let delivered = replies.drain().len() as u64;
    assert_eq!(
        delivered + replies.dropped() + stats.replies_refused,
        MESSAGES + 1,
        "delivered {delivered}, refused by the outbox {}, by the reply ring: {stats:?}",
        replies.dropped()
    );
    assert_eq!(delivered, 5_000, "the outbox filled up: {stats:?}");
    assert_eq!(stats.bad_replies, 0, "{stats:?}");
}

/// Questions from several threads at once, between messages: each is
/// answered by the child, with its own answer.
#[test]
fn questions_from_several_threads_are_each_answered() {
    let (host, id, handle) = isolated_host(options());
    std::thread::scope(|scope| {
        for thread in 0..4u64 {
            let host = &host;
            scope.spawn(move || {
                for k in 0..50u64 {
                    let question = thread * 1_000 + k;
                    host.send(Task::Record(question)).expect("send");
                    let answers = host
                        .ask(|r| Task::Ask(question, r), question, ASKED)
                        .expect("ask");
                    assert_eq!(answers.get(id), Some(&(question * 2)), "{answers:?}");
                }
            });
        }
    });
    host.shutdown();
    let stats = handle.stats();
    assert_eq!(stats.acknowledged, 400, "{stats:?}");
    assert_eq!(stats.bad_replies, 0, "{stats:?}");
}
