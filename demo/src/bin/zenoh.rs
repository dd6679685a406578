//! Two hosts in two processes joined over zenoh on loopback.
//!
//! ```sh
//! cargo run -p plugbus-demo --features zenoh --bin zenoh
//! ```
//!
//! This process (side A) listens on `tcp/127.0.0.1:17650` and starts itself
//! again as side B, which connects. Each side runs a host-std host with two
//! plugins, a `Publisher` that puts what is sent on its host onto zenoh and
//! a `Tally` that sums what it handles, local and remote apart, and a
//! `Source` that sends what arrives into the host. Each side sends 100,000
//! numbers of its own; each prints what its plugins handled and what its
//! source counted (echoes, duplicates, gaps).
//!
//! Kept apart from the main demo (`src/main.rs`) on purpose.

use std::collections::BTreeMap;
use std::process::{Command, ExitCode};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plugbus_core::{Flow, Message, Plugin};
use plugbus_host_std::Host;
use plugbus_zenoh::{Config, Link, Net, Origin};

const PORT: u16 = 17_650;
const NUMBERS: u64 = 100_000;
const LIMIT: Duration = Duration::from_secs(60);

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    let side_b = std::env::args().nth(1).as_deref() == Some("--side-b");
    match run(side_b) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!(
                "zenoh demo, side {}: {error}",
                if side_b { "B" } else { "A" }
            );
            ExitCode::FAILURE
        }
    }
}

/// What a side's tally plugin saw.
#[derive(Default)]
struct Sums {
    local: (u64, u64),
    remote: BTreeMap<Origin, (u64, u64)>,
}

struct Tally(Arc<Mutex<Sums>>);

impl Plugin<Net<u64>> for Tally {
    fn handle_message(&mut self, message: &Message<Net<u64>>) -> Flow {
        if let Ok(mut sums) = self.0.lock() {
            let entry = match message.header() {
                None => &mut sums.local,
                Some(header) => sums.remote.entry(header.origin).or_default(),
            };
            entry.0 += 1;
            entry.1 += ***message;
        }
        Flow::Continue
    }

    fn name(&self) -> &str {
        "tally"
    }
}

fn run(side_b: bool) -> Result<()> {
    let endpoint = format!("tcp/127.0.0.1:{PORT}");
    let config = Config::new()
        .key(if side_b { "demo/b" } else { "demo/a" })
        .subscribe("demo/*");
    let config = if side_b {
        config.connect(endpoint)
    } else {
        config.listen(endpoint)
    };
    let link = Link::open(config)?;
    let name = if side_b { "B" } else { "A" };
    // Side A starts side B once it listens.
    let child = if side_b {
        None
    } else {
        Some(
            Command::new(std::env::current_exe()?)
                .arg("--side-b")
                .spawn()?,
        )
    };

    let host: Host<Net<u64>> = Host::new();
    let sums = Arc::new(Mutex::new(Sums::default()));
    host.attach(Tally(Arc::clone(&sums)))?;
    host.attach(link.publisher::<u64>()?)?;
    let sender = host.sender();
    let source = link.source(move |batch| sender.send_batch(batch))?;
    if !link.wait_for_subscribers(LIMIT)? {
        return Err(format!("no peer subscribed within {LIMIT:?}").into());
    }

    // A sends 1..=N, B sends N+1..=2N.
    let first = if side_b { NUMBERS + 1 } else { 1 };
    host.send_batch((first..first + NUMBERS).map(Net::local))?;
    source
        .wait_until(LIMIT, |s| s.delivered == NUMBERS)
        .map_err(|stats| format!("the other side's numbers did not all arrive: {stats:?}"))?;
    // The publisher ends its stream and waits until the peer's source has
    // everything; then the peer's end frame is waited for, briefly.
    let reports = host.shutdown();
    let ended = source.wait_until(Duration::from_secs(5), |s| {
        s.origins.iter().all(|o| o.ended)
    });
    let stats = source.shutdown();
    let published = link.publisher_stats();
    let origin = link.origin();
    link.close()?;

    if let Some(mut child) = child {
        let status = child.wait()?;
        if !status.success() {
            return Err(format!("side B exited with {status}").into());
        }
    }
    let sums = sums.lock().map_err(|_| "tally lock")?;
    let handled: u64 = reports
        .iter()
        .find(|r| r.name == "tally")
        .map_or(0, |r| r.stats.handled);
    println!("side {name} (origin {origin}):");
    println!("  tally handled {handled} messages:");
    println!("    {} local, sum {}", sums.local.0, sums.local.1);
    for (origin, (count, sum)) in &sums.remote {
        println!("    {count} from origin {origin}, sum {sum}");
    }
    println!(
        "  publisher: {} published, {} from the network not republished",
        published.published, published.not_relayed
    );
    println!(
        "  source: {} delivered, {} echoes, {} duplicates, {} gaps, {} malformed; the other side's end {}",
        stats.delivered,
        stats.echoes,
        stats.duplicates,
        stats.gaps,
        stats.malformed,
        if ended.is_ok() {
            "arrived"
        } else {
            "did not arrive"
        }
    );
    let other_first = if side_b { 1 } else { NUMBERS + 1 };
    let expected_remote: u64 = (other_first..other_first + NUMBERS).sum();
    let remote_sum: u64 = sums.remote.values().map(|(_, sum)| sum).sum();
    if handled != 2 * NUMBERS
        || remote_sum != expected_remote
        || stats.gaps != 0
        || stats.duplicates != 0
    {
        return Err("the counts are not exact".into());
    }
    Ok(())
}
