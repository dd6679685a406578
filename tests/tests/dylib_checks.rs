//! Nothing of a plugin runs before it is checked (issue 8): the checks read
//! the descriptor from the file, so a library whose initialiser aborts the
//! process is refused and this process lives on; the permission checks
//! (as OpenSSH's `StrictModes`); and a killed host leaves no copy behind.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use plugbus_commands::{Command, report};
use plugbus_core::LocalHost;
use plugbus_core::ffi::RUSTC_VERSION;
use plugbus_host_std::{DynamicPlugin, Exposure, LoadError, LoadOptions, load_with};
use plugbus_tests::dylib::{Patch, library, library_file_name, patched_bytes, scratch_dir};

fn try_load(path: &Path, options: &LoadOptions) -> Result<DynamicPlugin<Command>, LoadError> {
    // SAFETY: every file here is either refused by the checks before it is
    // mapped (the point of these tests: init-abort would end the process),
    // or the workspace's concat plugin.
    let result = unsafe { load_with::<Command>(path, "quiet", options) };
    if let Err(error) = &result {
        println!("{error}");
        assert!(!error.to_string().contains('\n'), "one line: {error}");
    }
    result
}

/// Runs a loaded plugin once: it answers, so the process and the plugin work.
fn runs(plugin: DynamicPlugin<Command>) {
    let mut host = LocalHost::new();
    host.attach(plugin).unwrap();
    host.send(Command::Concat(String::from("alive"))).unwrap();
    let (ask, replies) = report();
    host.send(ask).unwrap();
    host.run_until_idle();
    assert_eq!(replies.try_recv().unwrap().text, "alive");
    host.shutdown();
}

#[cfg(target_os = "linux")]
#[test]
fn a_library_whose_initialiser_aborts_is_refused_before_it_is_mapped() {
    let dir = scratch_dir("init-abort");
    let path = dir.join(library_file_name("plugbus_init_abort"));
    let options = LoadOptions::new();

    // Built by another compiler: refused with the rustc error. Had the
    // system loader mapped it, its initialiser would have aborted us.
    let fake_rustc = "rustc 1.97.0-nightly (0123456789 2026-05-01)";
    fs::write(
        &path,
        patched_bytes("plugbus_init_abort", Patch::Rustc(fake_rustc)),
    )
    .unwrap();
    match try_load(&path, &options) {
        Err(error @ LoadError::RustcVersion { .. }) => assert_eq!(
            error.to_string(),
            format!(
                "cannot load plugin `{}`: {fake_rustc} in plugin, {RUSTC_VERSION} in host: rebuild the plugin with the host's compiler",
                path.display()
            )
        ),
        other => panic!("another rustc: {other:?}"),
    }
    // The same in place, without a copy.
    assert!(matches!(
        try_load(&path, &options.clone().copy(false)),
        Err(LoadError::RustcVersion { .. })
    ));

    // Another definition of the message type: refused with both sides.
    fs::write(
        &path,
        patched_bytes("plugbus_init_abort", Patch::Fingerprint),
    )
    .unwrap();
    match try_load(&path, &options) {
        Err(LoadError::MessageType { plugin, host, .. }) => {
            assert_eq!(plugin.name, host.name);
            assert_eq!(plugin.fingerprint ^ host.fingerprint, 1);
        }
        other => panic!("another fingerprint: {other:?}"),
    }

    // Inspecting the real thing runs none of it either.
    let inspection = plugbus_host_std::loader::inspect(library("plugbus_init_abort")).unwrap();
    assert_eq!(inspection.descriptor.plugin_name(), "plugbus-init-abort");

    // Still alive, and a good plugin runs.
    runs(try_load(&library("plugbus_concat"), &options).unwrap());
    fs::remove_dir_all(dir).unwrap();
}

/// A copy of the concat plugin at `dir/<name>`, with `mode`.
fn plugin_in(dir: &Path, mode: u32) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let path = dir.join(library_file_name("plugbus_concat"));
    fs::copy(library("plugbus_concat"), &path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    path
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn refused_for(path: &Path, place: &Path, mode: u32, exposure: Exposure) {
    let error = match try_load(path, &LoadOptions::new()) {
        Err(error) => error,
        Ok(_) => panic!("{}: loaded", path.display()),
    };
    let text = error.to_string();
    match error {
        LoadError::Permissions {
            place: p,
            mode: m,
            exposure: e,
            ..
        } => assert_eq!((p.as_path(), m, e), (place, mode, exposure), "{text}"),
        other => panic!("{}: {other:?}", path.display()),
    }
    assert!(text.contains("LoadOptions::trust_permissions"), "{text}");
}

#[cfg(unix)]
#[test]
fn plugins_anyone_else_could_replace_are_refused() {
    // SAFETY: `geteuid` has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let base = fs::canonicalize(scratch_dir("permissions")).unwrap();

    let file = plugin_in(&base.join("file"), 0o666);
    refused_for(&file, &file, 0o666, Exposure::OthersWritable);
    let text = try_load(&file, &LoadOptions::new())
        .unwrap_err()
        .to_string();
    assert_eq!(
        text,
        format!(
            "cannot load plugin `{0}`: `{0}` (mode 0666, owner uid {1}) is writable by every \
             user, so they could replace the code this process would run \
             (LoadOptions::trust_permissions(true) skips this check)",
            file.display(),
            // SAFETY: as above.
            unsafe { libc::geteuid() }
        )
    );
    chmod(&file, 0o664);
    refused_for(&file, &file, 0o664, Exposure::GroupWritable);
    // Opting out loads it.
    runs(try_load(&file, &LoadOptions::new().trust_permissions(true)).unwrap());
    chmod(&file, 0o644);
    runs(try_load(&file, &LoadOptions::new()).unwrap());

    let open_dir = base.join("open");
    let in_open_dir = plugin_in(&open_dir, 0o644);
    chmod(&open_dir, 0o777);
    refused_for(&in_open_dir, &open_dir, 0o777, Exposure::OthersWritable);

    let open_parent = base.join("open-parent");
    let below = plugin_in(&open_parent.join("inner"), 0o644);
    chmod(&open_parent, 0o777);
    refused_for(&below, &open_parent, 0o777, Exposure::OthersWritable);

    // Like /tmp: sticky, root's. Others may add files but not replace ours.
    let sticky = base.join("sticky");
    let in_sticky = plugin_in(&sticky, 0o644);
    chmod(&sticky, 0o1777);
    if root {
        runs(try_load(&in_sticky, &LoadOptions::new()).unwrap());
    } else {
        // Ours, not root's: the exception does not apply.
        refused_for(&in_sticky, &sticky, 0o1777, Exposure::OthersWritable);
    }

    // Owned by another user (only root can make such a file here).
    if root {
        let theirs = plugin_in(&base.join("theirs"), 0o644);
        std::os::unix::fs::chown(&theirs, Some(4242), None).unwrap();
        refused_for(&theirs, &theirs, 0o644, Exposure::Owner);
    }

    for dir in [&open_dir, &open_parent, &sticky] {
        chmod(dir, 0o755);
    }
    fs::remove_dir_all(base).unwrap();
}

/// Set in the child process of the test below.
const CHILD: &str = "PLUGBUS_TEST_KILLED_CHILD";

/// In the child: loads plugins (from private copies, the default), says so
/// on stdout, then waits to be killed.
#[test]
fn killed_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let first = try_load(&library("plugbus_concat"), &LoadOptions::new()).unwrap();
    let second = try_load(&library("plugbus_concat"), &LoadOptions::new()).unwrap();
    println!("loaded {} {}", first.name_of(), second.name_of());
    std::thread::sleep(Duration::from_secs(60));
}

trait NameOf {
    fn name_of(&self) -> String;
}

impl NameOf for DynamicPlugin<Command> {
    fn name_of(&self) -> String {
        plugbus_core::Plugin::name(self).to_owned()
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_killed_host_leaves_no_copy_behind() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command as Process, Stdio};

    // The child's temporary directory is ours alone, so anything in it
    // after the kill is the child's.
    let tmp = scratch_dir("killed-tmp");
    let mut child = Process::new(std::env::current_exe().unwrap())
        .args(["--exact", "killed_child", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("TMPDIR", &tmp)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // The harness prints "test killed_child ... " before it.
            if let Some(at) = line.find("loaded ") {
                let _ = tx.send(line[at..].to_owned());
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let line = rx
        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .expect("the child loaded its plugins within 20 s");
    assert_eq!(line, "loaded concat concat");
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success());
    let left: Vec<_> = fs::read_dir(&tmp)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left by the killed child: {left:?}");
    fs::remove_dir_all(tmp).unwrap();
}

/// With `copy_dir`, the copy is a file in a new private directory (mode
/// 0700, a random name) inside it, removed with the library.
#[cfg(unix)]
#[test]
fn a_copy_in_a_directory_is_private_and_removed() {
    let dir = fs::canonicalize(scratch_dir("copy-dir")).unwrap();
    let plugin = try_load(
        &library("plugbus_concat"),
        &LoadOptions::new().copy_dir(&dir),
    )
    .unwrap();
    let inside: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(inside.len(), 1, "{inside:?}");
    let private = &inside[0];
    assert!(
        private
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("plugbus-")
    );
    assert_eq!(
        fs::metadata(private).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(
        plugin.loaded_from(),
        private.join(library_file_name("plugbus_concat"))
    );
    runs(plugin);
    assert_eq!(
        fs::read_dir(&dir).unwrap().count(),
        0,
        "the copy is removed"
    );
    fs::remove_dir_all(dir).unwrap();
}
