//! Runs the `message_plugins` scenario on the thread host (one OS thread per
//! plugin) with the example plugins loaded from the dynamic libraries cargo
//! built next to this binary:
//!
//! ```text
//! cargo run -p plugbus-demo
//! cargo run -p plugbus-demo -- path/to/libplugbus_concat.so   # other libraries
//! ```

use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
use std::error::Error;
use std::path::{Path, PathBuf};

use plugbus_commands::{Command, report, scenario};
use plugbus_core::Plugin;
use plugbus_host_std::{DynamicPlugin, Host, load};

/// Where cargo put a dependency's cdylib: `target/<profile>/deps/`, beside
/// this binary's directory.
fn built_library(crate_name: &str) -> Result<PathBuf, String> {
    let file = format!("{DLL_PREFIX}{crate_name}{DLL_SUFFIX}");
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    [dir.join("deps").join(&file), dir.join(&file)]
        .into_iter()
        .find(|path| path.is_file())
        .ok_or_else(|| {
            format!(
                "{file} not found beside {}: build with `cargo build -p plugbus-demo`",
                dir.display()
            )
        })
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut paths: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if paths.is_empty() {
        paths = vec![
            built_library("plugbus_concat")?,
            built_library("plugbus_debug")?,
        ];
    }

    let host = Host::new();
    for path in &paths {
        // SAFETY: the plugins are this workspace's examples (or libraries
        // the user named on the command line and vouches for).
        let plugin: DynamicPlugin<Command> = unsafe { load(path, "") }?;
        let descriptor = plugin.descriptor();
        println!(
            "loaded `{}` {} ({}, built by {}) from {}",
            plugin.name(),
            descriptor.plugin_version(),
            descriptor.plugin_name(),
            descriptor.rustc_version(),
            path.display()
        );
        host.attach(plugin)?;
    }

    let (ask, replies) = report();
    for command in scenario(ask) {
        host.send(command)?;
        // Let the plugins catch up, so each `Time` measures one delivery
        // rather than a queue.
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    for report in host.shutdown() {
        println!(
            "plugin {} `{}`: {}, handled {} messages{}",
            report.id,
            report.name,
            report.exit,
            report.stats.handled,
            report
                .panic
                .map(|p| format!(", panicked: {p}"))
                .unwrap_or_default()
        );
    }
    for summary in replies.try_iter() {
        print!("summary from `{}`: {:?}", summary.plugin, summary.text);
        match summary.average_delay() {
            Some(delay) => println!(
                ", average delay of {} Time messages: {delay:?}",
                summary.times
            ),
            None => println!(),
        }
    }
    Ok(())
}
