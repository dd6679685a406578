//! Several sending threads: host-std at 16 plugins with 1, 2 and 4 threads
//! sending at once (each a disjoint part of the values, through its own
//! `Sender`), against crossbeam fan-out with as many threads, each holding a
//! copy of the 16 channel senders. The figure that matters is each row
//! against the same implementation's single sender in the same run.

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::crossbeam::CrossbeamFanOut;
use crate::failure::{Failure, check_deliveries};
use crate::host::{BenchHost, Tally};
use crate::impls::{CROSSBEAM, PLUGBUS_STD};
use crate::options::Options;
use crate::plugbus::{SumPlugin, handled};
use crate::stats::median;
use crate::w1::calibrate_with;
use crate::xcore::quick_round_trip_ns;

/// The plugin count of the senders workload.
pub(crate) const PLUGINS: usize = 16;
/// The sending thread counts.
pub(crate) const SENDERS: [usize; 3] = [1, 2, 4];

/// One implementation at one sender count.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    pub(crate) name: &'static str,
    pub(crate) senders: usize,
    pub(crate) plugins: usize,
    pub(crate) messages: u64,
    /// The median, least and most over the runs.
    pub(crate) deliveries_per_s: f64,
    pub(crate) min_per_s: f64,
    pub(crate) max_per_s: f64,
    pub(crate) runs: usize,
    pub(crate) xcore_ns: f64,
}

/// `values` cut into `parts` contiguous ranges, in order.
fn split(values: Range<u64>, parts: usize) -> Vec<Range<u64>> {
    let parts = parts.max(1) as u64;
    let len = values.end - values.start;
    (0..parts)
        .map(|i| values.start + len * i / parts..values.start + len * (i + 1) / parts)
        .collect()
}

/// host-std: `senders` threads each send their part of `1..=messages` one
/// message at a time; timed from the first spawn until shutdown returned.
pub(crate) fn std_once(plugins: usize, messages: u64, senders: usize) -> Result<Duration, Failure> {
    let host = plugbus_host_std::Host::<u64>::new();
    let (tally, summers) = Tally::new(plugins, None);
    for summer in summers {
        host.attach(SumPlugin(summer))
            .expect("a plugin thread starts");
    }
    let start = Instant::now();
    std::thread::scope(|scope| {
        for part in split(1..messages + 1, senders) {
            let sender = host.sender();
            scope.spawn(move || {
                for value in part {
                    sender
                        .send(value)
                        .expect("a host whose plugins all block never rejects");
                }
            });
        }
    });
    let reports = host.shutdown();
    let elapsed = start.elapsed();
    check_deliveries(PLUGBUS_STD, plugins, messages, handled(reports), &tally)?;
    Ok(elapsed)
}

/// Crossbeam fan-out: `senders` threads each send their part to every
/// plugin's channel.
pub(crate) fn crossbeam_once(
    plugins: usize,
    messages: u64,
    senders: usize,
) -> Result<Duration, Failure> {
    let mut host = CrossbeamFanOut::default();
    let (tally, summers) = Tally::new(plugins, None);
    host.attach_sum_plugins(summers);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for part in split(1..messages + 1, senders) {
            let channels = host.senders();
            scope.spawn(move || {
                for value in part {
                    let message = Arc::new(value);
                    for channel in &channels {
                        channel
                            .send(message.clone())
                            .expect("a plugin thread lives until shutdown");
                    }
                }
            });
        }
    });
    let counts = Box::new(host).shutdown();
    let elapsed = start.elapsed();
    check_deliveries(CROSSBEAM, plugins, messages, counts, &tally)?;
    Ok(elapsed)
}

/// One run of an implementation: plugins, messages, senders.
type Once = fn(usize, u64, usize) -> Result<Duration, Failure>;

/// The implementations of this workload.
const IMPLS: [(&str, Once); 2] = [(PLUGBUS_STD, std_once), (CROSSBEAM, crossbeam_once)];

/// Runs every selected implementation at every sender count, the runs
/// interleaved; each is calibrated on its own to about `options.seconds`.
pub(crate) fn run(options: &Options) -> Result<Vec<Point>, Failure> {
    let cases: Vec<(&'static str, Once, usize)> = IMPLS
        .iter()
        .filter(|(name, _)| *name == CROSSBEAM || options.selects(name))
        .flat_map(|&(name, once)| SENDERS.iter().map(move |&senders| (name, once, senders)))
        .collect();
    let mut messages = Vec::with_capacity(cases.len());
    for &(_, once, senders) in &cases {
        messages.push(calibrate_with(PLUGINS, options.seconds, |n| {
            once(PLUGINS, n, senders)
        })?);
    }
    let mut rates = vec![Vec::with_capacity(options.runs); cases.len()];
    let mut xcore = vec![Vec::with_capacity(options.runs); cases.len()];
    for _ in 0..options.runs {
        for (i, &(_, once, senders)) in cases.iter().enumerate() {
            xcore[i].push(quick_round_trip_ns());
            let elapsed = once(PLUGINS, messages[i], senders)?;
            rates[i].push((messages[i] * PLUGINS as u64) as f64 / elapsed.as_secs_f64());
        }
    }
    let mut points = Vec::with_capacity(cases.len());
    for (i, &(name, _, senders)) in cases.iter().enumerate() {
        let point = Point {
            name,
            senders,
            plugins: PLUGINS,
            messages: messages[i],
            deliveries_per_s: median(&mut rates[i]),
            min_per_s: rates[i].iter().copied().fold(f64::INFINITY, f64::min),
            max_per_s: rates[i].iter().copied().fold(0.0, f64::max),
            runs: rates[i].len(),
            xcore_ns: median(&mut xcore[i]),
        };
        eprintln!(
            "senders {:<12} senders={} P={} N={:<9} {:>8.2} M/s  xcore {:.0} ns",
            point.name,
            senders,
            PLUGINS,
            point.messages,
            point.deliveries_per_s / 1e6,
            point.xcore_ns
        );
        points.push(point);
    }
    Ok(points)
}
