//! A host with its own `#[global_allocator]` runs dylib plugins that use
//! the system allocator (invariant 6). The host's allocator tags every
//! block and aborts the process if it is asked to free a block it did not
//! allocate; the plugins' allocator (glibc) aborts on a foreign pointer too.
//! So the test passes only if every message, reply, plugin object and error
//! text is freed by the binary that allocated it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use std::time::Duration;

use plugbus_commands::{Command, Summary};
use plugbus_core::{Exit, LocalHost, Message, outbox};
use plugbus_host_std::LoadError;
use plugbus_tests::dylib::{
    Mapping, SCENARIO_MESSAGES, SCENARIO_TEXT, load_command_plugin, run_scenario,
};

/// Allocates through the system allocator with a tagged header in front of
/// every block.
struct Tagging;

const HEADER: usize = 16;
const TAG: usize = 0x7a67_6f6c_6c61_6762;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static FREED: AtomicUsize = AtomicUsize::new(0);

impl Tagging {
    fn pad(layout: Layout) -> usize {
        layout.align().max(HEADER)
    }
}

// SAFETY: every block comes from `System` with a layout grown by `pad`
// bytes at the front, aligned as asked; `dealloc` reverses it exactly.
unsafe impl GlobalAlloc for Tagging {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pad = Self::pad(layout);
        let Ok(outer) = Layout::from_size_align(layout.size() + pad, layout.align().max(HEADER))
        else {
            return std::ptr::null_mut();
        };
        // SAFETY: `outer` has a non-zero size.
        let base = unsafe { System.alloc(outer) };
        if base.is_null() {
            return base;
        }
        // SAFETY: `pad >= HEADER` bytes lie before the returned block; the
        // tag sits in the 16 bytes just before it, aligned to 8.
        unsafe {
            let block = base.add(pad);
            block
                .sub(HEADER)
                .cast::<usize>()
                .write(TAG ^ block as usize);
            ALLOCATED.fetch_add(1, Ordering::Relaxed);
            block
        }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let pad = Self::pad(layout);
        // SAFETY: a block of ours has its tag just before it; reading 8
        // bytes before a foreign block reads its allocator's header, which
        // is mapped, and then we abort.
        unsafe {
            let tag = block.sub(HEADER).cast::<usize>().read();
            if tag != TAG ^ block as usize {
                // Not ours: freeing it here would corrupt the heap.
                std::process::abort();
            }
            block.sub(HEADER).cast::<usize>().write(0);
            FREED.fetch_add(1, Ordering::Relaxed);
            let outer =
                Layout::from_size_align_unchecked(layout.size() + pad, layout.align().max(HEADER));
            System.dealloc(block.sub(pad), outer);
        }
    }
}

#[global_allocator]
static ALLOCATOR: Tagging = Tagging;

#[test]
fn dylib_plugins_free_with_their_own_allocator() {
    let before = ALLOCATED.load(Ordering::Relaxed);

    // Errors carry text the plugin wrote into host strings.
    assert!(matches!(
        load_command_plugin("plugbus_fault", "fail-construct"),
        Err(LoadError::ConstructorFailed { .. })
    ));
    assert!(matches!(
        load_command_plugin("plugbus_fault", "panic-construct"),
        Err(LoadError::ConstructorPanicked { .. })
    ));

    // A full broadcast and shutdown: host-made commands read and dropped by
    // the plugins, plugin-made summaries read and dropped by the host, a
    // plugin that panics mid-way, plugins destroyed by their own thunks.
    let outcome = run_scenario(vec![
        Box::new(load_command_plugin("plugbus_concat", "quiet").unwrap()),
        Box::new(load_command_plugin("plugbus_debug", "quiet").unwrap()),
        Box::new(load_command_plugin("plugbus_fault", "panic-handle=5 panic-drop").unwrap()),
    ]);
    assert_eq!(outcome.summaries.len(), 2);
    assert_eq!(outcome.summaries[0].text, SCENARIO_TEXT);
    assert_eq!(outcome.summaries[1].messages, SCENARIO_MESSAGES - 1);
    assert_eq!(outcome.reports[0].stats.handled, SCENARIO_MESSAGES);
    assert_eq!(outcome.reports[1].stats.handled, SCENARIO_MESSAGES);
    assert_eq!(outcome.reports[2].exit, Exit::Panicked);
    assert_eq!(outcome.reports[2].stats.handled, 4);
    assert_eq!(
        outcome.reports[2].panic.as_deref(),
        Some("fault: panic in handle_message at message 5")
    );

    // A host-made message the host unwraps is its own to free.
    let mine = Message::new(Command::Concat(String::from("host")));
    assert!(Message::try_unwrap(mine).is_ok());

    drop(outcome);
    let allocated = ALLOCATED.load(Ordering::Relaxed) - before;
    let freed = FREED.load(Ordering::Relaxed);
    println!(
        "host allocator: {allocated} blocks allocated during the test, {freed} freed in total"
    );
    assert!(allocated > 0, "the tagging allocator is the host's");
}

/// A dynamic plugin's answer to `ask` is an envelope of its library: read
/// and dropped by the host after the plugin was destroyed, it is freed by
/// the library's allocator (the tagging allocator aborts otherwise) and
/// keeps the library mapped until then.
#[test]
fn a_dynamic_answer_is_read_after_its_plugin_is_gone() {
    let plugin = load_command_plugin("plugbus_concat", "quiet").unwrap();
    let mapping = Mapping::of(plugin.loaded_from());
    let mut host = LocalHost::new();
    let id = host.attach(plugin).unwrap();
    host.send(Command::Concat(String::from("kept"))).unwrap();
    let answers = host
        .ask(Command::Summarize, (), Duration::from_secs(20))
        .unwrap();
    let reports = host.shutdown();
    assert_eq!(reports[0].stats.handled, 2);
    assert!(mapping.is_mapped(), "the answer keeps the library mapped");
    let summary = answers.get(id).expect("concat answered");
    assert_eq!((summary.text.as_str(), summary.messages), ("kept", 2));
    // The host cannot take the value out of the library's allocation.
    let answer = answers.into_vec().pop().expect("one answer");
    let answer = Message::try_unwrap(answer.into_message()).unwrap_err();
    drop(answer);
    assert!(!mapping.is_mapped(), "unloaded with the last answer");
}

/// An [`Outbox`](plugbus_core::Outbox) crosses to dynamic plugins inside a
/// message: the plugins queue their own envelopes through the host's
/// functions, and the host reads them after the libraries are unloaded as
/// far as the plugins go (the replies keep them mapped, then let go).
#[test]
fn an_outbox_used_from_dynamic_plugins() {
    let concat = load_command_plugin("plugbus_concat", "quiet").unwrap();
    let debug = load_command_plugin("plugbus_debug", "quiet").unwrap();
    let fault = load_command_plugin("plugbus_fault", "").unwrap();
    let mut host = LocalHost::new();
    host.attach(concat).unwrap();
    host.attach(debug).unwrap();
    host.attach(fault).unwrap();
    // Room for two: the third reply is refused inside the plugin, which
    // gets its value back (and frees it with its own allocator).
    let (tx, replies) = outbox::<Summary>(2);
    host.send(Command::Concat(String::from("abc"))).unwrap();
    host.send(Command::ReportTo(tx)).unwrap();
    host.run_until_idle();
    let reports = host.shutdown();
    assert_eq!(reports.len(), 3);
    assert!(reports.iter().all(|r| r.stats.handled == 2), "{reports:?}");

    // Every plugin is destroyed; its replies still read.
    let got: Vec<(String, String, u64)> = replies
        .drain()
        .iter()
        .map(|m| (m.plugin.clone(), m.text.clone(), m.messages))
        .collect();
    assert_eq!(
        got,
        [
            (String::from("concat"), String::from("abc"), 2),
            (
                String::from("debug"),
                String::from("concat=1 clear=0 print=0 time=0 exit=0 report=1"),
                2
            ),
        ]
    );
    assert_eq!(replies.dropped(), 1);
    assert_eq!(replies.recv_blocking(), None, "every outbox is gone");
}

/// Reloads from one build to the other and back: the count goes along, and
/// a library is unmapped once its last instance is gone (the first build's
/// first load, replaced at once; the rollback window keeps the second
/// load's instance until it has passed).
#[test]
fn reloads_hand_over_state_and_unload_the_old_library() {
    use plugbus_commands::Tick;
    use plugbus_core::lifecycle::Handover;
    use plugbus_host_std::{ReloadOptions, load, replacement};
    use plugbus_tests::dylib::library;

    let builds = [library("plugbus_tally"), library("plugbus_tally_v2")];
    // SAFETY: the tally builds are this workspace's own plugins.
    let first = unsafe { load::<Tick>(&builds[0], "") }.unwrap();
    let first_mapping = Mapping::of(first.loaded_from());
    let mut host = LocalHost::<Tick>::new();
    let id = host.attach(first).unwrap();
    let mut seq = 0;
    for (i, build) in [1, 0, 1].into_iter().enumerate() {
        for _ in 0..10 {
            host.send(Tick::Seq { sender: 0, seq }).unwrap();
            seq += 1;
        }
        host.run_until_idle();
        let options = ReloadOptions::new().rollback(if i == 1 { 5 } else { 0 });
        // SAFETY: as above.
        let new = unsafe { replacement::<Tick>(&builds[build], &options) }.unwrap();
        let replaced = host.replace_with(id, new).unwrap();
        assert_eq!(replaced.state, Handover::Taken { version: 1 });
        if i == 0 {
            assert!(!first_mapping.is_mapped(), "the first load is unmapped");
        }
    }
    host.send(Tick::Seq { sender: 0, seq }).unwrap();
    let answers = host.ask(Tick::Tally, (), Duration::from_secs(10)).unwrap();
    let tally = answers.get(id).copied().unwrap();
    assert_eq!(
        (tally.build, tally.counted, tally.skipped, tally.handovers),
        (2, 31, 0, 3)
    );
    let reports = host.shutdown();
    assert_eq!(
        (reports[0].stats.replaced, reports[0].stats.rolled_back),
        (3, 0)
    );
}

/// The dynamic scenarios of the conformance suite on every host, under the
/// tagging allocator: a foreign free on any host's lanes aborts this binary.
macro_rules! on_every_host {
    ($($name:ident: $family:ty),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                use plugbus_tests::conformance::scenarios;
                scenarios::concat_dynamic::<$family>();
                scenarios::dynamic_panic_is_isolated::<$family>();
                scenarios::ask_dynamic::<$family>();
                // Reloads across two builds with the state handed over,
                // refusals, a rollback and restarts: every instance and
                // every state's bytes freed by the binary that made them.
                scenarios::reload_under_flood::<$family>();
                scenarios::reload_refused_and_rolled_back::<$family>();
                // An async plugin's futures and the wakers it clones across
                // the boundary: freed by the library that made them.
                scenarios::async_dynamic::<$family>();
            }
        )*
    };
}

on_every_host! {
    every_host_local: plugbus_tests::conformance::Local,
    every_host_threads: plugbus_tests::conformance::Threads,
    every_host_smol: plugbus_tests::conformance::Smol,
    every_host_tokio_multi_thread: plugbus_tests::conformance::TokioMulti,
    every_host_tokio_current_thread: plugbus_tests::conformance::TokioCurrent,
}
