//! W3 idle memory: RSS per idle plugin over a host with none, each
//! implementation measured in a child process of its own so that one
//! implementation's freed-but-kept memory does not pollute the next.

use std::sync::Arc;
use std::time::Duration;

use crate::child;
use crate::failure::{Failure, check_deliveries};
use crate::host::{Signal, Tally};
use crate::impls::{Impl, implementations};
use crate::w2::wait_handled;

/// W3's result for one implementation.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    pub(crate) name: &'static str,
    pub(crate) plugins: usize,
    pub(crate) rss_base_kib: u64,
    pub(crate) rss_kib: u64,
}

impl Point {
    pub(crate) fn kib_per_plugin(&self) -> f64 {
        (self.rss_kib as f64 - self.rss_base_kib as f64) / self.plugins as f64
    }
}

/// Time for threads that were just started to reach their first wait.
const SETTLE: Duration = Duration::from_millis(100);

/// The resident set of this process in KiB, from `/proc/self/statm`.
fn rss_kib() -> Result<u64, Failure> {
    let statm = std::fs::read_to_string("/proc/self/statm").map_err(|source| Failure::Io {
        what: "read /proc/self/statm".into(),
        source,
    })?;
    let resident: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .ok_or_else(|| Failure::Io {
            what: "parse /proc/self/statm".into(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, statm.clone()),
        })?;
    // SAFETY: sysconf reads a constant of the system; it has no
    // preconditions and touches no memory of ours.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let page = u64::try_from(page).unwrap_or(4096);
    Ok(resident * page / 1024)
}

/// The child's side: build the host, read the baseline, attach `plugins`
/// plugins, send them one message and wait until each handled it (so every
/// thread or task has run and gone idle), read the RSS, shut down, check.
/// Prints one line for the parent.
pub(crate) fn child(name: &str, plugins: usize) -> Result<(), Failure> {
    let imp = implementations()
        .into_iter()
        .find(|imp| imp.name == name)
        .ok_or_else(|| Failure::Usage(format!("unknown implementation {name:?}")))?;
    let mut host = (imp.make)();
    std::thread::sleep(SETTLE);
    let rss_base_kib = rss_kib()?;
    let signal = Arc::new(Signal::default());
    let (tally, summers) = Tally::new(plugins, Some(&signal));
    host.attach_sum_plugins(summers);
    host.send(1);
    wait_handled(imp.name, host.as_mut(), &signal, plugins as u64)?;
    std::thread::sleep(SETTLE);
    let rss_kib = rss_kib()?;
    let counts = host.shutdown();
    check_deliveries(imp.name, plugins, 1, counts, &tally)?;
    println!("w3-child rss_base_kib={rss_base_kib} rss_kib={rss_kib}");
    Ok(())
}

/// The parent's side: runs one child per implementation.
pub(crate) fn measure(imp: &Impl, plugins: usize) -> Result<Point, Failure> {
    let args = [
        "--w3-child".to_owned(),
        imp.name.to_owned(),
        plugins.to_string(),
    ];
    let fields = child::run(imp.name, &args, "w3-child")?;
    Ok(Point {
        name: imp.name,
        plugins,
        rss_base_kib: child::field(imp.name, &fields, "rss_base_kib")?,
        rss_kib: child::field(imp.name, &fields, "rss_kib")?,
    })
}

/// Runs W3 for every implementation that takes part, with its plugin
/// count divided by `divisor`.
pub(crate) fn run(impls: &[Impl], divisor: usize) -> Result<Vec<Point>, Failure> {
    let mut points = Vec::new();
    for imp in impls {
        let Some(plugins) = imp.idle_plugins else {
            continue;
        };
        let point = measure(imp, (plugins / divisor.max(1)).max(1))?;
        eprintln!(
            "w3 {:<24} plugins={:<6} {:>8.2} KiB/plugin (rss {} KiB over {} KiB)",
            point.name,
            point.plugins,
            point.kib_per_plugin(),
            point.rss_kib,
            point.rss_base_kib
        );
        points.push(point);
    }
    Ok(points)
}
