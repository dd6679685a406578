//! Command-line options and their environment twins.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::failure::Failure;

/// Help text for `--help`.
pub(crate) const USAGE: &str = "\
cargo bench -p plugbus-tests --bench peers -- [options]

  --quick               short runs for a smoke check (env PLUGBUS_BENCH_QUICK=1)
  --workloads LIST      any of w1,w2,w3,w4,idle,ask,loaded,senders,shutdown,
                        lifecycle (env PLUGBUS_BENCH_WORKLOADS; default all)
  --impls LIST          implementation names (env PLUGBUS_BENCH_IMPLS; default all;
                        the floor and crossbeam are always run for the ratios)
  --only                run only the implementations --impls names, without the
                        floor and crossbeam (their ratios print na): for profiling
  --plugins LIST        W1 plugin counts (default 1,4,16,64,256,1024,2048,4096; the
                        batched variants and slower peers stop at 1024 or 256)
  --seconds S           target time of the part of one W1, loaded or senders run that grows
                        with its message count (default 1, quick 0.05)
  --runs N              runs per point of W1, W2, loaded, senders and shutdown; the
                        median is reported with the least and the most (default 3)
  --idle-seconds S      how long the idle workload sends nothing (default 2, quick 0.5)
  --plot PATH           where W1's SVG plot goes, relative to the workspace root
                        (default docs/w1-throughput.svg)
  --no-plot             do not draw the plot
  --list                print the implementation names and exit

Run without --bench (as `cargo test` does), the binary runs its smoke check:
every implementation and workload on tiny sizes, checking every delivery.";

/// Which workloads to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Workloads {
    pub(crate) w1: bool,
    pub(crate) w2: bool,
    pub(crate) w3: bool,
    pub(crate) w4: bool,
    pub(crate) idle: bool,
    /// Request and response: one question to 16 plugins (`ask.rs`).
    pub(crate) ask: bool,
    /// W1 beside a CPU-bound thread of the benchmark's own (`loaded.rs`).
    pub(crate) loaded: bool,
    /// host-std with 1, 2 and 4 sending threads (`senders.rs`).
    pub(crate) senders: bool,
    /// Shutdown time of 1,024 and 4,096 plugins (`shutdown.rs`).
    pub(crate) shutdown: bool,
    /// Restart latency and reload pause on every host (`lifecycle.rs`).
    pub(crate) lifecycle: bool,
}

/// What the binary was asked to do.
#[derive(Debug)]
pub(crate) enum Mode {
    /// Measure and report.
    Bench(Options),
    /// The smoke check `cargo test` runs.
    Smoke,
    /// A W3 child: attach `plugins` idle plugins to `implementation` and
    /// print the RSS.
    W3Child {
        implementation: String,
        plugins: usize,
    },
    /// An idle-workload child: attach `plugins` plugins to `implementation`,
    /// send nothing for `window`, print the CPU time used meanwhile.
    IdleChild {
        implementation: String,
        plugins: usize,
        window: Duration,
    },
    /// Print the implementation names.
    List,
    /// Print the usage.
    Help,
}

/// The options of a benchmark run.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) quick: bool,
    pub(crate) workloads: Workloads,
    /// `None`: every implementation.
    pub(crate) impls: Option<Vec<String>>,
    /// Leave out the floor and crossbeam unless `impls` names them.
    pub(crate) only: bool,
    pub(crate) plugins: Vec<usize>,
    pub(crate) seconds: f64,
    pub(crate) runs: usize,
    pub(crate) plot: Option<PathBuf>,
    /// W2 round trips per implementation and plugin count.
    pub(crate) latency_iterations: usize,
    /// W3 divides its plugin counts by this.
    pub(crate) idle_divisor: usize,
    /// W4 load cycles per implementation.
    pub(crate) load_iterations: usize,
    /// How long the idle workload sends nothing.
    pub(crate) idle_window: Duration,
}

impl Options {
    fn defaults(quick: bool) -> Self {
        Options {
            quick,
            workloads: Workloads {
                w1: true,
                w2: true,
                w3: true,
                w4: true,
                idle: true,
                ask: true,
                loaded: true,
                senders: true,
                shutdown: true,
                lifecycle: true,
            },
            impls: None,
            only: false,
            plugins: vec![1, 4, 16, 64, 256, 1024, 2048, 4096],
            seconds: if quick { 0.05 } else { 1.0 },
            runs: 3,
            plot: Some(default_plot()),
            latency_iterations: if quick { 2_000 } else { 20_000 },
            idle_divisor: if quick { 10 } else { 1 },
            load_iterations: if quick { 100 } else { 1_000 },
            idle_window: Duration::from_millis(if quick { 500 } else { 2_000 }),
        }
    }

    /// Whether `name` was selected.
    pub(crate) fn selects(&self, name: &str) -> bool {
        self.impls
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == name))
    }
}

/// The workspace root: the parent of this package's directory. Cargo runs
/// a benchmark in its package's directory, so relative paths given on the
/// command line are taken from here instead.
fn workspace_root() -> &'static Path {
    let package = Path::new(env!("CARGO_MANIFEST_DIR"));
    package.parent().unwrap_or(package)
}

/// `docs/w1-throughput.svg` at the workspace root.
fn default_plot() -> PathBuf {
    workspace_root().join("docs").join("w1-throughput.svg")
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn numbers<T: std::str::FromStr>(flag: &str, value: &str) -> Result<Vec<T>, Failure> {
    list(value)
        .iter()
        .map(|item| {
            item.parse()
                .map_err(|_| Failure::Usage(format!("{flag} takes numbers, got {item:?}")))
        })
        .collect()
}

fn workloads(value: &str) -> Result<Workloads, Failure> {
    let mut chosen = Workloads {
        w1: false,
        w2: false,
        w3: false,
        w4: false,
        idle: false,
        ask: false,
        loaded: false,
        senders: false,
        shutdown: false,
        lifecycle: false,
    };
    for name in list(value) {
        match name.to_ascii_lowercase().as_str() {
            "w1" => chosen.w1 = true,
            "w2" => chosen.w2 = true,
            "w3" => chosen.w3 = true,
            "w4" => chosen.w4 = true,
            "idle" => chosen.idle = true,
            "ask" => chosen.ask = true,
            "loaded" => chosen.loaded = true,
            "senders" => chosen.senders = true,
            "shutdown" => chosen.shutdown = true,
            "lifecycle" => chosen.lifecycle = true,
            other => return Err(Failure::Usage(format!("unknown workload {other:?}"))),
        }
    }
    Ok(chosen)
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Reads the command line and the environment.
pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Mode, Failure> {
    let args: Vec<String> = args.into_iter().collect();
    if let Some(at) = args.iter().position(|a| a == "--w3-child") {
        let (Some(implementation), Some(plugins)) = (args.get(at + 1), args.get(at + 2)) else {
            return Err(Failure::Usage("--w3-child NAME PLUGINS".into()));
        };
        let plugins = plugins
            .parse()
            .map_err(|_| Failure::Usage(format!("--w3-child takes a count, got {plugins:?}")))?;
        return Ok(Mode::W3Child {
            implementation: implementation.clone(),
            plugins,
        });
    }
    if let Some(at) = args.iter().position(|a| a == "--idle-child") {
        let (Some(implementation), Some(plugins), Some(millis)) =
            (args.get(at + 1), args.get(at + 2), args.get(at + 3))
        else {
            return Err(Failure::Usage(
                "--idle-child NAME PLUGINS MILLISECONDS".into(),
            ));
        };
        let count = |what: &str| {
            what.parse::<u64>()
                .map_err(|_| Failure::Usage(format!("--idle-child takes counts, got {what:?}")))
        };
        return Ok(Mode::IdleChild {
            implementation: implementation.clone(),
            plugins: usize::try_from(count(plugins)?)
                .map_err(|_| Failure::Usage(format!("too many plugins: {plugins}")))?,
            window: Duration::from_millis(count(millis)?),
        });
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        return Ok(Mode::Help);
    }
    if args.iter().any(|a| a == "--list") {
        return Ok(Mode::List);
    }
    // `cargo bench` passes `--bench`; `cargo test` does not, and may pass
    // its own flags, which the smoke check ignores.
    if !args.iter().any(|a| a == "--bench") {
        return Ok(Mode::Smoke);
    }
    let quick = args.iter().any(|a| a == "--quick") || env_flag("PLUGBUS_BENCH_QUICK");
    let mut options = Options::defaults(quick);
    if let Ok(value) = std::env::var("PLUGBUS_BENCH_WORKLOADS") {
        options.workloads = workloads(&value)?;
    }
    if let Ok(value) = std::env::var("PLUGBUS_BENCH_IMPLS") {
        options.impls = Some(list(&value));
    }
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = |flag: &str| {
            rest.next()
                .cloned()
                .ok_or_else(|| Failure::Usage(format!("{flag} needs a value")))
        };
        match arg.as_str() {
            "--bench" | "--quick" => {}
            "--only" => options.only = true,
            "--workloads" => options.workloads = workloads(&value(arg)?)?,
            "--impls" => options.impls = Some(list(&value(arg)?)),
            "--plugins" => options.plugins = numbers(arg, &value(arg)?)?,
            "--seconds" => {
                options.seconds = numbers::<f64>(arg, &value(arg)?)?
                    .first()
                    .copied()
                    .filter(|s| *s > 0.0)
                    .ok_or_else(|| Failure::Usage("--seconds takes one positive number".into()))?
            }
            "--runs" => {
                options.runs = numbers::<usize>(arg, &value(arg)?)?
                    .first()
                    .copied()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| Failure::Usage("--runs takes one positive count".into()))?
            }
            "--idle-seconds" => {
                options.idle_window = numbers::<f64>(arg, &value(arg)?)?
                    .first()
                    .copied()
                    .filter(|s| *s > 0.0 && s.is_finite())
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| {
                        Failure::Usage("--idle-seconds takes one positive number".into())
                    })?
            }
            "--plot" => options.plot = Some(workspace_root().join(value(arg)?)),
            "--no-plot" => options.plot = None,
            other => return Err(Failure::Usage(format!("unknown option {other:?}"))),
        }
    }
    if options.plugins.contains(&0) {
        return Err(Failure::Usage("plugin counts must be positive".into()));
    }
    Ok(Mode::Bench(options))
}
