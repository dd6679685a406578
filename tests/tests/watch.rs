//! Reloading a plugin when its library file changes (`plugbus-host-std`'s
//! `watch` feature): a new build written in several steps is loaded once,
//! a bad file is reported and the running instance goes on.

use std::io::Write;
use std::path::Path;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use plugbus_commands::Tick;
use plugbus_host_std::lifecycle::Handover;
use plugbus_host_std::loader::{DEFAULT_DEBOUNCE, Watch, WatchEvent};
use plugbus_host_std::{Host, ReloadError, ReloadOptions, load};
use plugbus_tests::dylib::{library, library_file_name, scratch_dir};

/// Every wait in these tests: a deadlock guard, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(10);

fn next_event(watch: &Watch, what: &str) -> WatchEvent {
    watch
        .events()
        .recv_timeout(PATIENCE)
        .unwrap_or_else(|e| panic!("host-std: no reload event for {what}: {e}"))
}

/// Writes `bytes` to a new file beside `path`, then renames it over
/// `path`: what a build tool does, and what the loader's docs ask.
fn put(path: &Path, bytes: &[u8]) {
    let staging = path.with_extension("new");
    std::fs::write(&staging, bytes).unwrap();
    std::fs::rename(&staging, path).unwrap();
}

fn tally(host: &Host<Tick>, id: plugbus_host_std::PluginId) -> plugbus_commands::Tally {
    *host
        .ask(Tick::Tally, (), PATIENCE)
        .unwrap()
        .get(id)
        .expect("host-std: the tally plugin answers")
}

#[test]
fn a_changed_library_is_reloaded_once_and_a_bad_one_is_reported() {
    let dir = scratch_dir("watch");
    // Build 2 exports its symbols under its own crate name, which the
    // loader reads from the file name: the watched file has that name.
    let path = dir.join(library_file_name("plugbus_tally_v2"));
    let v2 = std::fs::read(library("plugbus_tally_v2")).unwrap();

    let host = Host::<Tick>::new();
    // SAFETY: the tally builds are this workspace's own plugins.
    let build_1 = unsafe { load::<Tick>(library("plugbus_tally"), "") }.unwrap();
    let id = host.attach(build_1).unwrap();
    for seq in 0..10 {
        host.send(Tick::Seq { sender: 0, seq }).unwrap();
    }
    // SAFETY: as above, for every file this test puts at `path`.
    let watch = unsafe { host.watch(id, &path, ReloadOptions::new()) }.unwrap();

    // Build 2, written in place in three steps a little apart (each well
    // within the debounce): one reload, once the file is whole.
    let third = v2.len() / 3;
    std::fs::write(&path, &v2[..third]).unwrap();
    for part in [&v2[third..2 * third], &v2[2 * third..]] {
        std::thread::sleep(DEFAULT_DEBOUNCE / 5);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(part)
            .unwrap();
    }
    match next_event(&watch, "build 2") {
        Ok(replaced) => assert_eq!(replaced.state, Handover::Taken { version: 1 }),
        Err(error) => panic!("host-std: build 2 was not reloaded: {error}"),
    }
    assert!(
        matches!(
            watch.events().recv_timeout(DEFAULT_DEBOUNCE * 4),
            Err(RecvTimeoutError::Timeout)
        ),
        "host-std: one build written in three steps, one reload"
    );
    let t = tally(&host, id);
    assert_eq!((t.build, t.counted, t.handovers), (2, 10, 1));

    // Not a library: reported, never fatal; build 2 runs on.
    put(&path, b"not a library");
    match next_event(&watch, "a text file") {
        Err(ReloadError::Load(_)) => {}
        other => panic!("host-std: a text file: {other:?}"),
    }
    host.send(Tick::Seq { sender: 0, seq: 10 }).unwrap();
    let t = tally(&host, id);
    assert_eq!((t.build, t.counted), (2, 11));

    drop(watch);
    let reports = host.shutdown();
    assert_eq!(reports[0].stats.replaced, 1);
    let _ = std::fs::remove_dir_all(&dir);
}
