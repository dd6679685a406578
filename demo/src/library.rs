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

/// The crate name a library file was built from, if it is named like one.
pub(crate) fn crate_name(path: &Path) -> Option<&str> {
    let name = path.file_name()?.to_str()?;
    name.strip_prefix(DLL_PREFIX)?.strip_suffix(DLL_SUFFIX)
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

/// Makes `dir` a plugin directory holding exactly the libraries cargo built
/// for these crates (any other library in it is removed first).
pub(crate) fn gather(crate_names: &[&str], dir: &Path) -> Result<(), Error> {
    let io = |what, path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { what, path, source }
    };
    fs::create_dir_all(dir).map_err(io("create", dir))?;
    for path in libraries(dir)? {
        fs::remove_file(&path).map_err(io("remove", &path))?;
    }
    for name in crate_names {
        let from = built(name)?;
        let to = dir.join(file_name(name));
        fs::copy(&from, &to).map_err(io("copy a plugin to", &to))?;
    }
    Ok(())
}

/// The libraries in `dir` (by the platform's suffix), sorted by name.
pub(crate) fn libraries(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let io = |source| Error::Io {
        what: "read the plugin directory",
        path: dir.to_owned(),
        source,
    };
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_file() && path.to_str().is_some_and(|p| p.ends_with(DLL_SUFFIX)) {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

/// One library of a plugin directory, and what loading it gave.
pub(crate) type Loaded = (PathBuf, Result<DynamicPlugin<LogEvent>, LoadError>);

/// Loads every library in `dir`, each with the configuration `config`
/// gives for its crate name: one result per file, in file-name order.
pub(crate) fn load_dir(
    dir: &Path,
    config: impl Fn(Option<&str>) -> String,
) -> Result<Vec<Loaded>, Error> {
    Ok(libraries(dir)?
        .into_iter()
        .map(|path| {
            let config = config(crate_name(&path));
            // SAFETY: the libraries are this workspace's log plugins, or
            // ones the user put in the directory they named and vouches for.
            let plugin = unsafe { load::<LogEvent>(&path, &config) };
            (path, plugin)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let file = file_name("plugbus_tail");
        assert_eq!(crate_name(Path::new(&file)), Some("plugbus_tail"));
        assert_eq!(crate_name(Path::new("notes.txt")), None);
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
