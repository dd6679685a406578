//! Memory over many load/attach/send/shutdown/unload cycles of a dynamic
//! plugin (issue 8 item 8): prints the resident set size (Linux,
//! `/proc/self/status`) every `cycles / 10` cycles. The host is a
//! `LocalHost` (plugins run on the calling thread) or, with `threads`,
//! host-std's `Host` (a thread per plugin).
//!
//! ```sh
//! cargo build --release -p plugbus-concat
//! cargo run --release -p plugbus-tests --example load_cycles -- \
//!     target/release/deps/libplugbus_concat.so 10000 [threads]
//! ```

use std::path::PathBuf;

use plugbus_commands::{Command, report};
use plugbus_core::LocalHost;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next().map(PathBuf::from) else {
        eprintln!("usage: load_cycles PLUGIN_LIBRARY [CYCLES]");
        std::process::exit(2);
    };
    let cycles: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let threads = args.next().as_deref() == Some("threads");
    let start = rss_kib();
    println!("cycle 0: rss {start} KiB");
    for i in 1..=cycles {
        // SAFETY: the workspace's concat plugin, named on the command line.
        let plugin = unsafe { plugbus_host_std::load::<Command>(&path, "quiet") }
            .unwrap_or_else(|error| panic!("{error}"));
        let (ask, replies) = report();
        let reports = if threads {
            let host = plugbus_host_std::Host::new();
            host.attach(plugin).unwrap();
            host.send(Command::Concat(format!("cycle {i}"))).unwrap();
            host.send(ask).unwrap();
            host.shutdown()
        } else {
            let mut host = LocalHost::new();
            host.attach(plugin).unwrap();
            host.send(Command::Concat(format!("cycle {i}"))).unwrap();
            host.send(ask).unwrap();
            host.run_until_idle();
            host.shutdown()
        };
        assert_eq!(reports[0].stats.handled, 2);
        drop(replies.try_recv().unwrap());
        if i % (cycles / 10).max(1) == 0 {
            println!("cycle {i}: rss {} KiB", rss_kib());
        }
    }
    println!("growth over {cycles} cycles: {} KiB", rss_kib() - start);
}
