//! Links `plugbus-core` (no default features) into a `#![no_std]`,
//! `#![no_main]` binary for a Cortex-M target, with this crate's own
//! `#[panic_handler]` and `#[global_allocator]`.
//!
//! If anything in core's dependency tree pulls in `std`, this fails: the
//! target has no `std` to find, and on a target that has one, std's panic
//! handler would clash with ours (a duplicate `panic_impl` lang item). If core
//! needs a symbol the target lacks (a 64-bit atomic on a core with only
//! 32-bit ones, say), the link fails. The binary is linked, never run: the
//! demo next to it (`../demo`) is what runs under QEMU.
//!
//! Build it from `embedded/`: `cargo build --release --locked -p plugbus-link-check`.

#![no_std]
#![no_main]

extern crate alloc;

mod bump;

use core::hint::black_box;
use core::panic::PanicInfo;

use plugbus_core::registry::{ConfigError, Registration, Registry};
use plugbus_core::ring::Fixed;
use plugbus_core::{AttachOptions, Flow, LocalHost, Message, Outbox, Overflow, Plugin, outbox};

#[global_allocator]
static ALLOCATOR: bump::Bump<8192> = bump::Bump::new();

/// This binary's own panic handler: core must not bring one (std does).
#[panic_handler]
fn panic(_: &PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// Echoes every message through the outbox.
struct Echo(Outbox<u32>);

impl Plugin<u32> for Echo {
    fn handle_message(&mut self, message: &Message<u32>) -> Flow {
        let _ = self.0.send(**message);
        Flow::Continue
    }
}

/// Counts messages.
struct Count(u32);

impl Plugin<u32> for Count {
    fn handle_message(&mut self, _: &Message<u32>) -> Flow {
        self.0 += 1;
        Flow::Continue
    }
}

fn count(config: &str) -> Result<alloc::boxed::Box<dyn Plugin<u32>>, ConfigError> {
    if config.is_empty() {
        Ok(alloc::boxed::Box::new(Count(0)))
    } else {
        Err(ConfigError::new("count takes no configuration"))
    }
}

static PLUGINS: Registry<u32> = Registry::new(&[Registration {
    name: "count",
    version: "0.1.0",
    construct: count,
}]);

/// The entry point the linker keeps. It uses the API a firmware uses
/// (registry, `LocalHost` over a fixed ring, a lossy lane, the outbox,
/// reports), so that all of it is linked and every symbol it needs resolves.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    let (tx, replies) = outbox(4);
    let mut host = LocalHost::with_storage(Fixed::<u32, 8>::new());
    let _ = black_box(host.attach(Echo(tx)));
    if let Ok(plugin) = PLUGINS.construct("count", "") {
        let options = AttachOptions::new()
            .overflow(Overflow::DropOldest)
            .capacity(2);
        let _ = black_box(host.attach_with(plugin, options));
    }
    for n in 0..black_box(16) {
        let _ = black_box(host.send(n));
        black_box(host.poll());
    }
    black_box(replies.try_recv());
    black_box(host.shutdown());
    loop {
        core::hint::spin_loop();
    }
}
