//! Showing progress while the log is sent: bars redrawn in place on a
//! terminal, a line of text every second otherwise.

use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use plugbus_host_std::PluginInfo;

use crate::options::ProgressMode;
use crate::output;
use crate::report::{grouped, overflow_name};

/// What progress shows at one moment.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) elapsed: Duration,
    pub(crate) lines: u64,
    pub(crate) bytes: u64,
    /// Messages sent to the plugins so far (requests and queries).
    pub(crate) sent: u64,
    /// The plugins still attached.
    pub(crate) plugins: Vec<PluginInfo>,
}

impl Snapshot {
    fn lines_per_second(&self) -> u64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            (self.lines as f64 / seconds) as u64
        } else {
            0
        }
    }

    /// How many messages the plugin has yet to take: sent, less those it
    /// took or its overflow policy dropped.
    fn lag(&self, plugin: &PluginInfo) -> u64 {
        self.sent
            .saturating_sub(plugin.stats.received)
            .saturating_sub(plugin.stats.dropped)
    }

    fn lane(&self, plugin: &PluginInfo) -> String {
        format!(
            "{:<7} {:<11} handled {:>9}  dropped {:>9}  lag {:>5} (max {})",
            plugin.name,
            overflow_name(plugin.overflow),
            grouped(plugin.stats.handled),
            grouped(plugin.stats.dropped),
            grouped(self.lag(plugin)),
            grouped(plugin.stats.lag_max),
        )
    }
}

/// The progress display.
#[derive(Debug)]
pub(crate) enum Progress {
    Bars {
        multi: MultiProgress,
        main: ProgressBar,
        lanes: Vec<ProgressBar>,
    },
    Plain,
    Hidden,
}

impl Progress {
    /// A display in `mode` for `lanes` plugins and `total_bytes` of input
    /// (0 if unknown).
    pub(crate) fn new(mode: ProgressMode, total_bytes: u64, lanes: usize) -> Progress {
        match mode {
            ProgressMode::Bar => {
                let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
                let main = multi.add(ProgressBar::new(total_bytes));
                main.set_style(style(if total_bytes > 0 {
                    "{spinner} {elapsed:>3} [{bar:32}] {percent:>3}% {msg}"
                } else {
                    // A pipe: no length to show a share of.
                    "{spinner} {elapsed:>3} {msg}"
                }));
                let lanes = (0..lanes)
                    .map(|_| {
                        let lane = multi.add(ProgressBar::new(0));
                        lane.set_style(style("  {msg}"));
                        lane
                    })
                    .collect();
                Progress::Bars { multi, main, lanes }
            }
            ProgressMode::Plain => Progress::Plain,
            ProgressMode::None => Progress::Hidden,
        }
    }

    /// How often to call [`update`](Progress::update).
    pub(crate) fn interval(&self) -> Duration {
        match self {
            Progress::Bars { .. } => Duration::from_millis(100),
            Progress::Plain | Progress::Hidden => Duration::from_secs(1),
        }
    }

    /// Shows `now`.
    pub(crate) fn update(&self, now: &Snapshot) {
        match self {
            Progress::Bars { main, lanes, .. } => {
                main.set_position(now.bytes);
                main.set_message(format!(
                    "{} lines, {} lines/s",
                    grouped(now.lines),
                    grouped(now.lines_per_second())
                ));
                for (i, lane) in lanes.iter().enumerate() {
                    match now.plugins.get(i) {
                        Some(plugin) => lane.set_message(now.lane(plugin)),
                        None => lane.set_message(""),
                    }
                }
            }
            Progress::Plain => {
                let lanes: Vec<String> = now
                    .plugins
                    .iter()
                    .map(|p| {
                        format!(
                            "{} {}/{}/{}",
                            p.name,
                            p.stats.handled,
                            p.stats.dropped,
                            now.lag(p)
                        )
                    })
                    .collect();
                output::line(&format!(
                    "progress {:.1} s: {} lines, {} lines/s; handled/dropped/lag: {}",
                    now.elapsed.as_secs_f64(),
                    now.lines,
                    now.lines_per_second(),
                    lanes.join(", ")
                ));
            }
            Progress::Hidden => {}
        }
    }

    /// Prints a line above the bars, or as it is.
    pub(crate) fn println(&self, line: &str) {
        match self {
            Progress::Bars { multi, .. } => {
                // A terminal that cannot be written to has nobody to read it.
                let _ = multi.println(line);
            }
            Progress::Plain | Progress::Hidden => output::line(line),
        }
    }

    /// Leaves the bars as they are, below what was printed.
    pub(crate) fn finish(&self) {
        if let Progress::Bars { main, lanes, .. } = self {
            main.finish();
            for lane in lanes {
                lane.finish();
            }
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}
