//! Reloading a dynamic plugin: the new build is loaded and checked, and its
//! instance built, before the running one is touched.

use std::fmt;
use std::path::Path;

use plugbus_core::Fingerprint;
use plugbus_core::lifecycle::{ReplaceError, Replacement};

use super::error::LoadError;
use super::options::LoadOptions;
use super::plugin::Library;
use crate::Host;
use plugbus_core::PluginId;
use plugbus_core::lifecycle::Replaced;

/// How [`replacement`] (and a host's `reload_with`) loads the new build:
/// its configuration, the [`LoadOptions`], and the rollback window.
///
/// # Example
/// ```
/// use plugbus_host_std::{LoadOptions, ReloadOptions};
///
/// let options = ReloadOptions::new()
///     .config("limit=10")
///     .load(LoadOptions::new().copy(false))
///     .rollback(1000);
/// assert_eq!(options.get_config(), "limit=10");
/// ```
#[derive(Debug, Clone, Default)]
pub struct ReloadOptions {
    config: String,
    load: LoadOptions,
    rollback: usize,
}

impl ReloadOptions {
    /// No configuration, the default [`LoadOptions`], no rollback.
    pub fn new() -> Self {
        Self::default()
    }

    /// The configuration the new build's constructor gets (and its later
    /// restarts).
    #[must_use]
    pub fn config(mut self, config: impl Into<String>) -> Self {
        self.config = config.into();
        self
    }

    /// How the library is loaded.
    #[must_use]
    pub fn load(mut self, options: LoadOptions) -> Self {
        self.load = options;
        self
    }

    /// Keeps the old instance, and its library, until the new one has taken
    /// `messages` messages, and puts it back if the new one panics before
    /// (see [`Replacement::rollback`]).
    #[must_use]
    pub fn rollback(mut self, messages: usize) -> Self {
        self.rollback = messages;
        self
    }

    /// The configuration.
    pub fn get_config(&self) -> &str {
        &self.config
    }
}

/// Loads the library at `path`, checks it, and builds its plugin from
/// `options`' configuration, all before anything running is touched; then
/// returns the [`Replacement`] a host's `replace_with` swaps in: the new
/// instance, its library as the factory of later restarts, and the
/// rollback window. This is what every host's `reload` does first;
/// `LocalHost` users call it and then `replace_with` themselves.
///
/// # Safety
/// As [`load`](super::load): loading runs the library's initialisers.
///
/// # Errors
/// Any [`LoadError`], the constructor's included; nothing was replaced.
///
/// # Example
/// ```no_run
/// use plugbus_core::LocalHost;
/// use plugbus_host_std::{ReloadOptions, load, replacement};
///
/// let mut host = LocalHost::<u64>::new();
/// // SAFETY: the libraries are our own plugin's builds.
/// let id = host.attach(unsafe { load::<u64>("v1/libcounter.so", "") }?)?;
/// let new = unsafe { replacement::<u64>("v2/libcounter.so", &ReloadOptions::new()) }?;
/// host.replace_with(id, new)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub unsafe fn replacement<M: Fingerprint + Send + Sync + 'static>(
    path: impl AsRef<Path>,
    options: &ReloadOptions,
) -> Result<Replacement<M>, LoadError> {
    let path = path.as_ref();
    // SAFETY: the caller's promise, passed on.
    let built = unsafe { Library::<M>::open(path, &options.load) }
        .and_then(|library| Ok((library.instance(&options.config)?, library)));
    #[cfg(feature = "tracing")]
    super::plugin::tell_load(path, built.as_ref().map(|(instance, _)| instance));
    let (instance, library) = built?;
    Ok(Replacement::new(instance)
        .factory(library.factory(options.config.clone()))
        .rollback(options.rollback))
}

/// Why a reload did not take place. The old instance runs on.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReloadError {
    /// The new build was refused, or its constructor failed or panicked.
    Load(LoadError),
    /// The swap did not happen (the plugin is gone, or the new instance
    /// panicked as it started).
    Replace(ReplaceError),
}

impl fmt::Display for ReloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The cause is said once, here; `source` adds nothing.
        match self {
            ReloadError::Load(error) => write!(f, "reload refused: {error}"),
            ReloadError::Replace(error) => write!(f, "reload failed: {error}"),
        }
    }
}

impl std::error::Error for ReloadError {}

impl From<LoadError> for ReloadError {
    fn from(error: LoadError) -> Self {
        ReloadError::Load(error)
    }
}

impl From<ReplaceError> for ReloadError {
    fn from(error: ReplaceError) -> Self {
        ReloadError::Replace(error)
    }
}

/// Reloading on the thread host. (On `LocalHost` and the async hosts, call
/// [`replacement`] and then their `replace_with`.)
impl<M: Fingerprint + Send + Sync + 'static> Host<M> {
    /// Reloads a dynamic plugin from the library at `path`, with no
    /// configuration: see [`reload_with`](crate::Host::reload_with).
    ///
    /// # Safety
    /// As [`load`](crate::load): loading runs the library's initialisers.
    ///
    /// # Errors
    /// As [`reload_with`](crate::Host::reload_with).
    pub unsafe fn reload(
        &self,
        id: PluginId,
        path: impl AsRef<std::path::Path>,
    ) -> Result<Replaced, ReloadError> {
        // SAFETY: the caller's promise, passed on.
        unsafe { self.reload_with(id, path, &ReloadOptions::new()) }
    }

    /// Reloads a dynamic plugin: loads the library at `path`, checks it and
    /// builds its plugin from `options`' configuration, all while the old
    /// instance runs on; then swaps it in as [`replace`](crate::Host::replace)
    /// does (the state handed over, later restarts built from the new
    /// library) and returns once it did. The old library is unloaded once
    /// its last instance and envelope are gone.
    ///
    /// # Safety
    /// As [`load`](crate::load): loading runs the library's initialisers.
    ///
    /// # Errors
    /// [`ReloadError::Load`] if the new build was refused or its
    /// constructor failed or panicked; [`ReloadError::Replace`] as
    /// [`replace`](crate::Host::replace). Either way the old instance runs on.
    pub unsafe fn reload_with(
        &self,
        id: PluginId,
        path: impl AsRef<std::path::Path>,
        options: &ReloadOptions,
    ) -> Result<Replaced, ReloadError> {
        // SAFETY: the caller's promise, passed on.
        let replacement = unsafe { crate::replacement(path, options) }?;
        Ok(self.replace_with(id, replacement)?)
    }
}
