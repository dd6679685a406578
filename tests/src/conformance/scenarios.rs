//! The scenarios. Each is generic over a host [`Family`] and asserts exact
//! counts and contents; every assertion message starts with the host's name.

use std::time::{Duration, Instant};

use plugbus_commands::{Command, report as ask_report, scenario};
use plugbus_core::{
    AttachError, AttachOptions, Exit, Overflow, Plugin, PluginId, Report, SendError, Status,
    TrySendError, outbox,
};

use crate::dylib::{load_command_plugin, untimed};

use super::{Counter, Family, Gate, PanickyPayload, Recorder, TestHost};

pub use super::ask::{
    ask_all_answer, ask_dynamic, ask_late_answers_are_dropped, ask_panic_is_reported,
    ask_timeout_names_who_did_not_answer,
};
pub use super::async_plugins::{
    async_dynamic, async_ordering, async_panic_restarts, async_shutdown_drains,
    async_waits_on_a_channel,
};
pub use super::lifecycle::{
    reload_refused_and_rolled_back, reload_under_flood, replace_rollback, replace_state,
    replace_under_flood, restart_backoff, restart_intensity, restart_policies, restart_under_flood,
};

/// Upper bound for waiting on another lane; a deadlock guard, not a timing
/// assertion: every wait normally ends in microseconds.
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

pub(crate) fn wait_until<F: Family, M: Send + Sync + 'static>(
    host: &mut F::Host<M>,
    what: &str,
    mut done: impl FnMut(&F::Host<M>) -> bool,
) {
    let _wait = crate::watch::waiting(what);
    let start = Instant::now();
    loop {
        host.run_pending();
        if done(host) {
            return;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{}: timed out waiting for {what}",
            F::NAME
        );
        std::thread::sleep(Duration::from_micros(200));
    }
}

pub(crate) fn report(reports: &[Report], id: PluginId) -> &Report {
    reports
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no report for plugin {id}"))
}

fn range(n: u64) -> Vec<u64> {
    (0..n).collect()
}

/// Each plugin sees every message in the order sent, also when the ring wraps
/// many times and the sender waits for the slowest plugin.
pub fn ordering<F: Family>() {
    let mut host = F::host::<u64>(16);
    let mut seen = Vec::new();
    for i in 0..3 {
        let (plugin, s) = Recorder::new(&format!("r{i}"));
        let plugin = if i == 0 {
            plugin.delay(Duration::from_micros(20))
        } else {
            plugin
        };
        host.attach(plugin).unwrap();
        seen.push(s);
    }
    for i in 0..2000 {
        host.send(i).unwrap();
    }
    let reports = host.shutdown();
    assert_eq!(reports.len(), 3, "{}", F::NAME);
    for (s, r) in seen.iter().zip(&reports) {
        assert_eq!(
            s.get(),
            range(2000),
            "{}: {} saw another sequence",
            F::NAME,
            r.name
        );
        assert_eq!(r.stats.handled, 2000, "{}: {}", F::NAME, r.name);
        assert_eq!(r.exit, Exit::Shutdown, "{}: {}", F::NAME, r.name);
    }
}

/// Every attached plugin sees every message.
pub fn broadcast<F: Family>() {
    let mut host = F::host::<u64>(256);
    let seen: Vec<_> = (0..24)
        .map(|i| {
            let (plugin, s) = Recorder::new(&format!("r{i}"));
            host.attach(plugin).unwrap();
            s
        })
        .collect();
    for i in 0..500 {
        host.send(i).unwrap();
    }
    let reports = host.shutdown();
    assert_eq!(reports.len(), 24, "{}", F::NAME);
    for (s, r) in seen.iter().zip(&reports) {
        assert_eq!(s.get(), range(500), "{}: {}", F::NAME, r.name);
        assert_eq!(
            (r.stats.received, r.stats.handled, r.stats.dropped),
            (500, 500, 0),
            "{}: {}",
            F::NAME,
            r.name
        );
    }
}

/// A filter declines messages on the plugin's lane; they are counted.
pub fn filters<F: Family>() {
    let mut host = F::host::<u64>(64);
    let (even, seen) = Recorder::new("even");
    let id = host.attach(even.filter(|m| m % 2 == 0)).unwrap();
    for i in 0..100 {
        host.send(i).unwrap();
    }
    let reports = host.shutdown();
    assert_eq!(
        seen.get(),
        (0..100).filter(|m| m % 2 == 0).collect::<Vec<_>>(),
        "{}",
        F::NAME
    );
    let stats = report(&reports, id).stats;
    assert_eq!(
        (stats.received, stats.handled, stats.filtered),
        (100, 50, 50),
        "{}",
        F::NAME
    );
}

/// With `Block`, a slow plugin slows the sender but loses nothing.
pub fn block_never_loses<F: Family>() {
    let mut host = F::host::<u64>(8);
    let (slow, slow_seen) = Recorder::new("slow");
    let (fast, fast_seen) = Recorder::new("fast");
    host.attach(slow.delay(Duration::from_micros(50))).unwrap();
    host.attach(fast).unwrap();
    for i in 0..300 {
        host.send(i).unwrap();
    }
    let reports = host.shutdown();
    assert_eq!(slow_seen.get(), range(300), "{}", F::NAME);
    assert_eq!(fast_seen.get(), range(300), "{}", F::NAME);
    assert!(reports.iter().all(|r| r.stats.dropped == 0), "{}", F::NAME);
}

/// `try_send` reports a full `Block` plugin instead of waiting, and hands
/// the message back.
pub fn try_send_full<F: Family>() {
    let mut host = F::host::<u64>(4);
    let gate = Gate::new(F::CONCURRENT);
    let (plugin, seen) = Recorder::new("gated");
    host.attach(plugin.gate(gate.clone())).unwrap();
    for i in 0..4 {
        host.try_send(i)
            .unwrap_or_else(|e| panic!("{}: try_send {i}: {e}", F::NAME));
    }
    match host.try_send(4) {
        Err(TrySendError::Full(4)) => {}
        other => panic!("{}: expected Full(4), got {other:?}", F::NAME),
    }
    gate.open();
    host.send(4).unwrap();
    host.shutdown();
    assert_eq!(seen.get(), range(5), "{}", F::NAME);
}

/// Sets up a gated lossy plugin that is busy with message 0, sends 1..=10
/// into its queue of 4, and returns what it saw, its report, and what a
/// `Block` plugin beside it saw.
fn lossy_run<F: Family>(overflow: Overflow) -> (Vec<u64>, Report, Vec<u64>) {
    let mut host = F::host::<u64>(64);
    let gate = Gate::new(F::CONCURRENT);
    let (plugin, seen) = Recorder::new("lossy");
    let (other, other_seen) = Recorder::new("other");
    let id = host
        .attach_with(
            Box::new(plugin.gate(gate.clone())),
            AttachOptions::new().capacity(4).overflow(overflow),
        )
        .unwrap();
    host.attach(other).unwrap();
    host.send(0).unwrap();
    wait_until::<F, _>(&mut host, "the lossy plugin to take message 0", |_| {
        gate.entered() == 1
    });
    for i in 1..=10 {
        host.send(i).unwrap();
    }
    gate.open();
    let reports = host.shutdown();
    (seen.get(), report(&reports, id).clone(), other_seen.get())
}

/// `DropNewest`: messages sent while the queue is full are dropped for that
/// plugin only, and counted.
pub fn drop_newest<F: Family>() {
    let (seen, report, other) = lossy_run::<F>(Overflow::DropNewest);
    assert_eq!(seen, vec![0, 1, 2, 3, 4], "{}", F::NAME);
    assert_eq!(
        (report.stats.received, report.stats.dropped),
        (5, 6),
        "{}",
        F::NAME
    );
    assert_eq!(
        other,
        range(11),
        "{}: the other plugin lost messages",
        F::NAME
    );
}

/// `DropOldest`: the oldest queued messages make room, and are counted.
pub fn drop_oldest<F: Family>() {
    let (seen, report, other) = lossy_run::<F>(Overflow::DropOldest);
    assert_eq!(seen, vec![0, 7, 8, 9, 10], "{}", F::NAME);
    assert_eq!(
        (report.stats.received, report.stats.dropped),
        (5, 6),
        "{}",
        F::NAME
    );
    assert_eq!(
        other,
        range(11),
        "{}: the other plugin lost messages",
        F::NAME
    );
}

/// `Reject`: a send fails for everyone while a `Reject` plugin is full, and
/// names it.
pub fn reject<F: Family>() {
    let mut host = F::host::<u64>(8);
    let gate = Gate::new(F::CONCURRENT);
    let (plugin, seen) = Recorder::new("picky");
    let (other, other_seen) = Recorder::new("other");
    let id = host
        .attach_with(
            Box::new(plugin.gate(gate.clone())),
            AttachOptions::new().capacity(4).overflow(Overflow::Reject),
        )
        .unwrap();
    host.attach(other).unwrap();
    for i in 0..4 {
        host.send(i).unwrap();
    }
    match host.send(4) {
        Err(SendError::Rejected { value: 4, refused }) => {
            assert_eq!(refused, vec![id], "{}", F::NAME)
        }
        other => panic!("{}: expected Rejected, got {other:?}", F::NAME),
    }
    gate.open();
    wait_until::<F, _>(&mut host, "the picky plugin to catch up", |h| {
        h.stats(id).is_some_and(|s| s.handled == 4)
    });
    host.send(5).unwrap();
    let reports = host.shutdown();
    assert_eq!(seen.get(), vec![0, 1, 2, 3, 5], "{}", F::NAME);
    assert_eq!(other_seen.get(), vec![0, 1, 2, 3, 5], "{}", F::NAME);
    let stats = report(&reports, id).stats;
    assert_eq!(
        (stats.handled, stats.rejected, stats.dropped),
        (5, 1, 0),
        "{}",
        F::NAME
    );
}

/// A batch reaches every plugin whole and in order, also when it is larger
/// than the ring (the sender waits for room between publications), and the
/// host says how many it sent; a batch that a full `Reject` plugin refuses
/// is handed back, none of it sent.
pub fn send_batch<F: Family>() {
    let mut host = F::host::<u64>(8);
    let (slow, slow_seen) = Recorder::new("slow");
    let (fast, fast_seen) = Recorder::new("fast");
    host.attach(slow.delay(Duration::from_micros(20))).unwrap();
    host.attach(fast).unwrap();
    match host.send_batch(range(100)) {
        Ok(100) => {}
        other => panic!("{}: expected Ok(100), got {other:?}", F::NAME),
    }
    match host.send_batch(Vec::new()) {
        Ok(0) => {}
        other => panic!("{}: expected Ok(0), got {other:?}", F::NAME),
    }
    let reports = host.shutdown();
    assert_eq!(slow_seen.get(), range(100), "{}: slow", F::NAME);
    assert_eq!(fast_seen.get(), range(100), "{}: fast", F::NAME);
    assert!(
        reports.iter().all(|r| r.stats.handled == 100),
        "{}",
        F::NAME
    );

    let mut host = F::host::<u64>(8);
    let gate = Gate::new(F::CONCURRENT);
    let (picky, picky_seen) = Recorder::new("picky");
    let picky = host
        .attach_with(
            Box::new(picky.gate(gate.clone())),
            AttachOptions::new().capacity(4).overflow(Overflow::Reject),
        )
        .unwrap();
    match host.send_batch(range(4)) {
        Ok(4) => {}
        other => panic!("{}: expected Ok(4), got {other:?}", F::NAME),
    }
    match host.send_batch(vec![4, 5, 6]) {
        Err(SendError::Rejected { value, refused }) => {
            assert_eq!(value, vec![4, 5, 6], "{}", F::NAME);
            assert_eq!(refused, vec![picky], "{}", F::NAME);
        }
        other => panic!("{}: expected Rejected, got {other:?}", F::NAME),
    }
    gate.open();
    wait_until::<F, _>(&mut host, "the picky plugin to catch up", |h| {
        h.stats(picky).is_some_and(|s| s.handled == 4)
    });
    match host.send_batch(vec![7, 8, 9]) {
        Ok(3) => {}
        other => panic!("{}: expected Ok(3), got {other:?}", F::NAME),
    }
    let reports = host.shutdown();
    assert_eq!(picky_seen.get(), vec![0, 1, 2, 3, 7, 8, 9], "{}", F::NAME);
    let stats = report(&reports, picky).stats;
    assert_eq!((stats.handled, stats.rejected), (7, 1), "{}", F::NAME);
}

/// A plugin that returns `Flow::Detach` leaves with its status; the others
/// go on.
pub fn detach_with_status<F: Family>() {
    let mut host = F::host::<u64>(16);
    let (quitter, quitter_seen) = Recorder::new("quitter");
    let (stayer, stayer_seen) = Recorder::new("stayer");
    let q = host.attach(quitter.detach_after(3, Status(7))).unwrap();
    let s = host.attach(stayer).unwrap();
    for i in 0..10 {
        host.send(i).unwrap();
    }
    let reports = host.shutdown();
    assert_eq!(quitter_seen.get(), range(3), "{}", F::NAME);
    assert_eq!(
        report(&reports, q).exit,
        Exit::Detached(Status(7)),
        "{}",
        F::NAME
    );
    assert_eq!(report(&reports, q).stats.received, 3, "{}", F::NAME);
    assert_eq!(stayer_seen.get(), range(10), "{}", F::NAME);
    assert_eq!(report(&reports, s).exit, Exit::Shutdown, "{}", F::NAME);
}

/// The host detaches a plugin: it handles nothing sent after `detach`.
pub fn host_detach<F: Family>() {
    let mut host = F::host::<u64>(16);
    let (plugin, seen) = Recorder::new("removed");
    let id = host.attach(plugin).unwrap();
    for i in 0..5 {
        host.send(i).unwrap();
    }
    wait_until::<F, _>(&mut host, "5 messages handled", |h| {
        h.stats(id).is_some_and(|s| s.handled == 5)
    });
    assert!(host.detach(id), "{}", F::NAME);
    for i in 5..10 {
        host.send(i).unwrap();
    }
    let reports = host.shutdown();
    assert_eq!(seen.get(), range(5), "{}", F::NAME);
    assert_eq!(report(&reports, id).exit, Exit::Removed, "{}", F::NAME);
}

/// A plugin attached while messages flow sees exactly those sent after.
pub fn attach_while_flowing<F: Family>() {
    let mut host = F::host::<u64>(32);
    let (early, early_seen) = Recorder::new("early");
    host.attach(early.delay(Duration::from_micros(10))).unwrap();
    for i in 0..50 {
        host.send(i).unwrap();
    }
    let (late, late_seen) = Recorder::new("late");
    host.attach(late).unwrap();
    for i in 50..100 {
        host.send(i).unwrap();
    }
    host.shutdown();
    assert_eq!(early_seen.get(), range(100), "{}", F::NAME);
    assert_eq!(
        late_seen.get(),
        (50..100).collect::<Vec<_>>(),
        "{}",
        F::NAME
    );
}

/// A plugin that panics is detached and reported; the host and the other
/// plugins go on with exact counts.
pub fn panic_is_isolated<F: Family>() {
    let mut host = F::host::<u64>(16);
    let (bad, bad_seen) = Recorder::new("bad");
    let (good, good_seen) = Recorder::new("good");
    let b = host.attach(bad.panic_on(3)).unwrap();
    let g = host.attach(good).unwrap();
    for i in 0..10 {
        host.send(i).unwrap();
    }
    let reports = host.shutdown();
    let bad = report(&reports, b);
    assert_eq!(bad.exit, Exit::Panicked, "{}", F::NAME);
    assert_eq!(
        bad.panic.as_deref(),
        Some("bad panics on message 3"),
        "{}",
        F::NAME
    );
    assert_eq!(
        (bad.stats.received, bad.stats.handled, bad.stats.panicked),
        (3, 2, 1),
        "{}",
        F::NAME
    );
    assert_eq!(bad_seen.get(), range(2), "{}", F::NAME);
    assert_eq!(good_seen.get(), range(10), "{}", F::NAME);
    assert_eq!(report(&reports, g).exit, Exit::Shutdown, "{}", F::NAME);
}

/// Panics in the attach and detach hooks and in the plugin's drop are
/// caught and reported too. They are no message's panic: `panicked` stays
/// 0, so `received == handled + filtered + panicked` holds (issue 16).
pub fn panic_in_hooks<F: Family>() {
    let mut host = F::host::<u64>(16);
    let (at, at_seen) = Recorder::new("attach-panics");
    let (de, de_seen) = Recorder::new("detach-panics");
    let (dr, dr_seen) = Recorder::new("drop-panics");
    let a = host.attach(at.panic_in_attach()).unwrap();
    let d = host.attach(de.panic_in_detach()).unwrap();
    let r = host.attach(dr.panic_in_drop()).unwrap();
    for i in 0..4 {
        host.send(i).unwrap();
    }
    let reports = host.shutdown();
    for id in [a, d, r] {
        let stats = report(&reports, id).stats;
        assert_eq!(
            stats.received,
            stats.handled + stats.filtered + stats.panicked,
            "{}: {}: received != handled + filtered + panicked in {stats:?}",
            F::NAME,
            report(&reports, id).name
        );
        assert_eq!(stats.panicked, 0, "{}: a hook panic counted", F::NAME);
    }
    let dr = report(&reports, r);
    assert_eq!(
        (dr.exit, dr.stats.handled, dr.panic.as_deref()),
        (Exit::Panicked, 4, Some("drop-panics panics in drop")),
        "{}",
        F::NAME
    );
    assert_eq!(dr_seen.get(), range(4), "{}", F::NAME);
    let at = report(&reports, a);
    assert_eq!(
        (at.exit, at.stats.received),
        (Exit::Panicked, 0),
        "{}",
        F::NAME
    );
    assert_eq!(
        at.panic.as_deref(),
        Some("attach-panics panics in on_attach"),
        "{}",
        F::NAME
    );
    assert!(at_seen.get().is_empty(), "{}", F::NAME);
    let de = report(&reports, d);
    assert_eq!(
        (de.exit, de.stats.handled),
        (Exit::Panicked, 4),
        "{}",
        F::NAME
    );
    assert_eq!(
        de.panic.as_deref(),
        Some("detach-panics panics in on_detach"),
        "{}",
        F::NAME
    );
    assert_eq!(de_seen.get(), range(4), "{}", F::NAME);
}

/// Shutdown right after sending drains every queue: nothing sent under
/// `Block` is lost.
pub fn shutdown_drains<F: Family>() {
    let mut host = F::host::<u64>(64);
    let (slow, seen) = Recorder::new("slow");
    let id = host.attach(slow.delay(Duration::from_micros(100))).unwrap();
    for i in 0..500 {
        host.send(i).unwrap();
    }
    let reports = host.shutdown();
    assert_eq!(seen.get(), range(500), "{}", F::NAME);
    assert_eq!(report(&reports, id).stats.handled, 500, "{}", F::NAME);
}

/// Plugins reply through an outbox; the host reads every reply.
pub fn outbox_replies<F: Family>() {
    let mut host = F::host::<u64>(64);
    let (tx, replies) = outbox(1000);
    let (a, _) = Recorder::new("a");
    let (b, _) = Recorder::new("b");
    host.attach(a.reply(tx.clone()).filter(|m| m % 2 == 0))
        .unwrap();
    host.attach(b.reply(tx).filter(|m| m % 2 == 1)).unwrap();
    for i in 0..100 {
        host.send(i).unwrap();
    }
    host.shutdown();
    let mut got: Vec<u64> = replies.drain().iter().map(|m| **m).collect();
    got.sort_unstable();
    assert_eq!(got, range(100), "{}", F::NAME);
    assert_eq!(replies.dropped(), 0, "{}", F::NAME);
    assert_eq!(
        replies.recv_blocking(),
        None,
        "{}: outboxes outlived the host",
        F::NAME
    );
}

/// Counters are readable while plugins run.
pub fn stats_while_running<F: Family>() {
    let mut host = F::host::<u64>(64);
    let (plugin, _) = Recorder::new("counted");
    let id = host.attach(plugin.filter(|m| *m < 7)).unwrap();
    for i in 0..10 {
        host.send(i).unwrap();
    }
    wait_until::<F, _>(&mut host, "10 messages received", |h| {
        h.stats(id).is_some_and(|s| s.received == 10)
    });
    let stats = host.stats(id).unwrap();
    assert_eq!((stats.handled, stats.filtered), (7, 3), "{}", F::NAME);
    let mut other = F::host::<u64>(4);
    other.attach(Recorder::<u64>::new("x").0).unwrap();
    let unknown = other.attach(Recorder::<u64>::new("y").0).unwrap();
    assert!(
        host.stats(unknown).is_none(),
        "{}: stats of an id it never gave",
        F::NAME
    );
    other.shutdown();
    host.shutdown();
}

/// Capacities the host cannot give are typed errors.
pub fn bad_capacity<F: Family>() {
    let mut host = F::host::<u64>(16);
    let (a, _) = Recorder::<u64>::new("a");
    match host.attach_with(Box::new(a), AttachOptions::new().capacity(0)) {
        Err(AttachError::Capacity {
            requested: 0,
            max: 16,
        }) => {}
        other => panic!("{}: expected a capacity error, got {other:?}", F::NAME),
    }
    let (b, _) = Recorder::<u64>::new("b");
    match host.attach_with(Box::new(b), AttachOptions::new().capacity(17)) {
        Err(AttachError::Capacity {
            requested: 17,
            max: 16,
        }) => {}
        other => panic!("{}: expected a capacity error, got {other:?}", F::NAME),
    }
    let (c, seen) = Recorder::<u64>::new("c");
    host.attach_with(
        Box::new(c),
        AttachOptions::new()
            .capacity(1000)
            .overflow(Overflow::DropNewest),
    )
    .unwrap_or_else(|e| panic!("{}: a lossy queue may exceed the ring: {e}", F::NAME));
    host.send(1).unwrap();
    host.shutdown();
    assert_eq!(seen.get(), vec![1], "{}", F::NAME);
}

/// A summary without its timing: plugin, text, messages, `Time` messages.
type Untimed = (String, String, u64, u64);

/// The predecessor's scenario on `concat` and `debug`, given as plugins
/// (linked statically or loaded): returns the untimed summaries, by plugin
/// name, and the reports. Prints the average delay of `Time` messages.
fn concat_scenario<F: Family>(
    mode: &str,
    plugins: Vec<Box<dyn Plugin<Command>>>,
) -> (Vec<Untimed>, Vec<Report>) {
    let mut host = F::host::<Command>(64);
    for plugin in plugins {
        host.attach_with(plugin, AttachOptions::new()).unwrap();
    }
    let (ask, replies) = ask_report();
    for command in scenario(ask) {
        host.send(command)
            .unwrap_or_else(|e| panic!("{}: send: {e}", F::NAME));
        host.run_pending();
    }
    let reports = host.shutdown();
    let mut summaries: Vec<_> = replies.try_iter().map(|m| (*m).clone()).collect();
    summaries.sort_by(|a, b| a.plugin.cmp(&b.plugin));
    let concat = summaries
        .iter()
        .find(|s| s.plugin == "concat")
        .unwrap_or_else(|| panic!("{}: concat sent no summary", F::NAME));
    println!(
        "{} {mode}: concat's average delay over {} Time messages: {:?}",
        F::NAME,
        concat.times,
        concat.average_delay()
    );
    (summaries.iter().map(untimed).collect(), reports)
}

fn check_concat<F: Family>(summaries: &[Untimed], reports: &[Report]) {
    assert_eq!(
        summaries,
        [
            ("concat".into(), "plugbus".into(), 11, 3),
            (
                "debug".into(),
                "concat=4 clear=1 print=2 time=3 exit=0 report=1".into(),
                11,
                3
            ),
        ],
        "{}",
        F::NAME
    );
    let by_name = |name: &str| {
        reports
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("{}: no report for {name}", F::NAME))
    };
    let concat = by_name("concat");
    assert_eq!(concat.exit, Exit::Detached(Status::SUCCESS), "{}", F::NAME);
    assert_eq!(concat.stats.handled, 12, "{}", F::NAME);
    let debug = by_name("debug");
    assert_eq!(
        (debug.exit, debug.stats.handled),
        (Exit::Shutdown, 12),
        "{}",
        F::NAME
    );
}

/// The predecessor's scenario with the plugins linked statically.
pub fn concat_static<F: Family>() {
    let plugins: Vec<Box<dyn Plugin<Command>>> = vec![
        Box::new(plugbus_concat::Concat::new("quiet").unwrap()),
        Box::new(plugbus_debug::Debug::new("quiet").unwrap()),
    ];
    let (summaries, reports) = concat_scenario::<F>("static", plugins);
    check_concat::<F>(&summaries, &reports);
}

/// The same scenario with the plugins loaded from their cdylibs: the same
/// results.
pub fn concat_dynamic<F: Family>() {
    let plugins: Vec<Box<dyn Plugin<Command>>> = vec![
        Box::new(load_command_plugin("plugbus_concat", "quiet").unwrap()),
        Box::new(load_command_plugin("plugbus_debug", "quiet").unwrap()),
    ];
    let (summaries, reports) = concat_scenario::<F>("dynamic", plugins);
    check_concat::<F>(&summaries, &reports);
}

/// A dynamic plugin that panics in `handle_message` is detached and
/// reported like a static one; the others keep exact counts.
pub fn dynamic_panic_is_isolated<F: Family>() {
    let mut host = F::host::<Command>(64);
    let bad = load_command_plugin("plugbus_fault", "panic-handle=3").unwrap();
    let b = host
        .attach_with(Box::new(bad), AttachOptions::new())
        .unwrap();
    let (good, count) = Counter::new();
    let g = host.attach(good).unwrap();
    for i in 0..10 {
        host.send(Command::Concat(i.to_string())).unwrap();
    }
    let reports = host.shutdown();
    let bad = report(&reports, b);
    assert_eq!(bad.exit, Exit::Panicked, "{}", F::NAME);
    assert_eq!(
        bad.panic.as_deref(),
        Some("fault: panic in handle_message at message 3"),
        "{}",
        F::NAME
    );
    assert_eq!(
        (bad.stats.received, bad.stats.handled, bad.stats.panicked),
        (3, 2, 1),
        "{}",
        F::NAME
    );
    assert_eq!(
        count.load(std::sync::atomic::Ordering::Relaxed),
        10,
        "{}",
        F::NAME
    );
    assert_eq!(report(&reports, g).stats.handled, 10, "{}", F::NAME);
}

/// A panic whose payload panics again when dropped is caught: the plugin is
/// detached and reported, and the host and the other plugins go on
/// (issue 17, item 5).
pub fn panicky_payload_is_isolated<F: Family>() {
    let mut host = F::host::<u64>(64);
    let bad = host.attach(PanickyPayload::at(3)).unwrap();
    check_panicky_payload::<F, u64>(host, bad, |i| i);
}

/// The same from a dynamic plugin, whose thunk must keep the second panic
/// inside the library (escaping an `extern "C"` function aborts).
pub fn dynamic_panicky_payload_is_isolated<F: Family>() {
    let mut host = F::host::<Command>(64);
    let plugin = load_command_plugin("plugbus_fault", "panic-payload=3").unwrap();
    let bad = host
        .attach_with(Box::new(plugin), AttachOptions::new())
        .unwrap();
    check_panicky_payload::<F, Command>(host, bad, |i| Command::Concat(i.to_string()));
}

/// Attaches a counter beside the plugin `bad` (which panics at its third
/// message with a payload whose drop panics), sends ten messages and checks
/// both reports.
fn check_panicky_payload<F: Family, M: Send + Sync + 'static>(
    mut host: F::Host<M>,
    bad: PluginId,
    message: impl Fn(u64) -> M,
) {
    let (good, count) = Counter::new();
    let good = host.attach(good).unwrap();
    for i in 0..10 {
        host.send(message(i))
            .unwrap_or_else(|_| panic!("{}: send {i}", F::NAME));
    }
    let reports = host.shutdown();
    let bad = report(&reports, bad);
    assert_eq!(bad.exit, Exit::Panicked, "{}: {}", F::NAME, bad.name);
    assert_eq!(
        bad.panic.as_deref(),
        Some("panic with a non-string payload"),
        "{}: {}",
        F::NAME,
        bad.name
    );
    assert_eq!(
        (bad.stats.received, bad.stats.handled, bad.stats.panicked),
        (3, 2, 1),
        "{}: {}",
        F::NAME,
        bad.name
    );
    assert_eq!(
        count.load(std::sync::atomic::Ordering::Relaxed),
        10,
        "{}",
        F::NAME
    );
    assert_eq!(report(&reports, good).stats.handled, 10, "{}", F::NAME);
}

/// A plugin the host detaches while messages wait for it: those sent before
/// the detach that it had not taken are counted as dropped, and those sent
/// after are neither delivered nor counted, whatever its policy (issue 16).
/// So `received + dropped` is exactly what was sent while it was attached.
fn detach_while_waiting<F: Family>(overflow: Overflow) {
    let mut host = F::host::<u64>(64);
    let gate = Gate::new(F::CONCURRENT);
    let (plugin, seen) = Recorder::new("detached");
    let (other, other_seen) = Recorder::new("other");
    let capacity = if matches!(overflow, Overflow::Block | Overflow::Reject) {
        4
    } else {
        2
    };
    let id = host
        .attach_with(
            Box::new(plugin.gate(gate.clone())),
            AttachOptions::new().capacity(capacity).overflow(overflow),
        )
        .unwrap();
    host.attach(other).unwrap();
    host.send(0).unwrap();
    if F::CONCURRENT {
        wait_until::<F, _>(&mut host, "the plugin to take message 0", |_| {
            gate.entered() == 1
        });
    }
    for i in 1..=3 {
        host.send(i).unwrap();
    }
    assert!(host.detach(id), "{}: detach {overflow:?}", F::NAME);
    // A full ring lane gates the sender until it has left.
    gate.open();
    for i in 4..=6 {
        host.send(i)
            .unwrap_or_else(|e| panic!("{}: {overflow:?}: send {i} after detach: {e}", F::NAME));
    }
    let reports = host.shutdown();
    let r = report(&reports, id);
    let expected = if F::CONCURRENT { 1 } else { 0 };
    assert_eq!(r.exit, Exit::Removed, "{}: {overflow:?}", F::NAME);
    assert_eq!(
        (
            r.stats.received,
            r.stats.handled,
            r.stats.dropped,
            r.stats.rejected
        ),
        (expected, expected, 4 - expected, 0),
        "{}: {overflow:?}: four messages were sent while it was attached",
        F::NAME
    );
    assert_eq!(seen.get(), range(expected), "{}: {overflow:?}", F::NAME);
    assert_eq!(other_seen.get(), range(7), "{}: {overflow:?}", F::NAME);
}

/// A plugin detached while messages wait for it, with every policy: what
/// was sent before the detach and not taken is counted as dropped, nothing
/// sent after is delivered or counted (issue 16).
pub fn detach_counts_what_was_waiting<F: Family>() {
    for overflow in [
        Overflow::DropNewest,
        Overflow::DropOldest,
        Overflow::Block,
        Overflow::Reject,
    ] {
        detach_while_waiting::<F>(overflow);
    }
}

/// A batch refused by a full `Reject` plugin after part of it was sent
/// counts one rejection, as one failed `send` does (issue 16).
pub fn reject_batch_counted_once<F: Family>() {
    let mut host = F::host::<u64>(16);
    let gate = Gate::new(F::CONCURRENT);
    let (plugin, seen) = Recorder::new("picky");
    let id = host
        .attach_with(
            Box::new(plugin.gate(gate.clone())),
            AttachOptions::new().capacity(4).overflow(Overflow::Reject),
        )
        .unwrap();
    let (other, other_seen) = Recorder::new("other");
    host.attach(other).unwrap();
    match host.send_batch(range(10)) {
        Err(SendError::Rejected { value, refused }) => {
            assert_eq!(value, (4..10).collect::<Vec<_>>(), "{}", F::NAME);
            assert_eq!(refused, vec![id], "{}", F::NAME);
        }
        other => panic!("{}: expected Rejected, got {other:?}", F::NAME),
    }
    assert_eq!(host.stats(id).map(|s| s.rejected), Some(1), "{}", F::NAME);
    gate.open();
    let reports = host.shutdown();
    let stats = report(&reports, id).stats;
    assert_eq!((stats.handled, stats.rejected), (4, 1), "{}", F::NAME);
    assert_eq!(seen.get(), range(4), "{}", F::NAME);
    assert_eq!(other_seen.get(), range(4), "{}", F::NAME);
}

/// A lossy plugin's filter runs too (its lane reads a queue of its own, not
/// the ring): declined messages are counted as filtered, never handled.
pub fn filters_on_lossy_lanes<F: Family>() {
    for overflow in [Overflow::DropNewest, Overflow::DropOldest] {
        let mut host = F::host::<u64>(64);
        let (even, seen) = Recorder::new("even");
        let id = host
            .attach_with(
                Box::new(even.filter(|m| m % 2 == 0)),
                AttachOptions::new().capacity(1000).overflow(overflow),
            )
            .unwrap();
        for i in 0..100 {
            host.send(i).unwrap();
        }
        let reports = host.shutdown();
        assert_eq!(
            seen.get(),
            (0..100).filter(|m| m % 2 == 0).collect::<Vec<_>>(),
            "{}: {overflow:?}",
            F::NAME
        );
        let stats = report(&reports, id).stats;
        assert_eq!(
            (stats.received, stats.handled, stats.filtered, stats.dropped),
            (100, 50, 50, 0),
            "{}: {overflow:?}",
            F::NAME
        );
    }
}

/// A sender waiting for room because a `Block` plugin is full goes on once
/// the host detached that plugin and its lane left, even though the lane
/// took nothing more (leaving is what frees the room).
pub fn a_detached_plugin_frees_a_waiting_sender<F: Family>() {
    let mut host = F::host::<u64>(64);
    let gate = Gate::new(F::CONCURRENT);
    let (stuck, stuck_seen) = Recorder::new("stuck");
    let (other, other_seen) = Recorder::new("other");
    // Capacity 1, held in `on_attach`: its cursor stays put.
    let id = host
        .attach_with(
            Box::new(stuck.gate_attach(gate.clone())),
            AttachOptions::new().capacity(1),
        )
        .unwrap();
    host.attach(other).unwrap();
    host.send(0).unwrap();
    if let Some(send) = host.sender() {
        let (sent, result) = std::sync::mpsc::channel();
        let sender = std::thread::spawn(move || {
            let _ = sent.send(send(1));
        });
        // The sender is (or soon will be) waiting for the stuck plugin.
        match result.recv_timeout(Duration::from_millis(50)) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            other => panic!("{}: a send into a full plugin returned: {other:?}", F::NAME),
        }
        assert!(host.detach(id), "{}", F::NAME);
        gate.open();
        let _wait = crate::watch::waiting("the waiting sender to be woken by the plugin's leaving");
        let outcome = result
            .recv()
            .unwrap_or_else(|_| panic!("{}: the sender thread panicked", F::NAME));
        assert!(outcome.is_ok(), "{}: {outcome:?}", F::NAME);
        sender.join().unwrap();
    } else {
        // The poll-driven host: the send runs the lanes, which let the
        // detached plugin go.
        assert!(host.detach(id), "{}", F::NAME);
        host.send(1).unwrap();
    }
    let reports = host.shutdown();
    let r = report(&reports, id);
    assert_eq!(
        (r.exit, r.stats.received, r.stats.dropped),
        (Exit::Removed, 0, 1),
        "{}: it took nothing; the message sent before the detach is its drop",
        F::NAME
    );
    assert!(stuck_seen.get().is_empty(), "{}", F::NAME);
    assert_eq!(other_seen.get(), range(2), "{}", F::NAME);
}

/// A plugin whose lane exited (it detached itself) is gone from the host:
/// it no longer holds senders back, however far they go past it, and it is
/// no longer counted as attached.
pub fn an_exited_lane_neither_gates_nor_counts<F: Family>() {
    let mut host = F::host::<u64>(4);
    let (quitter, quitter_seen) = Recorder::new("quitter");
    let q = host
        .attach(quitter.detach_after(1, Status::SUCCESS))
        .unwrap();
    let (stayer, stayer_seen) = Recorder::new("stayer");
    host.attach(stayer).unwrap();
    host.send(0).unwrap();
    wait_until::<F, _>(&mut host, "the quitter to leave", |h| h.stats(q).is_none());
    // Four times the ring past the quitter's last position.
    for i in 1..16 {
        host.send(i).unwrap();
    }
    let reports = host.shutdown();
    assert_eq!(quitter_seen.get(), range(1), "{}", F::NAME);
    assert_eq!(stayer_seen.get(), range(16), "{}", F::NAME);
    let r = report(&reports, q);
    assert_eq!(
        (r.exit, r.stats.received),
        (Exit::Detached(Status::SUCCESS), 1),
        "{}",
        F::NAME
    );
}

/// Dropping a host without `shutdown` still lets every plugin handle what
/// was sent to it under `Block` (at once, or on its runtime afterwards).
pub fn dropping_the_host_drains<F: Family>() {
    let mut host = F::host::<u64>(16);
    let (slow, seen) = Recorder::new("slow");
    host.attach(slow.delay(Duration::from_micros(50))).unwrap();
    for i in 0..50 {
        host.send(i).unwrap();
    }
    {
        let _wait = crate::watch::waiting("the host to drop");
        drop(host);
    }
    let _wait = crate::watch::waiting("the dropped host's plugin to handle all 50");
    while seen.get().len() < 50 {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(seen.get(), range(50), "{}", F::NAME);
}
