//! Captures the version of the compiler building this crate, for the plugin
//! descriptor: a plugin and its host must be built by the same rustc, since
//! Rust has no stable ABI.

use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTC");
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let version = Command::new(rustc)
        .arg("-V")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
        // A compiler that cannot say its version still gets a value; hosts
        // and plugins built that way only match each other.
        .unwrap_or_else(|| String::from("rustc (unknown version)"));
    println!("cargo:rustc-env=PLUGBUS_RUSTC_VERSION={version}");
}
