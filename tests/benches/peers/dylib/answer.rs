//! The library W4 loads when no plugbus example plugin is given: a plain
//! Rust cdylib (it links std, like a plugin does), built by the benchmark
//! itself with the toolchain's `rustc`.

/// Called once after the build to check the library works.
#[unsafe(no_mangle)]
pub extern "C" fn plugbus_bench_answer() -> u32 {
    42
}
