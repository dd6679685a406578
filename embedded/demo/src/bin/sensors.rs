//! The embedded demo: plugbus on a Cortex-M4 with 16 KiB of RAM.
//!
//! Five plugins from a static registry run on a `LocalHost` over a 64-slot
//! `ring::Fixed`: the slots are inline in the host's one allocation, sized
//! at compile time, with no allocation of their own. A main loop samples simulated sensors, sends
//! each reading to every plugin and polls the host once per tick: `alarm`
//! replies through the outbox, `trace` is attached lossy (`DropOldest`, 4
//! slots) and loses half of each tick's readings, counted; `average`
//! filters all but one sensor; `settle` is an async plugin whose handler
//! waits for a conversion the main loop completes (half of a tick's before
//! the poll, half after it, so the handler really waits and is woken).
//! At the end it prints each plugin's report,
//! the peak heap and stack, and exits 0 only if every count matches what
//! was sent.
//!
//! Run it from `embedded/` (needs `qemu-system-arm`):
//! `cargo run --release --bin sensors`.
//!
//! Adding a plugin: register it in
//! `src/plugins.rs`, add a line to `plan` below, its expected counts to
//! [`matches`], and its report line to the `expected` list in
//! `embedded/check`.

#![no_std]
#![no_main]

extern crate alloc;

use core::mem::MaybeUninit;

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
// A panic prints its message through semihosting and exits QEMU with status 1.
use panic_semihosting as _;
use plugbus_core::ring::Fixed;
use plugbus_core::{AttachOptions, Exit, LocalHost, Overflow, Report, outbox};
use plugbus_embedded_demo::heap::PeakHeap;
use plugbus_embedded_demo::plugins::{
    PLUGINS, complete_conversions, conversion_waits, set_alert_outbox,
};
use plugbus_embedded_demo::reading::{Alert, Reading, Sensors};
use plugbus_embedded_demo::stack::stack_usage;

/// `hprintln!` with inline format arguments (`{name}`), which it cannot take
/// itself.
macro_rules! say {
    ($($arg:tt)*) => {
        hprintln!("{}", format_args!($($arg)*))
    };
}

/// Ring slots: every `Block` plugin may lag this many readings.
const RING: usize = 64;
/// Main-loop turns; each sends `PER_TICK` readings, then polls once.
const TICKS: u32 = 32;
const PER_TICK: u32 = 8;
/// `trace`'s own queue: it keeps the newest 4 of each tick's 8 readings.
const TRACE_CAPACITY: usize = 4;
/// `alarm` replies for readings above this.
const ALARM_ABOVE: u16 = 900;
/// Replies the outbox holds before it drops them; the loop empties it every
/// tick, and a tick raises at most `PER_TICK` alerts.
const OUTBOX_CAPACITY: usize = PER_TICK as usize;
/// The heap arena, outside `.bss` (in `.uninit`, not zeroed at reset).
const HEAP_SIZE: usize = 8 * 1024;

#[global_allocator]
static HEAP: PeakHeap = PeakHeap::empty();

#[unsafe(link_section = ".uninit.HEAP")]
static mut HEAP_ARENA: [MaybeUninit<u8>; HEAP_SIZE] = [MaybeUninit::uninit(); HEAP_SIZE];

#[entry]
fn main() -> ! {
    // SAFETY: called once, before the first allocation; the arena is used
    // by nothing else (it is only named here).
    unsafe { HEAP.init((&raw mut HEAP_ARENA) as usize, HEAP_SIZE) };
    let ok = run();
    let (stack, stack_size) = stack_usage();
    say!("stack peak {stack} B of {stack_size} B");
    if ok {
        say!("counts ok");
        debug::exit(debug::EXIT_SUCCESS);
    } else {
        say!("counts WRONG");
        debug::exit(debug::EXIT_FAILURE);
    }
    loop {
        cortex_m::asm::wfi();
    }
}

/// What the main loop sent, counted on its side.
#[derive(Default)]
struct Sent {
    readings: u64,
    /// Readings of sensor 0, the one `average` keeps.
    sensor0: u64,
    /// Readings above `ALARM_ABOVE`.
    above: u64,
}

/// Runs the scenario and says whether every count matched.
fn run() -> bool {
    say!(
        "plugbus embedded demo: mps2-an386 (Cortex-M4F), LocalHost over ring::Fixed<Reading, {RING}>"
    );

    // Bad configuration is a typed error, not a crash.
    match PLUGINS.construct("average", "sensor=north") {
        Err(error) => say!("refused as it should be: {error}"),
        Ok(_) => {
            say!("`average` accepted `sensor=north`");
            return false;
        }
    }

    let (alerts_out, alerts) = outbox::<Alert>(OUTBOX_CAPACITY);
    set_alert_outbox(Some(alerts_out));
    // The slots go into the host's one allocation and are freed with it,
    // messages included. (A ring in a `static` would keep its last 64
    // messages allocated for good once plugbus-core's slots own their
    // messages.)
    let mut host = LocalHost::with_storage(Fixed::<Reading, RING>::new());
    let trace = AttachOptions::new()
        .overflow(Overflow::DropOldest)
        .capacity(TRACE_CAPACITY);
    let above = alloc::format!("above={ALARM_ABOVE}");
    let plan = [
        ("tally", "", AttachOptions::new()),
        ("alarm", above.as_str(), AttachOptions::new()),
        ("trace", "", trace),
        ("average", "sensor=0", AttachOptions::new()),
        ("settle", "", AttachOptions::new()),
    ];
    for (name, config, options) in plan {
        let attached = PLUGINS
            .construct(name, config)
            .map_err(|e| alloc::format!("{e}"))
            .and_then(|plugin| {
                host.attach_with(plugin, options)
                    .map_err(|e| alloc::format!("{e}"))
            });
        if let Err(error) = attached {
            say!("cannot attach `{name}`: {error}");
            return false;
        }
    }
    // Only `alarm` holds the outbox now, so the replies end when it does.
    drop(set_alert_outbox(None));

    let mut sensors = Sensors::new();
    let mut sent = Sent::default();
    let mut alerts_seen = 0u64;
    for _ in 0..TICKS {
        for _ in 0..PER_TICK {
            let reading = sensors.sample();
            sent.readings += 1;
            sent.sensor0 += u64::from(reading.sensor == 0);
            sent.above += u64::from(reading.value > ALARM_ABOVE);
            if let Err(error) = host.send(reading) {
                say!("send failed: {error}");
                return false;
            }
        }
        // Half of this tick's conversions complete before the poll and half
        // after it: `settle` handles what it can, waits, and is woken.
        complete_conversions(PER_TICK / 2);
        host.poll();
        complete_conversions(PER_TICK - PER_TICK / 2);
        while let Some(alert) = alerts.try_recv() {
            if alerts_seen == 0 {
                let r = alert.reading;
                say!(
                    "first alert: reading {} of sensor {} is {}",
                    r.seq,
                    r.sensor,
                    r.value
                );
            }
            alerts_seen += 1;
        }
    }
    let reports = host.shutdown();
    alerts_seen += alerts.drain().len() as u64;

    say!(
        "sent {} readings in {TICKS} ticks of {PER_TICK}",
        sent.readings
    );
    say!(
        "alerts {alerts_seen} (readings above {ALARM_ABOVE}: {}), replies dropped {}",
        sent.above,
        alerts.dropped()
    );
    // `settle` found no conversion ready and was woken at least once a tick.
    let waits = conversion_waits();
    say!("settle waited for a conversion {waits} times, woken by the main loop");
    let mut ok = alerts_seen == sent.above && alerts.dropped() == 0 && waits >= TICKS;
    for report in &reports {
        let s = &report.stats;
        say!(
            "report {} {}: {}, received {}, handled {}, filtered {}, dropped {}, panicked {}",
            report.id,
            report.name,
            report.exit,
            s.received,
            s.handled,
            s.filtered,
            s.dropped,
            s.panicked
        );
        ok &= matches(report, &sent);
    }
    ok &= reports.len() == 5;
    drop((reports, alerts, above));

    let in_use = HEAP.used();
    say!(
        "heap peak {} B of {HEAP_SIZE} B in {} allocations, in use after shutdown {in_use} B",
        HEAP.peak(),
        HEAP.allocations()
    );
    ok && in_use == 0
}

/// Whether a plugin's report says exactly what the loop sent it.
fn matches(report: &Report, sent: &Sent) -> bool {
    let n = sent.readings;
    // (received, handled, filtered, dropped)
    let expected = match report.name.as_str() {
        "tally" | "alarm" => (n, n, 0, 0),
        // Each tick queues 8 readings for it and the poll that follows
        // takes the newest 4: the 4 older ones are dropped.
        "trace" => {
            let kept = u64::from(TICKS) * (PER_TICK as usize).min(TRACE_CAPACITY) as u64;
            (kept, kept, 0, n - kept)
        }
        "average" => (n, sent.sensor0, n - sent.sensor0, 0),
        "settle" => (n, n, 0, 0),
        _ => return false,
    };
    let s = &report.stats;
    report.exit == Exit::Shutdown
        && s.panicked == 0
        && s.rejected == 0
        && (s.received, s.handled, s.filtered, s.dropped) == expected
}
