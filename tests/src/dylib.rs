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

/// The numbers a test plugin's log holds (`plugbus-crash`, `plugbus-plain`
/// with `log=PATH`: 8 bytes each, little-endian), in the order written;
/// empty if there is no log yet.
pub fn logged_numbers(log: &Path) -> Vec<u64> {
    let bytes = std::fs::read(log).unwrap_or_default();
    bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect()
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

/// A loaded library's file, recognised in `/proc/self/maps` by its inode
/// (the loader maps `/proc/self/fd/N`, a memory file or the open file,
/// which the maps show under the file's own name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    inode: u64,
}

impl Mapping {
    /// The file the system loader opened for a plugin
    /// ([`DynamicPlugin::loaded_from`]), while it is loaded.
    ///
    /// # Panics
    /// If the file cannot be read.
    pub fn of(loaded: &Path) -> Mapping {
        use std::os::unix::fs::MetadataExt;
        let metadata = std::fs::metadata(loaded).expect("the loaded file");
        Mapping {
            inode: metadata.ino(),
        }
    }

    /// Whether that file is still mapped into this process (Linux:
    /// `/proc/self/maps`).
    pub fn is_mapped(&self) -> bool {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
        maps.lines().any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() >= 6
                && fields[4].parse() == Ok(self.inode)
                && fields[5..].join(" ").contains("plugbus")
        })
    }
}

impl Mapping {
    /// Whether this process still holds the file open (the loader keeps a
    /// loaded library's file or copy open while it is mapped).
    pub fn is_open(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        std::fs::read_dir("/proc/self/fd").is_ok_and(|fds| {
            fds.filter_map(Result::ok)
                .filter_map(|fd| std::fs::metadata(fd.path()).ok())
                .any(|m| m.ino() == self.inode && m.is_file())
        })
    }
}

/// The loader's private copies this process holds open (Linux: memory
/// files named `plugbus:<file>`), as their targets in `/proc/self/fd`.
pub fn open_copies() -> Vec<PathBuf> {
    std::fs::read_dir("/proc/self/fd")
        .map(|fds| {
            fds.filter_map(Result::ok)
                .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                .filter(|target| target.to_string_lossy().contains("memfd:plugbus:"))
                .collect()
        })
        .unwrap_or_default()
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

/// Where the descriptor starts in a plugin file: it is plain data, found by
/// its magic, which occurs exactly once.
///
/// # Panics
/// If the magic does not occur exactly once.
pub fn descriptor_at(bytes: &[u8]) -> usize {
    let magic = plugbus_core::ffi::MAGIC;
    let found: Vec<usize> = bytes
        .windows(magic.len())
        .enumerate()
        .filter(|(_, w)| *w == magic)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(found.len(), 1, "the magic occurs once");
    found[0]
}

/// Overwrites the zero-padded text field of `len` bytes at `at`.
pub fn write_text(bytes: &mut [u8], at: usize, len: usize, text: &str) {
    bytes[at..at + len].fill(0);
    bytes[at..at + text.len()].copy_from_slice(text.as_bytes());
}

/// A plugin's descriptor field, patched in a copy of its cdylib bytes.
#[derive(Debug, Clone, Copy)]
pub enum Patch<'a> {
    /// Another compiler.
    Rustc(&'a str),
    /// Another plugin version.
    Version(&'a str),
    /// One bit of the message fingerprint flipped.
    Fingerprint,
}

/// The bytes of a plugin crate's cdylib with one descriptor field patched.
///
/// # Panics
/// If the library cannot be read.
pub fn patched_bytes(crate_name: &str, patch: Patch<'_>) -> Vec<u8> {
    use std::mem::offset_of;

    use plugbus_core::ffi::PluginDescriptor;
    let mut bytes = std::fs::read(library(crate_name)).expect("the plugin's library");
    let at = descriptor_at(&bytes);
    match patch {
        Patch::Rustc(text) => write_text(
            &mut bytes,
            at + offset_of!(PluginDescriptor, rustc_version),
            128,
            text,
        ),
        Patch::Version(text) => write_text(
            &mut bytes,
            at + offset_of!(PluginDescriptor, plugin_version),
            64,
            text,
        ),
        Patch::Fingerprint => bytes[at + offset_of!(PluginDescriptor, message_fingerprint)] ^= 1,
    }
    bytes
}

/// The file name cargo gives a plugin crate's cdylib on this platform.
pub fn library_file_name(crate_name: &str) -> String {
    format!("{DLL_PREFIX}{crate_name}{DLL_SUFFIX}")
}
