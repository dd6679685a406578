//! The command line.

use std::ffi::OsString;
use std::num::NonZeroU64;
use std::path::PathBuf;

use lexopt::prelude::*;

/// The sample log shipped with the demo (see `demo/data/README.md`).
pub(crate) const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/access.log");

pub(crate) const HELP: &str = "\
plugbus-demo: a log-processing pipeline on plugbus

Reads an access log (common or combined format), sends each request as one
message to log plugins running side by side on plugbus's thread host (some
linked in, some loaded from a directory of plugin libraries), shows their
progress, and prints each plugin's report.

Usage: plugbus-demo [OPTIONS] [LOG]

Arguments:
  [LOG]  the access log to read [default: the sample, demo/data/access.log]

Options:
      --speed X         replay at X times the log's own pace; 0 sends as fast
                        as possible [default: 50]
      --repeat N        read the log N times, each pass continuing the log's
                        clock [default: 1]
      --batch N         send at most N requests per batch [default: 256]
      --plugin-dir DIR  load the dynamic plugins from every library in DIR
                        [default: the libraries cargo built for the demo]
      --static          link every plugin in: load no library
      --plugins LIST    which plugins to run, comma-separated, from status,
                        alerts, domains, errors, tail, top; empty for none
                        [default: all]
      --top N           paths and clients `top` reports [default: 5]
      --window SECONDS  the `errors` window of log time [default: 10]
      --tail N          requests `tail` keeps, and its queue [default: 8]
      --progress MODE   bar, plain or none [default: bar on a terminal, plain
                        otherwise]
      --counts          also print every count of every plugin, one per line
  -h, --help            print this help
  -V, --version         print the version
";

/// The demo's plugins, by name.
pub(crate) const PLUGINS: [&str; 6] = ["status", "alerts", "domains", "errors", "tail", "top"];

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProgressMode {
    /// Bars redrawn in place (a terminal).
    Bar,
    /// A line of text every second (a pipe or a file).
    Plain,
    /// Nothing until the end.
    None,
}

/// What the user asked for.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) log: PathBuf,
    /// Log seconds per wall second; 0 for as fast as possible.
    pub(crate) speed: f64,
    pub(crate) repeat: u64,
    pub(crate) batch: usize,
    pub(crate) plugin_dir: Option<PathBuf>,
    pub(crate) all_static: bool,
    /// The plugins to run, from [`PLUGINS`].
    pub(crate) plugins: Vec<&'static str>,
    pub(crate) top: u64,
    pub(crate) window: u64,
    pub(crate) tail: u64,
    pub(crate) progress: Option<ProgressMode>,
    pub(crate) counts: bool,
}

/// What the command line asks for.
#[derive(Debug)]
pub(crate) enum Command {
    Run(Options),
    Help,
    Version,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            log: PathBuf::from(SAMPLE),
            speed: 50.0,
            repeat: 1,
            batch: 256,
            plugin_dir: None,
            all_static: false,
            plugins: PLUGINS.to_vec(),
            top: 5,
            window: 10,
            tail: 8,
            progress: None,
            counts: false,
        }
    }
}

/// Parses the arguments (without the program's name).
pub(crate) fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, lexopt::Error> {
    let mut options = Options::default();
    let mut log = None;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Long("speed") => {
                let value = parser.value()?;
                options.speed = value.parse()?;
                if !(options.speed.is_finite() && options.speed >= 0.0) {
                    return Err(invalid("--speed", "a number from 0 up", &value));
                }
            }
            Long("repeat") => options.repeat = positive(&mut parser)?,
            Long("batch") => {
                options.batch = usize::try_from(positive(&mut parser)?).unwrap_or(usize::MAX);
            }
            Long("plugin-dir") => options.plugin_dir = Some(parser.value()?.into()),
            Long("static") => options.all_static = true,
            Long("plugins") => options.plugins = plugin_list(&parser.value()?)?,
            Long("top") => options.top = positive(&mut parser)?,
            Long("window") => options.window = positive(&mut parser)?,
            Long("tail") => options.tail = positive(&mut parser)?,
            Long("progress") => {
                let value = parser.value()?;
                options.progress = Some(match value.to_str() {
                    Some("bar") => ProgressMode::Bar,
                    Some("plain") => ProgressMode::Plain,
                    Some("none") => ProgressMode::None,
                    _ => return Err(invalid("--progress", "bar, plain or none", &value)),
                });
            }
            Long("counts") => options.counts = true,
            Value(path) if log.is_none() => log = Some(PathBuf::from(path)),
            _ => return Err(arg.unexpected()),
        }
    }
    if let Some(log) = log {
        options.log = log;
    }
    Ok(Command::Run(options))
}

/// A comma-separated list of plugin names.
fn plugin_list(value: &OsString) -> Result<Vec<&'static str>, lexopt::Error> {
    let wanted = format!("names from {}", PLUGINS.join(", "));
    let text = value
        .to_str()
        .ok_or_else(|| invalid("--plugins", &wanted, value))?;
    let mut plugins = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match PLUGINS.iter().find(|&&known| known == name) {
            Some(&known) if !plugins.contains(&known) => plugins.push(known),
            Some(_) => {}
            None => return Err(invalid("--plugins", &wanted, value)),
        }
    }
    Ok(plugins)
}

/// A value the option cannot take.
fn invalid(option: &str, wanted: &str, value: &OsString) -> lexopt::Error {
    lexopt::Error::Custom(format!("{option} wants {wanted}, not {value:?}").into())
}

/// The option's value as a number from 1 up.
fn positive(parser: &mut lexopt::Parser) -> Result<u64, lexopt::Error> {
    Ok(parser.value()?.parse::<NonZeroU64>()?.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(OsString::from)).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_values() {
        let Ok(Command::Run(o)) = parse_strs(&[]) else {
            panic!("no run")
        };
        assert_eq!(
            (o.speed, o.repeat, o.top, o.all_static),
            (50.0, 1, 5, false)
        );
        assert!(o.log.ends_with("data/access.log"));
        let Ok(Command::Run(o)) = parse_strs(&[
            "--speed=0",
            "--repeat",
            "3",
            "x.log",
            "--static",
            "--progress",
            "none",
        ]) else {
            panic!("no run")
        };
        assert_eq!((o.speed, o.repeat, o.all_static), (0.0, 3, true));
        assert_eq!(
            (o.log, o.progress),
            (PathBuf::from("x.log"), Some(ProgressMode::None))
        );
        assert!(matches!(
            parse_strs(&["--top", "2", "-h"]),
            Ok(Command::Help)
        ));
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        for (args, message) in [
            (&["--repeat", "0"][..], "cannot parse argument \"0\""),
            (&["--top", "x"], "cannot parse argument \"x\""),
            (
                &["--speed", "-1"],
                "--speed wants a number from 0 up, not \"-1\"",
            ),
            (
                &["--speed", "inf"],
                "--speed wants a number from 0 up, not \"inf\"",
            ),
            (
                &["--progress", "loud"],
                "--progress wants bar, plain or none, not \"loud\"",
            ),
            (&["--window"], "missing argument for option '--window'"),
            (
                &["--plugins", "top,grep"],
                "--plugins wants names from status, alerts, domains, errors, tail, top, not \"top,grep\"",
            ),
            (&["--nope"], "invalid option '--nope'"),
            (&["a.log", "b.log"], "unexpected argument \"b.log\""),
        ] {
            let error = parse_strs(args).expect_err(&format!("{args:?}"));
            assert!(error.starts_with(message), "{args:?}: {error}");
        }
    }
}
