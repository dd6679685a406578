//! Why a benchmark run failed, and the delivery check every workload runs.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::host::{Tally, Totals};

/// A run that must not be reported as a measurement.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) enum Failure {
    /// A plugin handled a different number of messages than were sent.
    Lost {
        implementation: String,
        plugin: usize,
        expected: u64,
        handled: u64,
    },
    /// A plugin handled the right number of messages but not the right ones.
    WrongSum {
        implementation: String,
        plugin: usize,
        expected: u64,
        sum: u64,
    },
    /// A plugin's state was never dropped, so its totals are unknown.
    NotFinished {
        implementation: String,
        plugin: usize,
    },
    /// The host's own counts disagree with what was sent.
    HostCount {
        implementation: String,
        expected: Vec<u64>,
        reported: Vec<u64>,
    },
    /// Plugins did not handle a message within the time a live one needs.
    Stalled {
        implementation: String,
        waited: Duration,
        handled: u64,
        expected: u64,
    },
    /// A child process of the benchmark failed.
    Child {
        implementation: String,
        reason: String,
    },
    /// An I/O operation failed.
    Io {
        what: String,
        source: std::io::Error,
    },
    /// A dynamic library could not be opened or closed.
    Dylib {
        path: PathBuf,
        source: libloading::Error,
    },
    /// The plugbus loader refused a library.
    Load(plugbus_host_std::LoadError),
    /// The plot could not be drawn.
    Plot { path: PathBuf, reason: String },
    /// The command line is wrong.
    Usage(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Lost {
                implementation,
                plugin,
                expected,
                handled,
            } => write!(
                f,
                "{implementation}: plugin {plugin} handled {handled} of {expected} messages"
            ),
            Failure::WrongSum {
                implementation,
                plugin,
                expected,
                sum,
            } => write!(
                f,
                "{implementation}: plugin {plugin} summed {sum}, expected {expected}"
            ),
            Failure::NotFinished {
                implementation,
                plugin,
            } => write!(
                f,
                "{implementation}: plugin {plugin} was never dropped, its totals are unknown"
            ),
            Failure::HostCount {
                implementation,
                expected,
                reported,
            } => write!(
                f,
                "{implementation}: host reported handled counts {reported:?}, expected {expected:?}"
            ),
            Failure::Stalled {
                implementation,
                waited,
                handled,
                expected,
            } => write!(
                f,
                "{implementation}: after {waited:?} plugins had handled {handled} of {expected} deliveries"
            ),
            Failure::Child {
                implementation,
                reason,
            } => write!(f, "{implementation}: child process failed: {reason}"),
            Failure::Io { what, source } => write!(f, "{what}: {source}"),
            Failure::Load(error) => {
                write!(f, "plugbus loader: {error}")?;
                if let Some(cause) = std::error::Error::source(error) {
                    write!(f, ": {cause}")?;
                }
                Ok(())
            }
            Failure::Dylib { path, source } => {
                write!(f, "dynamic library {}: {source}", path.display())?;
                if let Some(cause) = std::error::Error::source(source) {
                    write!(f, ": {cause}")?;
                }
                Ok(())
            }
            Failure::Plot { path, reason } => {
                write!(f, "cannot draw plot {}: {reason}", path.display())
            }
            Failure::Usage(reason) => write!(f, "usage: {reason}"),
        }
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Failure::Io { source, .. } => Some(source),
            Failure::Dylib { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Checks that each of the `plugins` plugins handled exactly the values
/// `1..=messages` (by count and sum, in the tally) and that the host's own
/// per-plugin counts say the same.
pub(crate) fn check_deliveries(
    implementation: &str,
    plugins: usize,
    messages: u64,
    host_counts: Option<Vec<u64>>,
    tally: &Tally,
) -> Result<(), Failure> {
    check_tally(implementation, messages, expected_sum(messages), tally)?;
    let Some(mut reported) = host_counts else {
        return Ok(());
    };
    reported.sort_unstable();
    let expected = vec![messages; plugins];
    if reported != expected {
        return Err(Failure::HostCount {
            implementation: implementation.to_owned(),
            expected,
            reported,
        });
    }
    Ok(())
}

/// Checks every plugin's totals against the count and sum expected.
pub(crate) fn check_tally(
    implementation: &str,
    count: u64,
    sum: u64,
    tally: &Tally,
) -> Result<(), Failure> {
    for (plugin, totals) in tally.totals().into_iter().enumerate() {
        let Some(Totals {
            count: handled,
            sum: got,
        }) = totals
        else {
            return Err(Failure::NotFinished {
                implementation: implementation.to_owned(),
                plugin,
            });
        };
        if handled != count {
            return Err(Failure::Lost {
                implementation: implementation.to_owned(),
                plugin,
                expected: count,
                handled,
            });
        }
        if got != sum {
            return Err(Failure::WrongSum {
                implementation: implementation.to_owned(),
                plugin,
                expected: sum,
                sum: got,
            });
        }
    }
    Ok(())
}

/// The sum of `1..=n`, wrapping like [`Summer::add`](crate::host::Summer::add).
pub(crate) fn expected_sum(n: u64) -> u64 {
    let (a, b) = if n % 2 == 0 {
        (n / 2, n + 1)
    } else {
        (n, n.div_ceil(2))
    };
    a.wrapping_mul(b)
}
