//! The log plugins the demo runs, and how each is attached: linked in, or
//! loaded from a directory of plugin libraries.

use std::path::{Path, PathBuf};

use plugbus_access_log::{ConfigError, LogEvent};
use plugbus_alert::{Alert, Alerts};
use plugbus_core::{Outbox, Plugin};
use plugbus_host_std::{AttachOptions, Host, Overflow, PluginId};

use crate::error::Error;
use crate::library;
use crate::options::Options;

type Construct = Box<dyn FnOnce(&str) -> Result<Box<dyn Plugin<LogEvent>>, ConfigError>>;

/// One of the demo's plugins.
struct Spec {
    /// Its crate, as the library file names it.
    crate_name: &'static str,
    /// Its name in reports and in the configuration (also `Plugin::name`).
    name: &'static str,
    attach: AttachOptions,
    /// Whether it is loaded from a library unless `--static`.
    dynamic: bool,
    /// Builds it linked in.
    construct: Construct,
}

fn boxed<P: Plugin<LogEvent>>(
    new: impl FnOnce(&str) -> Result<P, ConfigError> + 'static,
) -> Construct {
    Box::new(move |config| new(config).map(|p| Box::new(p) as Box<dyn Plugin<LogEvent>>))
}

/// The one configuration every plugin gets, linked in or loaded: each
/// reads the options qualified with its name.
fn config(options: &Options) -> String {
    format!(
        "top.n={} errors.window={} tail.keep={} alerts.not_found=3 alerts.window=60",
        options.top, options.window, options.tail
    )
}

/// The demo's plugins, configured from the options: `status`, `alerts`
/// and `domains` linked in (`alerts` pushes its alerts into `alerts`;
/// `domains` is an async plugin awaiting a lookup service), `top`,
/// `errors` and `tail` loaded from libraries, `tail` on a lossy lane.
fn specs(options: &Options, alerts: Outbox<Alert>) -> Vec<Spec> {
    let tail = usize::try_from(options.tail).unwrap_or(usize::MAX);
    vec![
        Spec {
            crate_name: "plugbus_status_codes",
            name: "status",
            attach: AttachOptions::new(),
            dynamic: false,
            construct: boxed(plugbus_status_codes::StatusCodes::new),
        },
        Spec {
            crate_name: "plugbus_alert",
            name: "alerts",
            attach: AttachOptions::new(),
            dynamic: false,
            construct: boxed(move |config| Alerts::new(config).map(|a| a.with_outbox(alerts))),
        },
        Spec {
            crate_name: "plugbus_domains",
            name: "domains",
            attach: AttachOptions::new(),
            dynamic: false,
            construct: boxed(plugbus_domains::Domains::new),
        },
        Spec {
            crate_name: "plugbus_top_paths",
            name: "top",
            attach: AttachOptions::new(),
            dynamic: true,
            construct: boxed(plugbus_top_paths::TopPaths::new),
        },
        Spec {
            crate_name: "plugbus_error_rate",
            name: "errors",
            attach: AttachOptions::new(),
            dynamic: true,
            construct: boxed(plugbus_error_rate::ErrorRate::new),
        },
        Spec {
            crate_name: "plugbus_tail",
            name: "tail",
            // It shows only the latest `keep` requests: a longer queue would
            // hold nothing it shows, and it must never slow the sender.
            attach: AttachOptions::new()
                .capacity(tail)
                .overflow(Overflow::DropOldest),
            dynamic: true,
            construct: boxed(plugbus_tail::Tail::new),
        },
    ]
}

/// How a plugin came to be attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Linked {
    Static,
    /// Loaded from this library.
    Dynamic(PathBuf),
}

/// An attached plugin.
#[derive(Debug, Clone)]
pub(crate) struct Attached {
    pub(crate) id: PluginId,
    pub(crate) name: String,
    pub(crate) linked: Linked,
    pub(crate) overflow: Overflow,
}

/// What attaching did: the plugins attached, and each library in the plugin
/// directory that was not a plugin, with the reason.
#[derive(Debug, Default)]
pub(crate) struct Attachment {
    pub(crate) attached: Vec<Attached>,
    pub(crate) refused: Vec<(PathBuf, String)>,
    /// The plugin directory, if any was loaded.
    pub(crate) dir: Option<PathBuf>,
}

/// Attaches the demo's plugins to `host`.
pub(crate) fn attach(
    host: &Host<LogEvent>,
    options: &Options,
    alerts: Outbox<Alert>,
) -> Result<Attachment, Error> {
    let mut attachment = Attachment::default();
    let config = config(options);
    let mut dynamic = Vec::new();
    for spec in specs(options, alerts) {
        if spec.dynamic && !options.all_static {
            dynamic.push(spec);
            continue;
        }
        if !options.plugins.contains(&spec.name) {
            continue;
        }
        let plugin = (spec.construct)(&config).map_err(|source| Error::Config {
            plugin: spec.name,
            source,
        })?;
        attach_one(host, &mut attachment, plugin, spec.attach, Linked::Static)?;
    }
    if !dynamic
        .iter()
        .any(|spec| options.plugins.contains(&spec.name))
    {
        return Ok(attachment);
    }
    let dir = match &options.plugin_dir {
        Some(dir) => dir.clone(),
        None => {
            let dir = plugin_dir()?;
            let crates: Vec<&str> = dynamic.iter().map(|s| s.crate_name).collect();
            library::gather(&crates, &dir)?;
            dir
        }
    };
    for (path, plugin) in library::load_all(&dir, &config)? {
        match plugin {
            Ok(plugin) => {
                // One of ours gets its attach options, or stays out if not
                // chosen; another plugin for log events (the user's) gets
                // the defaults.
                let attach = match dynamic.iter().find(|s| s.name == plugin.name()) {
                    Some(spec) if !options.plugins.contains(&spec.name) => continue,
                    Some(spec) => spec.attach.clone(),
                    None => AttachOptions::new(),
                };
                attach_one(host, &mut attachment, plugin, attach, Linked::Dynamic(path))?;
            }
            Err(error) => attachment.refused.push((path, error.reason().to_string())),
        }
    }
    attachment.dir = Some(dir);
    Ok(attachment)
}

fn attach_one(
    host: &Host<LogEvent>,
    attachment: &mut Attachment,
    plugin: impl Plugin<LogEvent>,
    options: AttachOptions,
    linked: Linked,
) -> Result<(), Error> {
    let name = plugin.name().to_owned();
    let overflow = options.get_overflow();
    let id = host
        .attach_with(plugin, options)
        .map_err(|source| Error::Attach {
            plugin: name.clone(),
            source,
        })?;
    attachment.attached.push(Attached {
        id,
        name,
        linked,
        overflow,
    });
    Ok(())
}

/// The demo's plugin directory: `plugbus-demo-plugins/` beside this
/// program, in cargo's target directory.
fn plugin_dir() -> Result<PathBuf, Error> {
    let exe = std::env::current_exe().map_err(|source| Error::Io {
        what: "find this program",
        path: PathBuf::from("."),
        source,
    })?;
    Ok(exe
        .parent()
        .unwrap_or(Path::new("."))
        .join("plugbus-demo-plugins"))
}
