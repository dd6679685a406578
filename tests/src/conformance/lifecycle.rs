//! Restart and reload scenarios (issue 10): a lane outlives its plugin
//! instance, and nothing is lost or reordered. Each is defined once and run
//! on every host; messages are numbered per sender and checked exactly.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use plugbus_commands::{Tally, Tick};
use plugbus_core::lifecycle::{
    Backoff, Clock, DeadLetter, Event, Handover, Intensity, ReplaceError, Replacement, Restart,
    StateError,
};
use plugbus_core::{AttachOptions, Exit, Flow, Message, Plugin, PluginId, Report, Status, outbox};
use plugbus_tally::Counter as Tallier;

use super::scenarios::{PATIENCE, report, wait_until};
use super::{Family, TestHost};

/// Panics the scenarios cause on purpose (`poison …`, `tally: poison …`,
/// `induced …`) print nothing: a thousand of them would bury a real
/// failure's message. Every other panic goes to the previous hook.
pub fn quiet_induced_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let text = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("");
            let induced = ["poison ", "tally: poison ", "induced "];
            if !induced.iter().any(|p| text.starts_with(p)) {
                previous(info);
            }
        }));
    });
}

/// What every instance of a [`Logged`] plugin shares with the test.
#[derive(Debug, Default)]
struct Log {
    /// (sender, seq) of every numbered message handled, in order.
    handled: Mutex<Vec<(u32, u64)>>,
    /// The id each instance's `on_attach` got.
    attached: Mutex<Vec<PluginId>>,
    /// How many instances heard `on_detach`, and with what.
    detached: Mutex<Vec<Exit>>,
}

/// Logs numbered ticks into a shared [`Log`]; panics on a poison.
struct Logged(Arc<Log>);

impl Plugin<Tick> for Logged {
    fn handle_message(&mut self, message: &Message<Tick>) -> Flow {
        match **message {
            Tick::Seq { sender, seq } => self.0.handled.lock().unwrap().push((sender, seq)),
            Tick::Poison { sender, seq } => panic!("poison {sender}/{seq}"),
            Tick::Tally(_) => {}
        }
        Flow::Continue
    }
    fn on_attach(&mut self, id: PluginId) {
        self.0.attached.lock().unwrap().push(id);
    }
    fn on_detach(&mut self, exit: Exit) {
        self.0.detached.lock().unwrap().push(exit);
    }
}

/// A clock the test moves by hand (milliseconds).
#[derive(Debug, Clone, Default)]
struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    fn set(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_millis(self.0.load(Ordering::SeqCst))
    }
}

fn seq(sender: u32, seq: u64) -> Tick {
    Tick::Seq { sender, seq }
}

fn poison(sender: u32, seq: u64) -> Tick {
    Tick::Poison { sender, seq }
}

/// Sends numbered ticks from `senders` senders while `work` runs `rounds`
/// times (a replacement, say), and returns how many each sender sent.
/// Concurrent hosts: one thread per sender, as fast as they can, until the
/// rounds are done; the poll-driven host: `chunk` messages per sender
/// between two rounds, on the test thread. `tick(sender, seq)` makes each.
fn flood<F: Family>(
    host: &mut F::Host<Tick>,
    senders: u32,
    rounds: u32,
    chunk: u64,
    tick: impl Fn(u32, u64) -> Tick + Send + Sync + 'static,
    mut work: impl FnMut(&mut F::Host<Tick>, u32),
) -> Vec<u64> {
    let Some(send) = host.sender() else {
        let mut sent = vec![0; senders as usize];
        for round in 0..rounds {
            for _ in 0..chunk {
                for s in 0..senders {
                    let n = &mut sent[s as usize];
                    host.send(tick(s, *n))
                        .unwrap_or_else(|_| panic!("{}: send failed", F::NAME));
                    *n += 1;
                }
            }
            work(host, round);
        }
        return sent;
    };
    let send = Arc::new(send);
    let tick = Arc::new(tick);
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..senders)
        .map(|s| {
            let (send, tick, stop) = (send.clone(), tick.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                // At least `chunk` each, so even a fast `work` overlaps a flood.
                while n < chunk || !stop.load(Ordering::Relaxed) {
                    if send(tick(s, n)).is_err() {
                        break;
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();
    for round in 0..rounds {
        work(host, round);
    }
    stop.store(true, Ordering::Relaxed);
    threads
        .into_iter()
        .map(|t| t.join().expect("a sender thread panicked"))
        .collect()
}

/// What every numbered message of `sent` should look like to the plugin:
/// per sender, every number in order, but the poisoned ones.
fn expected(sent: &[u64], poisoned: impl Fn(u64) -> bool) -> Vec<Vec<u64>> {
    sent.iter()
        .map(|&n| (0..n).filter(|&i| !poisoned(i)).collect())
        .collect()
}

fn per_sender(handled: &[(u32, u64)], senders: usize) -> Vec<Vec<u64>> {
    let mut split = vec![Vec::new(); senders];
    for &(s, n) in handled {
        split[s as usize].push(n);
    }
    split
}

fn supervised(restarts: u32) -> AttachOptions {
    AttachOptions::new()
        .restart(Restart::OnPanic)
        .intensity(Intensity::new(restarts, Duration::from_secs(3600)))
}

/// 1,000 induced panics while two senders flood: every message is handled
/// exactly once and in order by some instance, except exactly the poisoned
/// ones, each counted as dead-lettered; each restart gets `on_attach` with
/// the same id and no instance that panicked hears `on_detach`.
pub fn restart_under_flood<F: Family>() {
    quiet_induced_panics();
    // Under miri (`.ci/run` runs the LocalHost scenarios there) ten
    // poisons: each message costs miri about a thousand times as much.
    const POISONS: u64 = if cfg!(miri) { 10 } else { 1000 };
    const EVERY: u64 = 97;
    let mut host = F::host::<Tick>(1024);
    let log = Arc::new(Log::default());
    let shared = log.clone();
    let id = host
        .attach_supervised(move || Logged(shared.clone()), supervised(POISONS as u32))
        .unwrap();
    // Each sender poisons every 97th of its messages and stops after its
    // share of the 1,000 poisons.
    let per_sender = POISONS / 2 * EVERY;
    let poisoned = |n: u64| n % EVERY == EVERY - 1;
    let mut sent = vec![0; 2];
    if let Some(send) = host.sender() {
        let send = Arc::new(send);
        let threads: Vec<_> = (0..2)
            .map(|s| {
                let send = send.clone();
                std::thread::spawn(move || {
                    for n in 0..per_sender {
                        let tick = if poisoned(n) { poison(s, n) } else { seq(s, n) };
                        send(tick).expect("send");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("a sender thread panicked");
        }
        sent = vec![per_sender; 2];
    } else {
        for n in 0..per_sender {
            for s in 0..2 {
                let tick = if poisoned(n) { poison(s, n) } else { seq(s, n) };
                host.send(tick).unwrap();
                sent[s as usize] += 1;
            }
        }
    }
    let reports = host.shutdown();
    let r = report(&reports, id);
    let total = sent.iter().sum::<u64>();
    assert_eq!(r.exit, Exit::Shutdown, "{}: {r:?}", F::NAME);
    assert_eq!(
        per_sender_of(&log, 2),
        expected(&sent, poisoned),
        "{}: the numbers handled",
        F::NAME
    );
    let s = r.stats;
    assert_eq!(
        (
            s.received,
            s.handled,
            s.panicked,
            s.dead_lettered,
            s.restarts
        ),
        (total, total - POISONS, POISONS, POISONS, POISONS),
        "{}: (received, handled, panicked, dead_lettered, restarts)",
        F::NAME
    );
    let attached = log.attached.lock().unwrap().clone();
    assert_eq!(
        attached.len() as u64,
        POISONS + 1,
        "{}: on_attach calls",
        F::NAME
    );
    assert!(
        attached.iter().all(|&a| a == id),
        "{}: an instance was attached with another id",
        F::NAME
    );
    assert_eq!(
        *log.detached.lock().unwrap(),
        [Exit::Shutdown],
        "{}: only the last instance hears on_detach",
        F::NAME
    );
    // The report keeps the last `Report::KEPT` panics (all of them under
    // miri's ten).
    assert_eq!(
        r.panics.len(),
        Report::KEPT.min(POISONS as usize),
        "{}",
        F::NAME
    );
    assert!(
        r.panics.iter().all(|p| p.starts_with("poison ")),
        "{}: {:?}",
        F::NAME,
        r.panics
    );
    assert!(
        matches!(r.events.last(), Some(Event::Restarted { panic: Some(p) }) if p.starts_with("poison ")),
        "{}: {:?}",
        F::NAME,
        r.events.last()
    );
}

fn per_sender_of(log: &Log, senders: usize) -> Vec<Vec<u64>> {
    per_sender(&log.handled.lock().unwrap(), senders)
}

/// Asks the tally plugin for its count.
fn tally<F: Family>(host: &mut F::Host<Tick>, id: PluginId) -> Tally {
    let answers = host
        .ask(Tick::Tally, (), PATIENCE)
        .unwrap_or_else(|_| panic!("{}: ask failed", F::NAME));
    *answers
        .get(id)
        .unwrap_or_else(|| panic!("{}: the tally plugin did not answer: {answers:?}", F::NAME))
}

/// 1,000 replacements while two senders flood: the count handed from each
/// instance to the next covers every message exactly once, in order.
pub fn replace_under_flood<F: Family>() {
    // Ten under miri, as in `restart_under_flood`.
    const REPLACEMENTS: u32 = if cfg!(miri) { 10 } else { 1000 };
    let mut host = F::host::<Tick>(1024);
    let id = host.attach(Tallier::new("").unwrap()).unwrap();
    let sent = flood::<F>(&mut host, 2, REPLACEMENTS, 20, seq, |host, round| {
        let replaced = host
            .replace_with(id, Replacement::new(Tallier::new("").unwrap()))
            .unwrap_or_else(|e| panic!("{}: replacement {round}: {e}", F::NAME));
        assert_eq!(
            replaced.state,
            Handover::Taken { version: 1 },
            "{}: replacement {round}",
            F::NAME
        );
    });
    let total: u64 = sent.iter().sum();
    let t = tally::<F>(&mut host, id);
    assert_eq!(
        (t.counted, t.skipped, t.out_of_order, t.handovers),
        (total, 0, 0, u64::from(REPLACEMENTS)),
        "{}: (counted, skipped, out of order, handovers) of {sent:?}",
        F::NAME
    );
    let reports = host.shutdown();
    let s = report(&reports, id).stats;
    assert_eq!(
        (s.received, s.handled, s.replaced, s.panicked),
        (total + 1, total + 1, u64::from(REPLACEMENTS), 0),
        "{}: (received, handled, replaced, panicked); the question counts too",
        F::NAME
    );
}

/// N panics within the period are restarted; the (N+1)th gives up, and the
/// report says so. N+1 panics spread over more than the period do not.
pub fn restart_intensity<F: Family>() {
    quiet_induced_panics();
    let clock = ManualClock::default();
    let mut host = F::host::<Tick>(64);
    let log = Arc::new(Log::default());
    let options = |clock: &ManualClock| {
        AttachOptions::new()
            .restart(Restart::OnPanic)
            .intensity(Intensity::new(3, Duration::from_millis(1000)))
            .clock(clock.clone())
    };
    let (a, b) = (log.clone(), log.clone());
    let burst = host
        .attach_supervised(move || Logged(a.clone()), options(&clock))
        .unwrap();
    let spread_clock = ManualClock::default();
    let spread = host
        .attach_supervised(move || Logged(b.clone()), options(&spread_clock))
        .unwrap();
    for n in 0..4 {
        spread_clock.set(n * 600);
        host.send(poison(0, n)).unwrap();
        wait_until::<F, _>(&mut host, "a poison dead-lettered", |h| {
            h.stats(spread).is_some_and(|s| s.dead_lettered == n + 1)
        });
    }
    // The burst plugin took 4 poisons at time 0: the fourth gave up.
    wait_until::<F, _>(&mut host, "the burst plugin to give up", |h| {
        h.stats(burst).is_none()
    });
    host.send(seq(0, 4)).unwrap();
    let reports = host.shutdown();
    let r = report(&reports, burst);
    assert_eq!(r.exit, Exit::GaveUp, "{}: {r:?}", F::NAME);
    assert_eq!(
        (r.stats.restarts, r.stats.dead_lettered, r.stats.panicked),
        (3, 4, 4),
        "{}: (restarts, dead_lettered, panicked)",
        F::NAME
    );
    assert_eq!(
        r.events.last(),
        Some(&Event::GaveUp {
            failures: 4,
            period: Duration::from_millis(1000)
        }),
        "{}",
        F::NAME
    );
    assert_eq!(r.panic.as_deref(), Some("poison 0/3"), "{}", F::NAME);
    let r = report(&reports, spread);
    assert_eq!(r.exit, Exit::Shutdown, "{}: {r:?}", F::NAME);
    assert_eq!(
        (r.stats.restarts, r.stats.dead_lettered, r.stats.handled),
        (4, 4, 1),
        "{}: (restarts, dead_lettered, handled)",
        F::NAME
    );
}

/// A lane in backoff keeps its place and lets the others and the sender go
/// on; when its time comes it restarts and handles what waited, in order.
/// A detach ends a backoff at once; so does the shutdown, which drains.
pub fn restart_backoff<F: Family>() {
    quiet_induced_panics();
    let clock = ManualClock::default();
    let mut host = F::host::<Tick>(64);
    let options = AttachOptions::new()
        .restart(Restart::OnPanic)
        .backoff(Backoff::fixed(Duration::from_millis(1000)))
        .clock(clock.clone());
    // The third has a clock of its own that never gets there: the
    // shutdown ends its backoff.
    let stopped = ManualClock::default();
    let logs: Vec<Arc<Log>> = (0..3).map(|_| Arc::new(Log::default())).collect();
    let ids: Vec<PluginId> = logs
        .iter()
        .enumerate()
        .map(|(i, log)| {
            let log = log.clone();
            let options = match i {
                2 => options.clone().clock(stopped.clone()),
                _ => options.clone(),
            };
            host.attach_supervised(move || Logged(log.clone()), options)
                .unwrap()
        })
        .collect();
    let (waits, detached, drained) = (ids[0], ids[1], ids[2]);
    let (other, other_count) = super::Counter::new();
    let other = host.attach(other).unwrap();
    host.send(poison(0, 0)).unwrap();
    for n in 1..=5 {
        host.send(seq(0, n)).unwrap();
    }
    wait_until::<F, _>(&mut host, "the other plugin and the poisons", |h| {
        other_count.load(Ordering::SeqCst) == 6
            && ids
                .iter()
                .all(|&id| h.stats(id).is_some_and(|s| s.dead_lettered == 1))
    });
    // Waiting: nothing of what came after the poison was handled.
    for &id in &ids {
        let s = host.stats(id).unwrap();
        assert_eq!((s.handled, s.restarts), (0, 0), "{}: in backoff", F::NAME);
    }
    assert!(host.detach(detached), "{}", F::NAME);
    wait_until::<F, _>(&mut host, "the detached plugin to leave", |h| {
        h.stats(detached).is_none()
    });
    clock.set(1000);
    // The time has come; a message wakes the lanes that sleep through it.
    host.send(seq(0, 6)).unwrap();
    wait_until::<F, _>(&mut host, "the restart after the backoff", |h| {
        h.stats(waits).is_some_and(|s| s.handled == 6)
    });
    let reports = host.shutdown();
    for &id in &[waits, drained] {
        let log = &logs[ids.iter().position(|&i| i == id).unwrap()];
        assert_eq!(
            per_sender_of(log, 1),
            [vec![1, 2, 3, 4, 5, 6]],
            "{}: handled after the backoff",
            F::NAME
        );
        let r = report(&reports, id);
        assert_eq!(
            (r.exit, r.stats.restarts),
            (Exit::Shutdown, 1),
            "{}",
            F::NAME
        );
    }
    let r = report(&reports, detached);
    assert_eq!(
        (r.exit, r.stats.restarts, r.stats.handled),
        (Exit::Removed, 0, 0),
        "{}",
        F::NAME
    );
    assert_eq!(report(&reports, other).stats.handled, 7, "{}", F::NAME);
}

/// The poison goes to the dead-letter outbox with its panic text; under
/// `Restart::Always` a failure status restarts and success leaves; a
/// factory that fails counts against the intensity until the lane gives up.
pub fn restart_policies<F: Family>() {
    quiet_induced_panics();
    let mut host = F::host::<Tick>(64);
    let (letters, dead) = outbox::<DeadLetter<Tick>>(8);
    let log = Arc::new(Log::default());
    let shared = log.clone();
    let lettered = host
        .attach_supervised(
            move || Logged(shared.clone()),
            supervised(5).dead_letters(letters),
        )
        .unwrap();

    /// Detaches with a failure at 3 and with success at 7.
    struct Quits;
    impl Plugin<Tick> for Quits {
        fn handle_message(&mut self, message: &Message<Tick>) -> Flow {
            match message.number() {
                Some((_, 3)) => Flow::Detach(Status::FAILURE),
                Some((_, 7)) => Flow::Detach(Status::SUCCESS),
                _ => Flow::Continue,
            }
        }
    }
    let always = AttachOptions::new().restart(Restart::Always);
    let quits = host.attach_supervised(|| Quits, always).unwrap();
    let transient = host
        .attach_supervised(|| Quits, AttachOptions::new().restart(Restart::OnPanic))
        .unwrap();

    /// Builds one instance, then fails or builds one that panics in
    /// `on_attach`, by turns.
    struct Flaky(u32);
    impl plugbus_core::lifecycle::Factory<Tick> for Flaky {
        type Plugin = Box<dyn Plugin<Tick>>;
        type Error = String;
        fn make(&mut self) -> Result<Box<dyn Plugin<Tick>>, String> {
            self.0 += 1;
            struct AttachPanics;
            impl Plugin<Tick> for AttachPanics {
                fn handle_message(&mut self, _: &Message<Tick>) -> Flow {
                    Flow::Continue
                }
                fn on_attach(&mut self, _: PluginId) {
                    panic!("induced panic in on_attach");
                }
            }
            match self.0 {
                1 => Ok(Box::new(Logged(Arc::new(Log::default())))),
                n if n % 2 == 0 => Err(format!("build {n} failed")),
                _ => Ok(Box::new(AttachPanics)),
            }
        }
    }
    let flaky = host.attach_supervised(Flaky(0), supervised(3)).unwrap();

    host.send(seq(0, 0)).unwrap();
    host.send(poison(0, 1)).unwrap();
    for n in 2..10 {
        host.send(seq(0, n)).unwrap();
    }
    let reports = host.shutdown();

    let letter = dead.try_recv().expect("a dead letter");
    assert_eq!(
        (
            letter.plugin,
            letter.message.number(),
            letter.panic.as_str()
        ),
        (lettered, Some((0, 1)), "poison 0/1"),
        "{}",
        F::NAME
    );
    assert!(dead.try_recv().is_none(), "{}: one letter only", F::NAME);
    assert_eq!(
        per_sender_of(&log, 1),
        [vec![0, 2, 3, 4, 5, 6, 7, 8, 9]],
        "{}",
        F::NAME
    );

    let r = report(&reports, quits);
    assert_eq!(
        (
            r.exit,
            r.stats.handled,
            r.stats.restarts,
            r.stats.dead_lettered
        ),
        (Exit::Detached(Status::SUCCESS), 8, 1, 0),
        "{}: Always restarts after a failure status only",
        F::NAME
    );
    assert_eq!(r.events, [Event::Restarted { panic: None }], "{}", F::NAME);
    let r = report(&reports, transient);
    assert_eq!(
        (r.exit, r.stats.handled, r.stats.restarts),
        (Exit::Detached(Status::FAILURE), 4, 0),
        "{}: OnPanic does not restart after a failure status",
        F::NAME
    );

    let r = report(&reports, flaky);
    assert_eq!(
        (r.exit, r.stats.restarts, r.stats.dead_lettered),
        (Exit::GaveUp, 0, 1),
        "{}: {r:?}",
        F::NAME
    );
    let failed: Vec<&Event> = r
        .events
        .iter()
        .filter(|e| matches!(e, Event::RestartFailed { .. }))
        .collect();
    assert_eq!(
        failed,
        [
            &Event::RestartFailed {
                reason: "build 2 failed".into()
            },
            &Event::RestartFailed {
                reason: "induced panic in on_attach".into()
            },
            &Event::RestartFailed {
                reason: "build 4 failed".into()
            },
        ],
        "{}",
        F::NAME
    );
    assert!(
        matches!(r.events.last(), Some(Event::GaveUp { failures: 4, .. })),
        "{}: {:?}",
        F::NAME,
        r.events
    );
}

/// The state goes from each instance to the next; a state of an unknown
/// version is refused, reported, and the new instance starts fresh; a new
/// instance that panics as it starts is dropped and the old one runs on;
/// a plugin that is gone cannot be replaced.
pub fn replace_state<F: Family>() {
    let mut host = F::host::<Tick>(64);
    let id = host.attach(Tallier::new("").unwrap()).unwrap();
    for n in 0..10 {
        host.send(seq(0, n)).unwrap();
    }
    let replaced = host
        .replace_with(
            id,
            Replacement::new(Tallier::new("state-version=7").unwrap()),
        )
        .unwrap();
    assert_eq!(
        replaced.state,
        Handover::Taken { version: 1 },
        "{}",
        F::NAME
    );
    assert_eq!(replaced.id, id, "{}", F::NAME);
    for n in 10..15 {
        host.send(seq(0, n)).unwrap();
    }

    /// Panics in `on_attach` or `import_state`.
    struct Broken(bool);
    impl Plugin<Tick> for Broken {
        fn handle_message(&mut self, _: &Message<Tick>) -> Flow {
            Flow::Continue
        }
        fn on_attach(&mut self, _: PluginId) {
            assert!(!self.0, "induced panic in on_attach");
        }
        fn import_state(&mut self, _: &plugbus_core::lifecycle::State) -> Result<(), StateError> {
            assert!(self.0, "induced panic in import_state");
            Ok(())
        }
    }
    for in_attach in [true, false] {
        let refused = host.replace_with(id, Replacement::new(Broken(in_attach)));
        let panic = if in_attach {
            "on_attach"
        } else {
            "import_state"
        };
        assert_eq!(
            refused,
            Err(ReplaceError::Panicked {
                id,
                panic: format!("induced panic in {panic}")
            }),
            "{}",
            F::NAME
        );
    }
    // The tally that exported version 7 still runs, with all 15.
    assert_eq!(tally::<F>(&mut host, id).counted, 15, "{}", F::NAME);
    let replaced = host
        .replace_with(id, Replacement::new(Tallier::new("").unwrap()))
        .unwrap();
    assert_eq!(
        replaced.state,
        Handover::Refused(StateError::UnknownVersion { version: 7 }),
        "{}",
        F::NAME
    );
    for n in 15..18 {
        host.send(seq(0, n)).unwrap();
    }
    let t = tally::<F>(&mut host, id);
    assert_eq!(
        (t.counted, t.handovers),
        (3, 0),
        "{}: the new instance started fresh",
        F::NAME
    );

    let (gone, _) = super::Counter::new();
    let gone = host.attach(gone).unwrap();
    assert!(host.detach(gone), "{}", F::NAME);
    wait_until::<F, _>(&mut host, "the detached plugin to leave", |h| {
        h.stats(gone).is_none()
    });
    assert_eq!(
        host.replace_with(gone, Replacement::new(Tallier::new("").unwrap())),
        Err(ReplaceError::NotAttached(gone)),
        "{}",
        F::NAME
    );

    let reports = host.shutdown();
    let r = report(&reports, id);
    assert_eq!(
        (r.exit, r.stats.replaced, r.stats.panicked),
        (Exit::Shutdown, 2, 0),
        "{}",
        F::NAME
    );
    assert!(
        r.events
            .contains(&Event::StateRefused(StateError::UnknownVersion {
                version: 7
            })),
        "{}: {:?}",
        F::NAME,
        r.events
    );
}

/// A replacement that panics within its first K messages is rolled back:
/// the old instance goes on from the next message with its own state; the
/// poison is dead-lettered. One that panics later is not.
pub fn replace_rollback<F: Family>() {
    quiet_induced_panics();
    let mut host = F::host::<Tick>(64);
    let id = host.attach(Tallier::new("").unwrap()).unwrap();
    for n in 0..10 {
        host.send(seq(0, n)).unwrap();
    }
    // The window counts from the swap: messages still queued then go to
    // the new instance too.
    wait_until::<F, _>(&mut host, "the first 10", |h| {
        h.stats(id).is_some_and(|s| s.received == 10)
    });
    host.replace_with(id, Replacement::new(Tallier::new("").unwrap()).rollback(5))
        .unwrap();
    host.send(seq(0, 10)).unwrap();
    host.send(seq(0, 11)).unwrap();
    host.send(poison(0, 12)).unwrap();
    for n in 13..20 {
        host.send(seq(0, n)).unwrap();
    }
    let t = tally::<F>(&mut host, id);
    // The old instance never saw 10 and 11 (its replacement handled them)
    // nor 12 (dead-lettered).
    assert_eq!(
        (t.counted, t.skipped, t.handovers),
        (17, 3, 0),
        "{}: the old instance is back",
        F::NAME
    );
    // Past the window, a panic is a panic: this plugin is not supervised.
    wait_until::<F, _>(&mut host, "the question", |h| {
        h.stats(id).is_some_and(|s| s.received == 21)
    });
    host.replace_with(id, Replacement::new(Tallier::new("").unwrap()).rollback(2))
        .unwrap();
    for n in 20..23 {
        host.send(seq(0, n)).unwrap();
    }
    host.send(poison(0, 23)).unwrap();
    let reports = host.shutdown();
    let r = report(&reports, id);
    assert_eq!(
        (
            r.exit,
            r.stats.replaced,
            r.stats.rolled_back,
            r.stats.dead_lettered,
            r.stats.panicked
        ),
        (Exit::Panicked, 2, 1, 1, 2),
        "{}: {r:?}",
        F::NAME
    );
    assert!(
        r.events.contains(&Event::RolledBack {
            panic: "tally: poison 0/12".into()
        }),
        "{}: {:?}",
        F::NAME,
        r.events
    );
}

/// The library of a tally build (1 or 2).
fn tally_library(build: u32) -> std::path::PathBuf {
    crate::dylib::library(if build == 1 {
        "plugbus_tally"
    } else {
        "plugbus_tally_v2"
    })
}

/// The replacement a host's reload swaps in: the build at `path`, loaded
/// and checked (and its instance built) before anything is touched.
fn reloaded(
    path: &std::path::Path,
    options: &plugbus_host_std::ReloadOptions,
) -> Result<Replacement<Tick>, plugbus_host_std::LoadError> {
    // SAFETY: the tally builds are this workspace's own plugins.
    unsafe { plugbus_host_std::replacement::<Tick>(path, options) }
}

fn load_tally(build: u32, config: &str) -> plugbus_host_std::DynamicPlugin<Tick> {
    // SAFETY: as above.
    unsafe { plugbus_host_std::load::<Tick>(tally_library(build), config) }
        .expect("a tally build loads")
}

/// 100 reloads from two alternating builds of a dynamic plugin while two
/// senders flood: the count handed across every reload (out of one
/// library, into the other) covers every message once and in order.
pub fn reload_under_flood<F: Family>() {
    const RELOADS: u32 = 100;
    let mut host = F::host::<Tick>(1024);
    let id = host.attach(load_tally(1, "")).unwrap();
    let options = plugbus_host_std::ReloadOptions::new();
    let sent = flood::<F>(&mut host, 2, RELOADS, 100, seq, |host, round| {
        let build = if round % 2 == 0 { 2 } else { 1 };
        let replacement = reloaded(&tally_library(build), &options)
            .unwrap_or_else(|e| panic!("{}: reload {round}: {e}", F::NAME));
        let replaced = host
            .replace_with(id, replacement)
            .unwrap_or_else(|e| panic!("{}: reload {round}: {e}", F::NAME));
        assert_eq!(
            replaced.state,
            Handover::Taken { version: 1 },
            "{}: reload {round}",
            F::NAME
        );
    });
    let total: u64 = sent.iter().sum();
    let t = tally::<F>(&mut host, id);
    assert_eq!(
        (t.build, t.counted, t.skipped, t.out_of_order, t.handovers),
        (1, total, 0, 0, u64::from(RELOADS)),
        "{}: (build, counted, skipped, out of order, handovers) of {sent:?}",
        F::NAME
    );
    let reports = host.shutdown();
    let s = report(&reports, id).stats;
    assert_eq!(
        (s.received, s.handled, s.replaced),
        (total + 1, total + 1, u64::from(RELOADS)),
        "{}",
        F::NAME
    );
}

/// A reload refused (another compiler, another message type, a
/// constructor that fails or panics) leaves the old instance running with
/// exact counts; a build's state of an unknown version is refused; a
/// reloaded build that panics within its window is rolled back to the old
/// build; restarts of a reloaded plugin build from the new library.
pub fn reload_refused_and_rolled_back<F: Family>() {
    use crate::dylib::{Patch, library_file_name, patched_bytes, scratch_dir};
    use plugbus_host_std::{LoadError, ReloadOptions};

    quiet_induced_panics();
    let mut host = F::host::<Tick>(64);
    let id = host
        .attach_supervised(|| load_tally(1, ""), supervised(5))
        .unwrap();
    for n in 0..10 {
        host.send(seq(0, n)).unwrap();
    }
    let dir = scratch_dir(&format!(
        "reload-{}",
        F::NAME.replace([' ', '(', ')', ','], "")
    ));
    let other_rustc = dir.join(library_file_name("plugbus_tally_v2"));
    std::fs::write(
        &other_rustc,
        patched_bytes("plugbus_tally_v2", Patch::Rustc("rustc 0.0.1 (elsewhere)")),
    )
    .unwrap();
    let none = ReloadOptions::new();
    let refusals = [
        (reloaded(&other_rustc, &none).err(), "rustc"),
        (
            reloaded(&crate::dylib::library("plugbus_wrong_message"), &none).err(),
            "message type",
        ),
        (
            reloaded(&tally_library(2), &ReloadOptions::new().config("fail")).err(),
            "constructor error",
        ),
        (
            reloaded(&tally_library(2), &ReloadOptions::new().config("panic")).err(),
            "constructor panic",
        ),
    ];
    for (error, what) in &refusals {
        let matched = matches!(
            (error, *what),
            (Some(LoadError::RustcVersion { .. }), "rustc")
                | (Some(LoadError::MessageType { .. }), "message type")
                | (
                    Some(LoadError::ConstructorFailed { .. }),
                    "constructor error"
                )
                | (
                    Some(LoadError::ConstructorPanicked { .. }),
                    "constructor panic"
                )
        );
        assert!(matched, "{}: {what}: {error:?}", F::NAME);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let t = tally::<F>(&mut host, id);
    assert_eq!(
        (t.build, t.counted, t.handovers),
        (1, 10, 0),
        "{}: the old instance runs on",
        F::NAME
    );

    // Build 2 takes the count, and exports a version build 1 does not know.
    let replaced = host
        .replace_with(
            id,
            reloaded(
                &tally_library(2),
                &ReloadOptions::new().config("state-version=9"),
            )
            .unwrap(),
        )
        .unwrap();
    assert_eq!(
        replaced.state,
        Handover::Taken { version: 1 },
        "{}",
        F::NAME
    );
    host.send(seq(0, 10)).unwrap();
    wait_until::<F, _>(&mut host, "message 10", |h| {
        h.stats(id).is_some_and(|s| s.received == 12)
    });
    let replaced = host
        .replace_with(
            id,
            reloaded(&tally_library(1), &ReloadOptions::new().rollback(3)).unwrap(),
        )
        .unwrap();
    assert_eq!(
        replaced.state,
        Handover::Refused(StateError::UnknownVersion { version: 9 }),
        "{}",
        F::NAME
    );
    // Build 1 started fresh; it panics on its second message: build 2
    // comes back with its count (11).
    host.send(seq(0, 11)).unwrap();
    host.send(poison(0, 12)).unwrap();
    host.send(seq(0, 13)).unwrap();
    let t = tally::<F>(&mut host, id);
    assert_eq!(
        (t.build, t.counted, t.skipped, t.handovers),
        (2, 12, 2, 1),
        "{}: build 2 is back (it never saw 11 nor 12)",
        F::NAME
    );
    // A panic past the window restarts the plugin from its factory: build
    // 2's library again (the rollback put its factory back too).
    for n in 14..20 {
        host.send(seq(0, n)).unwrap();
    }
    host.send(poison(0, 20)).unwrap();
    let t = tally::<F>(&mut host, id);
    assert_eq!(
        (t.build, t.counted),
        (2, 0),
        "{}: restarted fresh from build 2's library",
        F::NAME
    );
    let reports = host.shutdown();
    let r = report(&reports, id);
    assert_eq!(
        (
            r.exit,
            r.stats.replaced,
            r.stats.rolled_back,
            r.stats.restarts,
            r.stats.dead_lettered
        ),
        (Exit::Shutdown, 2, 1, 1, 2),
        "{}: {r:?}",
        F::NAME
    );
}
