//! plugbus against its peers: throughput (W1), latency (W2), idle memory
//! (W3) and dynamic loading (W4), every implementation in the same run; the
//! CPU time of an idle plugbus host (`idle`); the round trip of a
//! question to 16 plugins (`ask`) against tokio channels wired by hand;
//! W1 beside a CPU-bound thread of the benchmark's own (`loaded`);
//! host-std with several sending threads (`senders`); and the shutdown
//! time of thousands of plugins (`shutdown`).
//!
//! ```text
//! cargo bench -p plugbus-tests --bench peers              # everything, a few minutes
//! cargo bench -p plugbus-tests --bench peers -- --quick   # short runs, well under a minute
//! cargo bench -p plugbus-tests --bench peers -- --help    # options
//! ```
//!
//! Every workload checks that every plugin handled every message it was
//! sent, by count and by sum; a lost message fails the run. Absolute
//! figures drift on shared 2-core machines, so each cross-thread figure is
//! printed beside the cross-core round trip measured just before it, and
//! the ratios compare implementations measured in the same run.
//!
//! Without `--bench` (as `cargo test` runs it) the binary runs a smoke
//! check instead: every implementation and workload on tiny sizes, counts
//! checked, nothing timed.

mod ask;
mod child;
mod crossbeam;
mod failure;
mod faulty;
mod floor;
mod host;
mod idle;
mod impls;
mod lifecycle;
mod loaded;
mod options;
mod plot;
mod plugbus;
mod predecessor;
mod report;
mod senders;
mod shutdown;
mod smol_peers;
mod stats;
mod tokio_peers;
mod w1;
mod w2;
mod w3;
mod w4;
mod xcore;

use std::process::ExitCode;
use std::time::Instant;

use crate::failure::Failure;
use crate::faulty::{Fault, Faulty};
use crate::impls::{CROSSBEAM, FLOOR, Impl, Kind, MakeHost, implementations};
use crate::options::{Mode, Options, USAGE};
use crate::report::Results;

fn main() -> ExitCode {
    let outcome = options::parse(std::env::args().skip(1)).and_then(|mode| match mode {
        Mode::Bench(options) => bench(&options),
        Mode::Smoke => smoke(),
        Mode::W3Child {
            implementation,
            plugins,
        } => w3::child(&implementation, plugins),
        Mode::IdleChild {
            implementation,
            plugins,
            window,
        } => idle::child(&implementation, plugins, window),
        Mode::List => {
            for imp in implementations() {
                println!("{}", imp.name);
            }
            Ok(())
        }
        Mode::Help => {
            println!("{USAGE}");
            Ok(())
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
            ExitCode::FAILURE
        }
    }
}

/// The implementations the options select, plus the floor and crossbeam,
/// which the ratios divide by (unless `--only`).
fn selected(options: &Options) -> Result<Vec<Impl>, Failure> {
    let all = implementations();
    if let Some(names) = &options.impls {
        for name in names {
            if !all.iter().any(|imp| imp.name == name) {
                return Err(Failure::Usage(format!(
                    "unknown implementation {name:?}; --list shows them"
                )));
            }
        }
    }
    Ok(all
        .into_iter()
        .filter(|imp| {
            options.selects(imp.name)
                || (!options.only && (imp.name == FLOOR || imp.name == CROSSBEAM))
        })
        .collect())
}

fn bench(options: &Options) -> Result<(), Failure> {
    let started = Instant::now();
    let impls = selected(options)?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    eprintln!(
        "plugbus peers benchmark: {} mode, {cores} cores, {} implementations",
        if options.quick { "quick" } else { "full" },
        impls.len()
    );
    let mut results = Results {
        cores,
        load_average: load_average(),
        load_average_end: None,
        xcore_ns: xcore::start_round_trip_ns(),
        ..Results::default()
    };
    eprintln!("cross-core round trip: {:.0} ns", results.xcore_ns);
    if options.workloads.w1 {
        results.w1 = w1::run(&impls, options)?;
    }
    if options.workloads.w2 {
        results.w2 = w2::run(&impls, options.latency_iterations, options.runs)?;
    }
    if options.workloads.w3 {
        results.w3 = w3::run(&impls, options.idle_divisor)?;
    }
    if options.workloads.w4 {
        results.w4 = w4::run(options.load_iterations)?;
    }
    if options.workloads.idle {
        results.idle = idle::run(&impls, options.idle_window)?;
    }
    if options.workloads.loaded {
        results.loaded = loaded::run(&impls, options)?;
    }
    if options.workloads.senders {
        results.senders = senders::run(options)?;
    }
    if options.workloads.shutdown {
        results.shutdown = shutdown::run(&impls, options)?;
    }
    let lifecycle = if options.workloads.lifecycle {
        lifecycle::run(options.quick)?
    } else {
        Vec::new()
    };
    let asked = if options.workloads.ask {
        ask::run(options.latency_iterations / 4)?
    } else {
        Vec::new()
    };
    results.load_average_end = load_average();
    println!("{}", results.tables());
    print!("{}", results.lines());
    print!("{}", ask::report(&asked));
    print!("{}", lifecycle::report(&lifecycle));
    if let (Some(path), false) = (&options.plot, results.w1.is_empty()) {
        let title = format!(
            "W1: deliveries/s against plugins ({cores} cores, {} run, round trip {:.0} ns at start)",
            if options.quick { "quick" } else { "full" },
            results.xcore_ns
        );
        plot::draw(&results.w1, path, &title)?;
        eprintln!("plot written to {}", path.display());
    }
    eprintln!("finished in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The 1-minute load average, from `/proc/loadavg`.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Messages per W1 smoke run: a multiple of neither the batch size used
/// below nor the queues' capacities, so partial batches are exercised.
const SMOKE_MESSAGES: u64 = 1_100;

/// Every implementation and workload on tiny sizes: the counts and sums are
/// checked, nothing is timed against anything.
fn smoke() -> Result<(), Failure> {
    let mut passed = 0usize;
    let mut failed = 0usize;
    let mut record = |what: String, result: Result<(), Failure>| match result {
        Ok(()) => {
            passed += 1;
            eprintln!("smoke ok: {what}");
        }
        Err(failure) => {
            failed += 1;
            eprintln!("smoke FAILED: {what}: {failure}");
        }
    };
    let mut points = Vec::new();
    for imp in implementations() {
        for plugins in [1, 3] {
            let result = w1::run_once(&imp, plugins, SMOKE_MESSAGES).map(|elapsed| {
                let rate =
                    (SMOKE_MESSAGES * plugins as u64) as f64 / elapsed.as_secs_f64().max(1e-9);
                points.push(w1::Point {
                    name: imp.name,
                    kind: imp.kind,
                    batch: imp.batch,
                    plugins,
                    messages: SMOKE_MESSAGES,
                    deliveries_per_s: rate,
                    min_per_s: rate,
                    max_per_s: rate,
                    runs: 1,
                    xcore_ns: 0.0,
                });
            });
            record(format!("w1 {} plugins={plugins}", imp.name), result);
        }
        let batched = imp.clone().batched(64);
        record(
            format!("w1 {} batches of 64", imp.name),
            w1::run_once(&batched, 2, SMOKE_MESSAGES).map(drop),
        );
        if imp.latency {
            record(
                format!("w2 {} plugins=3", imp.name),
                w2::run_once(&imp, 3, 50).map(drop),
            );
        }
    }
    for imp in implementations().iter().filter(|imp| {
        imp.name == CROSSBEAM || (imp.kind == Kind::Plugbus && imp.idle_plugins.is_some())
    }) {
        record(
            format!("w3 {} in a child process", imp.name),
            w3::measure(imp, 20).and_then(|point| {
                if point.rss_kib == 0 || point.rss_base_kib == 0 {
                    return Err(Failure::Child {
                        implementation: imp.name.to_owned(),
                        reason: "read an RSS of zero".into(),
                    });
                }
                Ok(())
            }),
        );
    }
    // The idle workload's child on every plugbus host, with a short window:
    // it must attach, deliver the one message, read the CPU time and report.
    for imp in implementations().iter().filter(|imp| idle::takes_part(imp)) {
        record(
            format!("idle {} in a child process", imp.name),
            idle::measure(imp, idle::PLUGINS, std::time::Duration::from_millis(50)).map(drop),
        );
    }
    // The check itself: a host that loses, swaps, leaks or miscounts one
    // delivery must fail the run, each with its own failure.
    let faults: [(Fault, MakeHost); 4] = [
        (Fault::LoseOne, || Box::new(Faulty::new(Fault::LoseOne))),
        (Fault::Duplicate, || Box::new(Faulty::new(Fault::Duplicate))),
        (Fault::Leak, || Box::new(Faulty::new(Fault::Leak))),
        (Fault::Miscount, || Box::new(Faulty::new(Fault::Miscount))),
    ];
    for (fault, make) in faults {
        let faulty = Impl {
            name: "faulty",
            kind: Kind::Peer,
            make,
            batch: 1,
            latency: false,
            idle_plugins: None,
            max_plugins: usize::MAX,
        };
        let result = w1::run_once(&faulty, 3, SMOKE_MESSAGES);
        let caught = matches!(
            (fault, &result),
            (Fault::LoseOne, Err(Failure::Lost { plugin: 0, handled, .. })) if *handled == SMOKE_MESSAGES - 1
        ) || matches!(
            (fault, &result),
            (Fault::Duplicate, Err(Failure::WrongSum { plugin: 0, .. }))
        ) || matches!(
            (fault, &result),
            (Fault::Leak, Err(Failure::NotFinished { plugin: 0, .. }))
        ) || matches!(
            (fault, &result),
            (Fault::Miscount, Err(Failure::HostCount { .. }))
        );
        record(
            format!("the delivery check catches {fault:?}"),
            if caught {
                Ok(())
            } else {
                Err(Failure::Usage(format!("{fault:?} gave {result:?}")))
            },
        );
    }
    // The three workloads of several senders, background load and shutdown,
    // on tiny sizes.
    for senders in senders::SENDERS {
        record(
            format!("senders plugbus-std senders={senders}"),
            senders::std_once(3, SMOKE_MESSAGES, senders).map(drop),
        );
        record(
            format!("senders crossbeam senders={senders}"),
            senders::crossbeam_once(3, SMOKE_MESSAGES, senders).map(drop),
        );
    }
    {
        let _background = loaded::Background::start();
        for imp in implementations()
            .iter()
            .filter(|imp| loaded::NAMES.contains(&imp.name))
        {
            record(
                format!("loaded {} plugins=3", imp.name),
                w1::run_once(imp, 3, SMOKE_MESSAGES).map(drop),
            );
        }
    }
    for imp in implementations()
        .iter()
        .filter(|imp| shutdown::takes_part(imp))
    {
        record(
            format!("shutdown {} plugins=3", imp.name),
            shutdown::run_once(imp, 3, std::time::Duration::from_millis(5)).map(drop),
        );
    }
    for (what, result) in ask::smoke() {
        record(what, result);
    }
    for (what, result) in lifecycle::smoke() {
        record(what, result);
    }
    let round_trip = xcore::round_trip_ns(100, 3, std::time::Duration::from_secs(1));
    record(
        format!("the cross-core round trip measures ({round_trip:.0} ns)"),
        if round_trip > 0.0 && round_trip.is_finite() {
            Ok(())
        } else {
            Err(Failure::Usage(format!("a round trip of {round_trip} ns")))
        },
    );
    let expected_lines = points.len();
    let results = Results {
        w1: points,
        ..Results::default()
    };
    let lines = results.lines();
    let w1_lines = lines.lines().filter(|l| l.starts_with("bench w1 ")).count();
    record(
        format!("report has {expected_lines} w1 lines"),
        if w1_lines == expected_lines {
            Ok(())
        } else {
            Err(Failure::Usage(format!(
                "the report has {w1_lines} w1 lines for {expected_lines} points"
            )))
        },
    );
    let plot = std::env::temp_dir().join(format!("plugbus-smoke-{}.svg", std::process::id()));
    let drawn = plot::draw(&results.w1, &plot, "smoke");
    let _ = std::fs::remove_file(&plot);
    record("plot draws".into(), drawn);
    eprintln!("smoke: W4 is left out (it builds a cdylib with rustc; `--workloads w4` runs it)");
    println!("peers smoke: {passed} passed, {failed} failed");
    if failed > 0 {
        return Err(Failure::Usage(format!("{failed} smoke checks failed")));
    }
    Ok(())
}
