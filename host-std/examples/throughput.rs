//! A quick local throughput check of the std host against crossbeam fan-out,
//! in the same run (issue 5, workload W1, by hand; the full benchmark lives
//! in `tests/`).
//!
//! Each of P plugins adds the `u64` payload of every message into a local
//! sum; the figure is deliveries (messages × plugins) per second, the median
//! of three runs, with the sums checked so a lost message fails the run.
//! The baseline is one `crossbeam_channel::bounded(1024)` per plugin thread,
//! fed an `Arc<u64>` clone per plugin.
//!
//! ```text
//! cargo run --release -p plugbus-host-std --example throughput            # P = 16, 64
//! cargo run --release -p plugbus-host-std --example throughput -- 4 16    # other P
//! cargo run --release -p plugbus-host-std --example throughput -- --tuning 16
//! ```
//! `--latency` measures round trips instead (issue 5, W2: send one message,
//! wait until every plugin handled it; p50 and p99 of 20,000).
//! `--no-baseline` skips crossbeam, `--no-default` the default host (for
//! profiling one variant alone).
//! Built with `--features metrics`, it installs a recorder first (one
//! atomic per series, as exporters keep them), so every plugin's counters
//! are exported while it runs: the cost of the `metrics` feature is this
//! build's figure against a default build's, run after run.
//! `--tuning` adds host variants (batch size, idle spinning, yielding after
//! a batch, batched sends) to compare within one run; `--variant=spins=0,yields=8`
//! adds one of your own (keys: spins, yields, batch, yab, ring, send).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use plugbus_host_std::{Builder, Flow, Host, Message, Plugin};

/// Deliveries per run: about a second for the slower implementations.
const DELIVERIES: u64 = 24_000_000;
const RUNS: usize = 3;

struct Sum {
    sum: u64,
    total: Arc<AtomicU64>,
}

impl Plugin<u64> for Sum {
    fn handle_message(&mut self, n: &Message<u64>) -> Flow {
        self.sum = self.sum.wrapping_add(**n);
        Flow::Continue
    }

    fn name(&self) -> &str {
        "sum"
    }

    fn on_detach(&mut self, _: plugbus_host_std::Exit) {
        self.total.fetch_add(self.sum, Ordering::Relaxed);
    }
}

/// Sum of 0..n, what every plugin must have seen.
fn expected(n: u64) -> u64 {
    n * (n - 1) / 2
}

fn crossbeam(plugins: usize, n: u64) -> Duration {
    let mut senders = Vec::new();
    let mut threads = Vec::new();
    for _ in 0..plugins {
        let (tx, rx) = crossbeam_channel::bounded::<Arc<u64>>(1024);
        senders.push(tx);
        threads.push(thread::spawn(move || {
            let mut sum = 0u64;
            let mut count = 0u64;
            for m in rx {
                sum = sum.wrapping_add(*m);
                count += 1;
            }
            (sum, count)
        }));
    }
    let start = Instant::now();
    for i in 0..n {
        let m = Arc::new(i);
        for tx in &senders {
            tx.send(m.clone()).expect("receiver alive");
        }
    }
    drop(senders);
    for t in threads {
        let (sum, count) = t.join().expect("crossbeam plugin thread");
        assert_eq!((sum, count), (expected(n), n), "crossbeam lost a message");
    }
    start.elapsed()
}

#[derive(Clone, Copy)]
enum Send {
    One,
    Batch(usize),
}

fn host(plugins: usize, n: u64, builder: &Builder<u64>, send: Send) -> Duration {
    let host: Host<u64> = builder.clone().build();
    let total = Arc::new(AtomicU64::new(0));
    for _ in 0..plugins {
        host.attach(Sum {
            sum: 0,
            total: total.clone(),
        })
        .expect("attach");
    }
    let start = Instant::now();
    match send {
        Send::One => {
            for i in 0..n {
                host.send(i).expect("send");
            }
        }
        Send::Batch(size) => {
            let mut i = 0;
            while i < n {
                let end = (i + size as u64).min(n);
                host.send_batch(i..end).expect("send_batch");
                i = end;
            }
        }
    }
    let reports = host.shutdown();
    let elapsed = start.elapsed();
    assert_eq!(reports.len(), plugins);
    for r in &reports {
        assert_eq!(r.stats.handled, n, "plugbus lost a message");
    }
    assert_eq!(
        total.load(Ordering::Relaxed),
        expected(n).wrapping_mul(plugins as u64)
    );
    elapsed
}

/// Median round trip of one cache line between two threads, in ns.
fn xcore_ns() -> u64 {
    let line = Arc::new(AtomicU64::new(0));
    let other = line.clone();
    const ROUNDS: u64 = 20_000;
    let echo = thread::spawn(move || {
        for i in 0..ROUNDS * 5 {
            while other.load(Ordering::Acquire) != 2 * i + 1 {
                std::hint::spin_loop();
            }
            other.store(2 * i + 2, Ordering::Release);
        }
    });
    let mut samples = Vec::new();
    for batch in 0..5 {
        let start = Instant::now();
        for i in batch * ROUNDS..(batch + 1) * ROUNDS {
            line.store(2 * i + 1, Ordering::Release);
            while line.load(Ordering::Acquire) != 2 * i + 2 {
                std::hint::spin_loop();
            }
        }
        samples.push(start.elapsed().as_nanos() as u64 / ROUNDS);
    }
    echo.join().expect("echo thread");
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// CPU time this process has used so far (all threads, also finished
/// ones), from `/proc/self/stat` in clock ticks of 10 ms; `None` elsewhere.
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses: utime is the
    // 12th and stime the 13th of them.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace().skip(11);
    let ticks: u64 = fields.next()?.parse::<u64>().ok()? + fields.next()?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// One implementation's runs: deliveries per second of wall time, and CPU
/// time per delivery (which other load on the machine disturbs less).
#[derive(Default)]
struct Runs {
    rates: Vec<f64>,
    cpu_ns: Vec<f64>,
}

impl Runs {
    fn record(&mut self, deliveries: u64, run: impl FnOnce() -> Duration) {
        let cpu = process_cpu();
        let wall = run();
        self.rates
            .push(deliveries as f64 / wall.as_secs_f64() / 1e6);
        if let (Some(before), Some(after)) = (cpu, process_cpu()) {
            self.cpu_ns
                .push((after - before).as_nanos() as f64 / deliveries as f64);
        }
    }

    fn median(values: &[f64]) -> f64 {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
    }
}

/// A host variant from `key=value,...`: `spins`, `yields`, `batch`,
/// `yab` (yield after batch, 0 or 1), `ring`, `send` (batch size, 1 = `send`).
fn variant(spec: &str) -> (String, Builder<u64>, Send) {
    let mut builder = Host::<u64>::builder();
    let (mut spins, mut yields) = (None, None);
    let mut send = Send::One;
    for pair in spec.split(',') {
        let (key, value) = pair.split_once('=').expect("key=value");
        let value: usize = value.parse().expect("a number");
        match key {
            "spins" => spins = Some(value as u32),
            "yields" => yields = Some(value as u32),
            "batch" => builder = builder.batch(value),
            "yab" => builder = builder.yield_after_batch(value != 0),
            "ring" => builder = builder.capacity(value),
            "send" if value > 1 => send = Send::Batch(value),
            "send" => send = Send::One,
            _ => panic!("unknown key {key}"),
        }
    }
    if spins.is_some() || yields.is_some() {
        builder = builder.idle_checks(spins.unwrap_or(64), yields.unwrap_or(4));
    }
    (spec.to_string(), builder, send)
}

/// Counts handled messages into a shared counter, for latency rounds.
struct Tally(Arc<AtomicU64>);

impl Plugin<u64> for Tally {
    fn handle_message(&mut self, _: &Message<u64>) -> Flow {
        self.0.fetch_add(1, Ordering::Release);
        Flow::Continue
    }
}

/// Round trips: send one message, wait until all `plugins` handled it.
const ROUND_TRIPS: u64 = 20_000;

/// Waits until `counter` reaches `target`, then returns the time since `start`.
fn wait_for(counter: &AtomicU64, target: u64, start: Instant) -> Duration {
    while counter.load(Ordering::Acquire) < target {
        std::hint::spin_loop();
    }
    start.elapsed()
}

fn crossbeam_latency(plugins: usize) -> Vec<Duration> {
    let counter = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    let mut threads = Vec::new();
    for _ in 0..plugins {
        let (tx, rx) = crossbeam_channel::bounded::<Arc<u64>>(1024);
        senders.push(tx);
        let counter = counter.clone();
        threads.push(thread::spawn(move || {
            for _ in rx {
                counter.fetch_add(1, Ordering::Release);
            }
        }));
    }
    let samples = (1..=ROUND_TRIPS)
        .map(|i| {
            let start = Instant::now();
            let m = Arc::new(i);
            for tx in &senders {
                tx.send(m.clone()).expect("receiver alive");
            }
            wait_for(&counter, i * plugins as u64, start)
        })
        .collect();
    drop(senders);
    for t in threads {
        t.join().expect("crossbeam plugin thread");
    }
    samples
}

fn host_latency(plugins: usize, builder: &Builder<u64>) -> Vec<Duration> {
    let counter = Arc::new(AtomicU64::new(0));
    let host: Host<u64> = builder.clone().build();
    for _ in 0..plugins {
        host.attach(Tally(counter.clone())).expect("attach");
    }
    let samples = (1..=ROUND_TRIPS)
        .map(|i| {
            let start = Instant::now();
            host.send(i).expect("send");
            wait_for(&counter, i * plugins as u64, start)
        })
        .collect();
    assert!(
        host.shutdown()
            .iter()
            .all(|r| r.stats.handled == ROUND_TRIPS)
    );
    samples
}

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.99))
}

/// A recorder that keeps each series in an atomic, as exporters do, and
/// counts how often a lane exported its counters.
#[cfg(feature = "metrics")]
mod recorder {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use metrics::{
        Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, SharedString, Unit,
    };

    /// One series: its value, and how many times it was set.
    #[derive(Debug, Default)]
    struct Series {
        value: AtomicU64,
        sets: AtomicU64,
    }

    impl CounterFn for Series {
        fn increment(&self, value: u64) {
            self.value.fetch_add(value, Ordering::Relaxed);
        }
        fn absolute(&self, value: u64) {
            self.value.fetch_max(value, Ordering::Relaxed);
            self.sets.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every `received` series.
    #[derive(Debug, Default)]
    pub(crate) struct Atomics {
        received: Mutex<Vec<Arc<Series>>>,
    }

    impl Atomics {
        /// How many times the lanes exported, and the messages they took.
        pub(crate) fn exports(&self) -> (u64, u64) {
            let received = self.received.lock().unwrap();
            let sets = received
                .iter()
                .map(|s| s.sets.load(Ordering::Relaxed))
                .sum();
            let taken = received
                .iter()
                .map(|s| s.value.load(Ordering::Relaxed))
                .sum();
            (sets, taken)
        }
    }

    impl metrics::Recorder for Atomics {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            let series = Arc::new(Series::default());
            if key.name() == plugbus_host_std::metrics::RECEIVED {
                self.received.lock().unwrap().push(series.clone());
            }
            Counter::from_arc(series)
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::from_arc(Arc::new(AtomicU64::new(0)))
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    /// What one export costs a lane: six counters and a gauge set through
    /// the facade's handles, timed in a loop on one thread, in ns.
    pub(crate) fn export_ns() -> f64 {
        let counters: Vec<Counter> = (0..6)
            .map(|_| Counter::from_arc(Arc::new(Series::default())))
            .collect();
        let gauge = Gauge::from_arc(Arc::new(AtomicU64::new(0)));
        const ROUNDS: u64 = 2_000_000;
        let start = Instant::now();
        for i in 0..ROUNDS {
            for counter in &counters {
                counter.absolute(std::hint::black_box(i));
            }
            gauge.set(std::hint::black_box(i) as f64);
        }
        start.elapsed().as_nanos() as f64 / ROUNDS as f64
    }
}

#[cfg(feature = "metrics")]
static RECORDER: std::sync::OnceLock<&'static recorder::Atomics> = std::sync::OnceLock::new();

fn main() {
    #[cfg(feature = "metrics")]
    {
        let atomics: &'static recorder::Atomics = Box::leak(Box::default());
        RECORDER.set(atomics).expect("set once");
        metrics::set_global_recorder(atomics).expect("the first recorder");
        println!("metrics: every plugin's counters exported to a recorder of atomics");
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tuning = args.iter().any(|a| a == "--tuning");
    let baseline = !args.iter().any(|a| a == "--no-baseline");
    let mut counts: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    if counts.is_empty() {
        counts = vec![16, 64];
    }
    println!("xcore_ns={} (cache-line round trip, median)", xcore_ns());
    let mut variants: Vec<(String, Builder<u64>, Send)> = Vec::new();
    if !args.iter().any(|a| a == "--no-default") {
        variants.push(("plugbus-std".into(), Host::<u64>::builder(), Send::One));
    }
    if tuning {
        let b = Host::<u64>::builder;
        variants.extend([
            (
                "no-yield-after-batch".into(),
                b().yield_after_batch(false),
                Send::One,
            ),
            ("batch-256".into(), b().batch(256), Send::One),
            ("spins-0/yields-0".into(), b().idle_checks(0, 0), Send::One),
            (
                "spins-1000/yields-4".into(),
                b().idle_checks(1000, 4),
                Send::One,
            ),
            (
                "spins-64/yields-64".into(),
                b().idle_checks(64, 64),
                Send::One,
            ),
            ("ring-4096".into(), b().capacity(4096), Send::One),
            ("send_batch-64".into(), b(), Send::Batch(64)),
        ]);
    }
    for spec in args.iter().filter_map(|a| a.strip_prefix("--variant=")) {
        variants.push(variant(spec));
    }
    if args.iter().any(|a| a == "--latency") {
        for &plugins in &counts {
            let (p50, p99) = percentiles(crossbeam_latency(plugins));
            println!(
                "latency plugins={plugins:<3} crossbeam-bounded-1024     p50={p50:7.1} us  p99={p99:7.1} us"
            );
            for (name, builder, _) in &variants {
                let (p50, p99) = percentiles(host_latency(plugins, builder));
                println!(
                    "latency plugins={plugins:<3} {name:<26} p50={p50:7.1} us  p99={p99:7.1} us"
                );
            }
        }
        return;
    }
    for &plugins in &counts {
        let n = DELIVERIES / plugins as u64;
        let deliveries = n * plugins as u64;
        let mut base = Runs::default();
        let mut hosts: Vec<Runs> = variants.iter().map(|_| Runs::default()).collect();
        // Rounds interleave the implementations, so drift in the machine
        // (see DESIGN.md: the cross-core latency switches every few
        // minutes) touches all of them alike.
        for _ in 0..RUNS {
            if baseline {
                base.record(deliveries, || crossbeam(plugins, n));
            }
            for ((_, builder, send), runs) in variants.iter().zip(&mut hosts) {
                runs.record(deliveries, || host(plugins, n, builder, *send));
            }
        }
        let base_rate = Runs::median(&base.rates);
        let line = |name: &str, runs: &Runs| {
            let rate = Runs::median(&runs.rates);
            println!(
                "plugins={plugins:<3} {name:<26} {rate:7.1} M deliveries/s  ratio_to_crossbeam={:5.2}  cpu_ns_per_delivery={:6.2}",
                rate / base_rate,
                Runs::median(&runs.cpu_ns),
            );
        };
        if baseline {
            line("crossbeam-bounded-1024", &base);
        }
        for ((name, _, _), runs) in variants.iter().zip(&hosts) {
            line(name, runs);
        }
    }
    #[cfg(feature = "metrics")]
    if let Some(atomics) = RECORDER.get() {
        let (exports, taken) = atomics.exports();
        let ns = recorder::export_ns();
        // Per message a lane took: its share of one export.
        let per_message = ns * exports as f64 / taken.max(1) as f64;
        println!(
            "metrics: {exports} exports for {taken} messages taken (one per {:.0}); one export {ns:.1} ns, {per_message:.3} ns per message",
            taken as f64 / exports.max(1) as f64
        );
    }
}
