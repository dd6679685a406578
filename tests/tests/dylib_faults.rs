//! A dynamic plugin that fails or panics never takes down the host or the
//! other plugins (invariant 3): its constructor's error and panic are typed
//! load errors; a panic in `handle_message`, a hook or `drop` is caught in
//! the plugin, raised again on the host's side, and recorded by the lane.

use plugbus_commands::{Command, report};
use plugbus_core::{Exit, LocalHost};
use plugbus_host_std::LoadError;
use plugbus_tests::dylib::load_command_plugin;

#[test]
fn constructor_error_and_panic_are_load_errors() {
    match load_command_plugin("plugbus_fault", "fail-construct") {
        Err(error @ LoadError::ConstructorFailed { .. }) => {
            let LoadError::ConstructorFailed {
                plugin, message, ..
            } = &error
            else {
                unreachable!()
            };
            assert_eq!(plugin, "plugbus-fault");
            assert_eq!(
                message,
                "refused to start: the configuration says fail-construct"
            );
            assert!(error.to_string().ends_with(
                "plugin `plugbus-fault` refused its configuration: refused to start: the configuration says fail-construct"
            ));
        }
        other => panic!("{other:?}"),
    }
    match load_command_plugin("plugbus_fault", "no-such-option") {
        Err(LoadError::ConstructorFailed { message, .. }) => {
            assert_eq!(message, "unknown option `no-such-option`");
        }
        other => panic!("{other:?}"),
    }
    match load_command_plugin("plugbus_fault", "panic-construct") {
        Err(LoadError::ConstructorPanicked {
            plugin, message, ..
        }) => {
            assert_eq!(plugin, "plugbus-fault");
            assert_eq!(message, "fault: panic in construct");
        }
        other => panic!("{other:?}"),
    }
    // The process goes on: the same library builds a plugin that behaves.
    let plugin = load_command_plugin("plugbus_fault", "").unwrap();
    assert_eq!(plugbus_core::Plugin::name(&plugin), "fault");
}

/// Sends `n` commands and a `Report`, then shuts down.
fn broadcast(host: &mut LocalHost<Command>, n: u64) -> Vec<plugbus_commands::Summary> {
    for i in 0..n {
        host.send(Command::Concat(format!("{i},"))).unwrap();
    }
    let (ask, replies) = report();
    host.send(ask).unwrap();
    host.run_until_idle();
    let mut summaries: Vec<_> = replies.try_iter().map(|m| (*m).clone()).collect();
    summaries.sort_by(|a, b| a.plugin.cmp(&b.plugin));
    summaries
}

#[test]
fn a_panic_in_handle_message_leaves_the_others_exact() {
    const N: u64 = 100;
    let mut host = LocalHost::new();
    let concat = host
        .attach(load_command_plugin("plugbus_concat", "quiet").unwrap())
        .unwrap();
    let fault = host
        .attach(load_command_plugin("plugbus_fault", "panic-handle=40").unwrap())
        .unwrap();
    let debug = host
        .attach(load_command_plugin("plugbus_debug", "quiet").unwrap())
        .unwrap();

    let summaries = broadcast(&mut host, N);
    let text: String = (0..N).map(|i| format!("{i},")).collect();
    assert_eq!(summaries.len(), 2, "the panicked plugin does not answer");
    assert_eq!(
        (summaries[0].plugin.as_str(), summaries[0].text.as_str()),
        ("concat", text.as_str())
    );
    assert_eq!(summaries[0].messages, N + 1);
    assert_eq!(summaries[1].plugin, "debug");
    assert_eq!(summaries[1].messages, N + 1);

    let reports = host.shutdown();
    assert_eq!(reports.len(), 3);
    let by_id = |id| reports.iter().find(|r| r.id == id).unwrap();
    let (concat, fault, debug) = (by_id(concat), by_id(fault), by_id(debug));
    for report in [concat, debug] {
        assert_eq!(report.exit, Exit::Shutdown, "{report:?}");
        assert_eq!(report.stats.received, N + 1);
        assert_eq!(report.stats.handled, N + 1);
        assert_eq!(report.stats.panicked, 0);
        assert_eq!(report.panic, None);
    }
    assert_eq!(fault.name, "fault");
    assert_eq!(fault.exit, Exit::Panicked);
    assert_eq!(fault.stats.received, 40);
    assert_eq!(fault.stats.handled, 39);
    assert_eq!(fault.stats.panicked, 1);
    assert_eq!(
        fault.panic.as_deref(),
        Some("fault: panic in handle_message at message 40")
    );
}

#[test]
fn a_panic_in_drop_or_a_hook_is_reported() {
    for (config, panic) in [
        ("panic-drop", "fault: panic in drop after 11 messages"),
        ("panic-detach", "fault: panic in on_detach (shut down)"),
    ] {
        let mut host = LocalHost::new();
        host.attach(load_command_plugin("plugbus_concat", "quiet").unwrap())
            .unwrap();
        host.attach(load_command_plugin("plugbus_fault", config).unwrap())
            .unwrap();
        let summaries = broadcast(&mut host, 10);
        assert_eq!(summaries.len(), 2);
        assert!(summaries.iter().all(|s| s.messages == 11), "{summaries:?}");
        let reports = host.shutdown();
        assert_eq!(reports[0].exit, Exit::Shutdown);
        assert_eq!(reports[0].stats.handled, 11);
        assert_eq!(reports[1].exit, Exit::Panicked, "{config}");
        assert_eq!(reports[1].stats.handled, 11);
        // A hook's panic is no message's: `panicked` counts messages, so
        // `received == handled + filtered + panicked` holds.
        assert_eq!(reports[1].stats.panicked, 0);
        assert_eq!(reports[1].panic.as_deref(), Some(panic));
    }

    let mut host = LocalHost::new();
    host.attach(load_command_plugin("plugbus_concat", "quiet").unwrap())
        .unwrap();
    host.attach(load_command_plugin("plugbus_fault", "panic-attach").unwrap())
        .unwrap();
    let summaries = broadcast(&mut host, 10);
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].messages, 11);
    let reports = host.shutdown();
    assert_eq!(reports[1].exit, Exit::Panicked);
    assert_eq!(
        (reports[1].stats.received, reports[1].stats.panicked),
        (0, 0)
    );
    assert_eq!(
        reports[1].panic.as_deref(),
        Some("fault: panic in on_attach")
    );
}
