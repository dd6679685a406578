//! Finding plugin libraries: the file name a crate's library has on this
//! platform, the library cargo built in this workspace, and every library
//! in a directory.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use plugbus_core::Fingerprint;

use super::error::LoadError;
use super::file::io_error;
use super::options::LoadOptions;
use super::plugin::{DynamicPlugin, load_with};

/// The file name of a plugin crate's library on this platform:
/// `libmy_plugin.so` on Linux, `libmy_plugin.dylib` on macOS,
/// `my_plugin.dll` on Windows. Dashes in the crate's name become
/// underscores, as cargo does.
///
/// # Example
/// ```
/// let name = plugbus_host_std::loader::library_filename("my-plugin");
/// if cfg!(target_os = "linux") {
///     assert_eq!(name, "libmy_plugin.so");
/// }
/// ```
pub fn library_filename(crate_name: &str) -> OsString {
    libloading::library_filename(crate_name.replace('-', "_"))
}

/// The library cargo built for plugin crate `crate_name` in the current
/// workspace, with the profile of this build (`debug` or `release`, from
/// `debug_assertions`): `<target>/<profile>/<file>`, or
/// `<target>/<profile>/deps/<file>` where cargo puts the libraries of
/// dependencies, whichever is newer. `<target>` is `CARGO_TARGET_DIR` if set (relative to the
/// workspace root), else `target` in the workspace root, which is the
/// nearest directory above the current one whose `Cargo.toml` has a
/// `[workspace]` (or the nearest with a `Cargo.toml`). A target directory
/// set in `.cargo/config.toml` is not read: set `CARGO_TARGET_DIR`.
///
/// If the workspace has no such library (a program started from outside
/// its workspace, say from `/tmp` or by an installer), it is looked for
/// beside the running program instead: in the program's directory and its
/// `deps/`, and, for a test or an example (`<profile>/deps/`,
/// `<profile>/examples/`), in `<profile>/` and `<profile>/deps/` above it.
///
/// # Errors
/// [`LoadError::NotFound`] with the first place looked at if it is in
/// none of them.
///
/// # Example
/// ```no_run
/// let path = plugbus_host_std::loader::built_plugin("my_plugin")?;
/// // SAFETY: our own plugin, built by cargo in this workspace.
/// let plugin = unsafe { plugbus_host_std::load::<u64>(&path, "") }?;
/// # Ok::<(), plugbus_host_std::LoadError>(())
/// ```
pub fn built_plugin(crate_name: &str) -> Result<PathBuf, LoadError> {
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    built_plugin_in(crate_name, profile)
}

/// [`built_plugin`] for another profile (`"release"`, or a custom one).
///
/// # Errors
/// As [`built_plugin`].
pub fn built_plugin_in(crate_name: &str, profile: &str) -> Result<PathBuf, LoadError> {
    let here = std::env::current_dir()
        .map_err(|e| io_error(Path::new(crate_name), "finding the current directory", e))?;
    let program = std::env::current_exe().ok();
    find_built(&here, program.as_deref(), crate_name, profile)
}

/// [`built_plugin_in`] from directory `here`, for the program at `program`.
fn find_built(
    here: &Path,
    program: Option<&Path>,
    crate_name: &str,
    profile: &str,
) -> Result<PathBuf, LoadError> {
    let target = target_dir(here);
    let file = library_filename(crate_name);
    // Cargo refreshes `<profile>/<file>` only when it builds the plugin
    // crate itself, `<profile>/deps/<file>` when it builds it for a
    // dependent: the newer of the two is the current build.
    let in_workspace = [
        target.join(profile).join(&file),
        target.join(profile).join("deps").join(&file),
    ];
    if let Some(found) = newest(&in_workspace) {
        return Ok(found);
    }
    let mut beside = Vec::new();
    if let Some(dir) = program.and_then(Path::parent) {
        beside.push(dir.join(&file));
        beside.push(dir.join("deps").join(&file));
        if dir.ends_with("deps") || dir.ends_with("examples") {
            if let Some(up) = dir.parent() {
                beside.push(up.join(&file));
                beside.push(up.join("deps").join(&file));
            }
        }
    }
    newest(&beside).ok_or_else(|| LoadError::NotFound {
        path: in_workspace[0].clone(),
    })
}

/// The most recently modified of `places` that exists.
fn newest(places: &[PathBuf]) -> Option<PathBuf> {
    places
        .iter()
        .filter_map(|place| {
            let modified = std::fs::metadata(place).ok()?.modified().ok()?;
            Some((modified, place))
        })
        .max_by_key(|(modified, _)| *modified)
        .map(|(_, place)| place.clone())
}

/// Cargo's target directory for the workspace around `here`.
fn target_dir(here: &Path) -> PathBuf {
    let root = workspace_root(here).unwrap_or_else(|| here.to_owned());
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

fn workspace_root(here: &Path) -> Option<PathBuf> {
    let mut nearest = None;
    for dir in here.ancestors() {
        let manifest = dir.join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        if text.lines().any(|line| line.trim() == "[workspace]") {
            return Some(dir.to_owned());
        }
        nearest.get_or_insert_with(|| dir.to_owned());
    }
    nearest
}

/// One entry of [`load_dir`]: its path, and the plugin or why it is not one.
pub type DirEntry<M> = (PathBuf, Result<DynamicPlugin<M>, LoadError>);

/// Loads every file in `dir` as a plugin for messages `M` with the same
/// configuration and options, and returns one result per directory entry,
/// sorted by file name: a plugin, or why that entry is not one (a
/// subdirectory, a text file, a library without a plugbus descriptor, a
/// truncated or incompatible build). One bad file never stops the others.
/// Each file's crate name comes from its own file name
/// ([`LoadOptions::crate_name`] is ignored here); a renamed file, whose
/// descriptor names another crate, is loaded under that crate's name (its
/// descriptor is checked as any other).
///
/// # Safety
/// As [`load`](super::load), for every file in the directory: the caller
/// trusts every library in it.
///
/// # Errors
/// Reading the directory itself; then each entry has its own result.
///
/// # Example
/// ```no_run
/// use plugbus_host_std::{Host, LoadOptions};
///
/// let host = Host::new();
/// // SAFETY: the directory holds our own plugins only.
/// for (path, plugin) in unsafe {
///     plugbus_host_std::loader::load_dir::<u64>("plugins/", "", &LoadOptions::new())
/// }? {
///     match plugin {
///         Ok(plugin) => {
///             host.attach(plugin)?;
///         }
///         Err(error) => eprintln!("skipping {}: {}", path.display(), error.reason()),
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub unsafe fn load_dir<M: Fingerprint + Send + Sync + 'static>(
    dir: impl AsRef<Path>,
    config: &str,
    options: &LoadOptions,
) -> Result<Vec<DirEntry<M>>, LoadError> {
    let dir = dir.as_ref();
    let entries = std::fs::read_dir(dir).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => LoadError::NotFound {
            path: dir.to_owned(),
        },
        _ => io_error(dir, "listing the directory", source),
    })?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error(dir, "listing the directory", e))?;
        paths.push(entry.path());
    }
    paths.sort();
    let mut options = options.clone();
    options.crate_name = None;
    Ok(paths
        .into_iter()
        .map(|path| {
            // SAFETY: the caller's promise, for every file in `dir`.
            let plugin = match unsafe { load_with::<M>(&path, config, &options) } {
                // Renamed: load it as the crate it says it is.
                Err(LoadError::NoDescriptor {
                    exported: Some(name),
                    ..
                }) => {
                    let mut renamed = options.clone();
                    renamed.crate_name = Some(name);
                    // SAFETY: as above.
                    unsafe { load_with::<M>(&path, config, &renamed) }
                }
                other => other,
            };
            (path, plugin)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_follow_the_platform_and_cargo() {
        let name = library_filename("my-plugin");
        let expected = format!(
            "{}my_plugin{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        );
        assert_eq!(name, OsString::from(expected));
    }

    #[test]
    fn the_target_directory_is_the_workspaces() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = here.parent().unwrap();
        let expected = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => root.join(dir),
            None => root.join("target"),
        };
        assert_eq!(target_dir(here), expected);
    }

    #[test]
    fn outside_its_workspace_a_program_finds_the_library_beside_it() {
        let root = tempfile::tempdir().unwrap();
        let outside = root.path().join("elsewhere");
        let bin = root.path().join("app/target/debug");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::create_dir_all(bin.join("deps")).unwrap();
        std::fs::create_dir_all(bin.join("examples")).unwrap();
        let file = library_filename("my_plugin");
        let program = bin.join("my-host");

        // Nothing anywhere: NotFound names the workspace's place.
        match find_built(&outside, Some(&program), "my_plugin", "debug") {
            Err(LoadError::NotFound { path }) => {
                assert!(path.ends_with(Path::new("debug").join(&file)), "{path:?}");
            }
            other => panic!("{other:?}"),
        }
        // In deps/ beside the program (where cargo puts a dependency's).
        std::fs::write(bin.join("deps").join(&file), b"").unwrap();
        assert_eq!(
            find_built(&outside, Some(&program), "my_plugin", "debug").unwrap(),
            bin.join("deps").join(&file)
        );
        // An example in <profile>/examples/ looks one directory up.
        let example = bin.join("examples").join("demo");
        assert_eq!(
            find_built(&outside, Some(&example), "my_plugin", "debug").unwrap(),
            bin.join("deps").join(&file)
        );
        // No program path: nothing beside it to look at.
        assert!(matches!(
            find_built(&outside, None, "my_plugin", "debug"),
            Err(LoadError::NotFound { .. })
        ));
    }
}
