//! Restart and reload, shown on the thread host.
//!
//! ```sh
//! cargo run -p plugbus-demo --bin lifecycle
//! ```
//!
//! 1. A supervised plugin panics on two poisoned messages out of twenty; its
//!    lane restarts it each time, the poisoned messages go to a dead-letter
//!    outbox with their panic text, and the others are all handled, in
//!    order.
//! 2. The `tally` plugin, loaded from its library (build 1), counts numbered
//!    messages that a thread sends as fast as it can; meanwhile it is
//!    reloaded from build 2's library and back, twice. Its count goes from
//!    one build to the next (state hand-over): at the end it has counted
//!    every message sent, none skipped, none out of order.
//!
//! Kept apart from the log pipeline (`src/main.rs`) on purpose.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use plugbus_commands::{Tally, Tick};
use plugbus_host_std::lifecycle::{DeadLetter, Restart};
use plugbus_host_std::loader::built_plugin;
use plugbus_host_std::{AttachOptions, Flow, Host, Message, Plugin, PluginId, load, outbox};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Handles numbered messages; panics on a poisoned one.
struct Fragile;

impl Plugin<Tick> for Fragile {
    fn handle_message(&mut self, message: &Message<Tick>) -> Flow {
        if let Tick::Poison { seq, .. } = **message {
            panic!("cannot handle message {seq}");
        }
        Flow::Continue
    }
    fn name(&self) -> &str {
        "fragile"
    }
}

fn restart() -> Result<()> {
    println!("1. restart: a supervised plugin panics on messages 7 and 13 of 20");
    let host = Host::<Tick>::new();
    let (letters, dead) = outbox::<DeadLetter<Tick>>(8);
    let options = AttachOptions::new()
        .restart(Restart::OnPanic)
        .dead_letters(letters);
    host.attach_supervised(|| Fragile, options)?;
    for seq in 1..=20 {
        let tick = if seq == 7 || seq == 13 {
            Tick::Poison { sender: 0, seq }
        } else {
            Tick::Seq { sender: 0, seq }
        };
        host.send(tick)?;
    }
    let reports = host.shutdown();
    let s = reports[0].stats;
    println!(
        "   handled {}, restarts {}, dead-lettered {}, exit: {}",
        s.handled, s.restarts, s.dead_lettered, reports[0].exit
    );
    while let Some(letter) = dead.try_recv() {
        println!(
            "   dead letter {:?}: {}",
            letter.message.number(),
            letter.panic
        );
    }
    Ok(())
}

fn tally(host: &Host<Tick>, id: PluginId) -> Result<Tally> {
    let answers = host.ask(Tick::Tally, (), Duration::from_secs(5))?;
    Ok(*answers.get(id).ok_or("the tally plugin did not answer")?)
}

fn reload() -> Result<()> {
    println!("2. reload: the tally plugin swapped between two builds while messages flow");
    let builds = [
        built_plugin("plugbus-tally")?,
        built_plugin("plugbus-tally-v2")?,
    ];
    let host = Host::<Tick>::new();
    // SAFETY: both libraries are this workspace's own tally plugin.
    let id = host.attach(unsafe { load::<Tick>(&builds[0], "") }?)?;
    let stop = Arc::new(AtomicBool::new(false));
    let sender = host.sender();
    let stopped = stop.clone();
    let flood = std::thread::spawn(move || {
        let mut seq = 0;
        while !stopped.load(Ordering::Relaxed) && sender.send(Tick::Seq { sender: 0, seq }).is_ok()
        {
            seq += 1;
        }
        seq
    });
    for round in 0..4 {
        std::thread::sleep(Duration::from_millis(200));
        let before = tally(&host, id)?;
        let next = &builds[(round + 1) % 2];
        // SAFETY: as above.
        let replaced = unsafe { host.reload(id, next) }?;
        let after = tally(&host, id)?;
        println!(
            "   build {} -> build {}: counted {} before, {} after; state {:?}",
            before.build, after.build, before.counted, after.counted, replaced.state
        );
    }
    stop.store(true, Ordering::Relaxed);
    let sent = flood.join().map_err(|_| "the sending thread panicked")?;
    let last = tally(&host, id)?;
    println!(
        "   sent {sent}; build {} counted {}, skipped {}, out of order {}, handed over {} times",
        last.build, last.counted, last.skipped, last.out_of_order, last.handovers
    );
    let reports = host.shutdown();
    println!(
        "   replaced {} times, exit: {}",
        reports[0].stats.replaced, reports[0].exit
    );
    if last.counted != sent || last.skipped != 0 || last.out_of_order != 0 {
        return Err("a message was lost, repeated or reordered across the reloads".into());
    }
    Ok(())
}

fn main() -> ExitCode {
    // The panics are the demo's own; say them once, in its report.
    std::panic::set_hook(Box::new(|_| {}));
    match restart().and_then(|()| reload()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("plugbus-demo lifecycle: {error}");
            ExitCode::FAILURE
        }
    }
}
