//! Test plugin with a library initialiser (an `.init_array` entry on ELF)
//! that aborts the process. The system loader runs it inside `dlopen`, so
//! a host survives this library only if it refuses it before mapping it:
//! the loader tests patch its descriptor (another rustc, another
//! fingerprint) and check that the refusal comes, and the process lives.
//!
//! Never link this crate into a binary (its rlib exists only because every
//! plugin crate builds one): the initialiser would run at that binary's
//! start.

use plugbus_commands::Command;
use plugbus_core::{Flow, Message, Plugin};

/// Does nothing; it never gets to run.
#[derive(Debug, Default)]
pub struct InitAbort;

impl Plugin<Command> for InitAbort {
    fn handle_message(&mut self, _: &Message<Command>) -> Flow {
        Flow::Continue
    }
}

extern "C" fn abort_at_load() {
    eprintln!("plugbus-init-abort: the library's initialiser ran: aborting");
    std::process::abort();
}

/// Registered with the system loader as a library initialiser.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
#[used]
#[unsafe(link_section = ".init_array")]
static ABORT_AT_LOAD: extern "C" fn() = abort_at_load;

/// Registered with the system loader as a library initialiser.
#[cfg(target_vendor = "apple")]
#[used]
#[unsafe(link_section = "__DATA,__mod_init_func")]
static ABORT_AT_LOAD: extern "C" fn() = abort_at_load;

plugbus_core::export_plugin! {
    plugin: InitAbort,
    message: Command,
    construct: |_: &str| Ok::<_, std::convert::Infallible>(InitAbort),
}
