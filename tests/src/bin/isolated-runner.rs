//! The runner of the isolated-plugin tests and benchmark: the child that
//! runs `plugbus-crash` for a host (or `plugbus-plain`, given `plain`
//! first), and, with `host LIBRARY N`, a host of
//! N isolated plugins that prints their process ids and waits to be killed
//! (the test of what a host's death leaves behind).

use std::io::Write;
use std::time::Duration;

use plugbus_crash::Task;
use plugbus_host_std::Host;
use plugbus_host_std::isolated::{IsolateOptions, Plain, run_child, run_child_with};
use plugbus_plain::Block;

fn main() {
    // `plain` before the host's arguments (`IsolateOptions::runner_arg`):
    // a child for `plugbus-plain`, whose blocks cross without encoding.
    if std::env::args().nth(1).as_deref() == Some("plain") {
        run_child_with::<Block, Plain>();
    }
    run_child::<Task>();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, library, count] = &args[..] else {
        eprintln!("usage: isolated-runner host LIBRARY N (or started by a host)");
        std::process::exit(2);
    };
    if mode != "host" {
        eprintln!("unknown mode `{mode}`");
        std::process::exit(2);
    }
    let count: usize = count.parse().unwrap_or(1);
    let host = Host::new();
    let mut pids = Vec::new();
    for _ in 0..count {
        match host.attach_isolated(library, "", IsolateOptions::new()) {
            Ok((_, handle)) => pids.push(handle.child_pid().unwrap_or(0)),
            Err(error) => {
                eprintln!("isolated-runner host: {error}");
                std::process::exit(1);
            }
        }
    }
    for n in 0..100 {
        let _ = host.send(Task::Record(n));
    }
    let line: Vec<String> = pids.iter().map(u32::to_string).collect();
    println!("{}", line.join(" "));
    let _ = std::io::stdout().flush();
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}
