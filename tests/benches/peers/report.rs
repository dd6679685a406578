//! The results as Markdown tables and as one line per measurement.
//!
//! Lines (on stdout, for scripts):
//! ```text
//! bench machine cores=<n> load_average_1m=<l> load_average_1m_end=<l>
//! bench xcore round_trip_ns=<t>
//! bench w1 impl=<name> plugins=<P> deliveries_per_s=<x> min_per_s=<x> max_per_s=<x> runs=<n> ratio_to_floor=<r> ratio_to_crossbeam=<c> xcore_ns=<t>
//! bench w2 impl=<name> plugins=<P> runs=<n> p50_us=<x> p99_us=<y> p999_us=<z> p99_min_us=<y> p99_max_us=<y> p999_min_us=<z> p999_max_us=<z> ratio_p99_to_crossbeam=<c> ratio_p999_to_crossbeam=<c> xcore_ns=<t>
//! bench w3 impl=<name> plugins=<n> kib_per_plugin=<x> rss_base_kib=<b> rss_kib=<r>
//! bench w4 impl=<name> iterations=<n> median_us=<x> ratio_to_libloading=<r>
//! bench w4 impl=<name> skipped reason="<why>"
//! bench idle impl=<name> plugins=<n> cpu_ms=<x>
//! bench loaded impl=<name> plugins=<P> deliveries_per_s=<x> min_per_s=<x> max_per_s=<x> runs=<n> ratio_to_crossbeam=<c> ratio_to_tokio_broadcast=<b> xcore_ns=<t>
//! bench senders impl=<name> senders=<k> plugins=<P> deliveries_per_s=<x> min_per_s=<x> max_per_s=<x> runs=<n> ratio_to_one_sender=<r> xcore_ns=<t>
//! bench shutdown impl=<name> plugins=<P> median_ms=<x> min_ms=<x> max_ms=<x> runs=<n> ratio_to_crossbeam=<c>
//! bench target name=<what> measured=<x> goal=<g> met=<yes|no|na>
//! ```
//! A ratio whose reference was not measured prints as `na`.

use std::fmt::Write as _;

use crate::impls::{CROSSBEAM, FLOOR, Kind, PLUGBUS_STD, PLUGBUS_TOKIO, TOKIO_BROADCAST};
use crate::{idle, senders, shutdown, w1, w2, w3, w4};

/// Everything one run measured.
#[derive(Debug, Default)]
pub(crate) struct Results {
    /// Cores the benchmark may use.
    pub(crate) cores: usize,
    /// The 1-minute load average when the run started: other work on the
    /// machine moves every cross-thread figure.
    pub(crate) load_average: Option<f64>,
    /// The 1-minute load average when the run ended.
    pub(crate) load_average_end: Option<f64>,
    pub(crate) xcore_ns: f64,
    pub(crate) w1: Vec<w1::Point>,
    pub(crate) w2: Vec<w2::Point>,
    pub(crate) w3: Vec<w3::Point>,
    pub(crate) w4: Vec<w4::Point>,
    pub(crate) idle: Vec<idle::Point>,
    /// W1 beside the benchmark's own CPU-bound thread.
    pub(crate) loaded: Vec<w1::Point>,
    pub(crate) senders: Vec<senders::Point>,
    pub(crate) shutdown: Vec<shutdown::Point>,
}

/// One target of the project for the benchmark: what it compares, the
/// measured value, and the bound it must meet.
struct Target {
    what: &'static str,
    measured: Option<f64>,
    goal: Goal,
}

#[derive(Clone, Copy)]
enum Goal {
    AtLeast(f64),
    AtMost(f64),
}

impl Target {
    fn met(&self) -> &'static str {
        match (self.measured, self.goal) {
            (None, _) => "na",
            (Some(x), Goal::AtLeast(bound)) if x >= bound => "yes",
            (Some(x), Goal::AtMost(bound)) if x <= bound => "yes",
            _ => "no",
        }
    }

    fn goal(&self) -> String {
        match self.goal {
            Goal::AtLeast(bound) => format!(">={bound}"),
            Goal::AtMost(bound) => format!("<={bound}"),
        }
    }
}

fn ratio(value: f64, reference: Option<f64>) -> Option<f64> {
    reference.filter(|r| *r > 0.0).map(|r| value / r)
}

fn show(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "na".to_owned(), |r| format!("{r:.3}"))
}

fn short(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "na".to_owned(), |r| format!("{r:.2}"))
}

impl Results {
    fn w1_reference(&self, name: &str, plugins: usize) -> Option<f64> {
        self.w1
            .iter()
            .find(|p| p.name == name && p.plugins == plugins)
            .map(|p| p.deliveries_per_s)
    }

    fn w2_point(&self, name: &str, plugins: usize) -> Option<&w2::Point> {
        self.w2
            .iter()
            .find(|p| p.name == name && p.plugins == plugins)
    }

    fn w2_reference(&self, plugins: usize) -> Option<f64> {
        self.w2_point(CROSSBEAM, plugins).map(|p| p.p99_us)
    }

    fn w2_reference_999(&self, plugins: usize) -> Option<f64> {
        self.w2_point(CROSSBEAM, plugins).map(|p| p.p999_us)
    }

    fn loaded_reference(&self, name: &str, plugins: usize) -> Option<f64> {
        self.loaded
            .iter()
            .find(|p| p.name == name && p.plugins == plugins)
            .map(|p| p.deliveries_per_s)
    }

    fn senders_reference(&self, name: &str) -> Option<f64> {
        self.senders
            .iter()
            .find(|p| p.name == name && p.senders == 1)
            .map(|p| p.deliveries_per_s)
    }

    fn shutdown_point(&self, name: &str, plugins: usize) -> Option<f64> {
        self.shutdown
            .iter()
            .find(|p| p.name == name && p.plugins == plugins)
            .map(|p| p.median_ms)
    }

    /// The project's targets for the benchmark (issue 9), each from this
    /// run's medians.
    fn targets(&self) -> Vec<Target> {
        let w1 = |name, plugins| self.w1_reference(name, plugins);
        let over = |a: Option<f64>, b: Option<f64>| a.and_then(|a| ratio(a, b));
        let mut targets = vec![
            Target {
                what: "plugbus-std W1 P=4096 / its own P=1024",
                measured: over(w1(PLUGBUS_STD, 4096), w1(PLUGBUS_STD, 1024)),
                goal: Goal::AtLeast(0.5),
            },
            Target {
                what: "plugbus-std shutdown of 4096 plugins, ms",
                measured: self.shutdown_point(PLUGBUS_STD, 4096),
                goal: Goal::AtMost(1000.0),
            },
            Target {
                what: "plugbus-std W1 P=256 / floor",
                measured: over(w1(PLUGBUS_STD, 256), w1(FLOOR, 256)),
                goal: Goal::AtLeast(10.0),
            },
            Target {
                what: "plugbus-std W1 P=1024 / floor",
                measured: over(w1(PLUGBUS_STD, 1024), w1(FLOOR, 1024)),
                goal: Goal::AtLeast(10.0),
            },
            Target {
                what: "plugbus-std W1 P=16 / crossbeam",
                measured: over(w1(PLUGBUS_STD, 16), w1(CROSSBEAM, 16)),
                goal: Goal::AtLeast(12.0),
            },
        ];
        for (name, p99, p999) in [
            (
                "plugbus-smol",
                "plugbus-smol W2 P=16 p99 / crossbeam p99",
                "plugbus-smol W2 P=16 p99.9 / crossbeam p99.9",
            ),
            (
                PLUGBUS_TOKIO,
                "plugbus-tokio W2 P=16 p99 / crossbeam p99",
                "plugbus-tokio W2 P=16 p99.9 / crossbeam p99.9",
            ),
        ] {
            let point = self.w2_point(name, 16);
            targets.push(Target {
                what: p99,
                measured: point.and_then(|p| ratio(p.p99_us, self.w2_reference(16))),
                goal: Goal::AtMost(1.0),
            });
            targets.push(Target {
                what: p999,
                measured: point.and_then(|p| ratio(p.p999_us, self.w2_reference_999(16))),
                goal: Goal::AtMost(2.0),
            });
        }
        targets.push(Target {
            what: "plugbus-tokio loaded P=16 / tokio-broadcast loaded",
            measured: over(
                self.loaded_reference(PLUGBUS_TOKIO, 16),
                self.loaded_reference(TOKIO_BROADCAST, 16),
            ),
            goal: Goal::AtLeast(2.0),
        });
        for (senders, what) in [
            (2, "plugbus-std 2 senders P=16 / 1 sender"),
            (4, "plugbus-std 4 senders P=16 / 1 sender"),
        ] {
            targets.push(Target {
                what,
                measured: self
                    .senders
                    .iter()
                    .find(|p| p.name == PLUGBUS_STD && p.senders == senders)
                    .and_then(|p| ratio(p.deliveries_per_s, self.senders_reference(PLUGBUS_STD))),
                goal: Goal::AtLeast(0.9),
            });
        }
        targets
    }

    fn w4_reference(&self) -> Option<f64> {
        self.w4.iter().find_map(|p| match p {
            w4::Point::Measured {
                name, median_us, ..
            } if *name == w4::LIBLOADING => Some(*median_us),
            _ => None,
        })
    }

    /// One line per measurement.
    pub(crate) fn lines(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "bench machine cores={} load_average_1m={} load_average_1m_end={}",
            self.cores,
            self.load_average
                .map_or_else(|| "na".to_owned(), |l| format!("{l:.2}")),
            self.load_average_end
                .map_or_else(|| "na".to_owned(), |l| format!("{l:.2}"))
        );
        let _ = writeln!(out, "bench xcore round_trip_ns={:.1}", self.xcore_ns);
        for p in &self.w1 {
            let _ = writeln!(
                out,
                "bench w1 impl={} plugins={} deliveries_per_s={:.0} min_per_s={:.0} max_per_s={:.0} runs={} ratio_to_floor={} ratio_to_crossbeam={} xcore_ns={:.1}",
                p.name,
                p.plugins,
                p.deliveries_per_s,
                p.min_per_s,
                p.max_per_s,
                p.runs,
                show(ratio(
                    p.deliveries_per_s,
                    self.w1_reference(FLOOR, p.plugins)
                )),
                show(ratio(
                    p.deliveries_per_s,
                    self.w1_reference(CROSSBEAM, p.plugins)
                )),
                p.xcore_ns
            );
        }
        for p in &self.w2 {
            let _ = writeln!(
                out,
                "bench w2 impl={} plugins={} runs={} p50_us={:.2} p99_us={:.2} p999_us={:.2} p99_min_us={:.2} p99_max_us={:.2} p999_min_us={:.2} p999_max_us={:.2} ratio_p99_to_crossbeam={} ratio_p999_to_crossbeam={} xcore_ns={:.1}",
                p.name,
                p.plugins,
                p.runs,
                p.p50_us,
                p.p99_us,
                p.p999_us,
                p.p99_range.0,
                p.p99_range.1,
                p.p999_range.0,
                p.p999_range.1,
                show(ratio(p.p99_us, self.w2_reference(p.plugins))),
                show(ratio(p.p999_us, self.w2_reference_999(p.plugins))),
                p.xcore_ns
            );
        }
        for p in &self.w3 {
            let _ = writeln!(
                out,
                "bench w3 impl={} plugins={} kib_per_plugin={:.3} rss_base_kib={} rss_kib={}",
                p.name,
                p.plugins,
                p.kib_per_plugin(),
                p.rss_base_kib,
                p.rss_kib
            );
        }
        for p in &self.w4 {
            let _ = match p {
                w4::Point::Measured {
                    name,
                    iterations,
                    median_us,
                } => writeln!(
                    out,
                    "bench w4 impl={name} iterations={iterations} median_us={median_us:.2} ratio_to_libloading={}",
                    show(ratio(*median_us, self.w4_reference()))
                ),
                w4::Point::Skipped { name, reason } => {
                    writeln!(out, "bench w4 impl={name} skipped reason={reason:?}")
                }
            };
        }
        for p in &self.idle {
            let _ = writeln!(
                out,
                "bench idle impl={} plugins={} cpu_ms={:.3}",
                p.name,
                p.plugins,
                p.cpu_ms()
            );
        }
        for p in &self.loaded {
            let _ = writeln!(
                out,
                "bench loaded impl={} plugins={} deliveries_per_s={:.0} min_per_s={:.0} max_per_s={:.0} runs={} ratio_to_crossbeam={} ratio_to_tokio_broadcast={} xcore_ns={:.1}",
                p.name,
                p.plugins,
                p.deliveries_per_s,
                p.min_per_s,
                p.max_per_s,
                p.runs,
                show(ratio(
                    p.deliveries_per_s,
                    self.loaded_reference(CROSSBEAM, p.plugins)
                )),
                show(ratio(
                    p.deliveries_per_s,
                    self.loaded_reference(TOKIO_BROADCAST, p.plugins)
                )),
                p.xcore_ns
            );
        }
        for p in &self.senders {
            let _ = writeln!(
                out,
                "bench senders impl={} senders={} plugins={} deliveries_per_s={:.0} min_per_s={:.0} max_per_s={:.0} runs={} ratio_to_one_sender={} xcore_ns={:.1}",
                p.name,
                p.senders,
                p.plugins,
                p.deliveries_per_s,
                p.min_per_s,
                p.max_per_s,
                p.runs,
                show(ratio(p.deliveries_per_s, self.senders_reference(p.name))),
                p.xcore_ns
            );
        }
        for p in &self.shutdown {
            let _ = writeln!(
                out,
                "bench shutdown impl={} plugins={} median_ms={:.2} min_ms={:.2} max_ms={:.2} runs={} ratio_to_crossbeam={}",
                p.name,
                p.plugins,
                p.median_ms,
                p.min_ms,
                p.max_ms,
                p.runs,
                show(ratio(
                    p.median_ms,
                    self.shutdown_point(CROSSBEAM, p.plugins)
                )),
            );
        }
        for t in self.targets() {
            let _ = writeln!(
                out,
                "bench target name={:?} measured={} goal={} met={}",
                t.what,
                show(t.measured),
                t.goal(),
                t.met()
            );
        }
        out
    }

    /// The Markdown tables.
    pub(crate) fn tables(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} cores, load average {} at start and {} at the end, cross-core round trip at start {:.0} ns.\n",
            self.cores,
            self.load_average
                .map_or_else(|| "unknown".to_owned(), |l| format!("{l:.2}")),
            self.load_average_end
                .map_or_else(|| "unknown".to_owned(), |l| format!("{l:.2}")),
            self.xcore_ns
        );
        self.w1_table(&mut out);
        self.w2_table(&mut out);
        self.w3_table(&mut out);
        self.w4_table(&mut out);
        self.idle_table(&mut out);
        self.loaded_table(&mut out);
        self.senders_table(&mut out);
        self.shutdown_table(&mut out);
        self.targets_table(&mut out);
        out
    }

    fn loaded_table(&self, out: &mut String) {
        if self.loaded.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "W1 beside a CPU-bound thread of the benchmark's own, M deliveries/s, median (min–max) of the runs:\n"
        );
        let _ = writeln!(
            out,
            "| implementation | plugins | M deliveries/s | min–max | / tokio-broadcast | / crossbeam |\n|---|---:|---:|---:|---:|---:|"
        );
        for p in &self.loaded {
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {:.2}–{:.2} | {} | {} |",
                p.name,
                p.plugins,
                p.deliveries_per_s / 1e6,
                p.min_per_s / 1e6,
                p.max_per_s / 1e6,
                short(ratio(
                    p.deliveries_per_s,
                    self.loaded_reference(TOKIO_BROADCAST, p.plugins)
                )),
                short(ratio(
                    p.deliveries_per_s,
                    self.loaded_reference(CROSSBEAM, p.plugins)
                )),
            );
        }
        let _ = writeln!(out);
    }

    fn senders_table(&self, out: &mut String) {
        if self.senders.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "Several sending threads, M deliveries/s, median (min–max) of the runs:\n"
        );
        let _ = writeln!(
            out,
            "| implementation | senders | plugins | M deliveries/s | min–max | / one sender |\n|---|---:|---:|---:|---:|---:|"
        );
        for p in &self.senders {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.2} | {:.2}–{:.2} | {} |",
                p.name,
                p.senders,
                p.plugins,
                p.deliveries_per_s / 1e6,
                p.min_per_s / 1e6,
                p.max_per_s / 1e6,
                short(ratio(p.deliveries_per_s, self.senders_reference(p.name))),
            );
        }
        let _ = writeln!(out);
    }

    fn shutdown_table(&self, out: &mut String) {
        if self.shutdown.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "Shutdown after every lane went to sleep, ms, median (min–max) of the runs:\n"
        );
        let _ = writeln!(
            out,
            "| implementation | plugins | median ms | min–max | / crossbeam |\n|---|---:|---:|---:|---:|"
        );
        for p in &self.shutdown {
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {:.2}–{:.2} | {} |",
                p.name,
                p.plugins,
                p.median_ms,
                p.min_ms,
                p.max_ms,
                short(ratio(
                    p.median_ms,
                    self.shutdown_point(CROSSBEAM, p.plugins)
                )),
            );
        }
        let _ = writeln!(out);
    }

    fn targets_table(&self, out: &mut String) {
        let targets = self.targets();
        if targets.iter().all(|t| t.measured.is_none()) {
            return;
        }
        let _ = writeln!(out, "Targets (issue 9), from the medians of this run:\n");
        let _ = writeln!(
            out,
            "| target | measured | goal | met |\n|---|---:|---:|---|"
        );
        for t in targets {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                t.what,
                short(t.measured),
                t.goal(),
                t.met()
            );
        }
        let _ = writeln!(out);
    }

    fn w1_table(&self, out: &mut String) {
        if self.w1.is_empty() {
            return;
        }
        let mut plugins: Vec<usize> = self.w1.iter().map(|p| p.plugins).collect();
        plugins.dedup();
        let mut names: Vec<(&str, Kind)> = Vec::new();
        for p in &self.w1 {
            if !names.iter().any(|(name, _)| *name == p.name) {
                names.push((p.name, p.kind));
            }
        }
        let _ = writeln!(
            out,
            "W1 throughput, M deliveries/s (ratio to crossbeam, ratio to floor) @ cross-core round trip:\n"
        );
        let _ = write!(out, "| implementation |");
        for p in &plugins {
            let _ = write!(out, " P={p} |");
        }
        let _ = write!(out, "\n|---|");
        for _ in &plugins {
            let _ = write!(out, "---:|");
        }
        let _ = writeln!(out);
        for (name, kind) in names {
            if kind == Kind::Plugbus {
                let _ = write!(out, "| **{name}** |");
            } else {
                let _ = write!(out, "| {name} |");
            }
            for &count in &plugins {
                match self
                    .w1
                    .iter()
                    .find(|p| p.name == name && p.plugins == count)
                {
                    Some(p) => {
                        let _ = write!(
                            out,
                            " {:.2} ({}, {}) @{:.0}ns |",
                            p.deliveries_per_s / 1e6,
                            short(ratio(
                                p.deliveries_per_s,
                                self.w1_reference(CROSSBEAM, count)
                            )),
                            short(ratio(p.deliveries_per_s, self.w1_reference(FLOOR, count))),
                            p.xcore_ns
                        );
                    }
                    None => {
                        let _ = write!(out, " |");
                    }
                }
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out);
    }

    fn w2_table(&self, out: &mut String) {
        if self.w2.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "W2 latency, µs per round (send one message, wait until every plugin handled it), each percentile the median over the runs:\n"
        );
        let _ = writeln!(
            out,
            "| implementation | plugins | runs × rounds | p50 | p99 (min–max) | p99.9 (min–max) | p99 / crossbeam | p99.9 / crossbeam | round trip ns |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for p in &self.w2 {
            let _ = writeln!(
                out,
                "| {} | {} | {} × {} | {:.2} | {:.2} ({:.2}–{:.2}) | {:.2} ({:.2}–{:.2}) | {} | {} | {:.0} |",
                p.name,
                p.plugins,
                p.runs,
                p.iterations,
                p.p50_us,
                p.p99_us,
                p.p99_range.0,
                p.p99_range.1,
                p.p999_us,
                p.p999_range.0,
                p.p999_range.1,
                short(ratio(p.p99_us, self.w2_reference(p.plugins))),
                short(ratio(p.p999_us, self.w2_reference_999(p.plugins))),
                p.xcore_ns
            );
        }
        let _ = writeln!(out);
    }

    fn w3_table(&self, out: &mut String) {
        if self.w3.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "W3 idle memory, RSS per idle plugin over a host with none (one child process each):\n"
        );
        let _ = writeln!(
            out,
            "| implementation | idle plugins | KiB per plugin | RSS before, KiB | RSS after, KiB |\n|---|---:|---:|---:|---:|"
        );
        for p in &self.w3 {
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {} | {} |",
                p.name,
                p.plugins,
                p.kib_per_plugin(),
                p.rss_base_kib,
                p.rss_kib
            );
        }
        let _ = writeln!(out);
    }

    fn w4_table(&self, out: &mut String) {
        if self.w4.is_empty() {
            return;
        }
        let _ = writeln!(out, "W4 dynamic load, µs per cycle (median):\n");
        let _ = writeln!(
            out,
            "| implementation | cycles | median µs | ratio to libloading |\n|---|---:|---:|---:|"
        );
        for p in &self.w4 {
            let _ = match p {
                w4::Point::Measured {
                    name,
                    iterations,
                    median_us,
                } => writeln!(
                    out,
                    "| {name} | {iterations} | {median_us:.1} | {} |",
                    show(ratio(*median_us, self.w4_reference()))
                ),
                w4::Point::Skipped { name, reason } => {
                    writeln!(out, "| {name} | skipped: {reason} | | |")
                }
            };
        }
        let _ = writeln!(out);
    }

    fn idle_table(&self, out: &mut String) {
        if self.idle.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "Idle host, CPU time of the whole process (getrusage) while nothing was sent:\n"
        );
        let _ = writeln!(
            out,
            "| implementation | plugins | idle window, s | CPU ms | user ms | system ms |\n|---|---:|---:|---:|---:|---:|"
        );
        for p in &self.idle {
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} | {:.3} | {:.3} | {:.3} |",
                p.name,
                p.plugins,
                p.window.as_secs_f64(),
                p.cpu_ms(),
                p.user_us as f64 / 1e3,
                p.sys_us as f64 / 1e3
            );
        }
        let _ = writeln!(out);
    }
}
