//! What stops the demo.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use plugbus_access_log::ConfigError;
use plugbus_host_std::{AttachError, LoadError};

/// Why the demo could not run. Each prints its cause once, on one line.
#[derive(Debug)]
pub(crate) enum Error {
    /// The command line is wrong.
    Usage(lexopt::Error),
    /// The log or a plugin directory cannot be read, or a plugin directory
    /// cannot be made.
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// The plugin directory cannot be listed.
    PluginDir(LoadError),
    /// A plugin library cargo should have built is not there.
    NotBuilt {
        file: String,
        looked_in: Vec<PathBuf>,
    },
    /// A plugin refused the configuration the demo made from its options.
    Config {
        plugin: &'static str,
        source: ConfigError,
    },
    /// The host could not attach a plugin.
    Attach { plugin: String, source: AttachError },
    /// The host stopped taking messages.
    Closed,
    /// Plugins that did not answer the final query in time.
    NoAnswer {
        plugins: Vec<String>,
        waited: Duration,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(error) => write!(f, "{error} (see --help)"),
            Error::Io { what, path, source } => {
                write!(f, "cannot {what} {}: {source}", path.display())
            }
            Error::NotBuilt { file, looked_in } => {
                let dirs: Vec<String> = looked_in.iter().map(|d| d.display().to_string()).collect();
                write!(
                    f,
                    "plugin library {file} not found in {}: build it with `cargo build -p plugbus-demo`, or pass --plugin-dir or --static",
                    dirs.join(" or ")
                )
            }
            Error::PluginDir(error) => write!(f, "{error}"),
            Error::Config { plugin, source } => write!(f, "plugin `{plugin}`: {source}"),
            Error::Attach { plugin, source } => write!(f, "cannot attach `{plugin}`: {source}"),
            Error::Closed => f.write_str("the host stopped taking messages"),
            Error::NoAnswer { plugins, waited } => write!(
                f,
                "no summary from {} within {waited:?}",
                plugins.join(", ")
            ),
        }
    }
}

impl std::error::Error for Error {}

impl From<lexopt::Error> for Error {
    fn from(error: lexopt::Error) -> Self {
        Error::Usage(error)
    }
}
