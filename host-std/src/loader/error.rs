//! Why a library could not be loaded as a plugin.

use std::error::Error;
use std::fmt;
use std::io;
use std::path::PathBuf;

use plugbus_core::ffi::{MAGIC, PluginDescriptor};

/// A message type as a descriptor describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageType {
    /// Its [`Fingerprint::NAME`](plugbus_core::Fingerprint::NAME).
    pub name: String,
    /// `size_of`.
    pub size: u64,
    /// `align_of`.
    pub align: u64,
    /// Its [`Fingerprint::FINGERPRINT`](plugbus_core::Fingerprint::FINGERPRINT).
    pub fingerprint: u64,
}

impl MessageType {
    pub(crate) fn of(descriptor: &PluginDescriptor) -> Self {
        MessageType {
            name: descriptor.message_name().to_owned(),
            size: descriptor.message_size,
            align: descriptor.message_align,
            fingerprint: descriptor.message_fingerprint,
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` (size {}, align {}, fingerprint {:#018x})",
            self.name, self.size, self.align, self.fingerprint
        )
    }
}

/// A library that could not be loaded as a plugin. Every variant keeps the
/// path the caller gave and, for a mismatch, both sides.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadError {
    /// No file at the path.
    NotFound {
        /// The path given.
        path: PathBuf,
    },
    /// The path is a directory or another kind of non-regular file.
    NotRegularFile {
        /// The path given.
        path: PathBuf,
        /// What it is instead, for example "a directory".
        kind: &'static str,
    },
    /// Reading, copying or inspecting the file failed.
    Io {
        /// The path given.
        path: PathBuf,
        /// What the loader was doing.
        action: String,
        /// The cause.
        source: io::Error,
    },
    /// The file is not a shared library for this machine, or the system
    /// loader refused it (its reason is the `source`).
    NotLoadable {
        /// The path given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
        /// The system loader's error, if it got that far.
        source: Option<libloading::Error>,
    },
    /// A loadable segment or the program headers reach past the end of the
    /// file (loading it would fault in the middle of `dlopen`).
    Truncated {
        /// The path given.
        path: PathBuf,
        /// The file's size in bytes.
        size: u64,
        /// The size its headers require.
        needed: u64,
    },
    /// The library does not export the descriptor (or thunk table) under the
    /// name derived from its file name (or given by
    /// [`LoadOptions::crate_name`](super::LoadOptions::crate_name)).
    NoDescriptor {
        /// The path given.
        path: PathBuf,
        /// The symbol looked for.
        symbol: String,
        /// The crate whose descriptor the file exports instead, if any: the
        /// file was renamed, and `LoadOptions::crate_name` with this name
        /// loads it.
        exported: Option<String>,
    },
    /// The descriptor does not start with plugbus's magic bytes.
    BadMagic {
        /// The path given.
        path: PathBuf,
        /// The bytes found.
        found: [u8; 8],
    },
    /// The plugin was built for another version of the plugbus boundary.
    AbiVersion {
        /// The path given.
        path: PathBuf,
        /// The plugin's ABI version.
        plugin: u32,
        /// The host's.
        host: u32,
    },
    /// Same ABI version, but a descriptor of another size: a corrupt file.
    DescriptorSize {
        /// The path given.
        path: PathBuf,
        /// The size the plugin's descriptor claims.
        plugin: u32,
        /// The host's.
        host: u32,
    },
    /// The plugin was built by another compiler (Rust has no stable ABI).
    RustcVersion {
        /// The path given.
        path: PathBuf,
        /// The plugin's `rustc -V`.
        plugin: String,
        /// The host's.
        host: String,
    },
    /// The plugin was built with another version of plugbus-core.
    CoreVersion {
        /// The path given.
        path: PathBuf,
        /// The plugin's plugbus-core version.
        plugin: String,
        /// The host's.
        host: String,
    },
    /// The plugin handles another message type, or another definition of it.
    MessageType {
        /// The path given.
        path: PathBuf,
        /// The plugin's message type.
        plugin: MessageType,
        /// The host's.
        host: MessageType,
    },
    /// The plugin file, or a directory above it, could be replaced by
    /// someone other than this process's user or root (as OpenSSH's
    /// `StrictModes` refuses an `authorized_keys` file).
    /// [`LoadOptions::trust_permissions`](super::LoadOptions::trust_permissions)
    /// turns the check off.
    Permissions {
        /// The path given.
        path: PathBuf,
        /// The file or directory at fault.
        place: PathBuf,
        /// Its mode bits (`0o777` and the sticky, setuid and setgid bits).
        mode: u32,
        /// Its owner's user id.
        owner: u32,
        /// What is wrong.
        exposure: Exposure,
    },
    /// With [`LoadOptions::copy`](super::LoadOptions::copy) off, the file at
    /// the path is not the build still mapped from it: the system loader
    /// would hand back the old code (or crash reading the new file through
    /// the old mapping). A thread-local destructor on a living thread or a
    /// thread the plugin started keeps a library mapped after it is
    /// unloaded; a plugin or a message of the old build keeps it loaded.
    StillMapped {
        /// The path given.
        path: PathBuf,
        /// Whether the old build is still in use by plugbus (a plugin or an
        /// envelope of it lives) rather than only left mapped by the system.
        in_use: bool,
    },
    /// The descriptor the system loader mapped is not the one read from the
    /// file before: the file changed while it was being loaded.
    DescriptorChanged {
        /// The path given.
        path: PathBuf,
    },
    /// The plugin's constructor refused its configuration.
    ConstructorFailed {
        /// The path given.
        path: PathBuf,
        /// The plugin's name from its descriptor.
        plugin: String,
        /// The plugin's reason.
        message: String,
    },
    /// The plugin's constructor panicked (the panic was caught in the plugin).
    ConstructorPanicked {
        /// The path given.
        path: PathBuf,
        /// The plugin's name from its descriptor.
        plugin: String,
        /// The panic message.
        message: String,
    },
}

impl LoadError {
    /// Why, without the path: the error's text after "cannot load plugin
    /// `…`: ", on one line.
    pub fn reason(&self) -> impl fmt::Display + '_ {
        Reason(self)
    }

    /// The path the caller gave.
    pub fn path(&self) -> &std::path::Path {
        match self {
            LoadError::NotFound { path }
            | LoadError::NotRegularFile { path, .. }
            | LoadError::Io { path, .. }
            | LoadError::NotLoadable { path, .. }
            | LoadError::Truncated { path, .. }
            | LoadError::NoDescriptor { path, .. }
            | LoadError::BadMagic { path, .. }
            | LoadError::AbiVersion { path, .. }
            | LoadError::DescriptorSize { path, .. }
            | LoadError::RustcVersion { path, .. }
            | LoadError::CoreVersion { path, .. }
            | LoadError::MessageType { path, .. }
            | LoadError::Permissions { path, .. }
            | LoadError::StillMapped { path, .. }
            | LoadError::DescriptorChanged { path }
            | LoadError::ConstructorFailed { path, .. }
            | LoadError::ConstructorPanicked { path, .. } => path,
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = OneLine(self.path().display());
        write!(f, "cannot load plugin `{path}`: {}", self.reason())
    }
}

/// The text of [`LoadError::reason`].
struct Reason<'a>(&'a LoadError);

impl fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            LoadError::NotFound { .. } => write!(f, "no such file"),
            LoadError::NotRegularFile { kind, .. } => {
                write!(f, "it is {kind}, not a regular file")
            }
            LoadError::Io { action, source, .. } => {
                write!(f, "{action}: {source}")
            }
            LoadError::NotLoadable { reason, source, .. } => {
                write!(f, "not a loadable library: {reason}")?;
                if let Some(source) = source {
                    // libloading's own text is only "dlopen failed": the
                    // reason is in its source.
                    let mut cause: Option<&dyn Error> = source.source();
                    while let Some(error) = cause {
                        write!(f, ": {}", OneLine(error))?;
                        cause = error.source();
                    }
                }
                Ok(())
            }
            LoadError::Truncated { size, needed, .. } => write!(
                f,
                "the file is truncated: its headers need {needed} bytes, the file has {size}"
            ),
            LoadError::NoDescriptor {
                symbol, exported, ..
            } => match exported {
                Some(name) => write!(
                    f,
                    "symbol `{symbol}` not found, but the file exports the plugin of crate `{}`: if it was renamed, load it with LoadOptions::crate_name(\"{}\")",
                    OneLine(name),
                    OneLine(name.escape_default())
                ),
                None => write!(
                    f,
                    "it has no plugbus descriptor: symbol `{symbol}` not found (export_plugin! names it after the crate, and the loader takes the crate's name from the file name: for a renamed file, give it with LoadOptions::crate_name)"
                ),
            },
            LoadError::BadMagic { found, .. } => write!(
                f,
                "bad descriptor magic: {found:02x?} in plugin, {MAGIC:02x?} in host"
            ),
            LoadError::AbiVersion { plugin, host, .. } => {
                write!(
                    f,
                    "plugbus ABI version {plugin} in plugin, {host} in host: rebuild the plugin against the host's plugbus-core"
                )
            }
            LoadError::DescriptorSize { plugin, host, .. } => write!(
                f,
                "descriptor of {plugin} bytes in plugin, {host} bytes in host: rebuild the plugin against the host's plugbus-core"
            ),
            LoadError::RustcVersion { plugin, host, .. } => {
                write!(
                    f,
                    "{plugin} in plugin, {host} in host: rebuild the plugin with the host's compiler"
                )
            }
            LoadError::CoreVersion { plugin, host, .. } => {
                write!(
                    f,
                    "plugbus-core {plugin} in plugin, {host} in host: rebuild the plugin against the host's plugbus-core"
                )
            }
            LoadError::MessageType { plugin, host, .. } => {
                write!(
                    f,
                    "message type {plugin} in plugin, {host} in host: a plugin for other messages, or built against another version of the message crate (rebuild it against the host's)"
                )
            }
            LoadError::Permissions {
                place,
                mode,
                owner,
                exposure,
                ..
            } => write!(
                f,
                "`{}` (mode {mode:04o}, owner uid {owner}) {exposure}, so they could replace the code this process would run (LoadOptions::trust_permissions(true) skips this check)",
                OneLine(place.display())
            ),
            LoadError::StillMapped { in_use, .. } => write!(
                f,
                "loading in place: the file was replaced, and the previous build {} (load from a copy, the default, to run the new build beside it)",
                if *in_use {
                    "is still loaded: a plugin or a message of it is alive"
                } else {
                    "stays mapped after unloading (a thread-local destructor or a thread of the plugin keeps it)"
                }
            ),
            LoadError::DescriptorChanged { .. } => write!(
                f,
                "the descriptor the system loader mapped differs from the one read from the file: the file changed while it was loaded"
            ),
            LoadError::ConstructorFailed {
                plugin, message, ..
            } => write!(
                f,
                "plugin `{}` refused its configuration: {}",
                OneLine(plugin),
                OneLine(message)
            ),
            LoadError::ConstructorPanicked {
                plugin, message, ..
            } => write!(
                f,
                "plugin `{}` panicked while being built: {}",
                OneLine(plugin),
                OneLine(message)
            ),
        }
    }
}
/// Shows text on one line whatever it holds: a path, a plugin's name or its
/// error text may contain line breaks, and an error prints on one line.
/// Control characters are escaped as in a Rust string (`\n`).
struct OneLine<T>(T);

impl<T: fmt::Display> fmt::Display for OneLine<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.to_string();
        for c in text.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

/// Every variant prints its cause in its own text, on one line (the system
/// loader's reasons included), so `source()` is `None`: a report that prints
/// the chain says each cause once. The causes stay in the variants' fields.
impl Error for LoadError {}

/// Who else could replace a plugin file (see [`LoadError::Permissions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exposure {
    /// Owned by a user other than this process's user or root.
    Owner,
    /// Writable by its group.
    GroupWritable,
    /// Writable by every user (and, for a directory, not a sticky one of
    /// root's).
    OthersWritable,
}

impl fmt::Display for Exposure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Exposure::Owner => "belongs to another user",
            Exposure::GroupWritable => "is writable by its group",
            Exposure::OthersWritable => "is writable by every user",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_stays_on_one_line() {
        let error = LoadError::ConstructorFailed {
            path: PathBuf::from("dir\nname/libp.so"),
            plugin: String::from("multi\nline"),
            message: String::from("first line\nsecond line\r\tend"),
        };
        let text = error.to_string();
        assert!(!text.contains('\n') && !text.contains('\r'), "{text}");
        assert_eq!(
            text,
            "cannot load plugin `dir\\nname/libp.so`: plugin `multi\\nline` refused its \
             configuration: first line\\nsecond line\\r\\tend"
        );
    }
}
