//! Every bad input to the loader is a typed error, and this one process
//! survives them all (invariant 7): missing file, directory, empty file,
//! text, an executable, a library without the descriptor, truncated
//! plugins, incompatible builds. At the end a good plugin still runs.

use std::fs;
use std::mem::offset_of;
use std::path::{Path, PathBuf};

use plugbus_commands::{Command, report};
use plugbus_core::LocalHost;
use plugbus_core::ffi::{ABI_VERSION, CORE_VERSION, MAGIC, PluginDescriptor, RUSTC_VERSION};
use plugbus_host_std::{DynamicPlugin, LoadError, LoadOptions, load_with};
use plugbus_tests::dylib::{library, loadable_end, scratch_dir};

fn try_load(path: &Path) -> Result<DynamicPlugin<Command>, LoadError> {
    try_load_with(path, &LoadOptions::new())
}

fn try_load_with(path: &Path, options: &LoadOptions) -> Result<DynamicPlugin<Command>, LoadError> {
    // SAFETY: every file here is either refused by the checks before it is
    // opened, or a library whose initialisers are harmless (this
    // workspace's plugins, the C library already loaded).
    let result = unsafe { load_with::<Command>(path, "quiet", options) };
    if let Err(error) = &result {
        println!("{error}");
        assert!(!error.to_string().contains('\n'), "one line: {error}");
        assert_eq!(error.path(), path);
    }
    result
}

/// A copy of a plugin's cdylib under its own file name in `dir`, patched.
fn patched(dir: &Path, crate_name: &str, patch: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let original = library(crate_name);
    let case = dir.join(format!("case-{}", fs::read_dir(dir).unwrap().count()));
    fs::create_dir(&case).unwrap();
    let path = case.join(original.file_name().unwrap());
    let mut bytes = fs::read(&original).unwrap();
    patch(&mut bytes);
    fs::write(&path, bytes).unwrap();
    path
}

/// Where the descriptor starts in a plugin file: it is plain data, found by
/// its magic, which occurs exactly once.
fn descriptor_at(bytes: &[u8]) -> usize {
    let found: Vec<usize> = bytes
        .windows(MAGIC.len())
        .enumerate()
        .filter(|(_, w)| *w == MAGIC)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(found.len(), 1, "the magic occurs once");
    found[0]
}

fn write_text(bytes: &mut [u8], at: usize, len: usize, text: &str) {
    bytes[at..at + len].fill(0);
    bytes[at..at + text.len()].copy_from_slice(text.as_bytes());
}

/// The C library this process runs on: a real library without a
/// descriptor. It is already loaded, so opening it without a copy only
/// adds a reference.
fn c_library() -> Option<PathBuf> {
    let maps = fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| {
            Path::new(path)
                .file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with("libc.so"))
        })
        .map(PathBuf::from)
}

#[cfg(all(
    target_os = "linux",
    target_pointer_width = "64",
    target_endian = "little"
))]
#[test]
fn every_bad_input_is_a_typed_error_in_one_process() {
    let dir = scratch_dir("errors");

    let missing = dir.join("libmissing.so");
    assert!(matches!(
        try_load(&missing),
        Err(LoadError::NotFound { .. })
    ));

    assert!(matches!(
        try_load(&dir),
        Err(LoadError::NotRegularFile {
            kind: "a directory",
            ..
        })
    ));

    let empty = dir.join("libempty.so");
    fs::write(&empty, b"").unwrap();
    assert!(matches!(
        try_load(&empty),
        Err(LoadError::NotLoadable { reason, source: None, .. }) if reason.contains("empty")
    ));

    let text = dir.join("libtext.so");
    fs::write(&text, "not a library\n".repeat(100)).unwrap();
    assert!(matches!(
        try_load(&text),
        Err(LoadError::NotLoadable { reason, source: None, .. }) if reason == "it is a text file, not a shared library"
    ));

    // This test binary: an executable, refused from its headers before
    // the system loader sees it.
    let exe = std::env::current_exe().unwrap();
    match try_load(&exe) {
        Err(LoadError::NotLoadable {
            reason,
            source: None,
            ..
        }) => assert_eq!(reason, "it is an executable, not a shared library"),
        other => panic!("an executable loaded: {other:?}"),
    }

    // The C library this process runs on (a real library without a
    // descriptor). Not finding it in the process's maps fails the test
    // rather than skipping the check.
    let libc = c_library().expect("the C library in /proc/self/maps");
    let options = LoadOptions::new().copy(false);
    match try_load_with(&libc, &options) {
        Err(LoadError::NoDescriptor { symbol, .. }) => {
            assert_eq!(symbol, "plugbus_descriptor_c")
        }
        other => panic!("the C library: {other:?}"),
    }

    // A real plugin under another file name: its descriptor is looked for
    // under the name the file implies, and the error names the one found.
    let renamed = dir.join(format!(
        "{}not_a_plugin{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    fs::copy(library("plugbus_concat"), &renamed).unwrap();
    match try_load(&renamed) {
        Err(error @ LoadError::NoDescriptor { .. }) => {
            let LoadError::NoDescriptor { symbol, .. } = &error else {
                unreachable!()
            };
            assert_eq!(symbol, "plugbus_descriptor_not_a_plugin");
            assert_eq!(
                error.to_string(),
                format!(
                    "cannot load plugin `{}`: symbol `plugbus_descriptor_not_a_plugin` not found, \
                     but the file exports the plugin of crate `plugbus_concat`: if it was \
                     renamed, load it with LoadOptions::crate_name(\"plugbus_concat\")",
                    renamed.display()
                )
            );
        }
        other => panic!("renamed plugin: {other:?}"),
    }
    // Told the crate's name, the same file loads.
    let options = LoadOptions::new().crate_name("plugbus_concat");
    assert_eq!(
        plugbus_core::Plugin::name(&try_load_with(&renamed, &options).unwrap()),
        "concat"
    );

    // A real plugin cut in the middle of its loadable segments. Without the
    // check, dlopen itself would die of SIGBUS.
    let half = patched(&dir, "plugbus_concat", |bytes| {
        let end = usize::try_from(loadable_end(bytes)).unwrap();
        bytes.truncate(end / 2);
    });
    let size = fs::metadata(&half).unwrap().len();
    assert!(matches!(
        try_load(&half),
        Err(LoadError::Truncated { size: s, needed, .. }) if s == size && needed > size
    ));
    // Cut inside the ELF header.
    let stub = patched(&dir, "plugbus_concat", |bytes| bytes.truncate(40));
    assert!(matches!(
        try_load(&stub),
        Err(LoadError::Truncated {
            size: 40,
            needed: 64,
            ..
        })
    ));

    // Another message type altogether.
    match try_load(&library("plugbus_wrong_message")) {
        Err(LoadError::MessageType { plugin, host, .. }) => {
            assert_eq!(plugin.name, "alloc::string::String");
            assert_eq!(host.name, "plugbus_commands::Command");
            assert_ne!(plugin.fingerprint, host.fingerprint);
        }
        other => panic!("wrong message type: {other:?}"),
    }
    // The same name, size and alignment, another definition: only the
    // fingerprint differs.
    match try_load(&library("plugbus_stale_message")) {
        Err(error @ LoadError::MessageType { .. }) => {
            let LoadError::MessageType { plugin, host, .. } = &error else {
                unreachable!()
            };
            assert_eq!(plugin.name, host.name);
            assert_eq!((plugin.size, plugin.align), (host.size, host.align));
            assert_ne!(plugin.fingerprint, host.fingerprint);
            assert!(error.to_string().contains("in plugin"), "{error}");
        }
        other => panic!("stale message type: {other:?}"),
    }

    // Incompatible builds, made by patching the descriptor in the file: it
    // is plain data at a fixed layout.
    let field = |bytes: &[u8], offset: usize| descriptor_at(bytes) + offset;
    let bad_magic = patched(&dir, "plugbus_concat", |b| {
        let at = field(b, 0);
        b[at + 1] = b'p';
    });
    assert!(matches!(
        try_load(&bad_magic),
        Err(LoadError::BadMagic { found, .. }) if found == *b"\x7fpLUGBUS"
    ));
    let abi = patched(&dir, "plugbus_concat", |b| {
        let at = field(b, 8);
        b[at..at + 4].copy_from_slice(&99u32.to_ne_bytes());
    });
    assert!(matches!(
        try_load(&abi),
        Err(LoadError::AbiVersion { plugin: 99, host, .. }) if host == ABI_VERSION
    ));
    let size = patched(&dir, "plugbus_concat", |b| {
        let at = field(b, 12);
        b[at..at + 4].copy_from_slice(&7u32.to_ne_bytes());
    });
    assert!(matches!(
        try_load(&size),
        Err(LoadError::DescriptorSize { plugin: 7, .. })
    ));
    let fake_rustc = "rustc 1.97.0-nightly (0123456789 2026-05-01)";
    let rustc = patched(&dir, "plugbus_concat", |b| {
        let at = field(b, offset_of!(PluginDescriptor, rustc_version));
        write_text(b, at, 128, fake_rustc);
    });
    match try_load(&rustc) {
        Err(error @ LoadError::RustcVersion { .. }) => assert_eq!(
            error.to_string(),
            format!(
                "cannot load plugin `{}`: {fake_rustc} in plugin, {RUSTC_VERSION} in host: rebuild the plugin with the host's compiler",
                rustc.display()
            )
        ),
        other => panic!("rustc version: {other:?}"),
    }
    let core = patched(&dir, "plugbus_concat", |b| {
        let at = field(b, offset_of!(PluginDescriptor, core_version));
        write_text(b, at, 32, "0.0.1");
    });
    assert!(matches!(
        try_load(&core),
        Err(LoadError::CoreVersion { plugin, host, .. }) if plugin == "0.0.1" && host == CORE_VERSION
    ));
    let fingerprint = patched(&dir, "plugbus_concat", |b| {
        let at = field(b, offset_of!(PluginDescriptor, message_fingerprint));
        b[at] ^= 1;
    });
    assert!(matches!(
        try_load(&fingerprint),
        Err(LoadError::MessageType { .. })
    ));

    // Refused loads leave no private copies behind (on Linux they are
    // memory files, closed with the refusal).
    let open_copies: Vec<_> = fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|fd| fs::read_link(fd.path()).ok())
        .filter(|target| target.to_string_lossy().contains("memfd:plugbus"))
        .collect();
    assert!(open_copies.is_empty(), "copies left: {open_copies:?}");

    // The process is intact: a good plugin loads and runs.
    let mut host = LocalHost::new();
    host.attach(try_load(&library("plugbus_concat")).unwrap())
        .unwrap();
    host.send(Command::Concat(String::from("alive"))).unwrap();
    let (ask, replies) = report();
    host.send(ask).unwrap();
    host.run_until_idle();
    assert_eq!(replies.try_recv().unwrap().text, "alive");
    assert_eq!(host.shutdown()[0].stats.handled, 2);
    fs::remove_dir_all(dir).unwrap();
}
