//! The private copy a library is loaded from, so that the file at the
//! user's path can be rebuilt or replaced while the plugin runs, and a
//! rebuilt library is really the new code.
//!
//! On Linux the copy is an anonymous memory file (`memfd_create`), sealed
//! against every change once written, and opened by the system loader as
//! `/proc/self/fd/N`: nothing is left on disk when the process dies, even by
//! SIGKILL, and nobody can pre-create or rewrite it. Elsewhere (or when
//! [`LoadOptions::copy_dir`](super::LoadOptions::copy_dir) names a
//! directory) it is a file in a new private directory with a random name
//! (`tempfile`), removed when the library is unloaded.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::error::LoadError;
use super::file::io_error;

/// A copy of a library, alive as long as its image.
#[derive(Debug)]
pub(crate) struct Copy {
    /// The copy, held open while the library is mapped (the memory file
    /// itself on Linux: closing the last descriptor frees it).
    _file: File,
    /// The name the system loader opens.
    pub(crate) path: PathBuf,
    /// The private directory of a file copy, removed on drop.
    _dir: Option<tempfile::TempDir>,
}

impl Copy {
    /// Copies the library's `bytes` (read from `original`).
    pub(crate) fn make(
        original: &Path,
        bytes: &[u8],
        dir: Option<&Path>,
    ) -> Result<Copy, LoadError> {
        #[cfg(target_os = "linux")]
        if dir.is_none() {
            // A kernel without memfd or with executable memory files
            // forbidden (vm.memfd_noexec=2) gives a file copy instead.
            if let Ok(copy) = memfd::copy(original, bytes) {
                return Ok(copy);
            }
        }
        Copy::in_private_dir(original, bytes, dir)
    }

    fn in_private_dir(
        original: &Path,
        bytes: &[u8],
        dir: Option<&Path>,
    ) -> Result<Copy, LoadError> {
        let base = dir.map_or_else(std::env::temp_dir, Path::to_owned);
        // Created with mode 0700 on Unix under a random name: nobody else
        // can guess, pre-create or replace the file inside.
        let mut builder = tempfile::Builder::new();
        builder.prefix("plugbus-");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o700));
        }
        let private = builder.tempdir_in(&base).map_err(|e| {
            io_error(
                original,
                &format!("making a private directory in `{}`", base.display()),
                e,
            )
        })?;
        // The system loader on Windows finds a DLL's name in its file name.
        let name = original
            .file_name()
            .map_or_else(|| PathBuf::from("plugin"), PathBuf::from);
        let path = private.path().join(name);
        let mut target = File::create_new(&path).map_err(|e| {
            io_error(
                original,
                &format!("creating its copy `{}`", path.display()),
                e,
            )
        })?;
        io::Write::write_all(&mut target, bytes)
            .map_err(|e| io_error(original, &format!("copying it to `{}`", path.display()), e))?;
        Ok(Copy {
            _file: target,
            path,
            _dir: Some(private),
        })
    }
}

#[cfg(target_os = "linux")]
mod memfd {
    use std::ffi::CString;
    use std::fs::File;
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::path::{Path, PathBuf};

    use super::Copy;

    /// Memory files cannot be used here.
    #[derive(Debug)]
    pub(super) struct Unavailable;

    pub(super) fn copy(original: &Path, bytes: &[u8]) -> Result<Copy, Unavailable> {
        let name = original
            .file_name()
            .map(|n| n.to_string_lossy().replace('\0', ""))
            .unwrap_or_default();
        let name = CString::new(format!("plugbus:{name}")).map_err(|_| Unavailable)?;
        let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
        // SAFETY: a valid C string; the result is a new descriptor or -1.
        let mut fd = unsafe { libc::memfd_create(name.as_ptr(), flags | libc::MFD_EXEC) };
        if fd < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
            // Kernels before 6.3 know no MFD_EXEC (their memory files are
            // executable anyway).
            // SAFETY: as above.
            fd = unsafe { libc::memfd_create(name.as_ptr(), flags) };
        }
        if fd < 0 {
            return Err(Unavailable);
        }
        // SAFETY: a fresh descriptor that nothing else owns.
        let mut memory = unsafe { File::from_raw_fd(fd) };
        io::Write::write_all(&mut memory, bytes).map_err(|_| Unavailable)?;
        let seals =
            libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
        // SAFETY: `fcntl` on a descriptor we own; no pointers.
        if unsafe { libc::fcntl(memory.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
            return Err(Unavailable);
        }
        Ok(Copy {
            path: PathBuf::from(format!("/proc/self/fd/{}", memory.as_raw_fd())),
            _file: memory,
            _dir: None,
        })
    }
}
