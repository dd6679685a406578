//! Who could have replaced the code the host is about to run, checked as
//! OpenSSH's `StrictModes` checks `authorized_keys`: the plugin file and
//! every directory above it must be owned by this process's user or by
//! root, and writable by nobody else. A directory with the sticky bit owned
//! by root (`/tmp`) is fine: others can add files there but not replace
//! ours.
//!
//! On targets other than Unix nothing is checked here (Windows ACLs are not
//! read); [`LoadOptions::trust_permissions`](super::LoadOptions::trust_permissions)
//! documents that.

use std::path::Path;

use super::error::LoadError;

#[cfg(unix)]
pub(crate) fn check(path: &Path) -> Result<(), LoadError> {
    use std::os::unix::fs::MetadataExt;

    use super::error::Exposure;
    use super::file::io_error;

    let canonical = std::fs::canonicalize(path)
        .map_err(|e| io_error(path, "resolving its path to check its permissions", e))?;
    // SAFETY: `geteuid` has no preconditions and cannot fail.
    let user = unsafe { libc::geteuid() };
    for (i, place) in canonical.ancestors().enumerate() {
        let metadata = std::fs::metadata(place).map_err(|e| {
            io_error(
                path,
                &format!("reading the permissions of `{}`", place.display()),
                e,
            )
        })?;
        let (owner, mode) = (metadata.uid(), metadata.mode());
        let exposure = if owner != user && owner != 0 {
            Some(Exposure::Owner)
        } else if mode & 0o022 == 0 {
            None
        } else if i > 0 && mode & 0o1000 != 0 && owner == 0 {
            // Sticky and root's: others may add entries, not replace ours.
            None
        } else if mode & 0o002 != 0 {
            Some(Exposure::OthersWritable)
        } else {
            Some(Exposure::GroupWritable)
        };
        if let Some(exposure) = exposure {
            return Err(LoadError::Permissions {
                path: path.to_owned(),
                place: place.to_owned(),
                mode: mode & 0o7777,
                owner,
                exposure,
            });
        }
    }
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn check(_path: &Path) -> Result<(), LoadError> {
    Ok(())
}
