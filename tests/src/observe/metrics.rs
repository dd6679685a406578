//! Each plugin's counters through the `metrics` facade (feature
//! `metrics`), seen by `metrics-util`'s debugging recorder.

use std::collections::BTreeMap;

use metrics::{SharedString, Unit};
use metrics_util::CompositeKey;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use plugbus_core::{AttachOptions, Overflow, PluginId, Report};
use plugbus_host_std::metrics as names;

use super::scenarios::restart_replace_roll_back_give_up;
use crate::conformance::scenarios::{report, wait_until};
use crate::conformance::{Family, Gate, Recorder, TestHost};

/// Every counter of every plugin, labelled with its name and id, equal to
/// its report once the host has shut down.
pub fn exports_counters_with_labels<F: Family>() {
    // Under a subscriber like every scenario here (see `super`'s docs).
    let (_, subscriber) = super::Capture::new();
    tracing::subscriber::with_default(subscriber, exports_counters::<F>);
}

fn exports_counters<F: Family>() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let mut host = F::host::<u64>(64);
    let gate = Gate::new(F::CONCURRENT);
    let (even, _) = Recorder::new("metered-even");
    let (lossy, _) = Recorder::new("metered-lossy");
    let (panicky, _) = Recorder::new("metered-panicky");
    let ids = metrics::with_local_recorder(&recorder, || {
        [
            host.attach(even.filter(|n| n % 2 == 0)).unwrap(),
            host.attach_with(
                Box::new(lossy.gate(gate.clone())),
                AttachOptions::new()
                    .capacity(4)
                    .overflow(Overflow::DropNewest),
            )
            .unwrap(),
            host.attach(panicky.panic_on(3)).unwrap(),
        ]
    });
    host.send(0).unwrap();
    wait_until::<F, _>(&mut host, "the lossy plugin to take message 0", |_| {
        gate.entered() == 1
    });
    for i in 1..=10 {
        host.send(i).unwrap();
    }
    gate.open();
    let reports = host.shutdown();

    let series = series::<F>(snapshotter.snapshot().into_vec());
    assert_eq!(series.len(), 3, "{}: series {series:?}", F::NAME);
    // received, handled, filtered, dropped, rejected, panicked.
    let expected = [
        ("metered-even", [11, 6, 5, 0, 0, 0]),
        ("metered-lossy", [5, 5, 0, 6, 0, 0]),
        ("metered-panicky", [3, 2, 0, 0, 0, 1]),
    ];
    for (id, (name, counts)) in ids.into_iter().zip(expected) {
        let report = report(&reports, id);
        let got = &series[&(name.to_owned(), id.get().to_string())];
        assert_eq!(got, &values(report), "{}: {name}", F::NAME);
        let s = report.stats;
        assert_eq!(
            [
                s.received, s.handled, s.filtered, s.dropped, s.rejected, s.panicked
            ],
            counts,
            "{}: {name}",
            F::NAME
        );
    }
    let _: PluginId = report(&reports, ids[0]).id;
}

/// A supervised plugin's restarts, dead letters, replacement and rollback
/// (see [`restart_replace_roll_back_give_up`]), equal to its report.
pub fn exports_lifecycle_counters<F: Family>() {
    crate::conformance::lifecycle::quiet_induced_panics();
    let (_, subscriber) = super::Capture::new();
    tracing::subscriber::with_default(subscriber, || {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let mut host = F::host::<u64>(16);
        let id = metrics::with_local_recorder(&recorder, || {
            restart_replace_roll_back_give_up::<F>(&mut host, "metered-life")
        });
        let reports = host.shutdown();
        let series = series::<F>(snapshotter.snapshot().into_vec());
        let report = report(&reports, id);
        let got = &series[&("metered-life".to_owned(), id.get().to_string())];
        assert_eq!(got, &values(report), "{}", F::NAME);
        let s = report.stats;
        assert_eq!(
            [s.restarts, s.dead_lettered, s.replaced, s.rolled_back],
            [1, 3, 1, 1],
            "{}: {report:?}",
            F::NAME
        );
    });
}

/// The series of a snapshot, by plugin (name, id) and metric name; every
/// series has exactly the two labels, and each metric is there once.
type Snapshot = (CompositeKey, Option<Unit>, Option<SharedString>, DebugValue);

fn series<F: Family>(
    snapshot: Vec<Snapshot>,
) -> BTreeMap<(String, String), BTreeMap<String, DebugValue>> {
    let mut series: BTreeMap<(String, String), BTreeMap<String, DebugValue>> = BTreeMap::new();
    for (key, _, _, value) in snapshot {
        let key = key.key();
        let labels: Vec<(&str, &str)> = key.labels().map(|l| (l.key(), l.value())).collect();
        let [(names::PLUGIN, plugin), (names::ID, id)] = labels[..] else {
            panic!("{}: {} has labels {labels:?}", F::NAME, key.name());
        };
        let previous = series
            .entry((plugin.to_owned(), id.to_owned()))
            .or_default()
            .insert(key.name().to_owned(), value);
        assert!(previous.is_none(), "{}: {} twice", F::NAME, key.name());
    }
    series
}

/// What a report's counters should be as metrics.
fn values(report: &Report) -> BTreeMap<String, DebugValue> {
    let s = report.stats;
    let counter = |name: &str, v: u64| (name.to_owned(), DebugValue::Counter(v));
    BTreeMap::from([
        counter(names::RECEIVED, s.received),
        counter(names::HANDLED, s.handled),
        counter(names::FILTERED, s.filtered),
        counter(names::DROPPED, s.dropped),
        counter(names::REJECTED, s.rejected),
        counter(names::PANICKED, s.panicked),
        counter(names::RESTARTS, s.restarts),
        counter(names::DEAD_LETTERED, s.dead_lettered),
        counter(names::REPLACED, s.replaced),
        counter(names::ROLLED_BACK, s.rolled_back),
        (
            names::LAG_MAX.to_owned(),
            DebugValue::Gauge((s.lag_max as f64).into()),
        ),
    ])
}
