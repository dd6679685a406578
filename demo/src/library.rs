//! Finding plugin libraries: the ones cargo built for the demo, and every
//! library in a directory.
//!
//! The loader is gaining these (a platform file name for a crate, locating
//! a plugin in cargo's target directory, `load_dir`); until they are on
//! main, this module is the small stand-in to replace.

use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
use std::fs;
use std::path::{Path, PathBuf};

use plugbus_access_log::LogEvent;
use plugbus_host_std::{DynamicPlugin, LoadError, load};

use crate::error::Error;

/// The file name of a plugin library for this platform:
/// `libplugbus_tail.so`, `libplugbus_tail.dylib`, `plugbus_tail.dll`.
pub(crate) fn file_name(crate_name: &str) -> String {
    format!("{DLL_PREFIX}{crate_name}{DLL_SUFFIX}")
}

/// Where cargo put the cdylib of one of the demo's dependencies: in
/// `deps/` beside this program, which is `target/<profile>/` under
/// whichever target directory (`CARGO_TARGET_DIR`) and profile built it.
pub(crate) fn built(crate_name: &str) -> Result<PathBuf, Error> {
    let file = file_name(crate_name);
    let exe = std::env::current_exe().map_err(|source| Error::Io {
        what: "find this program",
        path: PathBuf::from("."),
        source,
    })?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    let looked_in = vec![dir.join("deps"), dir.to_owned()];
    looked_in
        .iter()
        .map(|d| d.join(&file))
        .find(|path| path.is_file())
        .ok_or(Error::NotBuilt { file, looked_in })
}

/// Puts the libraries cargo built for these crates into the plugin
/// directory `dir`, each copied only if it is missing or older than the
/// build. A copy is written beside `dir` and renamed into it, so another
/// run of the demo loading `dir` at the same time sees each library whole
/// or not at all, and nothing is ever removed from under it.
pub(crate) fn gather(crate_names: &[&str], dir: &Path) -> Result<(), Error> {
    let io = |what, path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { what, path, source }
    };
    fs::create_dir_all(dir).map_err(io("create", dir))?;
    let staging = dir.parent().unwrap_or(dir);
    for name in crate_names {
        let from = built(name)?;
        let to = dir.join(file_name(name));
        if is_current(&to, &from) {
            continue;
        }
        let part = staging.join(format!(".{}-{}.part", file_name(name), std::process::id()));
        fs::copy(&from, &part).map_err(io("copy a plugin to", &part))?;
        fs::rename(&part, &to).map_err(io("move a plugin to", &to))?;
    }
    Ok(())
}

/// Whether `copy` has the length of `original` and is not older.
fn is_current(copy: &Path, original: &Path) -> bool {
    let (Ok(copy), Ok(original)) = (fs::metadata(copy), fs::metadata(original)) else {
        return false;
    };
    match (copy.modified(), original.modified()) {
        (Ok(copied), Ok(built)) => copy.len() == original.len() && copied >= built,
        _ => false,
    }
}

/// The entries of `dir`, sorted by name.
fn entries(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let io = |source| Error::Io {
        what: "read the plugin directory",
        path: dir.to_owned(),
        source,
    };
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        found.push(entry.map_err(io)?.path());
    }
    found.sort();
    Ok(found)
}

/// One library of a plugin directory, and what loading it gave.
pub(crate) type Loaded = (PathBuf, Result<DynamicPlugin<LogEvent>, LoadError>);

/// Loads every entry of `dir` as a plugin, each with `config`: one result
/// per entry (a plugin, or why it is not one), in file-name order.
pub(crate) fn load_dir(dir: &Path, config: &str) -> Result<Vec<Loaded>, Error> {
    Ok(entries(dir)?
        .into_iter()
        .map(|path| {
            // SAFETY: the libraries are this workspace's log plugins, or
            // ones the user put in the directory they named and vouches for.
            let plugin = unsafe { load::<LogEvent>(&path, config) };
            (path, plugin)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_follow_the_platform() {
        assert_eq!(
            file_name("plugbus_tail"),
            format!("{DLL_PREFIX}plugbus_tail{DLL_SUFFIX}")
        );
    }

    #[test]
    fn a_library_not_built_names_where_it_looked() {
        let error = built("plugbus_no_such_plugin").unwrap_err().to_string();
        assert!(
            error.contains(&file_name("plugbus_no_such_plugin")),
            "{error}"
        );
        assert!(error.contains("deps"), "{error}");
    }
}
