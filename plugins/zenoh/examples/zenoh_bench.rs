//! plugbus → zenoh → plugbus against raw zenoh, two processes on loopback.
//!
//! ```sh
//! cargo run --release -p plugbus-zenoh --example zenoh_bench              # 5 runs of 1,000,000
//! cargo run --release -p plugbus-zenoh --example zenoh_bench -- --runs 3 --messages 200000 --round-trips 2000
//! ```
//!
//! Throughput: a child process sends N numbered 8-byte messages under
//! `CongestionControl::Block`; this process receives and times from the
//! first arrival to the N-th, and checks every one arrived once, in order.
//! - `raw`: a zenoh put loop of `u64::to_le_bytes`; a callback subscriber
//!   that hands samples through a bounded queue to a thread that decodes
//!   and counts (the shape of a plugbus source, without plugbus).
//! - `plugbus`: a host-std host sending `Net::local(i)` in batches of 1,024
//!   to a `Publisher<u64>` plugin; a `Source` sending into a host-std host
//!   whose plugin counts.
//!
//! Raw and plugbus runs alternate, so both see the same machine; the
//! figures are min/median/max over the runs, and the ratio of medians.
//!
//! Round trip: one message at a time, ping → pong → ping, after 1,000
//! untimed: raw (a pong callback that puts back) and plugbus (host A
//! publishes, host B's plugin hands each arrival to an outbox, a thread
//! sends it into host B, host B publishes it back, host A's plugin stamps
//! it).
//!
//! Uses loopback TCP ports 17600 to 17603 and scouting off.

use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plugbus_core::{Flow, Message, Outbox, Plugin};
use plugbus_host_std::Host;
use plugbus_zenoh::{Config, Link, Net};
use zenoh::Wait;

const THROUGHPUT_PORT: u16 = 17_600;
const ROUND_TRIP_PORT: u16 = 17_602;
const LIMIT: Duration = Duration::from_secs(120);

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let option = |name: &str, default: u64| -> Result<u64> {
        match args.iter().position(|a| a == name) {
            Some(i) => Ok(args
                .get(i + 1)
                .ok_or(format!("{name} needs a value"))?
                .parse()?),
            None => Ok(default),
        }
    };
    let messages = option("--messages", 1_000_000)?;
    let runs = option("--runs", 5)?;
    let round_trips = option("--round-trips", 10_000)?;
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let role = args.get(i + 1).ok_or("--child needs a role")?;
        return child(role, messages);
    }

    println!("zenoh bench: {runs} runs of {messages} messages, {round_trips} round trips");
    println!("load before: {}", load_average());
    let mut raw = Vec::new();
    let mut plugbus = Vec::new();
    for run in 0..runs {
        for (mode, rates) in [("raw", &mut raw), ("plugbus", &mut plugbus)] {
            let rate = throughput(mode, messages)?;
            println!("bench zenoh-throughput mode={mode} run={run} msgs_per_s={rate:.0}");
            rates.push(rate);
        }
    }
    // Each run's plugbus rate against the raw rate measured just before it.
    let mut paired: Vec<f64> = plugbus.iter().zip(&raw).map(|(p, r)| p / r).collect();
    let (raw_min, raw_median, raw_max) = spread(&mut raw);
    let (pb_min, pb_median, pb_max) = spread(&mut plugbus);
    println!();
    println!("| throughput, M msg/s | min | median | max |");
    println!("|---|---|---|---|");
    println!(
        "| raw zenoh | {:.2} | {:.2} | {:.2} |",
        raw_min / 1e6,
        raw_median / 1e6,
        raw_max / 1e6
    );
    println!(
        "| plugbus → zenoh → plugbus | {:.2} | {:.2} | {:.2} |",
        pb_min / 1e6,
        pb_median / 1e6,
        pb_max / 1e6
    );
    println!();
    println!(
        "plugbus / raw, ratio of medians: {:.1}%",
        100.0 * pb_median / raw_median
    );
    let (pair_min, pair_median, pair_max) = spread(&mut paired);
    println!(
        "plugbus / raw, each run against the raw run before it: min {:.1}% median {:.1}% max {:.1}%",
        100.0 * pair_min,
        100.0 * pair_median,
        100.0 * pair_max
    );

    println!();
    println!("| round trip, µs | p50 | p99 |");
    println!("|---|---|---|");
    for mode in ["raw", "plugbus"] {
        let mut times = round_trip(mode, round_trips)?;
        times.sort_unstable();
        let p = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
        let (p50, p99) = (p(0.50), p(0.99));
        println!(
            "| {mode} | {:.1} | {:.1} |",
            p50.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6
        );
        println!(
            "bench zenoh-round-trip mode={mode} p50_us={:.1} p99_us={:.1}",
            p50.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6
        );
    }
    println!("load after: {}", load_average());
    Ok(())
}

fn spread(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (
        values[0],
        values[values.len() / 2],
        values[values.len() - 1],
    )
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(|_| "unknown".into(), |l| l.trim().into())
}

fn endpoint(port: u16) -> String {
    format!("tcp/127.0.0.1:{port}")
}

fn raw_config(listen: Option<u16>, connect: Option<u16>) -> Result<zenoh::Config> {
    let mut config = zenoh::Config::default();
    if let Some(port) = listen {
        config.insert_json5("listen/endpoints", &format!("[\"{}\"]", endpoint(port)))?;
    }
    if let Some(port) = connect {
        config.insert_json5("connect/endpoints", &format!("[\"{}\"]", endpoint(port)))?;
    }
    config.insert_json5("scouting/multicast/enabled", "false")?;
    config.insert_json5("scouting/delay", "0")?;
    Ok(config)
}

/// Starts this binary as the child `role`; returns it once it says ready.
fn spawn(role: &str, messages: u64) -> Result<std::process::Child> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--child", role, "--messages", &messages.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line)?;
    if line.trim() != "ready" {
        return Err(format!("child {role} said {line:?}").into());
    }
    Ok(child)
}

fn finish(mut child: std::process::Child) -> Result<()> {
    drop(child.stdin.take());
    let status = child.wait()?;
    if !status.success() {
        return Err(format!("child exited with {status}").into());
    }
    Ok(())
}

/// Shared by the receiving side: when the first and the last arrived, and
/// whether every value came in order.
#[derive(Default)]
struct Clock {
    first: Option<Instant>,
    last: Option<Instant>,
    count: u64,
    out_of_order: u64,
}

impl Clock {
    fn arrive(&mut self, value: u64, messages: u64) {
        if self.count == 0 {
            self.first = Some(Instant::now());
        }
        if value != self.count {
            self.out_of_order += 1;
        }
        self.count += 1;
        if self.count == messages {
            self.last = Some(Instant::now());
        }
    }
}

fn throughput(mode: &str, messages: u64) -> Result<f64> {
    let clock = Arc::new(Mutex::new(Clock::default()));
    let started = Instant::now();
    let wait_all = |clock: &Mutex<Clock>| -> Result<()> {
        while clock.lock().map_err(|_| "clock")?.last.is_none() {
            if started.elapsed() > LIMIT {
                return Err(format!("{mode}: not all {messages} arrived in {LIMIT:?}").into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    };
    match mode {
        "raw" => {
            let session = zenoh::open(raw_config(Some(THROUGHPUT_PORT), None)?).wait()?;
            let (queue, samples) = sync_channel::<zenoh::sample::Sample>(4096);
            let subscriber = session
                .declare_subscriber("bench/throughput")
                .callback(move |sample| {
                    let _ = queue.send(sample);
                })
                .wait()?;
            let counting = Arc::clone(&clock);
            let counter = std::thread::spawn(move || {
                while let Ok(sample) = samples.recv() {
                    let bytes = sample.payload().to_bytes();
                    let value = bytes
                        .as_ref()
                        .try_into()
                        .map_or(u64::MAX, u64::from_le_bytes);
                    if let Ok(mut clock) = counting.lock() {
                        clock.arrive(value, messages);
                    }
                }
            });
            let child = spawn("raw-send", messages)?;
            wait_all(&clock)?;
            finish(child)?;
            subscriber.undeclare().wait()?;
            let _ = counter.join();
            session.close().wait()?;
        }
        _ => {
            let link = Link::open(
                Config::new()
                    .subscribe("bench/throughput")
                    .listen(endpoint(THROUGHPUT_PORT)),
            )?;
            let host: Host<Net<u64>> = Host::new();
            host.attach(Count {
                clock: Arc::clone(&clock),
                messages,
            })?;
            let sender = host.sender();
            let source = link.source(move |batch| sender.send_batch(batch))?;
            let child = spawn("plugbus-send", messages)?;
            wait_all(&clock)?;
            finish(child)?;
            let stats = source.shutdown();
            if stats.gaps != 0 || stats.duplicates != 0 || stats.delivered != messages {
                return Err(format!("plugbus: source {stats:?}").into());
            }
            host.shutdown();
            link.close()?;
        }
    }
    let clock = clock.lock().map_err(|_| "clock")?;
    if clock.count != messages || clock.out_of_order != 0 {
        return Err(format!(
            "{mode}: {} arrived, {} out of order",
            clock.count, clock.out_of_order
        )
        .into());
    }
    let (Some(first), Some(last)) = (clock.first, clock.last) else {
        return Err("no arrivals".into());
    };
    Ok((messages - 1) as f64 / (last - first).as_secs_f64())
}

struct Count {
    clock: Arc<Mutex<Clock>>,
    messages: u64,
}

impl Plugin<Net<u64>> for Count {
    fn handle_message(&mut self, message: &Message<Net<u64>>) -> Flow {
        if let Ok(mut clock) = self.clock.lock() {
            clock.arrive(***message, self.messages);
        }
        Flow::Continue
    }
}

fn child(role: &str, messages: u64) -> Result<()> {
    let ready = || -> Result<()> {
        println!("ready");
        std::io::stdout().flush()?;
        Ok(())
    };
    let until_stdin_closes = || {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    };
    match role {
        "raw-send" => {
            let session = zenoh::open(raw_config(None, Some(THROUGHPUT_PORT))?).wait()?;
            let publisher = session
                .declare_publisher("bench/throughput")
                .congestion_control(zenoh::qos::CongestionControl::Block)
                .wait()?;
            wait_matching(&publisher)?;
            ready()?;
            for i in 0..messages {
                publisher.put(i.to_le_bytes()).wait()?;
            }
            until_stdin_closes();
            session.close().wait()?;
        }
        "plugbus-send" => {
            let link = Link::open(
                Config::new()
                    .key("bench/throughput")
                    .connect(endpoint(THROUGHPUT_PORT)),
            )?;
            let host: Host<Net<u64>> = Host::new();
            host.attach(link.publisher::<u64>()?)?;
            if !link.wait_for_subscribers(LIMIT)? {
                return Err("no subscriber".into());
            }
            ready()?;
            let mut next = 0;
            while next < messages {
                let end = (next + 1024).min(messages);
                host.send_batch((next..end).map(Net::local))?;
                next = end;
            }
            host.shutdown();
            until_stdin_closes();
            link.close()?;
        }
        "raw-pong" => {
            let session = zenoh::open(raw_config(None, Some(ROUND_TRIP_PORT))?).wait()?;
            let publisher = Arc::new(
                session
                    .declare_publisher("bench/pong")
                    .congestion_control(zenoh::qos::CongestionControl::Block)
                    .wait()?,
            );
            let back = Arc::clone(&publisher);
            let _subscriber = session
                .declare_subscriber("bench/ping")
                .callback(move |sample| {
                    let _ = back.put(sample.payload().clone()).wait();
                })
                .wait()?;
            wait_matching(&publisher)?;
            ready()?;
            until_stdin_closes();
            session.close().wait()?;
        }
        "plugbus-pong" => {
            let link = Link::open(
                Config::new()
                    .key("bench/pong")
                    .subscribe("bench/ping")
                    .connect(endpoint(ROUND_TRIP_PORT)),
            )?;
            let host: Host<Net<u64>> = Host::new();
            host.attach(link.publisher::<u64>()?)?;
            let (outbox, replies) = plugbus_core::outbox(1024);
            host.attach(Pong { outbox })?;
            let sender = host.sender();
            let forward = std::thread::spawn(move || {
                while let Some(value) = replies.recv_blocking() {
                    if sender.send(Net::local(*value)).is_err() {
                        break;
                    }
                }
            });
            let to_host = host.sender();
            let source = link.source(move |batch| to_host.send_batch(batch))?;
            if !link.wait_for_subscribers(LIMIT)? {
                return Err("no subscriber".into());
            }
            ready()?;
            until_stdin_closes();
            source.shutdown();
            host.shutdown();
            let _ = forward.join();
            link.close()?;
        }
        other => return Err(format!("unknown child role {other:?}").into()),
    }
    Ok(())
}

fn wait_matching(publisher: &zenoh::pubsub::Publisher<'_>) -> Result<()> {
    let started = Instant::now();
    while !publisher.matching_status().wait()?.matching() {
        if started.elapsed() > LIMIT {
            return Err("no subscriber".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Hands each value that came from the network to the outbox.
struct Pong {
    outbox: Outbox<u64>,
}

impl Plugin<Net<u64>> for Pong {
    fn handle_message(&mut self, message: &Message<Net<u64>>) -> Flow {
        if message.is_remote() {
            let _ = self.outbox.send(***message);
        }
        Flow::Continue
    }
}

/// Stamps each value that came back.
struct Stamp {
    arrived: SyncSender<u64>,
}

impl Plugin<Net<u64>> for Stamp {
    fn handle_message(&mut self, message: &Message<Net<u64>>) -> Flow {
        if message.is_remote() {
            let _ = self.arrived.send(***message);
        }
        Flow::Continue
    }
}

const WARM_UP: u64 = 1_000;

fn round_trip(mode: &str, rounds: u64) -> Result<Vec<Duration>> {
    let (arrived, arrivals) = sync_channel::<u64>(16);
    let mut times = Vec::with_capacity(rounds as usize);
    let mut measure = |send: &dyn Fn(u64) -> Result<()>| -> Result<()> {
        for i in 0..WARM_UP + rounds {
            let started = Instant::now();
            send(i)?;
            let back = arrivals.recv_timeout(Duration::from_secs(10))?;
            if back != i {
                return Err(format!("{mode}: sent {i}, got {back} back").into());
            }
            if i >= WARM_UP {
                times.push(started.elapsed());
            }
        }
        Ok(())
    };
    match mode {
        "raw" => {
            let session = zenoh::open(raw_config(Some(ROUND_TRIP_PORT), None)?).wait()?;
            let _subscriber = session
                .declare_subscriber("bench/pong")
                .callback(move |sample| {
                    let bytes = sample.payload().to_bytes();
                    let value = bytes
                        .as_ref()
                        .try_into()
                        .map_or(u64::MAX, u64::from_le_bytes);
                    let _ = arrived.send(value);
                })
                .wait()?;
            let publisher = session
                .declare_publisher("bench/ping")
                .congestion_control(zenoh::qos::CongestionControl::Block)
                .wait()?;
            let child = spawn("raw-pong", 0)?;
            wait_matching(&publisher)?;
            measure(&|i| publisher.put(i.to_le_bytes()).wait())?;
            finish(child)?;
            session.close().wait()?;
        }
        _ => {
            let link = Link::open(
                Config::new()
                    .key("bench/ping")
                    .subscribe("bench/pong")
                    .listen(endpoint(ROUND_TRIP_PORT)),
            )?;
            let host: Host<Net<u64>> = Host::new();
            host.attach(link.publisher::<u64>()?)?;
            host.attach(Stamp { arrived })?;
            let sender = host.sender();
            let source = link.source(move |batch| sender.send_batch(batch))?;
            let child = spawn("plugbus-pong", 0)?;
            if !link.wait_for_subscribers(LIMIT)? {
                return Err("no subscriber".into());
            }
            measure(&|i| Ok(host.send(Net::local(i)).map_err(|e| e.to_string())?))?;
            finish(child)?;
            source.shutdown();
            host.shutdown();
            link.close()?;
        }
    }
    Ok(times)
}
