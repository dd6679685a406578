//! Reloading a plugin when its library file changes (feature `watch`).
//!
//! A thread per watch waits for the file system's events about the file
//! (through the `notify` crate, watching the file's directory, so a file
//! replaced by a rename is still seen), lets them settle, then reloads once.
//! The debounce is trailing: a reload waits until no event came for the
//! debounce time, so a library written in several steps (cargo writes,
//! then hard-links or renames) is loaded once, when it is whole. It is a
//! dozen lines here rather than `notify-debouncer-mini`, whose window
//! starts at the first event and so could fire in the middle of a long
//! write.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};
use plugbus_core::lifecycle::{ReplaceError, Replaced, Replacement};
use plugbus_core::{Fingerprint, PluginId};

use super::reload::{ReloadError, ReloadOptions, replacement};
use crate::Host;

/// The quiet time before a reload unless told otherwise: cargo writes a
/// library and links it into place within a few milliseconds; a quarter of
/// a second covers a slow disk without making a developer wait.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(250);

/// What came of one reload a [`Watch`] made.
pub type WatchEvent = Result<Replaced, ReloadError>;

/// A file being watched; dropping it stops the watch (and joins its
/// thread). Each reload's outcome arrives on [`events`](Watch::events)
/// and, for a failure, on the `log` facade (`warn`); a failure is never
/// fatal: the old instance runs on and the next change is tried again.
pub struct Watch {
    /// Dropped first: closing the watcher's channel ends the thread.
    watcher: Option<notify::RecommendedWatcher>,
    thread: Option<JoinHandle<()>>,
    events: Receiver<WatchEvent>,
    path: PathBuf,
}

impl Watch {
    /// The outcome of each reload, in order.
    pub fn events(&self) -> &Receiver<WatchEvent> {
        &self.events
    }

    /// The file watched.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        drop(self.watcher.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch").field("path", &self.path).finish()
    }
}

/// Why a watch could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum WatchError {
    /// The path has no file name or no directory to watch.
    BadPath(PathBuf),
    /// The file system's notification service refused.
    Notify {
        /// The path.
        path: PathBuf,
        /// What it said.
        reason: String,
    },
}

impl fmt::Display for WatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatchError::BadPath(path) => {
                write!(f, "cannot watch `{}`: not a file path", path.display())
            }
            WatchError::Notify { path, reason } => {
                write!(f, "cannot watch `{}`: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for WatchError {}

/// Watches the library at `path` and, each time it changes and has been
/// quiet for `debounce`, loads it with `options` ([`replacement`]) and
/// hands the replacement to `swap`, which puts it in (a host's
/// `replace_with`). This is what [`Host::watch`] does; with `LocalHost` or
/// an async host, `swap` sends the replacement to where the host is.
///
/// # Safety
/// As [`load`](super::load), for every build that appears at `path` while
/// the watch lives.
///
/// # Errors
/// [`WatchError`] if the watch cannot start.
pub unsafe fn watch<M, F>(
    path: impl AsRef<Path>,
    options: ReloadOptions,
    debounce: Duration,
    mut swap: F,
) -> Result<Watch, WatchError>
where
    M: Fingerprint + Send + Sync + 'static,
    F: FnMut(Replacement<M>) -> Result<Replaced, ReplaceError> + Send + 'static,
{
    let path = path.as_ref().to_owned();
    let (Some(name), Some(dir)) = (path.file_name(), path.parent()) else {
        return Err(WatchError::BadPath(path));
    };
    let name = name.to_owned();
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let (changes, changed) = mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Any change to the file (or an error, which may hide one) is worth
        // a look; the reload says whether the file is good. Reading it is
        // no change: the reload itself opens and reads it.
        let ours = match &event {
            Ok(event) => {
                !event.kind.is_access() && event.paths.iter().any(|p| p.file_name() == Some(&name))
            }
            Err(_) => true,
        };
        if ours {
            let _ = changes.send(());
        }
    })
    .map_err(|e| notify_error(&path, &e))?;
    watcher
        .watch(dir, RecursiveMode::NonRecursive)
        .map_err(|e| notify_error(&path, &e))?;
    let (events, outcomes) = mpsc::channel();
    let file = path.clone();
    let thread = thread::Builder::new()
        .name("plugbus-watch".into())
        .spawn(move || {
            while settled(&changed, debounce) {
                // SAFETY: the caller's promise for every build at `file`.
                let outcome = unsafe { replacement::<M>(&file, &options) }
                    .map_err(ReloadError::from)
                    .and_then(|new| swap(new).map_err(ReloadError::from));
                report(&file, &outcome);
                // Nobody may read the events; the watch goes on anyway.
                let _ = events.send(outcome);
            }
        })
        .map_err(|e| WatchError::Notify {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    Ok(Watch {
        watcher: Some(watcher),
        thread: Some(thread),
        events: outcomes,
        path,
    })
}

/// Waits for a change, then until none came for `debounce`. False once the
/// watcher is gone.
fn settled(changed: &Receiver<()>, debounce: Duration) -> bool {
    if changed.recv().is_err() {
        return false;
    }
    let mut quiet_at = Instant::now() + debounce;
    loop {
        match changed.recv_timeout(quiet_at.saturating_duration_since(Instant::now())) {
            Ok(()) => quiet_at = Instant::now() + debounce,
            Err(RecvTimeoutError::Timeout) => return true,
            Err(RecvTimeoutError::Disconnected) => return false,
        }
    }
}

fn report(file: &Path, outcome: &WatchEvent) {
    match outcome {
        Ok(_) => log::info!("reloaded plugin from `{}`", file.display()),
        Err(error) => log::warn!("{error}"),
    }
}

fn notify_error(path: &Path, error: &notify::Error) -> WatchError {
    WatchError::Notify {
        path: path.to_owned(),
        reason: error.to_string(),
    }
}

impl<M: Fingerprint + Send + Sync + 'static> Host<M> {
    /// Reloads plugin `id` from the library at `path` each time the file
    /// changes (debounced by [`DEFAULT_DEBOUNCE`]), as
    /// [`reload_with`](Host::reload_with) does with `options`. Each
    /// outcome arrives on the returned [`Watch`]'s events; a failed reload
    /// leaves the running instance alone. Dropping the watch stops it.
    ///
    /// # Safety
    /// As [`load`](super::load), for every build that appears at `path`
    /// while the watch lives.
    ///
    /// # Errors
    /// [`WatchError`] if the watch cannot start.
    pub unsafe fn watch(
        &self,
        id: PluginId,
        path: impl AsRef<Path>,
        options: ReloadOptions,
    ) -> Result<Watch, WatchError> {
        let bus = self.sender().bus().clone();
        let swap = move |new| bus.replace(id, new)?.wait_blocking();
        // SAFETY: the caller's promise, passed on.
        unsafe { watch(path, options, DEFAULT_DEBOUNCE, swap) }
    }
}
