//! plugbus on a microcontroller: the plugins, message types and memory
//! pieces of the firmware in `src/bin/`, which runs on QEMU's `mps2-an386`
//! (a Cortex-M4 with an FPU, the `thumbv7em-none-eabihf` target).
//!
//! - [`reading`]: the message (a sensor reading), the reply, and the
//!   simulated sensors that produce readings.
//! - [`plugins`]: four plugins in a static [`Registry`](plugbus_core::registry::Registry),
//!   built from configuration strings.
//! - [`heap`]: the global allocator, which remembers its peak.
//! - [`stack`]: how deep the stack went.
//!
//! The binaries: `sensors` runs the main loop and checks every count;
//! `panic` shows what a plugin's panic does on a `panic = "abort"` target.

#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

extern crate alloc;

pub mod heap;
pub mod plugins;
pub mod reading;
pub mod stack;
