//! How [`load_with`](super::load_with) loads a library.

use std::path::{Path, PathBuf};

/// How a library is loaded.
///
/// By default the loader copies the file to a uniquely named file in the
/// system's temporary directory and loads the copy (removed again once the
/// library is unloaded). So a library rebuilt at the same path is really the
/// new one (the system loader would otherwise hand back a still-mapped old
/// copy), and rewriting the original while the plugin runs cannot crash the
/// host.
///
/// # Example
/// ```
/// use plugbus_host_std::LoadOptions;
///
/// let options = LoadOptions::new()
///     .copy_dir("/var/tmp")
///     .crate_name("my_plugin");
/// assert!(options.copies());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    pub(crate) copy: bool,
    pub(crate) copy_dir: Option<PathBuf>,
    pub(crate) crate_name: Option<String>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            copy: true,
            copy_dir: None,
            crate_name: None,
        }
    }
}

impl LoadOptions {
    /// The defaults: load from a unique copy in the temporary directory, and
    /// find the plugin's symbols from the file name.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether to load from a unique copy (the default) or the file itself.
    /// Loading the file itself is only safe if nothing rewrites it while the
    /// library is loaded; loading the same file twice then shares one
    /// mapping. Nor may it be replaced while `load` runs: the file checks
    /// read the file once, and the system loader opens the path again, so a
    /// file renamed over it in between is loaded unchecked. The copy closes
    /// that gap (the loader checks and loads its own private copy).
    pub fn copy(mut self, copy: bool) -> Self {
        self.copy = copy;
        self
    }

    /// Where copies go, instead of the temporary directory (which must not
    /// be mounted `noexec`).
    pub fn copy_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.copy_dir = Some(dir.as_ref().to_owned());
        self
    }

    /// The plugin crate's name, when the file was renamed: the loader looks
    /// for `plugbus_descriptor_<name>`. By default the name is the file's,
    /// without `lib`, extension and any `-hash` (`libmy_plugin.so` gives
    /// `my_plugin`).
    pub fn crate_name(mut self, name: impl Into<String>) -> Self {
        self.crate_name = Some(name.into());
        self
    }

    /// Whether the library is loaded from a copy.
    pub fn copies(&self) -> bool {
        self.copy
    }
}
