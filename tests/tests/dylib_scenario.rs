//! The `message_plugins` scenario with the example plugins loaded from their
//! cdylibs and linked statically gives the same results; envelopes a plugin
//! created keep its library mapped; copies make reloading safe.

use plugbus_commands::{Command, report};
use plugbus_core::{Exit, LocalHost, Message, Plugin};
use plugbus_host_std::{LoadError, LoadOptions, load_with};
use plugbus_tests::dylib::{
    Mapping, SCENARIO_MESSAGES, SCENARIO_TEXT, library, load_command_plugin, run_scenario,
    scratch_dir, untimed,
};

#[test]
fn scenario_is_the_same_dynamic_and_static() {
    let dynamic = run_scenario(vec![
        Box::new(load_command_plugin("plugbus_concat", "quiet").unwrap()),
        Box::new(load_command_plugin("plugbus_debug", "quiet").unwrap()),
    ]);
    let linked = run_scenario(vec![
        Box::new(plugbus_concat::Concat::new("quiet").unwrap()),
        Box::new(plugbus_debug::Debug::new("quiet").unwrap()),
    ]);

    for outcome in [&dynamic, &linked] {
        let untimed: Vec<_> = outcome.summaries.iter().map(untimed).collect();
        assert_eq!(
            untimed,
            [
                (
                    String::from("concat"),
                    String::from(SCENARIO_TEXT),
                    SCENARIO_MESSAGES - 1,
                    3
                ),
                (
                    String::from("debug"),
                    String::from("concat=4 clear=1 print=2 time=3 exit=0 report=1"),
                    SCENARIO_MESSAGES - 1,
                    3
                ),
            ]
        );
        assert_eq!(outcome.reports.len(), 2);
        let concat = &outcome.reports[0];
        assert_eq!(concat.name, "concat");
        assert_eq!(concat.exit, Exit::Detached(plugbus_core::Status::SUCCESS));
        assert_eq!(concat.stats.handled, SCENARIO_MESSAGES);
        let debug = &outcome.reports[1];
        assert_eq!(debug.name, "debug");
        assert_eq!(debug.exit, Exit::Shutdown);
        assert_eq!(debug.stats.handled, SCENARIO_MESSAGES);
        assert_eq!(debug.panic, None);
    }
    // Everything but the clock agrees.
    let strip = |o: &plugbus_tests::dylib::Outcome| {
        let reports: Vec<_> = o
            .reports
            .iter()
            .map(|r| (r.name.clone(), r.exit, r.stats, r.panic.clone()))
            .collect();
        (o.summaries.iter().map(untimed).collect::<Vec<_>>(), reports)
    };
    assert_eq!(strip(&dynamic), strip(&linked));
    for (mode, outcome) in [("dynamic", &dynamic), ("static", &linked)] {
        let concat = &outcome.summaries[0];
        let average = concat.average_delay().expect("three Time messages");
        println!(
            "{mode}: concat average delay of {} Time messages: {average:?}",
            concat.times
        );
    }
}

#[test]
fn a_plugins_envelope_keeps_its_library_mapped() {
    let plugin = load_command_plugin("plugbus_concat", "quiet").unwrap();
    let loaded = plugin.loaded_from().to_owned();
    assert_ne!(
        loaded,
        library("plugbus_concat"),
        "loaded from a private copy"
    );
    let mapping = Mapping::of(&loaded);
    assert!(mapping.is_mapped());
    assert!(mapping.is_open());

    let mut host = LocalHost::new();
    host.attach(plugin).unwrap();
    host.send(Command::Concat(String::from("kept"))).unwrap();
    let (ask, replies) = report();
    host.send(ask).unwrap();
    let reports = host.shutdown();
    assert_eq!(reports[0].stats.handled, 2);

    // The plugin is destroyed; its summary, created in the library, lives.
    let summary: Message<_> = replies.try_recv().unwrap();
    assert!(mapping.is_mapped(), "an envelope of the library is alive");
    assert_eq!(summary.text, "kept");
    // The host may not move a value out of the plugin's allocation.
    let summary = Message::try_unwrap(summary).unwrap_err();
    drop(summary);
    assert!(!mapping.is_mapped(), "unloaded after the last envelope");
    assert!(!mapping.is_open(), "the private copy is closed");
}

#[test]
fn a_copy_is_immune_to_rewriting_the_original() {
    let dir = scratch_dir("rewrite");
    let path = dir.join(format!(
        "{}plugbus_concat{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    std::fs::copy(library("plugbus_concat"), &path).unwrap();
    // SAFETY: the workspace's concat plugin.
    let plugin = unsafe { load_with::<Command>(&path, "quiet", &LoadOptions::new()) }.unwrap();
    // Rewriting a loaded library in place would crash its next call.
    std::fs::write(&path, b"overwritten in place").unwrap();
    let mut host = LocalHost::new();
    host.attach(plugin).unwrap();
    host.send(Command::Concat(String::from("still here")))
        .unwrap();
    let (ask, replies) = report();
    host.send(ask).unwrap();
    host.run_until_idle();
    assert_eq!(replies.try_recv().unwrap().text, "still here");
    assert_eq!(host.shutdown()[0].stats.handled, 2);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn reloading_a_replaced_file_loads_the_new_one_only_from_a_copy() {
    let dir = scratch_dir("reload");
    let path = dir.join(format!(
        "{}plugin{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    let concat = LoadOptions::new().crate_name("plugbus_concat");
    let debug = LoadOptions::new().crate_name("plugbus_debug");
    let replace = |crate_name: &str| {
        let staged = dir.join("staged");
        std::fs::copy(library(crate_name), &staged).unwrap();
        std::fs::rename(&staged, &path).unwrap();
    };

    replace("plugbus_concat");
    // SAFETY: the workspace's own plugin.
    let old = unsafe { load_with::<Command>(&path, "quiet", &concat.clone().copy(false)) }.unwrap();
    assert_eq!(old.name(), "concat");
    replace("plugbus_debug");
    // Without a copy, the system loader would hand back the old mapping
    // for the same path: the loader refuses while the old build is loaded.
    // SAFETY: the workspace's own plugin.
    let stale = unsafe { load_with::<Command>(&path, "quiet", &debug.clone().copy(false)) };
    assert!(
        matches!(&stale, Err(LoadError::StillMapped { in_use: true, .. })),
        "{stale:?}"
    );
    // From a copy, the new file is the one loaded.
    // SAFETY: the workspace's own plugin.
    let new = unsafe { load_with::<Command>(&path, "quiet", &debug) }.unwrap();
    assert_eq!(new.name(), "debug");
    assert_eq!(old.name(), "concat");
    drop((old, new));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn one_file_loaded_twice_without_copies_shares_its_image() {
    let path = library("plugbus_concat");
    let options = LoadOptions::new().copy(false);
    // SAFETY: the workspace's own plugin.
    let first = unsafe { load_with::<Command>(&path, "quiet", &options) }.unwrap();
    // SAFETY: as above.
    let second = unsafe { load_with::<Command>(&path, "quiet", &options) }.unwrap();
    assert_eq!(first.loaded_from(), second.loaded_from());
    let mapping = Mapping::of(first.loaded_from());
    assert_eq!(mapping, Mapping::of(&path), "the file itself is mapped");
    // Asked for another message type, the shared image is refused too.
    // SAFETY: as above.
    let wrong = unsafe { load_with::<String>(&path, "quiet", &options) };
    assert!(
        matches!(wrong, Err(LoadError::MessageType { .. })),
        "{wrong:?}"
    );

    let run = |plugin, text: &str| {
        let mut host = LocalHost::new();
        host.attach(plugin).unwrap();
        host.send(Command::Concat(text.to_owned())).unwrap();
        let (ask, replies) = report();
        host.send(ask).unwrap();
        assert_eq!(host.shutdown()[0].stats.handled, 2);
        replies.try_recv().unwrap()
    };
    let kept = run(first, "first");
    // The first plugin is gone; the second and the kept envelope still use
    // the same mapping.
    let summary = run(second, "second");
    assert_eq!(
        (kept.text.as_str(), summary.text.as_str()),
        ("first", "second")
    );
    assert!(mapping.is_mapped());
}

#[test]
fn loader_types_cross_threads() {
    fn send<T: Send + 'static>() {}
    fn send_sync<T: Send + Sync + 'static>() {}
    send::<plugbus_host_std::DynamicPlugin<Command>>();
    send_sync::<LoadError>();
    send_sync::<LoadOptions>();
    send_sync::<plugbus_core::ffi::ReplyTo<plugbus_commands::Summary>>();
}
