//! W4 dynamic load: load, construct, destroy and unload a plugin library,
//! against a bare libloading open/close of the same file.
//!
//! The plugbus side is [`plugbus_loader_cycle`]: the whole `load` (file
//! checks, copy to a unique name, dlopen, descriptor checks, construct),
//! then destroy and unload; and the same without the copy. The library is
//! `PLUGBUS_BENCH_DYLIB` if set, else the `debug` example plugin's cdylib
//! that cargo builds for the benchmark, so both sides load the same file;
//! if neither exists, a minimal cdylib that W4 builds from
//! `dylib/answer.rs` with `rustc` (the plugbus loader then refuses it: it
//! has no descriptor).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use plugbus_host_std::{LoadOptions, load_with};

use crate::failure::Failure;
use crate::stats::median;

/// W4's result for one way of loading.
#[derive(Debug, Clone)]
pub(crate) enum Point {
    Measured {
        name: &'static str,
        iterations: usize,
        median_us: f64,
    },
    Skipped {
        name: &'static str,
        reason: String,
    },
}

/// Name of the bare libloading cycle, which the ratio divides by.
pub(crate) const LIBLOADING: &str = "libloading";

/// One bare cycle: `dlopen` then `dlclose`, nothing called.
fn libloading_cycle(path: &Path) -> Option<Result<(), Failure>> {
    let dylib = |source| Failure::Dylib {
        path: path.to_owned(),
        source,
    };
    // SAFETY: the library is W4's own cdylib or one the user named for
    // this benchmark; loading it runs only its initialisers, which for a
    // Rust cdylib set up nothing that outlives `close`.
    let result = unsafe { libloading::Library::new(path) }
        .map_err(dylib)
        .and_then(|library| library.close().map_err(dylib));
    Some(result)
}

/// One cycle through the plugbus loader: load and check the library,
/// construct the plugin, destroy it, unload. `None` while the loader is not
/// written; the coordinator fills this in when `plugbus-host-std`'s loader
/// lands (and points `PLUGBUS_BENCH_DYLIB`, or [`library`], at an example
/// plugin, so both sides load the same file).
fn plugbus_loader_cycle(path: &Path) -> Option<Result<(), Failure>> {
    Some(plugbus_load(path, LoadOptions::new()))
}

/// The same cycle without the copy to a unique name (`LoadOptions::copy`).
fn plugbus_loader_nocopy_cycle(path: &Path) -> Option<Result<(), Failure>> {
    Some(plugbus_load(path, LoadOptions::new().copy(false)))
}

fn plugbus_load(path: &Path, options: LoadOptions) -> Result<(), Failure> {
    // SAFETY: the library is the workspace's own `debug` example plugin (or
    // one the user named for this benchmark); its initialisers are Rust's.
    let plugin = unsafe { load_with::<plugbus_commands::Command>(path, "quiet", &options) }
        .map_err(Failure::Load)?;
    // Dropping destroys the plugin through its own thunk, then unloads.
    drop(plugin);
    Ok(())
}

/// One load cycle of a library; `None` if this way of loading is not
/// available.
type Cycle = fn(&Path) -> Option<Result<(), Failure>>;

/// The ways of loading W4 compares, in the order of the table.
const CYCLES: [(&str, Cycle); 3] = [
    (LIBLOADING, libloading_cycle),
    ("plugbus-loader", plugbus_loader_cycle),
    ("plugbus-loader-nocopy", plugbus_loader_nocopy_cycle),
];

/// Builds `dylib/answer.rs` next to the benchmark's executable, checks it
/// answers, and returns its path.
fn build_answer() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own executable: {e}"))?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("the executable has no parent directory")?
        .join("plugbus-bench");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peers/dylib/answer.rs");
    let out = dir.join(format!(
        "{}plugbus_bench_answer{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let status = Command::new(&rustc)
        .args([
            "--edition",
            "2024",
            "--crate-type",
            "cdylib",
            "-C",
            "opt-level=2",
        ])
        .arg("-o")
        .arg(&out)
        .arg(&source)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", Path::new(&rustc).display()))?;
    if !status.success() {
        return Err(format!("rustc failed on {}: {status}", source.display()));
    }
    // SAFETY: the library was just built from `answer.rs`, whose only item
    // is the function looked up here, with this exact signature.
    let answer = unsafe {
        let library = libloading::Library::new(&out).map_err(|e| e.to_string())?;
        let answer = library
            .get::<extern "C" fn() -> u32>(b"plugbus_bench_answer")
            .map_err(|e| e.to_string())?;
        answer()
    };
    if answer != 42 {
        return Err(format!("{} answered {answer}, not 42", out.display()));
    }
    Ok(out)
}

/// The library to load: `PLUGBUS_BENCH_DYLIB`, the `debug` example
/// plugin's cdylib next to this executable, or the one W4 builds.
pub(crate) fn library() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("PLUGBUS_BENCH_DYLIB") {
        return Ok(PathBuf::from(path));
    }
    let file = format!(
        "{}plugbus_debug{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own executable: {e}"))?;
    let found = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join(&file))
        .find(|path| path.is_file());
    match found {
        Some(path) => Ok(path),
        None => build_answer(),
    }
}

/// Runs W4: every way of loading, `iterations` cycles each, after a few
/// untimed ones. A failed cycle fails the run.
pub(crate) fn run(iterations: usize) -> Result<Vec<Point>, Failure> {
    let path = match library() {
        Ok(path) => path,
        Err(reason) => {
            return Ok(CYCLES
                .iter()
                .map(|&(name, _)| Point::Skipped {
                    name,
                    reason: format!("no library to load: {reason}"),
                })
                .collect());
        }
    };
    eprintln!("w4 loading {}", path.display());
    let mut points = Vec::new();
    for (name, cycle) in CYCLES {
        if cycle(&path).is_none() {
            points.push(Point::Skipped {
                name,
                reason: "the plugbus loader is not written yet".into(),
            });
            continue;
        }
        let mut times = Vec::with_capacity(iterations);
        for i in 0..iterations + 10 {
            let start = Instant::now();
            cycle(&path).expect("a cycle that ran once stays available")?;
            if i >= 10 {
                times.push(start.elapsed().as_secs_f64() * 1e6);
            }
        }
        let median_us = median(&mut times);
        eprintln!("w4 {name:<24} {median_us:>8.1} us per cycle");
        points.push(Point::Measured {
            name,
            iterations,
            median_us,
        });
    }
    Ok(points)
}
