//! Finding plugin libraries: the ones cargo built for the demo, gathered
//! into a plugin directory, and every entry of a directory loaded.

use std::fs;
use std::path::{Path, PathBuf};

use plugbus_access_log::LogEvent;
use plugbus_host_std::LoadOptions;
use plugbus_host_std::loader::{DirEntry, built_plugin, library_filename, load_dir};

use crate::error::Error;

/// Where cargo put the library of one of the demo's plugin crates: the
/// loader's [`built_plugin`] (the workspace's target directory, honouring
/// `CARGO_TARGET_DIR`, and this build's profile); for a demo run from
/// outside the workspace, `deps/` beside this program, which is
/// `target/<profile>/` of the build that made it.
pub(crate) fn built(crate_name: &str) -> Result<PathBuf, Error> {
    if let Ok(path) = built_plugin(crate_name) {
        return Ok(path);
    }
    let file = library_filename(crate_name);
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
        .ok_or_else(|| Error::NotBuilt {
            file: file.to_string_lossy().into_owned(),
            looked_in,
        })
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
        let file = library_filename(name);
        let to = dir.join(&file);
        if is_current(&to, &from) {
            continue;
        }
        let part = staging.join(format!(
            ".{}-{}.part",
            file.to_string_lossy(),
            std::process::id()
        ));
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

/// Loads every entry of `dir` as a plugin with `config` (the loader's
/// [`load_dir`]): one result per entry, a plugin or why it is not one, in
/// file-name order.
pub(crate) fn load_all(dir: &Path, config: &str) -> Result<Vec<DirEntry<LogEvent>>, Error> {
    // SAFETY: the libraries are this workspace's log plugins, or ones the
    // user put in the directory they named and vouches for.
    unsafe { load_dir::<LogEvent>(dir, config, &LoadOptions::new()) }.map_err(Error::PluginDir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_library_not_built_names_where_it_looked() {
        let error = built("plugbus_no_such_plugin").unwrap_err().to_string();
        let file = library_filename("plugbus_no_such_plugin");
        assert!(error.contains(&*file.to_string_lossy()), "{error}");
        assert!(error.contains("deps"), "{error}");
    }
}
