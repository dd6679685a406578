//! Loading in place (`LoadOptions::copy(false)`) never crashes and never
//! runs stale code (issue 8 item 4, issue 17 item 2): a file replaced while
//! its previous build is still mapped is refused with a typed error, rather
//! than handing back the old mapping (and its image owner) for the new
//! file.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use plugbus_commands::{Command, report};
use plugbus_core::{LocalHost, Message};
use plugbus_host_std::{DynamicPlugin, LoadError, LoadOptions, load_with};
use plugbus_tests::dylib::{
    Mapping, Patch, library, library_file_name, patched_bytes, scratch_dir,
};

fn load(path: &Path, options: &LoadOptions) -> Result<DynamicPlugin<Command>, LoadError> {
    // SAFETY: the workspace's concat and sticky plugins, or copies of them
    // with a patched version string (same code).
    let result = unsafe { load_with::<Command>(path, "quiet", options) };
    if let Err(error) = &result {
        println!("{error}");
    }
    result
}

/// Writes `bytes` under a staging name and renames it over `path`.
fn rename_over(path: &Path, bytes: &[u8]) {
    let staged = path.with_extension("staged");
    fs::write(&staged, bytes).unwrap();
    fs::rename(&staged, path).unwrap();
}

/// Sends one text and asks for a summary; returns the summary's envelope,
/// made by the plugin's library.
fn run(plugin: DynamicPlugin<Command>, text: &str) -> Message<plugbus_commands::Summary> {
    let mut host = LocalHost::new();
    host.attach(plugin).unwrap();
    host.send(Command::Concat(text.to_owned())).unwrap();
    let (ask, replies) = report();
    host.send(ask).unwrap();
    host.run_until_idle();
    host.shutdown();
    replies.try_recv().unwrap()
}

/// Issue 17 item 2: a file replaced by rename and loaded again while the
/// first load lives. The system loader matches the path and would give the
/// second load the first mapping and its one image-owner slot; dropping the
/// second load cleared the slot, and a reply dropped after unload crashed.
#[test]
fn a_file_renamed_over_a_live_load_is_refused_until_the_old_build_is_gone() {
    let dir = scratch_dir("in-place-rename");
    let path = dir.join(library_file_name("plugbus_concat"));
    fs::copy(library("plugbus_concat"), &path).unwrap();
    let in_place = LoadOptions::new().copy(false);

    let first = load(&path, &in_place).unwrap();
    assert_eq!(first.descriptor().plugin_version(), "0.1.0");
    rename_over(
        &path,
        &patched_bytes("plugbus_concat", Patch::Version("9.9.9")),
    );
    match load(&path, &in_place) {
        Err(error @ LoadError::StillMapped { in_use: true, .. }) => assert_eq!(
            error.to_string(),
            format!(
                "cannot load plugin `{}`: loading in place: the file was replaced, and the \
                 previous build is still loaded: a plugin or a message of it is alive (load from \
                 a copy, the default, to run the new build beside it)",
                path.display()
            )
        ),
        other => panic!("the old build is loaded: {other:?}"),
    }
    // From a copy, the new build runs beside the old one.
    let beside = load(&path, &LoadOptions::new()).unwrap();
    assert_eq!(beside.descriptor().plugin_version(), "9.9.9");

    // The old build's reply outlives its plugin and keeps it loaded.
    let reply = run(first, "old");
    assert!(matches!(
        load(&path, &in_place),
        Err(LoadError::StillMapped { in_use: true, .. })
    ));
    assert_eq!(reply.text, "old");
    drop(reply);

    // The old build is gone: the new one loads in place, and is the new code.
    let new = load(&path, &in_place).unwrap();
    assert_eq!(new.descriptor().plugin_version(), "9.9.9");
    let reply = run(new, "new");
    drop(beside);
    assert_eq!(reply.text, "new");
    drop(reply);
    fs::remove_dir_all(dir).unwrap();
}

/// Issue 8 item 4: a plugin that used a `thread_local!` with a destructor
/// stays mapped after unloading while its thread lives. A new build copied
/// over the file crashed inside `dlsym`; renamed over it, the old code was
/// loaded silently.
#[test]
fn a_build_left_mapped_by_a_thread_local_is_never_reused_for_a_new_file() {
    let dir = scratch_dir("in-place-sticky");
    let path: PathBuf = dir.join(library_file_name("plugbus_sticky"));
    fs::copy(library("plugbus_sticky"), &path).unwrap();
    let in_place = LoadOptions::new().copy(false);

    // The plugin runs on a thread that stays alive (parked) for the rest of
    // the process, so its thread-local destructor keeps the library mapped
    // and never runs.
    let (tx, rx) = mpsc::channel();
    let thread_path = path.clone();
    let options = in_place.clone();
    std::thread::spawn(move || {
        let plugin = load(&thread_path, &options).unwrap();
        let mapping = Mapping::of(plugin.loaded_from());
        let reply = run(plugin, "");
        assert_eq!(reply.messages, 2);
        drop(reply);
        tx.send(mapping).unwrap();
        loop {
            std::thread::park();
        }
    });
    let mapping = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the sticky plugin ran on its thread within 10 s");
    assert!(
        mapping.is_mapped(),
        "the thread-local destructor keeps the unloaded library mapped"
    );

    // The same file again: the same bytes, so it may be mapped again.
    let again = load(&path, &in_place).unwrap();
    assert_eq!(again.descriptor().plugin_version(), "0.1.0");
    drop(again);

    // A new build written over the file in place. The old mapping's pages
    // change with it, so the new build here differs only in its version
    // text, and it is written without truncating the file first: `cp`
    // truncates, and a mapped library truncated under the process crashes
    // it at exit even when none of its code runs again (the documented
    // hazard of loading in place; the loader cannot stop a writer).
    let new_build = patched_bytes("plugbus_sticky", Patch::Version("9.9.9"));
    let mut file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    std::io::Write::write_all(&mut file, &new_build).unwrap();
    file.set_modified(std::time::SystemTime::now() + Duration::from_secs(1))
        .unwrap();
    drop(file);
    let expected = format!(
        "cannot load plugin `{}`: loading in place: the file was replaced, and the previous \
         build stays mapped after unloading (a thread-local destructor or a thread of the plugin \
         keeps it) (load from a copy, the default, to run the new build beside it)",
        path.display()
    );
    match load(&path, &in_place) {
        Err(error @ LoadError::StillMapped { in_use: false, .. }) => {
            assert_eq!(error.to_string(), expected);
        }
        other => panic!("copied over: {other:?}"),
    }

    // A new build renamed over it: refused too, never the old code.
    rename_over(&path, &new_build);
    match load(&path, &in_place) {
        Err(error @ LoadError::StillMapped { in_use: false, .. }) => {
            assert_eq!(error.to_string(), expected);
        }
        Ok(plugin) => panic!(
            "renamed over: loaded version {}",
            plugin.descriptor().plugin_version()
        ),
        other => panic!("renamed over: {other:?}"),
    }

    // From a copy, the new build is the one that runs.
    let copied = load(&path, &LoadOptions::new()).unwrap();
    assert_eq!(copied.descriptor().plugin_version(), "9.9.9");
    drop(copied);
    fs::remove_dir_all(dir).unwrap();
}
