//! What an isolated plugin costs (issue 14), against baselines measured in
//! the same run:
//! - round trip (send one message, wait until the plugin in its child
//!   process has handled it and acknowledged it), 8 B and 4 KiB payloads
//!   (a `Vec<u8>` as serde encodes it by default, element by element; the
//!   same with `serde_bytes`; and 4 KiB of plain data,
//!   `Isolated<Block, Plain>`, copied without encoding),
//!   p50 and p99, against a pipe to a child process that decodes the same
//!   frame, runs the same plugin and writes an 8-byte acknowledgement;
//! - throughput to one isolated plugin against the same plugin (the same
//!   library) loaded in process, on the thread host;
//! - crash detection: from `SIGKILL` of the child to the restarted child
//!   finishing its first message, with and without a standby child.
//!
//! The round trips and the crash timings use a `LocalHost` (the lane runs
//! on the caller's stack), so they time the proxy, the shared memory and
//! the child, not a host thread's wake-up. This program is its own runner
//! (`run_child` first thing in `main`, the default runner).
//!
//! `cargo run --release -p plugbus-tests --example isolated_bench [round-trips] [messages] [crashes]`
//! (defaults 20,000, 200,000 and 50; every figure is printed as min /
//! median / max of three runs).

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use plugbus_core::{LocalHost, Message, Plugin};
use plugbus_crash::{Crash, Task};
use plugbus_host_std::Host;
use plugbus_host_std::isolated::{
    Encoding, IsolateOptions, Isolated, IsolatedHandle, Plain, run_child, run_child_with,
};
use plugbus_host_std::loader::built_plugin;
use plugbus_plain::Block;
use plugbus_wire::{Header, Origin};

const RUNS: usize = 3;

fn main() {
    // A child for the plain-data round trip (`runner_arg("plain")`).
    if std::env::args().nth(1).as_deref() == Some("plain") {
        run_child_with::<Block, Plain>();
    }
    run_child::<Task>();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("pipe-child") {
        return pipe_child();
    }
    let arg =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (round_trips, messages, crashes) = (arg(0, 20_000), arg(1, 200_000), arg(2, 50));
    let library = built_plugin("plugbus_crash")
        .expect("build plugbus-crash first (cargo builds it for this example)");
    println!("load before: {}", load());
    let plain_library = built_plugin("plugbus_plain")
        .expect("build plugbus-plain first (cargo builds it for this example)");
    for size in [8usize, 4096] {
        let mut shm = Vec::new();
        let mut pipe = Vec::new();
        let mut plain = Vec::new();
        let mut blob = Vec::new();
        for _ in 0..RUNS {
            shm.push(round_trip_shm(&library, round_trips, |n| task(n, size)));
            pipe.push(round_trip_pipe(size, round_trips));
            if size == 4096 {
                plain.push(round_trip_plain(&plain_library, round_trips));
                blob.push(round_trip_shm(&library, round_trips, |n| {
                    Task::Blob(n, vec![7; size])
                }));
            }
        }
        if !blob.is_empty() {
            report_round_trips("4096 B, isolated, serde_bytes (postcard)", &blob, &pipe);
        }
        if !plain.is_empty() {
            report_round_trips("4096 B, isolated plain data (no encoding)", &plain, &pipe);
        }
        report(&format!("round trip {size} B, pipe baseline"), &pipe, "µs");
        report_round_trips(&format!("{size} B, isolated (shared memory)"), &shm, &pipe);
    }
    let mut isolated = Vec::new();
    let mut in_process = Vec::new();
    for _ in 0..RUNS {
        isolated.push(throughput_isolated(&library, messages));
        in_process.push(throughput_in_process(&library, messages));
    }
    report_one("throughput, isolated (M messages/s)", &isolated);
    report_one(
        "throughput, same plugin in process (M messages/s)",
        &in_process,
    );
    let ratio: Vec<f64> = isolated
        .iter()
        .zip(&in_process)
        .map(|(i, p)| i / p)
        .collect();
    report_one("throughput, isolated / in process", &ratio);
    for standby in [true, false] {
        let runs: Vec<(f64, f64)> = (0..RUNS)
            .map(|_| crash_to_first(&library, crashes, standby))
            .collect();
        report(
            &format!("crash to first message, standby {standby}"),
            &runs,
            "ms",
        );
    }
    println!("load after: {}", load());
}

/// Prints round trips `runs` and, per run, how many times faster they
/// were than the pipe's of the same run.
fn report_round_trips(what: &str, runs: &[(f64, f64)], pipe: &[(f64, f64)]) {
    report(&format!("round trip {what}"), runs, "µs");
    let ratio: Vec<(f64, f64)> = runs
        .iter()
        .zip(pipe)
        .map(|(s, p)| (p.0 / s.0, p.1 / s.1))
        .collect();
    report(&format!("round trip {what}: pipe / this"), &ratio, "x");
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// p50 and p99 of each run: min / median / max over the runs.
fn report(what: &str, runs: &[(f64, f64)], unit: &str) {
    let p50: Vec<f64> = runs.iter().map(|r| r.0).collect();
    let p99: Vec<f64> = runs.iter().map(|r| r.1).collect();
    println!(
        "{what}: p50 {} {unit}, p99 {} {unit} (min / median / max of {} runs)",
        spread(&p50),
        spread(&p99),
        runs.len()
    );
}

fn report_one(what: &str, runs: &[f64]) {
    println!(
        "{what}: {} (min / median / max of {} runs)",
        spread(runs),
        runs.len()
    );
}

fn spread(values: &[f64]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    format!(
        "{:.2} / {:.2} / {:.2}",
        sorted[0],
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1]
    )
}

fn percentiles(mut samples: Vec<Duration>, unit: f64) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * unit;
    (at(0.5), at(0.99))
}

fn task(n: u64, size: usize) -> Task {
    if size <= 8 {
        Task::Record(n)
    } else {
        Task::Bytes(n, vec![7; size])
    }
}

fn spawn(library: &std::path::Path, options: IsolateOptions) -> (Isolated<Task>, IsolatedHandle) {
    let plugin = Isolated::<Task>::spawn(library, "", options).expect("spawn the isolated plugin");
    let handle = plugin.handle();
    (plugin, handle)
}

fn wait_acknowledged(handle: &IsolatedHandle, count: u64) {
    assert!(
        handle.wait_acknowledged(count, Duration::from_secs(30)),
        "isolated bench: waited 30 s for acknowledgement {count}"
    );
}

fn round_trip_shm(
    library: &std::path::Path,
    count: usize,
    make: impl Fn(u64) -> Task,
) -> (f64, f64) {
    let (plugin, _) = spawn(library, IsolateOptions::new());
    round_trip(plugin, count, make)
}

/// The round trip of a 4 KiB plain-data block (`Isolated<Block, Plain>`):
/// copied as its bytes, no encoding.
fn round_trip_plain(library: &std::path::Path, count: usize) -> (f64, f64) {
    let plugin =
        Isolated::<Block, Plain>::spawn(library, "", IsolateOptions::new().runner_arg("plain"))
            .expect("spawn the plain-data plugin");
    round_trip(plugin, count, |n| Block::new(n, plugbus_plain::RECORD, 7))
}

/// Sends `make(n)` one at a time on a `LocalHost` and times each until
/// the child acknowledged it: p50 and p99 in µs, after 10% untimed.
fn round_trip<M: Send + Sync + 'static, E: Encoding<M>>(
    plugin: Isolated<M, E>,
    count: usize,
    make: impl Fn(u64) -> M,
) -> (f64, f64) {
    let handle = plugin.handle();
    let mut host = LocalHost::new();
    host.attach(plugin).expect("attach");
    let warm = count / 10;
    let mut samples = Vec::with_capacity(count);
    for n in 0..(warm + count) as u64 {
        let message = make(n);
        let started = Instant::now();
        host.send(message).expect("send");
        host.run_until_idle();
        wait_acknowledged(&handle, n + 1);
        if n >= warm as u64 {
            samples.push(started.elapsed());
        }
    }
    host.shutdown();
    percentiles(samples, 1e6)
}

/// The baseline's child: reads length-prefixed frames from stdin, decodes
/// and handles each with the same plugin (linked in), acknowledges with 8
/// bytes on stdout.
fn pipe_child() {
    let mut plugin = Crash::new("").expect("plugin");
    let mut input = std::io::stdin().lock();
    let mut output = std::io::stdout().lock();
    let mut len = [0u8; 4];
    let mut frame = Vec::new();
    while input.read_exact(&mut len).is_ok() {
        frame.resize(u32::from_le_bytes(len) as usize, 0);
        if input.read_exact(&mut frame).is_err() {
            break;
        }
        let Ok(plugbus_wire::Frame::Message(header, value)) = plugbus_wire::decode::<Task>(&frame)
        else {
            std::process::exit(3);
        };
        let _ = plugin.handle_message(&Message::new(value));
        if output
            .write_all(&header.sequence.to_le_bytes())
            .and_then(|()| output.flush())
            .is_err()
        {
            break;
        }
    }
}

fn round_trip_pipe(size: usize, count: usize) -> (f64, f64) {
    let exe = std::env::current_exe().expect("this program");
    let mut child = Command::new(exe)
        .arg("pipe-child")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the pipe child");
    let mut to = child.stdin.take().expect("stdin");
    let mut from = child.stdout.take().expect("stdout");
    let origin = Origin::from_u64(1);
    let warm = count / 10;
    let mut samples = Vec::with_capacity(count);
    let mut frame = Vec::new();
    let mut ack = [0u8; 8];
    for n in 0..(warm + count) as u64 {
        let message = Message::new(task(n, size));
        let started = Instant::now();
        frame.clear();
        frame.extend_from_slice(&[0; 4]);
        plugbus_wire::encode(
            Header {
                origin,
                sequence: n,
            },
            &*message,
            &mut frame,
        )
        .expect("encode");
        let len = (frame.len() - 4) as u32;
        frame[..4].copy_from_slice(&len.to_le_bytes());
        to.write_all(&frame).expect("write");
        from.read_exact(&mut ack).expect("read");
        assert_eq!(u64::from_le_bytes(ack), n);
        if n >= warm as u64 {
            samples.push(started.elapsed());
        }
    }
    drop(to);
    let _ = child.wait();
    percentiles(samples, 1e6)
}

fn throughput_isolated(library: &std::path::Path, messages: usize) -> f64 {
    let (plugin, handle) = spawn(library, IsolateOptions::new().ring_bytes(4 << 20));
    let host = Host::new();
    host.attach(plugin).expect("attach");
    let started = Instant::now();
    host.send_batch((0..messages as u64).map(Task::Record))
        .expect("send");
    wait_acknowledged(&handle, messages as u64);
    let elapsed = started.elapsed();
    host.shutdown();
    messages as f64 / elapsed.as_secs_f64() / 1e6
}

fn throughput_in_process(library: &std::path::Path, messages: usize) -> f64 {
    // SAFETY: this workspace's test plugin, built by cargo for this example.
    let plugin = unsafe { plugbus_host_std::load::<Task>(library, "") }.expect("load");
    let host = Host::new();
    host.attach(plugin).expect("attach");
    let started = Instant::now();
    host.send_batch((0..messages as u64).map(Task::Record))
        .expect("send");
    let reports = host.shutdown(); // drains: every message handled
    let elapsed = started.elapsed();
    assert_eq!(reports[0].stats.handled, messages as u64);
    messages as f64 / elapsed.as_secs_f64() / 1e6
}

fn crash_to_first(library: &std::path::Path, crashes: usize, standby: bool) -> (f64, f64) {
    let options =
        IsolateOptions::new()
            .standby(standby)
            .intensity(plugbus_core::lifecycle::Intensity::new(
                u32::MAX,
                Duration::from_secs(1),
            ));
    let (plugin, handle) = spawn(library, options);
    let mut host = LocalHost::new();
    host.attach(plugin).expect("attach");
    let mut samples = Vec::with_capacity(crashes);
    let mut sent = 0u64;
    for _ in 0..crashes {
        // A finished message first: the child is running and, with a
        // standby, the standby had time to load.
        host.send(Task::Record(sent)).expect("send");
        host.run_until_idle();
        sent += 1;
        wait_acknowledged(&handle, sent);
        std::thread::sleep(Duration::from_millis(if standby { 300 } else { 20 }));
        let pid = handle.child_pid().expect("a child") as i32;
        let started = Instant::now();
        // SAFETY: kill has no memory effects; the pid is the host's child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        host.send(Task::Record(sent)).expect("send");
        host.run_until_idle();
        sent += 1;
        wait_acknowledged(&handle, sent);
        samples.push(started.elapsed());
    }
    host.shutdown();
    assert_eq!(handle.stats().restarts, crashes as u64);
    percentiles(samples, 1e3)
}
