//! `plugbus`: tools for plugbus plugin libraries.
//!
//! ```text
//! plugbus inspect [--json] [--check-against FILE] FILE...
//! ```
//!
//! `inspect` prints each file's plugbus descriptor (plugin name and
//! version, message type, size, alignment and fingerprint, the rustc,
//! plugbus-core and ABI versions it was built with) without running any of
//! its code. With `--check-against FILE` (a host program or another plugin)
//! it also says whether the loader would accept the plugin there, and why
//! not. A file that is not a plugin gets a one-line reason. The exit status
//! is 0 if every file is a plugin (and compatible, when checked), 1 if not,
//! 2 for a usage error.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use plugbus_core::ffi::PluginDescriptor;
use plugbus_host_std::loader::{Inspection, LoadError, expectations, inspect};
use serde_json::{Value, json};

const USAGE: &str = "usage: plugbus inspect [--json] [--check-against FILE] FILE...";

struct Args {
    json: bool,
    against: Option<PathBuf>,
    files: Vec<PathBuf>,
}

fn parse(mut args: impl Iterator<Item = std::ffi::OsString>) -> Result<Args, String> {
    match args.next() {
        Some(command) if command == "inspect" => {}
        Some(command) if command == "--help" || command == "-h" => return Err(String::new()),
        Some(command) => {
            return Err(format!("unknown command `{}`", command.to_string_lossy()));
        }
        None => return Err(String::from("no command")),
    }
    let mut parsed = Args {
        json: false,
        against: None,
        files: Vec::new(),
    };
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--json") => parsed.json = true,
            Some("--check-against") => match args.next() {
                Some(file) => parsed.against = Some(PathBuf::from(file)),
                None => return Err(String::from("--check-against needs a file")),
            },
            Some("--help" | "-h") => return Err(String::new()),
            Some(flag) if flag.starts_with("--") => {
                return Err(format!("unknown option `{flag}`"));
            }
            _ => parsed.files.push(PathBuf::from(arg)),
        }
    }
    if parsed.files.is_empty() {
        return Err(String::from("no file to inspect"));
    }
    Ok(parsed)
}

fn main() -> ExitCode {
    let args = match parse(std::env::args_os().skip(1)) {
        Ok(args) => args,
        Err(problem) if problem.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            eprintln!("plugbus: {problem}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let against = match &args.against {
        None => None,
        Some(path) => match expectations(path) {
            Ok(found) if !found.is_empty() => Some((path.clone(), found)),
            Ok(_) => {
                eprintln!(
                    "plugbus: {}: neither a plugin nor a program that loads plugbus plugins",
                    path.display()
                );
                return ExitCode::from(2);
            }
            Err(error) => {
                eprintln!("plugbus: {}: {}", path.display(), error.reason());
                return ExitCode::from(2);
            }
        },
    };
    let mut ok = true;
    let mut reports = Vec::new();
    for path in &args.files {
        let inspected = inspect(path);
        let verdict = match (&inspected, &against) {
            (Ok(inspection), Some((_, hosts))) => Some(verdict(inspection, hosts)),
            _ => None,
        };
        ok &= inspected.is_ok() && verdict.as_ref().is_none_or(Result::is_ok);
        if args.json {
            reports.push(to_json(path, &inspected, verdict.as_ref()));
        } else {
            print_text(
                path,
                &inspected,
                verdict.as_ref(),
                against.as_ref().map(|a| &a.0),
            );
        }
    }
    if args.json {
        println!("{}", Value::Array(reports));
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Accepted if any of the host's expectations accepts it; otherwise the
/// reason the first (closest: same message type name, if any) refuses it.
fn verdict(inspection: &Inspection, hosts: &[PluginDescriptor]) -> Result<(), String> {
    let mut reasons = Vec::new();
    for host in hosts {
        match inspection.check_against(host) {
            Ok(()) => return Ok(()),
            Err(error) => {
                let close = host.message_name() == inspection.descriptor.message_name();
                reasons.push((close, error.reason().to_string()));
            }
        }
    }
    reasons.sort_by_key(|(close, _)| !close);
    Err(reasons
        .into_iter()
        .next()
        .map_or_else(String::new, |(_, reason)| reason))
}

fn print_text(
    path: &std::path::Path,
    inspected: &Result<Inspection, LoadError>,
    verdict: Option<&Result<(), String>>,
    against: Option<&PathBuf>,
) {
    let file = path.display();
    match inspected {
        Err(error) => println!("{file}: not a plugin: {}", error.reason()),
        Ok(inspection) => {
            let d = &inspection.descriptor;
            println!(
                "{file}: plugin `{}` {} ({}, crate `{}`)",
                d.plugin_name(),
                d.plugin_version(),
                inspection.format,
                inspection.crate_name
            );
            println!(
                "  message: `{}` (size {}, align {}, fingerprint {:#018x})",
                d.message_name(),
                d.message_size,
                d.message_align,
                d.message_fingerprint
            );
            println!(
                "  built with: {}, plugbus-core {}, ABI {}",
                d.rustc_version(),
                d.core_version(),
                d.header.abi_version
            );
            if let (Some(verdict), Some(against)) = (verdict, against) {
                match verdict {
                    Ok(()) => println!("  compatible with {}", against.display()),
                    Err(reason) => {
                        println!("  not compatible with {}: {reason}", against.display());
                    }
                }
            }
        }
    }
}

fn to_json(
    path: &std::path::Path,
    inspected: &Result<Inspection, LoadError>,
    verdict: Option<&Result<(), String>>,
) -> Value {
    let file = path.to_string_lossy();
    match inspected {
        Err(error) => json!({ "file": file, "plugin": null, "error": error.reason().to_string() }),
        Ok(inspection) => {
            let d = &inspection.descriptor;
            let mut report = json!({
                "file": file,
                "plugin": {
                    "name": d.plugin_name(),
                    "version": d.plugin_version(),
                    "crate": inspection.crate_name,
                    "format": inspection.format,
                    "message": {
                        "name": d.message_name(),
                        "size": d.message_size,
                        "align": d.message_align,
                        "fingerprint": format!("{:#018x}", d.message_fingerprint),
                    },
                    "rustc": d.rustc_version(),
                    "plugbus_core": d.core_version(),
                    "abi": d.header.abi_version,
                },
                "error": null,
            });
            if let Some(verdict) = verdict {
                report["compatible"] = json!(verdict.is_ok());
                report["incompatibility"] = match verdict {
                    Ok(()) => Value::Null,
                    Err(reason) => json!(reason),
                };
            }
            report
        }
    }
}
