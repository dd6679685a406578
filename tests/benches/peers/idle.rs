//! The idle host: 16 plugins attached, nothing sent for a while (2 s in a
//! full run); the CPU time the whole process used meanwhile, from
//! `getrusage(RUSAGE_SELF)`. A count of CPU time, not a timing: a host
//! whose lanes sleep uses next to none, one that polls uses a core.
//!
//! Each host is measured in a child process of its own, so that no thread
//! of an earlier workload counts.

use std::sync::Arc;
use std::time::Duration;

use crate::child;
use crate::failure::{Failure, check_deliveries};
use crate::host::{Signal, Tally};
use crate::impls::{Impl, Kind, implementations};
use crate::w2::wait_handled;

/// Plugins attached to the idle host.
pub(crate) const PLUGINS: usize = 16;

/// Time for lanes that just handled a message to spin, yield and go to
/// sleep before the window opens.
const SETTLE: Duration = Duration::from_millis(200);

/// The idle workload's result for one host.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    pub(crate) name: &'static str,
    pub(crate) plugins: usize,
    /// How long nothing was sent.
    pub(crate) window: Duration,
    /// CPU time in user mode during the window, µs.
    pub(crate) user_us: u64,
    /// CPU time in the kernel during the window, µs.
    pub(crate) sys_us: u64,
}

impl Point {
    /// User and system CPU time during the window, in milliseconds.
    pub(crate) fn cpu_ms(&self) -> f64 {
        (self.user_us + self.sys_us) as f64 / 1e3
    }
}

/// Whether the idle workload measures `imp`: every plugbus host, once (not
/// its batched W1 variants, which are the same host).
pub(crate) fn takes_part(imp: &Impl) -> bool {
    imp.kind == Kind::Plugbus && imp.batch == 1
}

/// CPU time this process has used so far, user and system, in µs.
fn cpu_time_us() -> Result<(u64, u64), Failure> {
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct
    // of integers.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable `rusage` that outlives the call.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Err(Failure::Io {
            what: "getrusage(RUSAGE_SELF)".into(),
            source: std::io::Error::last_os_error(),
        });
    }
    let us = |time: libc::timeval| {
        u64::try_from(time.tv_sec).unwrap_or(0) * 1_000_000
            + u64::try_from(time.tv_usec).unwrap_or(0)
    };
    Ok((us(usage.ru_utime), us(usage.ru_stime)))
}

/// The child's side: build the host, attach `plugins` plugins, send one
/// message and wait until each handled it (so every lane has started, run
/// and gone idle), let the lanes settle, then read the CPU time before and
/// after `window` of sending nothing. Shuts down, checks the one delivery
/// per plugin, and prints one line for the parent.
pub(crate) fn child(name: &str, plugins: usize, window: Duration) -> Result<(), Failure> {
    let imp = implementations()
        .into_iter()
        .find(|imp| imp.name == name)
        .ok_or_else(|| Failure::Usage(format!("unknown implementation {name:?}")))?;
    let mut host = (imp.make)();
    let signal = Arc::new(Signal::default());
    let (tally, summers) = Tally::new(plugins, Some(&signal));
    host.attach_sum_plugins(summers);
    host.send(1);
    wait_handled(imp.name, host.as_mut(), &signal, plugins as u64)?;
    std::thread::sleep(SETTLE);
    let (user_before, sys_before) = cpu_time_us()?;
    std::thread::sleep(window);
    let (user_after, sys_after) = cpu_time_us()?;
    let counts = host.shutdown();
    check_deliveries(imp.name, plugins, 1, counts, &tally)?;
    println!(
        "idle-child user_us={} sys_us={}",
        user_after.saturating_sub(user_before),
        sys_after.saturating_sub(sys_before)
    );
    Ok(())
}

/// The parent's side: runs one child for `imp`.
pub(crate) fn measure(imp: &Impl, plugins: usize, window: Duration) -> Result<Point, Failure> {
    let args = [
        "--idle-child".to_owned(),
        imp.name.to_owned(),
        plugins.to_string(),
        window.as_millis().to_string(),
    ];
    let fields = child::run(imp.name, &args, "idle-child")?;
    Ok(Point {
        name: imp.name,
        plugins,
        window,
        user_us: child::field(imp.name, &fields, "user_us")?,
        sys_us: child::field(imp.name, &fields, "sys_us")?,
    })
}

/// Runs the idle workload for every plugbus host selected.
pub(crate) fn run(impls: &[Impl], window: Duration) -> Result<Vec<Point>, Failure> {
    let mut points = Vec::new();
    for imp in impls.iter().filter(|imp| takes_part(imp)) {
        let point = measure(imp, PLUGINS, window)?;
        eprintln!(
            "idle {:<24} plugins={} {:>8.3} ms CPU in {:.1} s (user {} us, sys {} us)",
            point.name,
            point.plugins,
            point.cpu_ms(),
            point.window.as_secs_f64(),
            point.user_us,
            point.sys_us
        );
        points.push(point);
    }
    Ok(points)
}
