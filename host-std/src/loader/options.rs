//! How [`load_with`](super::load_with) loads a library.

use std::path::{Path, PathBuf};

/// How a library is loaded.
///
/// By default the loader checks the file's permissions, copies it and loads
/// the copy: on Linux a sealed anonymous memory file (nothing on disk, so
/// nothing is left behind even if the process is killed), elsewhere a file
/// with a random name in a new private directory under the system's
/// temporary directory (removed once the library is unloaded). So a library
/// rebuilt at the same path is really the new one (the system loader would
/// otherwise hand back a still-mapped old build), the file checked is the
/// file loaded, and rewriting the original while the plugin runs cannot
/// crash the host.
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
    pub(crate) trust_permissions: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            copy: true,
            copy_dir: None,
            crate_name: None,
            trust_permissions: false,
        }
    }
}

impl LoadOptions {
    /// The defaults: load from a unique copy in the temporary directory, and
    /// find the plugin's symbols from the file name.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether to load from a private copy (the default) or the file itself.
    ///
    /// Which is safe when:
    /// - With the copy, anything may happen to the original file while the
    ///   plugin runs (rewritten, replaced, deleted), and a new build at the
    ///   same path loads beside the old one.
    /// - Without it, the file must not be rewritten in place while the
    ///   library is mapped: the system maps the file itself, and changing
    ///   its pages under a running library ends the process (SIGBUS or
    ///   SIGSEGV). That holds after unloading too while the library stays
    ///   mapped (see below): `cp` truncates the file first, and a mapped
    ///   library truncated under the process crashes it at exit even if
    ///   none of its code runs again. Replacing it by renaming a new file over it is safe, but
    ///   the new build cannot be loaded while the old one is still mapped:
    ///   the loader compares the file's identity (device, inode, size,
    ///   modification time) with every build still mapped from that path and
    ///   refuses with [`LoadError::StillMapped`](super::LoadError::StillMapped)
    ///   rather than run the old code or share its state. (A plugin or an
    ///   envelope it made keeps its build loaded; a `thread_local!` with a
    ///   destructor on a living thread, or a thread the plugin started, keeps
    ///   it mapped even after that.) Loading the same unchanged file twice
    ///   shares one mapping. On Linux the loader opens the file once and maps
    ///   that open file, so the file checked is the file loaded; elsewhere
    ///   the system loader opens the path again, and a file renamed over it
    ///   between the check and the load is loaded unchecked.
    pub fn copy(mut self, copy: bool) -> Self {
        self.copy = copy;
        self
    }

    /// Copy into a new private directory inside `dir` instead of the
    /// default (a memory file on Linux, the temporary directory elsewhere).
    /// `dir` must not be mounted `noexec`.
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

    /// Skips the permission check. By default the loader refuses a plugin
    /// file that someone other than this process's user or root could have
    /// replaced: the file, or any directory above it, owned by another user
    /// or writable by its group or by everyone (a sticky directory owned by
    /// root, like `/tmp`, is fine), as OpenSSH's `StrictModes` does for
    /// `authorized_keys`. Turning it off is unsafe practice: whoever can
    /// write there chooses the code this process runs. On targets other than
    /// Unix nothing is checked (Windows access lists are not read), whatever
    /// this says.
    pub fn trust_permissions(mut self, trust: bool) -> Self {
        self.trust_permissions = trust;
        self
    }

    /// Whether the library is loaded from a copy.
    pub fn copies(&self) -> bool {
        self.copy
    }
}
