//! The results as Markdown tables and as one line per measurement.
//!
//! Lines (on stdout, for scripts):
//! ```text
//! bench machine cores=<n> load_average_1m=<l>
//! bench xcore round_trip_ns=<t>
//! bench w1 impl=<name> plugins=<P> deliveries_per_s=<x> ratio_to_floor=<r> ratio_to_crossbeam=<c> xcore_ns=<t>
//! bench w2 impl=<name> plugins=<P> p50_us=<x> p99_us=<y> ratio_p99_to_crossbeam=<c> xcore_ns=<t>
//! bench w3 impl=<name> plugins=<n> kib_per_plugin=<x> rss_base_kib=<b> rss_kib=<r>
//! bench w4 impl=<name> iterations=<n> median_us=<x> ratio_to_libloading=<r>
//! bench w4 impl=<name> skipped reason="<why>"
//! bench idle impl=<name> plugins=<n> cpu_ms=<x>
//! ```
//! A ratio whose reference was not measured prints as `na`.

use std::fmt::Write as _;

use crate::impls::{CROSSBEAM, FLOOR, Kind};
use crate::{idle, w1, w2, w3, w4};

/// Everything one run measured.
#[derive(Debug, Default)]
pub(crate) struct Results {
    /// Cores the benchmark may use.
    pub(crate) cores: usize,
    /// The 1-minute load average when the run started: other work on the
    /// machine moves every cross-thread figure.
    pub(crate) load_average: Option<f64>,
    pub(crate) xcore_ns: f64,
    pub(crate) w1: Vec<w1::Point>,
    pub(crate) w2: Vec<w2::Point>,
    pub(crate) w3: Vec<w3::Point>,
    pub(crate) w4: Vec<w4::Point>,
    pub(crate) idle: Vec<idle::Point>,
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

    fn w2_reference(&self, plugins: usize) -> Option<f64> {
        self.w2
            .iter()
            .find(|p| p.name == CROSSBEAM && p.plugins == plugins)
            .map(|p| p.p99_us)
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
            "bench machine cores={} load_average_1m={}",
            self.cores,
            self.load_average
                .map_or_else(|| "na".to_owned(), |l| format!("{l:.2}"))
        );
        let _ = writeln!(out, "bench xcore round_trip_ns={:.1}", self.xcore_ns);
        for p in &self.w1 {
            let _ = writeln!(
                out,
                "bench w1 impl={} plugins={} deliveries_per_s={:.0} ratio_to_floor={} ratio_to_crossbeam={} xcore_ns={:.1}",
                p.name,
                p.plugins,
                p.deliveries_per_s,
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
                "bench w2 impl={} plugins={} p50_us={:.2} p99_us={:.2} ratio_p99_to_crossbeam={} xcore_ns={:.1}",
                p.name,
                p.plugins,
                p.p50_us,
                p.p99_us,
                show(ratio(p.p99_us, self.w2_reference(p.plugins))),
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
        out
    }

    /// The Markdown tables.
    pub(crate) fn tables(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} cores, load average {} at start, cross-core round trip at start {:.0} ns.\n",
            self.cores,
            self.load_average
                .map_or_else(|| "unknown".to_owned(), |l| format!("{l:.2}")),
            self.xcore_ns
        );
        self.w1_table(&mut out);
        self.w2_table(&mut out);
        self.w3_table(&mut out);
        self.w4_table(&mut out);
        self.idle_table(&mut out);
        out
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
            "W2 latency, µs per round (send one message, wait until every plugin handled it):\n"
        );
        let _ = writeln!(
            out,
            "| implementation | plugins | rounds | p50 | p99 | p99 / crossbeam | round trip ns |\n|---|---:|---:|---:|---:|---:|---:|"
        );
        for p in &self.w2 {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.2} | {:.2} | {} | {:.0} |",
                p.name,
                p.plugins,
                p.iterations,
                p.p50_us,
                p.p99_us,
                show(ratio(p.p99_us, self.w2_reference(p.plugins))),
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
