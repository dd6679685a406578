//! `plugbus inspect`, run as a user runs it: the exact text it prints for
//! each example plugin, a C library, a truncated plugin, a text file and
//! the mismatched builds; `--check-against`; `--json`; and the exit status.
//! None of the files' code runs (one of them aborts the process if it does:
//! see `tests/tests/dylib_checks.rs` in the workspace).

use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use plugbus_core::Fingerprint;
use plugbus_core::ffi::{ABI_VERSION, CORE_VERSION, MAGIC, RUSTC_VERSION};

/// A plugin crate's cdylib, built by cargo for a dev-dependency.
fn library(crate_name: &str) -> PathBuf {
    let file = format!("{DLL_PREFIX}{crate_name}{DLL_SUFFIX}");
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    [deps.join(&file), deps.parent().unwrap().join(&file)]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{file} not built: list its crate as a dev-dependency"))
}

fn inspect(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plugbus"))
        .arg("inspect")
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("plugbus-inspect-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What `inspect` prints for a plugin of the workspace's `Command`.
fn command_plugin(path: &Path, name: &str, crate_name: &str, fingerprint: u64) -> String {
    format!(
        "{}: plugin `{name}` 0.1.0 (ELF, crate `{crate_name}`)\n  message: `plugbus_commands::Command` (size {}, align {}, fingerprint {fingerprint:#018x})\n  built with: {RUSTC_VERSION}, plugbus-core {CORE_VERSION}, ABI {ABI_VERSION}\n",
        path.display(),
        size_of::<plugbus_commands::Command>(),
        align_of::<plugbus_commands::Command>(),
    )
}

fn command() -> u64 {
    plugbus_commands::Command::FINGERPRINT
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
#[test]
fn every_example_plugin_is_described() {
    let plugins = [
        ("plugbus_concat", "plugbus-concat"),
        ("plugbus_debug", "plugbus-debug"),
        ("plugbus_fault", "plugbus-fault"),
    ];
    let paths: Vec<PathBuf> = plugins.iter().map(|(c, _)| library(c)).collect();
    let args: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let output = inspect(&args);
    let expected: String = plugins
        .iter()
        .zip(&paths)
        .map(|((crate_name, name), path)| command_plugin(path, name, crate_name, command()))
        .collect();
    assert_eq!(stdout(&output), expected);
    assert!(output.status.success());

    // Another message type altogether.
    let wrong = library("plugbus_wrong_message");
    let output = inspect(&[&wrong]);
    assert_eq!(
        stdout(&output),
        format!(
            "{}: plugin `plugbus-wrong-message` 0.1.0 (ELF, crate `plugbus_wrong_message`)\n  message: `alloc::string::String` (size 24, align 8, fingerprint {:#018x})\n  built with: {RUSTC_VERSION}, plugbus-core {CORE_VERSION}, ABI {ABI_VERSION}\n",
            wrong.display(),
            String::FINGERPRINT
        )
    );
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
#[test]
fn files_that_are_not_plugins_get_one_line_and_a_failure() {
    let dir = scratch("not-plugins");
    let text = dir.join("notes.txt");
    std::fs::write(&text, "not a library\n").unwrap();
    let truncated = dir.join(format!("{DLL_PREFIX}plugbus_concat{DLL_SUFFIX}"));
    let bytes = std::fs::read(library("plugbus_concat")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let libc = c_library();
    let missing = dir.join("missing.so");

    let output = inspect(&[&text, &truncated, &libc, &missing, &dir]);
    let lines = stdout(&output);
    let expected = [
        format!(
            "{}: not a plugin: not a loadable library: it is a text file, not a shared library",
            text.display()
        ),
        format!(
            "{}: not a plugin: the file is truncated: its headers need {} bytes, the file has {}",
            truncated.display(),
            bytes.len(),
            bytes.len() / 2
        ),
        format!(
            "{}: not a plugin: it has no plugbus descriptor: symbol `plugbus_descriptor_c` not \
             found (export_plugin! names it after the crate, and the loader takes the crate's \
             name from the file name: for a renamed file, give it with LoadOptions::crate_name)",
            libc.display()
        ),
        format!("{}: not a plugin: no such file", missing.display()),
        format!(
            "{}: not a plugin: it is a directory, not a regular file",
            dir.display()
        ),
    ];
    assert_eq!(lines.lines().collect::<Vec<_>>(), expected);
    assert_eq!(output.status.code(), Some(1));
    // One good file among bad ones does not make it succeed.
    assert_eq!(
        inspect(&[&library("plugbus_concat"), &text]).status.code(),
        Some(1)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// The C library this process runs on, from its maps.
fn c_library() -> PathBuf {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| {
            Path::new(path)
                .file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with("libc.so"))
        })
        .map(PathBuf::from)
        .expect("the C library in /proc/self/maps")
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
#[test]
fn mismatched_builds_are_described_and_checked() {
    let dir = scratch("mismatched");
    let concat = library("plugbus_concat");
    // Built by another compiler: the descriptor patched in a copy.
    let mut bytes = std::fs::read(&concat).unwrap();
    let at = bytes.windows(MAGIC.len()).position(|w| w == MAGIC).unwrap();
    let rustc_at = at + std::mem::offset_of!(plugbus_core::ffi::PluginDescriptor, rustc_version);
    let fake = "rustc 1.97.0-nightly (0123456789 2026-05-01)";
    bytes[rustc_at..rustc_at + 128].fill(0);
    bytes[rustc_at..rustc_at + fake.len()].copy_from_slice(fake.as_bytes());
    let other_rustc = dir.join(format!("{DLL_PREFIX}plugbus_concat{DLL_SUFFIX}"));
    std::fs::write(&other_rustc, &bytes).unwrap();
    let stale = library("plugbus_stale_message");

    let output = Command::new(env!("CARGO_BIN_EXE_plugbus"))
        .args(["inspect", "--check-against"])
        .arg(&concat)
        .arg(&concat)
        .arg(&other_rustc)
        .arg(&stale)
        .output()
        .unwrap();
    let stale_fingerprint = {
        let text = stdout(&inspect(&[&stale]));
        let at = text.find("fingerprint 0x").unwrap() + "fingerprint ".len();
        u64::from_str_radix(&text[at + 2..at + 18], 16).unwrap()
    };
    assert_ne!(stale_fingerprint, command());
    let against = concat.display();
    let expected = format!(
        "{}  compatible with {against}\n{}  not compatible with {against}: {fake} in plugin, {RUSTC_VERSION} in host: rebuild the plugin with the host's compiler\n{}  not compatible with {against}: message type `plugbus_commands::Command` (size {size}, align 8, fingerprint {stale_fingerprint:#018x}) in plugin, `plugbus_commands::Command` (size {size}, align 8, fingerprint {:#018x}) in host: a plugin for other messages, or built against another version of the message crate (rebuild it against the host's)\n",
        command_plugin(&concat, "plugbus-concat", "plugbus_concat", command()),
        command_plugin(&other_rustc, "plugbus-concat", "plugbus_concat", command())
            .replace(RUSTC_VERSION, fake),
        command_plugin(
            &stale,
            "plugbus-stale-message",
            "plugbus_stale_message",
            stale_fingerprint
        ),
        command(),
        size = size_of::<plugbus_commands::Command>(),
    );
    assert_eq!(stdout(&output), expected);
    assert_eq!(output.status.code(), Some(1));

    // Checked against this test program, which loads no plugins: refused as
    // a usage error.
    let exe = std::env::current_exe().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_plugbus"))
        .args(["inspect", "--check-against"])
        .arg(&exe)
        .arg(&concat)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(output.stderr).unwrap(),
        format!(
            "plugbus: {}: neither a plugin nor a program that loads plugbus plugins\n",
            exe.display()
        )
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
#[test]
fn json_for_scripts() {
    let concat = library("plugbus_concat");
    let text = std::env::current_exe().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_plugbus"))
        .args(["inspect", "--json"])
        .arg(&concat)
        .arg(&text)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let expected = serde_json::json!([
        {
            "file": concat.to_string_lossy(),
            "plugin": {
                "name": "plugbus-concat",
                "version": "0.1.0",
                "crate": "plugbus_concat",
                "format": "ELF",
                "message": {
                    "name": "plugbus_commands::Command",
                    "size": size_of::<plugbus_commands::Command>(),
                    "align": 8,
                    "fingerprint": format!("{:#018x}", command()),
                },
                "rustc": RUSTC_VERSION,
                "plugbus_core": CORE_VERSION,
                "abi": ABI_VERSION,
            },
            "error": null,
        },
        {
            "file": text.to_string_lossy(),
            "plugin": null,
            "error": "not a loadable library: it is an executable, not a shared library",
        },
    ]);
    assert_eq!(json, expected);
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn usage_errors_exit_with_2() {
    let output = Command::new(env!("CARGO_BIN_EXE_plugbus"))
        .arg("inspect")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(output.stderr).unwrap(),
        "plugbus: no file to inspect\nusage: plugbus inspect [--json] [--check-against FILE] FILE...\n"
    );
    let output = Command::new(env!("CARGO_BIN_EXE_plugbus"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
}
