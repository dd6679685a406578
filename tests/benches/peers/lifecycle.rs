//! Restart and reload (`lifecycle`), on every host:
//! - restart latency: from the panic in a supervised plugin to the next
//!   message handled by the instance its lane built anew (p50, p99);
//! - reload pause: how long a lane stops handling while a dynamic plugin
//!   is swapped for another build: from the old instance's
//!   `export_state` to the end of its drop, after the new one took the
//!   state and `on_attach` (p50, p99 of 100 reloads; loading, checking and
//!   constructing the new build happen before, on the reloading thread,
//!   and are not part of it);
//! - the sender's throughput during those 100 reloads against the same
//!   host, plugin and time without them, measured right before.
//!
//! The panics are induced and print nothing (a hook that swallows them is
//! installed for the run): the default hook's message to stderr would cost
//! more than the restart.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use plugbus_commands::Tick;
use plugbus_core::lifecycle::{Intensity, Replacement, Restart, State, StateError};
use plugbus_core::{AttachOptions, Flow, Message, Plugin, PluginId};
use plugbus_host_std::{DynamicPlugin, Library, LoadOptions};
use plugbus_tests::conformance::{Family, Local, Smol, TestHost, Threads, TokioMulti};

use crate::failure::Failure;
use crate::stats::percentile;

/// Reloads per host.
pub(crate) const RELOADS: usize = 100;

/// One host's figures.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    pub(crate) host: &'static str,
    pub(crate) restart_p50_us: f64,
    pub(crate) restart_p99_us: f64,
    pub(crate) pause_p50_us: f64,
    pub(crate) pause_p99_us: f64,
    /// Messages per second the sender got through without reloads, then
    /// during them.
    pub(crate) baseline_per_s: f64,
    pub(crate) reloading_per_s: f64,
}

fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    u64::try_from(START.get_or_init(Instant::now).elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Swallows the induced panics (`poison …`), passes on the others.
fn quiet() {
    plugbus_tests::conformance::lifecycle::quiet_induced_panics();
}

/// Panics on a poison, noting when; its first message after a restart
/// notes how long after the panic it came.
struct Bomb {
    panicked_at: Arc<AtomicU64>,
    latencies: Arc<Mutex<Vec<u64>>>,
    fresh: bool,
}

impl Plugin<Tick> for Bomb {
    fn handle_message(&mut self, message: &Message<Tick>) -> Flow {
        match **message {
            Tick::Poison { seq, .. } => {
                self.panicked_at.store(now_ns(), Ordering::SeqCst);
                panic!("poison {seq}");
            }
            Tick::Seq { .. } if self.fresh => {
                self.fresh = false;
                let at = self.panicked_at.load(Ordering::SeqCst);
                if at != 0 {
                    self.latencies.lock().unwrap().push(now_ns() - at);
                }
            }
            _ => {}
        }
        Flow::Continue
    }
}

/// A dynamic plugin with a clock on its lane: the swap starts when the old
/// instance is asked for its state and ends when it has been dropped,
/// after the new one took the state and started. The lane handles nothing
/// in between.
struct Timed {
    inner: Option<DynamicPlugin<Tick>>,
    swap_started: Arc<AtomicU64>,
    pauses: Arc<Mutex<Vec<u64>>>,
    exported: bool,
}

impl Timed {
    fn inner(&mut self) -> &mut DynamicPlugin<Tick> {
        self.inner.as_mut().expect("dropped only in Drop")
    }
}

impl Plugin<Tick> for Timed {
    fn handle_message(&mut self, message: &Message<Tick>) -> Flow {
        self.inner().handle_message(message)
    }
    fn on_attach(&mut self, id: PluginId) {
        self.inner().on_attach(id);
    }
    fn on_detach(&mut self, exit: plugbus_core::Exit) {
        self.inner().on_detach(exit);
    }
    fn export_state(&mut self) -> Option<State> {
        self.swap_started.store(now_ns(), Ordering::SeqCst);
        self.exported = true;
        self.inner().export_state()
    }
    fn import_state(&mut self, state: &State) -> Result<(), StateError> {
        self.inner().import_state(state)
    }
}

impl Drop for Timed {
    fn drop(&mut self) {
        drop(self.inner.take());
        if self.exported {
            let started = self.swap_started.load(Ordering::SeqCst);
            self.pauses.lock().unwrap().push(now_ns() - started);
        }
    }
}

fn deadline_passed(start: Instant, what: &str, host: &str) -> Result<(), Failure> {
    if start.elapsed() > Duration::from_secs(30) {
        return Err(Failure::Usage(format!(
            "{host}: timed out waiting for {what}"
        )));
    }
    Ok(())
}

/// Restart latencies in ns over `rounds` induced panics.
fn restarts<F: Family>(rounds: usize) -> Result<Vec<u64>, Failure> {
    let mut host = F::host::<Tick>(1024);
    let panicked_at = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let (at, lat) = (panicked_at.clone(), latencies.clone());
    let options = AttachOptions::new()
        .restart(Restart::OnPanic)
        .intensity(Intensity::new(u32::MAX, Duration::from_secs(1)));
    let factory = move || Bomb {
        panicked_at: at.clone(),
        latencies: lat.clone(),
        fresh: true,
    };
    host.attach_supervised(factory, options)
        .map_err(|e| Failure::Usage(format!("{}: attach: {e}", F::NAME)))?;
    for round in 0..rounds {
        let seq = round as u64;
        host.send_batch(vec![
            Tick::Poison { sender: 0, seq },
            Tick::Seq { sender: 0, seq },
        ])
        .map_err(|_| Failure::Usage(format!("{}: send", F::NAME)))?;
        let start = Instant::now();
        while latencies.lock().unwrap().len() <= round {
            host.run_pending();
            deadline_passed(start, "a restart", F::NAME)?;
            std::thread::yield_now();
        }
    }
    let reports = host.shutdown();
    let restarted = reports.first().map_or(0, |r| r.stats.restarts);
    if restarted != rounds as u64 {
        return Err(Failure::Usage(format!(
            "{}: {restarted} restarts for {rounds} panics",
            F::NAME
        )));
    }
    Ok(Arc::try_unwrap(latencies)
        .map(|m| m.into_inner().unwrap())
        .unwrap_or_default())
}

/// Sends numbered ticks for `time` (from another thread where the host has
/// one), calling `during` between, and after `time` while `during` still
/// has work (it returns whether it did some); returns how many went out
/// and in how long.
fn flood<F: Family>(
    host: &mut F::Host<Tick>,
    time: Duration,
    mut during: impl FnMut(&mut F::Host<Tick>, Instant) -> bool,
) -> Result<(u64, Duration), Failure> {
    let start = Instant::now();
    let Some(send) = host.sender() else {
        let mut sent = 0;
        let mut busy = true;
        while start.elapsed() < time || busy {
            let batch: Vec<Tick> = (sent..sent + 64)
                .map(|seq| Tick::Seq { sender: 0, seq })
                .collect();
            sent += host
                .send_batch(batch)
                .map_err(|_| Failure::Usage(format!("{}: send", F::NAME)))?
                as u64;
            busy = during(host, start);
        }
        let elapsed = start.elapsed();
        host.run_pending();
        return Ok((sent, elapsed));
    };
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let sender = std::thread::spawn(move || {
        let mut sent = 0;
        while !stopped.load(Ordering::Relaxed) {
            if send(Tick::Seq {
                sender: 0,
                seq: sent,
            })
            .is_err()
            {
                break;
            }
            sent += 1;
        }
        sent
    });
    let mut busy = true;
    while start.elapsed() < time || busy {
        busy = during(host, start);
        if !busy {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed();
    let sent = sender
        .join()
        .map_err(|_| Failure::Usage(format!("{}: the sender panicked", F::NAME)))?;
    Ok((sent, elapsed))
}

struct Reloads {
    pauses: Vec<u64>,
    baseline_per_s: f64,
    reloading_per_s: f64,
}

/// The reload pauses (ns) and the sender's throughput with and without
/// `reloads` reloads spread over `time`.
fn reloads<F: Family>(reloads: usize, time: Duration) -> Result<Reloads, Failure> {
    let open = |name: &str| {
        let path = plugbus_tests::dylib::library(name);
        // SAFETY: the tally builds are this workspace's own plugins.
        unsafe { Library::<Tick>::open(path, &LoadOptions::new()) }
            .map_err(|e| Failure::Usage(format!("loading {name}: {e}")))
    };
    let builds = [open("plugbus_tally")?, open("plugbus_tally_v2")?];
    let swap_started = Arc::new(AtomicU64::new(0));
    let pauses = Arc::new(Mutex::new(Vec::new()));
    let timed = |build: &Library<Tick>| -> Result<Timed, Failure> {
        Ok(Timed {
            inner: Some(
                build
                    .instance("")
                    .map_err(|e| Failure::Usage(e.to_string()))?,
            ),
            swap_started: swap_started.clone(),
            pauses: pauses.clone(),
            exported: false,
        })
    };
    let mut host = F::host::<Tick>(1024);
    let id = host
        .attach(timed(&builds[0])?)
        .map_err(|e| Failure::Usage(format!("{}: attach: {e}", F::NAME)))?;
    let baseline = flood::<F>(&mut host, time, |_, _| false)?;
    let mut done = 0;
    let reloading = flood::<F>(&mut host, time, |host, start| {
        // Reload number `done` once its share of the time has come.
        let due = time.mul_f64(done as f64 / reloads as f64);
        if done >= reloads || start.elapsed() < due {
            return false;
        }
        done += 1;
        // Loaded and checked before the swap, as a reload does.
        let Ok(new) = timed(&builds[done % 2]) else {
            return true;
        };
        let replacement = Replacement::new(new).factory(builds[done % 2].factory(""));
        let _ = host.replace_with(id, replacement);
        true
    })?;
    let reports = host.shutdown();
    let replaced = reports.first().map_or(0, |r| r.stats.replaced);
    if replaced != done as u64 || done != reloads {
        return Err(Failure::Usage(format!(
            "{}: {replaced} of {reloads} reloads took place",
            F::NAME
        )));
    }
    let pauses = pauses.lock().unwrap().clone();
    Ok(Reloads {
        pauses,
        baseline_per_s: baseline.0 as f64 / baseline.1.as_secs_f64(),
        reloading_per_s: reloading.0 as f64 / reloading.1.as_secs_f64(),
    })
}

fn point<F: Family>(rounds: usize, reload_count: usize, time: Duration) -> Result<Point, Failure> {
    quiet();
    let restart = restarts::<F>(rounds)?;
    let r = reloads::<F>(reload_count, time)?;
    let us = |v: &[u64], p: f64| {
        let mut us: Vec<f64> = v.iter().map(|&ns| ns as f64 / 1000.0).collect();
        if us.is_empty() {
            f64::NAN
        } else {
            percentile(&mut us, p)
        }
    };
    Ok(Point {
        host: F::NAME,
        restart_p50_us: us(&restart, 0.50),
        restart_p99_us: us(&restart, 0.99),
        pause_p50_us: us(&r.pauses, 0.50),
        pause_p99_us: us(&r.pauses, 0.99),
        baseline_per_s: r.baseline_per_s,
        reloading_per_s: r.reloading_per_s,
    })
}

/// Every host: 1,000 restarts and 100 reloads over 2 s each.
pub(crate) fn run(quick: bool) -> Result<Vec<Point>, Failure> {
    let (rounds, time) = if quick {
        (100, Duration::from_millis(300))
    } else {
        (1000, Duration::from_secs(2))
    };
    Ok(vec![
        point::<Local>(rounds, RELOADS, time)?,
        point::<Threads>(rounds, RELOADS, time)?,
        point::<Smol>(rounds, RELOADS, time)?,
        point::<TokioMulti>(rounds, RELOADS, time)?,
    ])
}

/// The figures as a table.
pub(crate) fn report(points: &[Point]) -> String {
    if points.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\nlifecycle: restart latency (panic -> next message handled by the new instance), \
         reload pause (the swap on the lane: export, import, on_attach, old instance dropped; 100 reloads), \
         sender throughput during the reloads / without, same host and plugin\n\
         | host | restart p50 µs | restart p99 µs | reload pause p50 µs | reload pause p99 µs | \
         sent/s without | sent/s reloading | ratio |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for p in points {
        out.push_str(&format!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} | {:.0} | {:.2} |\n",
            p.host,
            p.restart_p50_us,
            p.restart_p99_us,
            p.pause_p50_us,
            p.pause_p99_us,
            p.baseline_per_s,
            p.reloading_per_s,
            p.reloading_per_s / p.baseline_per_s.max(1.0),
        ));
    }
    out
}

/// Tiny runs on every host for the smoke check: counts checked, nothing
/// timed against anything.
pub(crate) fn smoke() -> Vec<(String, Result<(), Failure>)> {
    let time = Duration::from_millis(40);
    vec![
        (
            "lifecycle LocalHost".into(),
            point::<Local>(5, 4, time).map(drop),
        ),
        (
            "lifecycle host-std".into(),
            point::<Threads>(5, 4, time).map(drop),
        ),
        (
            "lifecycle host-smol".into(),
            point::<Smol>(5, 4, time).map(drop),
        ),
        (
            "lifecycle host-tokio".into(),
            point::<TokioMulti>(5, 4, time).map(drop),
        ),
    ]
}
