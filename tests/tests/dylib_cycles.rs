//! 1,000 load/run/unload cycles of a dylib plugin leave no library mapped,
//! no copy open, and no memory growth beyond a few hundred KiB.

use plugbus_commands::{Command, report};
use plugbus_core::LocalHost;
use plugbus_tests::dylib::{Mapping, load_command_plugin, rss_kib};

const CYCLES: usize = 1000;
const WARM_UP: usize = 20;
/// "A few hundred KiB": the bound the issue sets for 1,000 cycles.
const MAX_GROWTH_KIB: u64 = 512;

fn cycle(i: usize) {
    let plugin = load_command_plugin("plugbus_concat", "quiet").unwrap();
    let mapping = Mapping::of(plugin.loaded_from());
    let mut host = LocalHost::new();
    host.attach(plugin).unwrap();
    host.send(Command::Concat(format!("cycle {i}"))).unwrap();
    let (ask, replies) = report();
    host.send(ask).unwrap();
    let reports = host.shutdown();
    assert_eq!(reports[0].stats.handled, 2);
    let summary = replies.try_recv().unwrap();
    assert_eq!(summary.text, format!("cycle {i}"));
    drop(summary);
    assert!(!mapping.is_open(), "cycle {i}: the copy is closed");
    if i % 100 == 0 {
        assert!(!mapping.is_mapped(), "cycle {i}: the library is unmapped");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_thousand_load_unload_cycles_do_not_grow() {
    for i in 0..WARM_UP {
        cycle(i);
    }
    let before = rss_kib().expect("VmRSS");
    for i in 0..CYCLES {
        cycle(i);
    }
    let after = rss_kib().expect("VmRSS");
    let growth = after.saturating_sub(before);
    println!(
        "RSS after {WARM_UP} warm-up cycles: {before} KiB; after {CYCLES} more load/unload cycles: {after} KiB; growth {growth} KiB"
    );
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    assert!(
        !maps.contains("memfd:plugbus:"),
        "a plugin copy is still mapped"
    );
    assert!(
        growth < MAX_GROWTH_KIB,
        "RSS grew by {growth} KiB over {CYCLES} cycles"
    );
}
