//! Three hosts in a ring, in one process, each on a link of its own: each
//! publishes what is sent on it and subscribes to all three keys, its own
//! included. Each host handles each message exactly once and nothing
//! echoes; with every host relaying, each message reaches each other host
//! twice and comes back to its origin twice, and is still handled once.

use std::time::Duration;

use crate::support::{Kind, Tally, TestHost};
use plugbus_zenoh::{Config, Link};

const PER_HOST: u64 = 2_000;
const LIMIT: Duration = Duration::from_secs(60);

fn ring(kind: Kind, relay: bool, first_port: u16) {
    let what = |i: usize| {
        format!(
            "{} ring{} host {i}",
            kind.name(),
            if relay { " with relay" } else { "" }
        )
    };
    let links: Vec<Link> = (0..3u16)
        .map(|i| {
            let config = Config::new()
                .key(format!("ring{first_port}/{i}"))
                .subscribe(format!("ring{first_port}/**"))
                .listen(crate::support::tcp(first_port + i))
                .connect(crate::support::tcp(first_port + (i + 1) % 3))
                .relay(relay);
            Link::open(config).unwrap_or_else(|e| panic!("{}: open: {e}", what(usize::from(i))))
        })
        .collect();
    let mut hosts = Vec::new();
    let mut seen = Vec::new();
    let mut sources = Vec::new();
    for (i, link) in links.iter().enumerate() {
        let mut host = TestHost::new(kind);
        let (tally, tallied) = Tally::keeping();
        host.attach(tally);
        host.attach_publisher(link.publisher().expect("publisher"));
        sources.push(host.source(link));
        hosts.push(host);
        seen.push(tallied);
        let _ = i;
    }
    // Each host hears the other two before anything is sent: connected to
    // both, and a key with a subscriber in each other host's session.
    for (i, link) in links.iter().enumerate() {
        crate::support::wait_for(&format!("{}: both peers connected", what(i)), LIMIT, || {
            link.peers() == 2
        });
    }
    for (i, link) in links.iter().enumerate() {
        crate::support::wait_for(&format!("{}: peers subscribed", what(i)), LIMIT, || {
            link.wait_for_subscribers(Duration::from_millis(50))
                .expect("matching")
        });
    }
    std::thread::sleep(Duration::from_millis(300)); // every route, not just the first
    for (i, host) in hosts.iter().enumerate() {
        let base = i as u64 * 1_000_000;
        host.send_local(base..base + PER_HOST);
    }
    // Per host: its own PER_HOST come back only relayed by both others
    // (zenoh does not hand a session's puts to its own subscriber); each
    // other origin's PER_HOST arrive once, or (relayed) twice.
    let (echoes, duplicates) = if relay {
        (2 * PER_HOST, 2 * PER_HOST)
    } else {
        (0, 0)
    };
    for (i, source) in sources.iter().enumerate() {
        crate::support::wait_source(&format!("{}: all arrivals", what(i)), source, LIMIT, |s| {
            s.delivered == 2 * PER_HOST && s.echoes == echoes && s.duplicates == duplicates
        });
    }
    let stats: Vec<_> = sources.into_iter().map(|s| s.shutdown()).collect();
    for (i, host) in hosts.into_iter().enumerate() {
        let reports = host.shutdown();
        assert!(
            reports.iter().all(|r| r.stats.handled == 3 * PER_HOST),
            "{}: {reports:?}",
            what(i)
        );
    }
    for (i, link) in links.iter().enumerate() {
        let published = link.publisher_stats();
        assert_eq!(published.published, PER_HOST, "{}: published", what(i));
        let (relayed, not_relayed) = if relay {
            (2 * PER_HOST, 0)
        } else {
            (0, 2 * PER_HOST)
        };
        assert_eq!(
            (published.relayed, published.not_relayed),
            (relayed, not_relayed),
            "{}",
            what(i)
        );
        let s = &stats[i];
        // Exact once more after the shutdown.
        assert_eq!(
            (s.delivered, s.echoes),
            (2 * PER_HOST, echoes),
            "{}",
            what(i)
        );
        assert_eq!(
            (s.duplicates, s.gaps, s.malformed),
            (duplicates, 0, 0),
            "{}",
            what(i)
        );
        let seen = seen[i].lock().expect("tally");
        assert_eq!(seen.local, PER_HOST, "{}: local", what(i));
        assert!(
            !seen.remote.contains_key(&link.origin()),
            "{}: an echo was handled",
            what(i)
        );
        for (j, other) in links.iter().enumerate().filter(|(j, _)| *j != i) {
            let base = j as u64 * 1_000_000;
            if relay {
                // Two paths: once each, in whatever order they won.
                seen.assert_once_each(&what(i), other.origin(), base..base + PER_HOST);
            } else {
                seen.assert_exactly(&what(i), other.origin(), base..base + PER_HOST);
            }
        }
    }
    for link in links {
        link.close().expect("close");
    }
}

#[test]
fn ring_host_std() {
    let _watchdog = crate::support::watchdog("ring_host_std", Duration::from_secs(180));
    ring(Kind::Std, false, 17_510);
}

#[test]
fn ring_host_smol() {
    let _watchdog = crate::support::watchdog("ring_host_smol", Duration::from_secs(180));
    ring(Kind::Smol, false, 17_513);
}

#[test]
fn ring_host_tokio() {
    let _watchdog = crate::support::watchdog("ring_host_tokio", Duration::from_secs(180));
    ring(Kind::Tokio, false, 17_516);
}

#[test]
fn ring_with_relay_host_std() {
    let _watchdog = crate::support::watchdog("ring_with_relay_host_std", Duration::from_secs(180));
    ring(Kind::Std, true, 17_520);
}

#[test]
fn ring_with_relay_host_smol() {
    let _watchdog = crate::support::watchdog("ring_with_relay_host_smol", Duration::from_secs(180));
    ring(Kind::Smol, true, 17_523);
}

#[test]
fn ring_with_relay_host_tokio() {
    let _watchdog =
        crate::support::watchdog("ring_with_relay_host_tokio", Duration::from_secs(180));
    ring(Kind::Tokio, true, 17_526);
}
