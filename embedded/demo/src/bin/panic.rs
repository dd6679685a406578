//! What a plugin's panic does on a microcontroller: it stops the firmware.
//!
//! Cortex-M targets only support `panic = "abort"`: a panic never unwinds,
//! so no lane can catch it (`plugbus-core`'s `std` feature, which catches a
//! plugin's panic at its lane and reports it, needs an unwinding target and
//! is off here). A panic in any plugin calls the firmware's
//! `#[panic_handler]` on the spot, and that handler never returns: the host,
//! the other plugins and the main loop stop with it, and no report is
//! written.
//!
//! What happens next is the firmware's choice, made once in its panic
//! handler: here (`panic-semihosting` with `exit`) it prints the message and
//! ends QEMU with status 1; on a board it is usually a reset
//! (`cortex_m::peripheral::SCB::sys_reset`, often after saving the message
//! where the next boot can read it), a halt for the debugger (`panic-halt`,
//! `panic-probe`), or the watchdog's reset. So on such a target a plugin
//! must not panic on bad input: it checks it and returns
//! `Flow::Detach(Status::FAILURE)`, which the host reports and survives.
//!
//! This binary attaches `fragile`, which indexes a two-entry calibration
//! table by sensor number, next to `tally`, and sends readings of sensors
//! 0, 1, 2. The third reading panics inside `fragile`; the line after the
//! loop is never printed, and QEMU exits with status 1.
//!
//! Run it from `embedded/`: `cargo run --release --bin panic` (status 1 is
//! the expected outcome).

#![no_std]
#![no_main]

extern crate alloc;

use core::mem::MaybeUninit;

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use panic_semihosting as _;
use plugbus_core::{Flow, LocalHost, Message, Plugin};
use plugbus_embedded_demo::heap::PeakHeap;
use plugbus_embedded_demo::plugins::PLUGINS;
use plugbus_embedded_demo::reading::{Reading, Sensors};

const HEAP_SIZE: usize = 4 * 1024;

#[global_allocator]
static HEAP: PeakHeap = PeakHeap::empty();

#[unsafe(link_section = ".uninit.HEAP")]
static mut HEAP_ARENA: [MaybeUninit<u8>; HEAP_SIZE] = [MaybeUninit::uninit(); HEAP_SIZE];

/// Corrects readings with a per-sensor table that is one sensor short: a
/// bug that panics (index out of bounds) on the first reading of sensor 2.
struct Fragile {
    calibration: [u16; 2],
}

impl Plugin<Reading> for Fragile {
    fn handle_message(&mut self, reading: &Message<Reading>) -> Flow {
        let offset = self.calibration[usize::from(reading.sensor)];
        hprintln!(
            "fragile: sensor {} corrected to {}",
            reading.sensor,
            reading.value + offset
        );
        Flow::Continue
    }

    fn name(&self) -> &str {
        "fragile"
    }
}

#[entry]
fn main() -> ! {
    // SAFETY: called once, before the first allocation; the arena is used
    // by nothing else.
    unsafe { HEAP.init((&raw mut HEAP_ARENA) as usize, HEAP_SIZE) };
    let mut host = LocalHost::with_capacity(8);
    let fragile = Fragile {
        calibration: [3, 5],
    };
    let attached = match PLUGINS.construct("tally", "") {
        Ok(tally) => host.attach(tally).is_ok() && host.attach(fragile).is_ok(),
        Err(_) => false,
    };
    if !attached {
        hprintln!("cannot attach the plugins");
        debug::exit(debug::EXIT_FAILURE);
    }
    hprintln!("sending readings of sensors 0, 1, 2; `fragile` has calibrations for 2 sensors");
    let mut sensors = Sensors::new();
    for _ in 0..3 {
        if host.send(sensors.sample()).is_err() {
            hprintln!("send failed");
            debug::exit(debug::EXIT_FAILURE);
        }
        host.poll();
    }
    // Never reached: the third poll ran `fragile` on sensor 2 and panicked.
    hprintln!("not reached: the host went on after a plugin panicked");
    debug::exit(debug::EXIT_SUCCESS);
    loop {
        cortex_m::asm::wfi();
    }
}
