//! Finding and loading plugins (issue 12): a plugin's file name on this
//! platform, the library cargo built in this workspace, and a directory
//! loaded file by file, where one bad file stops nothing.

use std::fs;
use std::path::{Path, PathBuf};

use plugbus_commands::Command;
use plugbus_core::Plugin;
use plugbus_host_std::LoadError;
use plugbus_host_std::LoadOptions;
use plugbus_host_std::loader::{built_plugin, library_filename, load_dir};
use plugbus_tests::dylib::{library, library_file_name, scratch_dir};

/// The C library this process runs on, from its maps.
fn c_library() -> PathBuf {
    let maps = fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| {
            Path::new(path)
                .file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with("libc.so"))
        })
        .map(PathBuf::from)
        .expect("the C library in /proc/self/maps")
}

#[cfg(target_os = "linux")]
#[test]
fn a_directory_gives_one_result_per_entry() {
    let dir = fs::canonicalize(scratch_dir("load-dir")).unwrap();
    for plugin in ["plugbus_concat", "plugbus_debug"] {
        fs::copy(library(plugin), dir.join(library_file_name(plugin))).unwrap();
    }
    // A renamed build: loaded under the crate name its descriptor gives.
    fs::copy(library("plugbus_debug"), dir.join("librenamed.so")).unwrap();
    fs::write(dir.join("notes.txt"), "not a plugin\n").unwrap();
    fs::copy(c_library(), dir.join("libc.so.6")).unwrap();
    let fault = fs::read(library("plugbus_fault")).unwrap();
    fs::write(
        dir.join(library_file_name("plugbus_fault")),
        &fault[..fault.len() / 2],
    )
    .unwrap();
    fs::create_dir(dir.join("nested")).unwrap();

    // SAFETY: the directory holds the workspace's plugins and files the
    // checks refuse before mapping them.
    let results = unsafe { load_dir::<Command>(&dir, "quiet", &LoadOptions::new()) }.unwrap();
    let names: Vec<String> = results
        .iter()
        .map(|(path, _)| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "libc.so.6",
            "libplugbus_concat.so",
            "libplugbus_debug.so",
            "libplugbus_fault.so",
            "librenamed.so",
            "nested",
            "notes.txt"
        ]
    );
    let texts: Vec<String> = results
        .iter()
        .map(|(_, result)| match result {
            Ok(plugin) => format!("plugin {}", plugin.name()),
            Err(error) => error.reason().to_string(),
        })
        .collect();
    assert_eq!(
        texts,
        [
            String::from(
                "it has no plugbus descriptor: symbol `plugbus_descriptor_c` not found \
                 (export_plugin! names it after the crate, and the loader takes the crate's \
                 name from the file name: for a renamed file, give it with \
                 LoadOptions::crate_name)"
            ),
            String::from("plugin concat"),
            String::from("plugin debug"),
            format!(
                "the file is truncated: its headers need {} bytes, the file has {}",
                fault.len(),
                fault.len() / 2
            ),
            String::from("plugin debug"),
            String::from("it is a directory, not a regular file"),
            String::from("not a loadable library: it is a text file, not a shared library"),
        ]
    );
    for ((path, result), variant) in results.iter().zip([
        "NoDescriptor",
        "",
        "",
        "Truncated",
        "",
        "NotRegularFile",
        "NotLoadable",
    ]) {
        if let Err(error) = result {
            assert_eq!(error.path(), path);
            assert!(format!("{error:?}").starts_with(variant), "{error:?}");
        }
    }
    drop(results);

    // A directory that is not there is an error of its own.
    // SAFETY: nothing is loaded.
    let missing = unsafe { load_dir::<Command>(dir.join("missing"), "", &LoadOptions::new()) };
    assert!(matches!(missing, Err(LoadError::NotFound { .. })));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_library_cargo_built_is_found() {
    let found = built_plugin("plugbus_concat").unwrap();
    assert_eq!(
        found.file_name(),
        Some(library_filename("plugbus_concat").as_os_str())
    );
    // Cargo's build of plugbus-concat, in this workspace's target directory.
    let inspection = plugbus_host_std::loader::inspect(&found).unwrap();
    assert_eq!(inspection.descriptor.plugin_name(), "plugbus-concat");
    let target = library("plugbus_concat");
    let profile_dir = target
        .ancestors()
        .find(|d| {
            d.ends_with(if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            })
        })
        .unwrap();
    assert!(
        found.starts_with(profile_dir),
        "{} in {}",
        found.display(),
        profile_dir.display()
    );
    match built_plugin("plugbus_not_built") {
        Err(LoadError::NotFound { path }) => {
            assert!(
                path.ends_with(
                    Path::new(if cfg!(debug_assertions) {
                        "debug"
                    } else {
                        "release"
                    })
                    .join(library_filename("plugbus_not_built"))
                ),
                "{}",
                path.display()
            );
        }
        other => panic!("{other:?}"),
    }
}
