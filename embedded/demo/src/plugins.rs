//! Five plugins in a static registry, each built from a configuration
//! string, as a firmware would list them in flash. `settle` is an async
//! plugin: its handler waits for a (simulated) conversion that the main loop
//! completes, and `LocalHost::poll` drives it with no executor.
//!
//! | name      | does                                          | config       |
//! |-----------|-----------------------------------------------|--------------|
//! | `tally`   | counts readings per sensor                    | (none)       |
//! | `alarm`   | replies an [`Alert`] above a threshold        | `above=<n>`  |
//! | `trace`   | keeps the latest reading (a slow log; attach it lossy) | (none) |
//! | `average` | running mean of one sensor (filters the rest) | `sensor=<n>` |
//! | `settle`  | async: waits for a conversion per reading     | (none)       |

use alloc::boxed::Box;
use alloc::format;
use core::cell::RefCell;
use core::future::Future;
use core::pin::Pin;
use core::str::FromStr;
use core::task::{Context, Poll, Waker};

use critical_section::Mutex;
use plugbus_core::registry::{ConfigError, Registration, Registry};
use plugbus_core::{Async, AsyncPlugin, Flow, Message, Outbox, Plugin};

use crate::reading::{Alert, Reading, SENSORS};

/// Every plugin this firmware knows, by name.
pub static PLUGINS: Registry<Reading> = Registry::new(&[
    Registration {
        name: "tally",
        version: VERSION,
        construct: Tally::construct,
    },
    Registration {
        name: "alarm",
        version: VERSION,
        construct: Alarm::construct,
    },
    Registration {
        name: "trace",
        version: VERSION,
        construct: Trace::construct,
    },
    Registration {
        name: "average",
        version: VERSION,
        construct: Average::construct,
    },
    Registration {
        name: "settle",
        version: VERSION,
        construct: Settle::construct,
    },
]);

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where `alarm`'s constructor finds its outbox. A registry constructor is a
/// plain `fn(&str)`, so a run-time resource such as an outbox reaches it
/// through a `static`; the main loop installs the outbox before building
/// the plugin and takes it back after.
static ALERT_OUTBOX: Mutex<RefCell<Option<Outbox<Alert>>>> = Mutex::new(RefCell::new(None));

/// Installs (or, with `None`, removes) the outbox the next `alarm` plugins
/// reply through; returns the one it replaces.
pub fn set_alert_outbox(outbox: Option<Outbox<Alert>>) -> Option<Outbox<Alert>> {
    critical_section::with(|cs| ALERT_OUTBOX.borrow(cs).replace(outbox))
}

/// Counts readings per sensor.
#[derive(Debug, Default)]
pub struct Tally {
    per_sensor: [u32; SENSORS as usize],
    unknown: u32,
}

impl Tally {
    fn construct(config: &str) -> Result<Box<dyn Plugin<Reading>>, ConfigError> {
        no_options("tally", config)?;
        Ok(Box::new(Tally::default()))
    }
}

impl Plugin<Reading> for Tally {
    fn handle_message(&mut self, reading: &Message<Reading>) -> Flow {
        match self.per_sensor.get_mut(usize::from(reading.sensor)) {
            Some(count) => *count += 1,
            None => self.unknown += 1,
        }
        Flow::Continue
    }

    fn name(&self) -> &str {
        "tally"
    }
}

/// Replies an [`Alert`] through its outbox for every reading above its
/// threshold. It never blocks: a full outbox drops the alert and counts it
/// (`Replies::dropped`).
#[derive(Debug)]
pub struct Alarm {
    above: u16,
    outbox: Outbox<Alert>,
}

impl Alarm {
    fn construct(config: &str) -> Result<Box<dyn Plugin<Reading>>, ConfigError> {
        let above = option(config, "above")?;
        let outbox = critical_section::with(|cs| ALERT_OUTBOX.borrow(cs).borrow().clone())
            .ok_or_else(|| ConfigError::new("no alert outbox is installed (set_alert_outbox)"))?;
        Ok(Box::new(Alarm { above, outbox }))
    }
}

impl Plugin<Reading> for Alarm {
    fn handle_message(&mut self, reading: &Message<Reading>) -> Flow {
        if reading.value > self.above {
            // A full outbox hands the alert back; it is counted as dropped.
            let _ = self.outbox.send(Alert { reading: **reading });
        }
        Flow::Continue
    }

    fn name(&self) -> &str {
        "alarm"
    }
}

/// Keeps the latest reading it saw: a stand-in for a slow log writer, the
/// plugin that may fall behind and should lose old readings rather than
/// hold up the others (attach it with `Overflow::DropOldest`).
#[derive(Debug, Default)]
pub struct Trace {
    latest: Option<Reading>,
}

impl Trace {
    fn construct(config: &str) -> Result<Box<dyn Plugin<Reading>>, ConfigError> {
        no_options("trace", config)?;
        Ok(Box::new(Trace::default()))
    }
}

impl Plugin<Reading> for Trace {
    fn handle_message(&mut self, reading: &Message<Reading>) -> Flow {
        self.latest = Some(**reading);
        Flow::Continue
    }

    fn name(&self) -> &str {
        "trace"
    }
}

/// The running mean of one sensor; its filter declines the other sensors
/// (counted as `filtered`).
#[derive(Debug)]
pub struct Average {
    sensor: u8,
    sum: u32,
    count: u32,
}

impl Average {
    fn construct(config: &str) -> Result<Box<dyn Plugin<Reading>>, ConfigError> {
        let sensor = option(config, "sensor")?;
        if sensor >= SENSORS {
            return Err(ConfigError::new(format!(
                "sensor {sensor} does not exist (the board has {SENSORS})"
            )));
        }
        Ok(Box::new(Average {
            sensor,
            sum: 0,
            count: 0,
        }))
    }

    /// The mean so far, if any reading arrived.
    pub fn mean(&self) -> Option<u32> {
        self.sum.checked_div(self.count)
    }
}

impl Plugin<Reading> for Average {
    fn handle_message(&mut self, reading: &Message<Reading>) -> Flow {
        self.sum += u32::from(reading.value);
        self.count += 1;
        Flow::Continue
    }

    fn wants(&self, reading: &Reading) -> bool {
        reading.sensor == self.sensor
    }

    fn name(&self) -> &str {
        "average"
    }
}

/// Refuses any configuration for a plugin that takes none.
fn no_options(plugin: &str, config: &str) -> Result<(), ConfigError> {
    if config.trim().is_empty() {
        Ok(())
    } else {
        Err(ConfigError::new(format!(
            "{plugin} takes no configuration, got `{config}`"
        )))
    }
}

/// Parses a configuration of the form `key=value`.
fn option<T: FromStr>(config: &str, key: &str) -> Result<T, ConfigError> {
    config
        .trim()
        .strip_prefix(key)
        .and_then(|rest| rest.strip_prefix('='))
        .and_then(|value| value.parse().ok())
        .ok_or_else(|| ConfigError::new(format!("expected `{key}=<number>`, got `{config}`")))
}

/// The conversions: a stand-in for a peripheral (an ADC, a DMA transfer)
/// whose interrupt would complete them.
struct Conversions {
    /// Completed by the main loop and not yet taken by `settle`.
    ready: u32,
    /// How many times a `settle` handler found none ready and waited.
    waits: u32,
    /// The waker of the handler waiting for one.
    waker: Option<Waker>,
}

static CONVERSIONS: Mutex<RefCell<Conversions>> = Mutex::new(RefCell::new(Conversions {
    ready: 0,
    waits: 0,
    waker: None,
}));

/// Completes `n` conversions and wakes a handler waiting for one (called by
/// the main loop, as an interrupt handler would).
pub fn complete_conversions(n: u32) {
    let waker = critical_section::with(|cs| {
        let mut state = CONVERSIONS.borrow(cs).borrow_mut();
        state.ready += n;
        state.waker.take()
    });
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// How many times a `settle` handler had to wait for a conversion.
pub fn conversion_waits() -> u32 {
    critical_section::with(|cs| CONVERSIONS.borrow(cs).borrow().waits)
}

/// Waits until a conversion is complete, then takes it.
struct Conversion;

impl Future for Conversion {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        critical_section::with(|cs| {
            let mut state = CONVERSIONS.borrow(cs).borrow_mut();
            if state.ready > 0 {
                state.ready -= 1;
                Poll::Ready(())
            } else {
                state.waits += 1;
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        })
    }
}

/// An async plugin: for each reading it awaits a conversion, then adds the
/// reading to a sum. While it waits, its lane keeps its place in the ring
/// and the other plugins go on; `LocalHost::poll` polls it again once the
/// main loop completes a conversion and wakes it.
#[derive(Debug, Default)]
pub struct Settle {
    sum: u64,
}

impl Settle {
    fn construct(config: &str) -> Result<Box<dyn Plugin<Reading>>, ConfigError> {
        no_options("settle", config)?;
        Ok(Box::new(Async::new(Settle::default())))
    }
}

impl AsyncPlugin<Reading> for Settle {
    async fn handle_message(&mut self, reading: &Message<Reading>) -> Flow {
        Conversion.await;
        self.sum += u64::from(reading.value);
        Flow::Continue
    }

    fn name(&self) -> &str {
        "settle"
    }
}
