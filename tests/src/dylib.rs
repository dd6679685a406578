//! Helpers for the dynamic-library tests: finding the plugins' cdylibs that
//! cargo built, loading them, and the `message_plugins` scenario.

use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
use std::path::{Path, PathBuf};

use plugbus_commands::{Command, SCENARIO_LEN, Summary, report, scenario};
use plugbus_core::{LocalHost, Plugin, Report};
use plugbus_host_std::{DynamicPlugin, LoadError, load};

/// The cdylib of a plugin crate (`plugbus_concat`) that cargo built for a
/// dev-dependency: next to the running test binary in
/// `target/<profile>/deps/`, or in `target/<profile>/`.
///
/// # Panics
/// If neither exists: the plugin crate is not a dev-dependency of the
/// package under test.
pub fn library(crate_name: &str) -> PathBuf {
    let file = format!("{DLL_PREFIX}{crate_name}{DLL_SUFFIX}");
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut dirs = Vec::new();
    let mut dir = exe.parent();
    // deps/, then the profile directory above it.
    for _ in 0..2 {
        if let Some(d) = dir {
            dirs.push(d.to_owned());
            dir = d.parent();
        }
    }
    dirs.iter()
        .map(|d| d.join(&file))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{file} not found in {dirs:?}: list its crate as a dev-dependency so cargo builds it"
            )
        })
}

/// Loads a plugin crate's cdylib for `Command`s.
///
/// # Errors
/// The loader's error.
pub fn load_command_plugin(
    crate_name: &str,
    config: &str,
) -> Result<DynamicPlugin<Command>, LoadError> {
    let path = library(crate_name);
    // SAFETY: the plugins of this workspace, built by cargo for this test.
    unsafe { load::<Command>(path, config) }
}

/// A fresh, empty directory under the system's temporary directory.
///
/// # Panics
/// If it cannot be made.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("plugbus-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// What the scenario left: the summaries the plugins sent for the
/// `Report` command (host-owned copies, sorted by plugin), and the reports.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// One summary per plugin that answered, by plugin name.
    pub summaries: Vec<Summary>,
    /// One report per plugin, by id.
    pub reports: Vec<Report>,
}

/// The number of messages the scenario sends.
pub const SCENARIO_MESSAGES: u64 = SCENARIO_LEN as u64;

/// The text `concat` holds at the end of the scenario.
pub const SCENARIO_TEXT: &str = "plugbus";

/// Runs the `message_plugins` scenario on a [`LocalHost`]: texts joined and
/// cleared, three `Time` messages, two `Print`s, a `Report` and `Exit`, with
/// the lanes run after every send.
///
/// # Panics
/// If a send or attach fails.
pub fn run_scenario(plugins: Vec<Box<dyn Plugin<Command>>>) -> Outcome {
    let mut host = LocalHost::new();
    for plugin in plugins {
        host.attach(plugin).expect("attach");
    }
    let (ask, replies) = report();
    for command in scenario(ask) {
        host.send(command).expect("send");
        host.run_until_idle();
    }
    let reports = host.shutdown();
    let mut summaries: Vec<Summary> = replies.try_iter().map(|m| (*m).clone()).collect();
    summaries.sort_by(|a, b| a.plugin.cmp(&b.plugin));
    Outcome { summaries, reports }
}

/// A summary without its timing, which differs from run to run.
pub fn untimed(summary: &Summary) -> (String, String, u64, u64) {
    (
        summary.plugin.clone(),
        summary.text.clone(),
        summary.messages,
        summary.times,
    )
}

/// Whether `path` is mapped into this process (Linux: `/proc/self/maps`).
pub fn is_mapped(path: &Path) -> bool {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let path = path.to_string_lossy();
    maps.lines().any(|line| line.contains(path.as_ref()))
}

/// This process's resident set size in KiB (Linux: `/proc/self/status`).
pub fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Where the last loadable (`PT_LOAD`) segment of an ELF64 little-endian
/// file ends, to cut a library inside it.
///
/// # Panics
/// If `bytes` is not such a file.
pub fn loadable_end(bytes: &[u8]) -> u64 {
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    assert_eq!(&bytes[..5], b"\x7fELF\x02", "an ELF64 file");
    let phoff = usize::try_from(u64_at(32)).unwrap();
    let (size, count) = (usize::from(u16_at(54)), usize::from(u16_at(56)));
    (0..count)
        .map(|i| phoff + i * size)
        .filter(|&at| u32_at(at) == 1)
        .map(|at| u64_at(at + 8) + u64_at(at + 32))
        .max()
        .expect("a loadable segment")
}
