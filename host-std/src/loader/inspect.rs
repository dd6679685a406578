//! What a plugin file says about itself, read without running any of it:
//! the `plugbus inspect` command and [`inspect`].

use std::fs::File;
use std::path::{Path, PathBuf};

use plugbus_core::ffi::PluginDescriptor;

use super::error::LoadError;
use super::file::{self, io_error};
use super::image::{check_descriptor, crate_name};

/// A plugin library's descriptor, read from its file.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Inspection {
    /// The path given.
    pub path: PathBuf,
    /// The object format: "ELF", "Mach-O" or "PE".
    pub format: &'static str,
    /// The crate name its symbols carry (what
    /// [`LoadOptions::crate_name`](super::LoadOptions::crate_name) takes).
    pub crate_name: String,
    /// The descriptor, as the loader reads it before loading.
    pub descriptor: PluginDescriptor,
}

impl Inspection {
    /// Whether a host that loads plugins for the message type `host`
    /// describes (see [`expectations`]) would accept this plugin, checking
    /// what the loader checks: rustc and plugbus-core versions and the
    /// message type's name, size, alignment and fingerprint.
    ///
    /// # Errors
    /// The [`LoadError`] the loader would give.
    pub fn check_against(&self, host: &PluginDescriptor) -> Result<(), LoadError> {
        check_descriptor(&self.path, &self.descriptor, host)
    }
}

/// Reads the plugbus descriptor of the library at `path` without loading
/// it: none of its code runs, so any file may be inspected. Checks what the
/// loader checks of the file (a shared library for this machine, not
/// truncated, a descriptor of this ABI version). The descriptor is looked
/// for under the crate name the file name implies, or else under the one
/// crate name the file exports.
///
/// # Errors
/// Why the file is not a plugin the loader could read, as for [`load`](super::load).
///
/// # Example
/// ```no_run
/// let inspection = plugbus_host_std::loader::inspect("target/debug/libmy_plugin.so")?;
/// println!("{} {}", inspection.descriptor.plugin_name(), inspection.descriptor.plugin_version());
/// # Ok::<(), plugbus_host_std::LoadError>(())
/// ```
pub fn inspect(path: impl AsRef<Path>) -> Result<Inspection, LoadError> {
    let path = path.as_ref();
    let file = open(path)?;
    let name = crate_name(path);
    let facts = match file::read(path, &file, &name) {
        Err(LoadError::NoDescriptor {
            exported: Some(other),
            ..
        }) => file::read(path, &file, &other)?,
        other => other?,
    };
    Ok(Inspection {
        path: path.to_owned(),
        format: facts.format,
        crate_name: facts.crate_name,
        descriptor: facts.descriptor,
    })
}

/// What a binary expects of the plugins it loads: the descriptor of a
/// plugin library, or, for a host program, one descriptor per message type
/// it loads plugins for (the loader keeps them in the program's data;
/// their plugin name is empty). Reads the file only.
///
/// # Errors
/// Why the file could not be read as an object file of this machine.
pub fn expectations(path: impl AsRef<Path>) -> Result<Vec<PluginDescriptor>, LoadError> {
    let path = path.as_ref();
    if let Ok(inspection) = inspect(path) {
        return Ok(vec![inspection.descriptor]);
    }
    let file = open(path)?;
    file::embedded(path, &file)
}

fn open(path: &Path) -> Result<File, LoadError> {
    let metadata = std::fs::metadata(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => LoadError::NotFound {
            path: path.to_owned(),
        },
        _ => io_error(path, "reading its metadata", source),
    })?;
    if !metadata.is_file() {
        return Err(LoadError::NotRegularFile {
            path: path.to_owned(),
            kind: if metadata.is_dir() {
                "a directory"
            } else {
                "not a regular file"
            },
        });
    }
    File::open(path).map_err(|e| io_error(path, "opening it", e))
}
