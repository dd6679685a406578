//! Deliveries per second with 16 plugins that each sum a `u64` payload, on
//! both async hosts in the same run: host-smol (sender on the main thread
//! or as a task on the host's executor) and host-tokio (multi-thread
//! runtime with the sender in `block_on` or as a task, and the
//! current-thread runtime), each with one `send` per message and with
//! `send_batch` of 64, against a crossbeam `bounded(1024)` channel per
//! plugin thread.
//!
//! `cargo run --release -p plugbus-tests --example async_throughput [messages] [threads]`
//! (`threads`: of the smol executor and of the multi-thread runtime,
//! default 2; each figure is the median of three runs of `messages`,
//! default 1,000,000).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use plugbus_core::{Exit, Flow, Message, Plugin, Report};
use plugbus_tests::async_hosts::AsyncTestHost;

const PLUGINS: usize = 16;

/// Sums every payload; at detach, adds its sum to the run's total.
struct Sum {
    sum: u64,
    total: Arc<AtomicU64>,
}

impl Plugin<u64> for Sum {
    fn handle_message(&mut self, message: &Message<u64>) -> Flow {
        self.sum += **message;
        Flow::Continue
    }

    fn on_detach(&mut self, _: Exit) {
        self.total.fetch_add(self.sum, Ordering::Relaxed);
    }
}

fn expected(messages: u64) -> u64 {
    messages * (messages - 1) / 2 * PLUGINS as u64
}

/// Which host, and where its sending loop runs.
#[derive(Clone, Copy)]
enum Setup {
    /// host-smol, sender on the main thread (`block_on`), beside the
    /// executor's threads.
    SmolOutside,
    /// host-smol, sender as a task on the host's executor, sharing its
    /// threads with the lanes.
    SmolTask,
    /// host-tokio on the multi-thread runtime, sender in `Runtime::block_on`
    /// on the main thread, beside the workers.
    TokioBlockOn,
    /// host-tokio on the multi-thread runtime, sender spawned on the workers.
    TokioTask,
    /// host-tokio on the current-thread runtime: sender and lanes share the
    /// main thread.
    TokioCurrentThread,
}

impl Setup {
    const ALL: [(Setup, &'static str); 5] = [
        (Setup::SmolOutside, "smol host, sender on main thread"),
        (Setup::SmolTask, "smol host, sender task"),
        (
            Setup::TokioBlockOn,
            "tokio host, multi-thread, sender in block_on",
        ),
        (Setup::TokioTask, "tokio host, multi-thread, sender task"),
        (Setup::TokioCurrentThread, "tokio host, current-thread"),
    ];
}

/// Attaches the summing plugins; returns the total they add up to.
fn attach_all(host: &impl AsyncTestHost<u64>) -> Arc<AtomicU64> {
    let total = Arc::new(AtomicU64::new(0));
    for _ in 0..PLUGINS {
        let sum = Sum {
            sum: 0,
            total: total.clone(),
        };
        host.attach(sum).expect("attach");
    }
    total
}

/// Sends `messages` to the plugins, one `send` each or in batches.
async fn send_all(host: &impl AsyncTestHost<u64>, messages: u64, batch: Option<u64>) {
    match batch {
        None => {
            for n in 0..messages {
                host.send(n).await.expect("send");
            }
        }
        Some(size) => {
            let mut n = 0;
            while n < messages {
                let end = (n + size).min(messages);
                host.send_batch(n..end).await.expect("send");
                n = end;
            }
        }
    }
}

/// One timed run: attach, send everything, shut down (draining); checks
/// that every plugin saw every message.
fn host_run(setup: Setup, messages: u64, threads: usize, batch: Option<u64>) -> Duration {
    let (elapsed, reports, total) = match setup {
        Setup::SmolOutside | Setup::SmolTask => smol_run(setup, messages, threads, batch),
        _ => tokio_run(setup, messages, threads, batch),
    };
    assert_eq!(reports.len(), PLUGINS);
    assert!(reports.iter().all(|r| r.stats.handled == messages));
    assert_eq!(total.load(Ordering::Relaxed), expected(messages));
    elapsed
}

fn smol_run(
    setup: Setup,
    messages: u64,
    threads: usize,
    batch: Option<u64>,
) -> (Duration, Vec<Report>, Arc<AtomicU64>) {
    let host = plugbus_host_smol::Builder::new()
        .threads(threads)
        .build()
        .expect("start the executor");
    let host = Arc::new(host);
    let total = attach_all(&*host);
    let start = Instant::now();
    let run = {
        let host = host.clone();
        async move { send_all(&*host, messages, batch).await }
    };
    match setup {
        Setup::SmolTask => {
            let executor = host
                .runtime()
                .executor()
                .expect("the host owns its executor");
            futures_lite::future::block_on(executor.spawn(run));
        }
        _ => futures_lite::future::block_on(run),
    }
    let host = Arc::into_inner(host).expect("the sending loop has ended");
    let reports = host.shutdown_blocking();
    (start.elapsed(), reports, total)
}

fn tokio_run(
    setup: Setup,
    messages: u64,
    workers: usize,
    batch: Option<u64>,
) -> (Duration, Vec<Report>, Arc<AtomicU64>) {
    let runtime = match setup {
        Setup::TokioCurrentThread => tokio::runtime::Builder::new_current_thread().build(),
        _ => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .build(),
    }
    .expect("start the runtime");
    let host = plugbus_host_tokio::Host::on(runtime.handle().clone());
    let total = attach_all(&host);
    let start = Instant::now();
    let run = async move {
        send_all(&host, messages, batch).await;
        host.shutdown().await
    };
    let reports = match setup {
        Setup::TokioTask => runtime.block_on(runtime.spawn(run)).expect("sender task"),
        _ => runtime.block_on(run),
    };
    (start.elapsed(), reports, total)
}

fn crossbeam_run(messages: u64) -> Duration {
    let mut senders = Vec::new();
    let mut threads = Vec::new();
    for _ in 0..PLUGINS {
        let (tx, rx) = crossbeam_channel::bounded::<Arc<u64>>(1024);
        senders.push(tx);
        threads.push(std::thread::spawn(move || {
            let mut sum = 0;
            for value in rx {
                sum += *value;
            }
            sum
        }));
    }
    let start = Instant::now();
    for n in 0..messages {
        let value = Arc::new(n);
        for tx in &senders {
            tx.send(value.clone()).expect("send");
        }
    }
    drop(senders);
    let total: u64 = threads.into_iter().map(|t| t.join().expect("join")).sum();
    let elapsed = start.elapsed();
    assert_eq!(total, expected(messages));
    elapsed
}

/// The round trip of one cache line between two threads, in ns: the median
/// of 101 rounds of 1000 ping-pongs. Cross-thread throughput on this kind of
/// machine moves with it, so it is printed beside the figures.
fn cross_core_ns() -> f64 {
    let line = Arc::new(AtomicU64::new(0));
    let other = line.clone();
    const ROUNDS: usize = 101;
    const TRIPS: u64 = 1000;
    let echo = std::thread::spawn(move || {
        for n in 0..ROUNDS as u64 * TRIPS {
            while other.load(Ordering::Acquire) != 2 * n + 1 {
                std::hint::spin_loop();
            }
            other.store(2 * n + 2, Ordering::Release);
        }
    });
    let mut rounds = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS as u64 {
        let start = Instant::now();
        for trip in 0..TRIPS {
            let n = round * TRIPS + trip;
            line.store(2 * n + 1, Ordering::Release);
            while line.load(Ordering::Acquire) != 2 * n + 2 {
                std::hint::spin_loop();
            }
        }
        rounds.push(start.elapsed().as_nanos() as f64 / TRIPS as f64);
    }
    echo.join().expect("join");
    rounds.sort_by(f64::total_cmp);
    rounds[ROUNDS / 2]
}

/// The median of three runs, in M deliveries/s.
fn median_rate(messages: u64, mut run: impl FnMut() -> Duration) -> f64 {
    let mut rates: Vec<f64> = (0..3).map(|_| rate(messages, run())).collect();
    rates.sort_by(f64::total_cmp);
    rates[1]
}

fn rate(messages: u64, elapsed: Duration) -> f64 {
    (messages * PLUGINS as u64) as f64 / elapsed.as_secs_f64() / 1e6
}

fn main() {
    let mut args = std::env::args().skip(1);
    let messages: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let threads: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    println!(
        "{PLUGINS} plugins, {messages} messages, {threads} executor threads or workers, cross-core round trip {:.0} ns",
        cross_core_ns()
    );
    let crossbeam = median_rate(messages / 4, || crossbeam_run(messages / 4));
    println!("median of 3 runs each");
    println!("crossbeam bounded(1024) per plugin thread: {crossbeam:6.1} M deliveries/s");
    for (setup, place) in Setup::ALL {
        for (batch, how) in [(None, "send per message"), (Some(64), "send_batch of 64")] {
            let rate = median_rate(messages, || host_run(setup, messages, threads, batch));
            println!(
                "{place:44}, {how}: {rate:6.1} M deliveries/s ({:.1}x crossbeam)",
                rate / crossbeam
            );
        }
    }
}
