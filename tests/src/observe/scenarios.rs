//! The events of a lane, field by field, on every std-based host; and the
//! loader's.

use std::path::Path;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use plugbus_core::lifecycle::{Intensity, Replacement, Restart};
use plugbus_core::{AttachOptions, Overflow, Plugin, PluginId, Report};
use tracing::Level;

use super::{Capture, Event};
use crate::conformance::scenarios::{report, wait_until};
use crate::conformance::{Family, Gate, Recorder, TestHost};

fn attached(name: &str, id: PluginId, overflow: &str, capacity: &str) -> Event {
    let id = id.get().to_string();
    Event::new(
        Level::INFO,
        "plugin attached",
        &[
            ("plugin", name),
            ("id", &id),
            ("overflow", overflow),
            ("capacity", capacity),
        ],
    )
}

fn left(report: &Report, exit: &str) -> Event {
    let s = report.stats;
    let n = |v: u64| v.to_string();
    Event::new(
        Level::INFO,
        "plugin left",
        &[
            ("plugin", &report.name),
            ("id", &n(report.id.get())),
            ("exit", exit),
            ("received", &n(s.received)),
            ("handled", &n(s.handled)),
            ("filtered", &n(s.filtered)),
            ("dropped", &n(s.dropped)),
            ("rejected", &n(s.rejected)),
            ("lag_max", &n(s.lag_max)),
            ("restarts", &n(s.restarts)),
            ("replaced", &n(s.replaced)),
        ],
    )
}

/// Attach and exit are told with the plugin's name and id; a panic with
/// its message and the counts, at level ERROR.
pub fn logs_attach_exit_and_panic<F: Family>() {
    let (capture, subscriber) = Capture::new();
    let (reports, bad, good) = tracing::subscriber::with_default(subscriber, || {
        let mut host = F::host::<u64>(16);
        let (bad, _) = Recorder::new("observe-panicky");
        let (good, _) = Recorder::new("observe-calm");
        let bad = host.attach(bad.panic_on(2)).unwrap();
        let good = host.attach(good).unwrap();
        for i in 0..3 {
            host.send(i).unwrap();
        }
        (host.shutdown(), bad, good)
    });
    let id = bad.get().to_string();
    assert_eq!(
        capture.of_plugin("observe-panicky"),
        [
            attached("observe-panicky", bad, "Block", "16"),
            Event::new(
                Level::ERROR,
                "plugin panicked and left",
                &[
                    ("plugin", "observe-panicky"),
                    ("id", &id),
                    ("panic", "observe-panicky panics on message 2"),
                    ("received", "2"),
                    ("handled", "1"),
                    ("dropped", "0"),
                ],
            ),
        ],
        "{}",
        F::NAME
    );
    let calm = report(&reports, good);
    assert_eq!(calm.stats.handled, 3, "{}", F::NAME);
    assert_eq!(
        capture.of_plugin("observe-calm"),
        [
            attached("observe-calm", good, "Block", "16"),
            left(calm, "shut down"),
        ],
        "{}",
        F::NAME
    );
}

/// A lossy lane's first drops are told once, with how many there were
/// when the lane looked (after the batch during which they happened); the
/// exit tells the total.
pub fn logs_lossy_drops<F: Family>() {
    let (capture, subscriber) = Capture::new();
    let (reports, id) = tracing::subscriber::with_default(subscriber, || {
        let mut host = F::host::<u64>(64);
        let gate = Gate::new(F::CONCURRENT);
        let (plugin, _) = Recorder::new("observe-lossy");
        let options = AttachOptions::new()
            .capacity(4)
            .overflow(Overflow::DropNewest);
        let id = host
            .attach_with(Box::new(plugin.gate(gate.clone())), options)
            .unwrap();
        host.send(0).unwrap();
        wait_until::<F, _>(&mut host, "the lossy plugin to take message 0", |_| {
            gate.entered() == 1
        });
        // 1 to 4 fill its queue; 5 to 10 are dropped.
        for i in 1..=10 {
            host.send(i).unwrap();
        }
        gate.open();
        (host.shutdown(), id)
    });
    let lossy = report(&reports, id);
    assert_eq!(
        (lossy.stats.received, lossy.stats.dropped),
        (5, 6),
        "{}",
        F::NAME
    );
    let id_text = id.get().to_string();
    assert_eq!(
        capture.of_plugin("observe-lossy"),
        [
            attached("observe-lossy", id, "DropNewest", "4"),
            Event::new(
                Level::WARN,
                "plugin is dropping messages: its queue is full",
                &[
                    ("plugin", "observe-lossy"),
                    ("id", &id_text),
                    ("dropped", "6")
                ],
            ),
            left(lossy, "shut down"),
        ],
        "{}",
        F::NAME
    );
}

/// A supervised plugin whose instances each panic on their second message:
/// it restarts once, refuses a replacement that panics in `on_attach`, is
/// replaced by an instance that panics at once (and is rolled back), then gives up on its next panic (its intensity allows
/// one restart an hour). Returns its id and the reports.
pub(crate) fn restart_replace_roll_back_give_up<F: Family>(
    host: &mut F::Host<u64>,
    name: &'static str,
) -> PluginId {
    let options = AttachOptions::new()
        .restart(Restart::OnPanic)
        .intensity(Intensity::new(1, Duration::from_secs(3600)));
    let id = host
        .attach_supervised(move || Recorder::new(name).0.panic_on(2), options)
        .unwrap();
    host.send(0).unwrap();
    host.send(1).unwrap();
    wait_until::<F, _>(host, "the supervised plugin to restart", |h| {
        h.stats(id)
            .is_some_and(|s| (s.received, s.restarts) == (2, 1))
    });
    // A replacement that panics as it starts is refused; the restarted
    // instance runs on.
    let refused = Replacement::new(Recorder::new(name).0.panic_in_attach());
    assert!(
        host.replace_with(id, refused).is_err(),
        "{}: a replacement that panics in on_attach",
        F::NAME
    );
    let replacement = Replacement::new(Recorder::new(name).0.panic_on(1)).rollback(3);
    host.replace_with(id, replacement).unwrap();
    // The replacement panics on 2 and the restarted instance is put back;
    // it takes 3 and panics on 4.
    for i in 2..=4 {
        host.send(i).unwrap();
    }
    id
}

/// Restart, replacement, rollback and giving up are told as the lane
/// records them, with the plugin's name and id and what happened; the exit
/// tells the counts. The lane runs under the subscriber around `attach`.
pub fn logs_restart_replace_and_give_up<F: Family>() {
    let (capture, subscriber) = Capture::new();
    tracing::subscriber::with_default(subscriber, || {
        logs_lifecycle::<F>(&capture, "observe-life");
    });
}

/// [`logs_restart_replace_and_give_up`] with the events going to `capture`
/// (installed by the caller: scoped around this call, or as the global
/// subscriber), for a plugin called `name`.
pub fn logs_lifecycle<F: Family>(capture: &Capture, name: &'static str) {
    crate::conformance::lifecycle::quiet_induced_panics();
    let mut host = F::host::<u64>(16);
    let id = restart_replace_roll_back_give_up::<F>(&mut host, name);
    let reports = host.shutdown();
    let life = report(&reports, id);
    let s = life.stats;
    assert_eq!(
        (
            s.received,
            s.handled,
            s.panicked,
            s.restarts,
            s.replaced,
            s.rolled_back
        ),
        (5, 2, 3, 1, 1, 1),
        "{}: {life:?}",
        F::NAME
    );
    let id_text = id.get().to_string();
    let told = |level, message, event: &str| {
        Event::new(
            level,
            message,
            &[("plugin", name), ("id", &id_text), ("event", event)],
        )
    };
    assert_eq!(
        capture.of_plugin(name),
        [
            attached(name, id, "Block", "16"),
            told(
                Level::WARN,
                "plugin restarted",
                &format!("restarted after a panic: {name} panics on message 2")
            ),
            Event::new(
                Level::WARN,
                "plugin replacement panicked as it started; the old instance runs on",
                &[
                    ("plugin", name),
                    ("id", &id_text),
                    ("panic", &format!("{name} panics in on_attach")),
                ],
            ),
            told(Level::INFO, "plugin replaced", "replaced"),
            told(
                Level::WARN,
                "plugin rolled back",
                &format!("rolled back after the new instance panicked: {name} panics on message 1")
            ),
            told(
                Level::ERROR,
                "plugin gave up",
                "gave up after 2 failures within 3600s"
            ),
            left(life, "gave up restarting"),
        ],
        "{}",
        F::NAME
    );
}

/// A reload is told as a load of the new build (or its refusal, with the
/// reason) and then as the lane's replacement.
pub fn logs_reload<F: Family>() {
    use plugbus_commands::Tick;
    use plugbus_host_std::{ReloadOptions, replacement};

    let v1 = crate::dylib::library("plugbus_tally");
    let v2 = crate::dylib::library("plugbus_tally_v2");
    // What the second build says of itself, read under a subscriber of its
    // own (see the module's docs).
    let (_, other) = Capture::new();
    let (name, version) = tracing::subscriber::with_default(other, || {
        // SAFETY: the tally builds are this workspace's own plugins.
        let plugin = unsafe { plugbus_host_std::load::<Tick>(&v2, "") }.expect("tally v2 loads");
        let version = plugin.descriptor().plugin_version().to_owned();
        (plugin.name().to_owned(), version)
    });
    let (capture, subscriber) = Capture::new();
    let (reports, id, v1_version, reason) = tracing::subscriber::with_default(subscriber, || {
        let mut host = F::host::<Tick>(16);
        // SAFETY: as above.
        let plugin = unsafe { plugbus_host_std::load::<Tick>(&v1, "") }.expect("tally v1 loads");
        let v1_version = plugin.descriptor().plugin_version().to_owned();
        let id = host.attach(plugin).unwrap();
        // SAFETY: as above.
        let failed = unsafe { replacement::<Tick>(&v2, &ReloadOptions::new().config("fail")) };
        let Err(refusal) = failed else {
            panic!("{}: tally v2 with `fail` was built", F::NAME);
        };
        // SAFETY: as above.
        let new = unsafe { replacement::<Tick>(&v2, &ReloadOptions::new()) }.expect("v2 loads");
        host.replace_with(id, new).unwrap();
        let reason = refusal.reason().to_string();
        (host.shutdown(), id, v1_version, reason)
    });
    let reloaded = report(&reports, id);
    assert_eq!(reloaded.stats.replaced, 1, "{}", F::NAME);
    let (v1_path, v2_path) = (v1.display().to_string(), v2.display().to_string());
    let id_text = id.get().to_string();
    let loaded = |path: &str, version: &str| {
        Event::new(
            Level::INFO,
            "plugin loaded",
            &[("path", path), ("plugin", &name), ("version", version)],
        )
    };
    assert_eq!(
        capture.events(),
        [
            loaded(&v1_path, &v1_version),
            attached(&name, id, "Block", "16"),
            Event::new(
                Level::WARN,
                "plugin refused",
                &[("path", &v2_path), ("reason", &reason)],
            ),
            loaded(&v2_path, &version),
            Event::new(
                Level::INFO,
                "plugin replaced",
                &[("plugin", &name), ("id", &id_text), ("event", "replaced")],
            ),
            left(reloaded, "shut down"),
        ],
        "{}",
        F::NAME
    );
}

/// What the plugin's own code sees as its thread's default subscriber
/// (its `Debug` text, which says global or scoped) while its lane runs: the
/// scoped subscriber around `attach` if there was one, else the global
/// one.
pub fn lane_runs_under<F: Family>() -> String {
    struct Where(Arc<Mutex<Vec<String>>>);
    impl Plugin<u64> for Where {
        fn handle_message(&mut self, _: &plugbus_core::Message<u64>) -> plugbus_core::Flow {
            let seen = tracing::dispatcher::get_default(|d| format!("{d:?}"));
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(seen);
            plugbus_core::Flow::Continue
        }
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut host = F::host::<u64>(16);
    host.attach(Where(seen.clone())).unwrap();
    host.send(0).unwrap();
    host.shutdown();
    let seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
    let [one] = &seen[..] else {
        panic!("{}: one message, seen {seen:?}", F::NAME);
    };
    one.clone()
}

/// A lane attached under a scoped subscriber runs under it, on whatever
/// thread or task: the plugin's own events go where the host's do.
pub fn plugin_events_follow_the_attaching_subscriber<F: Family>() {
    let (_, subscriber) = Capture::new();
    let seen = tracing::subscriber::with_default(subscriber, lane_runs_under::<F>);
    assert!(seen.starts_with("Dispatch::Scoped("), "{}: {seen}", F::NAME);
}

/// The loader tells a refusal with the path and the reason, and a load
/// with the plugin's name and version.
pub fn logs_load_and_refusal(text_file: &Path, plugin_library: &Path) {
    let (capture, subscriber) = Capture::new();
    let (refusal, plugin) = tracing::subscriber::with_default(subscriber, || {
        // SAFETY: a text file is refused before anything of it is mapped;
        // the library is a plugin of this workspace.
        unsafe {
            (
                plugbus_host_std::load::<plugbus_commands::Command>(text_file, ""),
                plugbus_host_std::load::<plugbus_commands::Command>(plugin_library, ""),
            )
        }
    });
    let Err(refusal) = refusal else {
        panic!("{} was loaded as a plugin", text_file.display());
    };
    let plugin = plugin.expect("the example plugin loads");
    let reason = refusal.reason().to_string();
    assert!(
        reason.contains("not a shared library"),
        "unexpected reason: {reason}"
    );
    let text_path = text_file.display().to_string();
    let library_path = plugin_library.display().to_string();
    assert_eq!(
        capture.events(),
        [
            Event::new(
                Level::WARN,
                "plugin refused",
                &[("path", &text_path), ("reason", &reason)],
            ),
            Event::new(
                Level::INFO,
                "plugin loaded",
                &[
                    ("path", &library_path),
                    ("plugin", plugin.name()),
                    ("version", plugin.descriptor().plugin_version()),
                ],
            ),
        ]
    );
}
