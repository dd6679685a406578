//! The events of a lane, field by field, on every std-based host; and the
//! loader's.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

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
