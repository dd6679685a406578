//! Two hosts in two processes: 1,000,000 numbered messages one way under
//! `Block`, every one arriving once and in order, on every host kind.
//!
//! The test starts its own binary again as the sending child (same test,
//! `PLUGBUS_ZENOH_CHILD=send`); the parent receives.

use std::time::Duration;

use crate::support::{Kind, Tally, TestHost};
use plugbus_zenoh::{Config, Link};

const MESSAGES: u64 = 1_000_000;
const LIMIT: Duration = Duration::from_secs(180);

fn one_million(kind: Kind, test: &str, port: u16) {
    if crate::support::child_role().as_deref() == Some("send") {
        return send(kind, port);
    }
    let link = Link::open(Config::new().key("two/n").listen(crate::support::tcp(port)))
        .unwrap_or_else(|e| panic!("{}: open: {e}", kind.name()));
    let mut host = TestHost::new(kind);
    let (tally, seen) = Tally::counting();
    let id = host.attach(tally);
    let source = host.source(&link);
    let mut child = crate::support::spawn_child(test, "send");
    let origin =
        crate::support::read_line_from(&mut child, "child-origin ", Duration::from_secs(30));
    let stats = crate::support::wait_source(
        &format!(
            "{}: {MESSAGES} messages and the end of the stream",
            kind.name()
        ),
        &source,
        LIMIT,
        |s| s.delivered == MESSAGES && s.origins.iter().all(|o| o.ended),
    );
    crate::support::wait_child(kind.name(), &mut child, Duration::from_secs(30));
    let stats_after = source.shutdown();
    assert_eq!(
        stats_after,
        stats,
        "{}: the source took nothing after the end",
        kind.name()
    );
    crate::support::wait_for(
        &format!("{}: the tally to handle all", kind.name()),
        LIMIT,
        || host.stats(id).handled == MESSAGES,
    );
    let reports = host.shutdown();
    assert_eq!(reports[0].stats.handled, MESSAGES, "{}", kind.name());

    assert_eq!(stats.origins.len(), 1, "{}: one origin", kind.name());
    let from = &stats.origins[0];
    assert_eq!(
        from.origin.to_string(),
        origin,
        "{}: the child's origin",
        kind.name()
    );
    assert_eq!(
        (from.first, from.end, from.taken),
        (0, MESSAGES, MESSAGES),
        "{}",
        kind.name()
    );
    assert_eq!(
        (stats.gaps, stats.duplicates, stats.malformed),
        (0, 0, 0),
        "{}",
        kind.name()
    );
    assert_eq!((stats.echoes, stats.undelivered), (0, 0), "{}", kind.name());
    let seen = seen.lock().expect("tally");
    // (count, next expected value, out of order)
    assert_eq!(
        seen.counted[&from.origin],
        (MESSAGES, MESSAGES, 0),
        "{}: in order",
        kind.name()
    );
}

fn send(kind: Kind, port: u16) {
    let link = Link::open(
        Config::new()
            .key("two/n")
            .connect(crate::support::tcp(port)),
    )
    .unwrap_or_else(|e| panic!("{}: child open: {e}", kind.name()));
    let mut host = TestHost::new(kind);
    let (tally, seen) = Tally::counting();
    host.attach(tally);
    host.attach_publisher(link.publisher().expect("the publisher"));
    assert!(
        link.wait_for_subscribers(Duration::from_secs(30))
            .expect("matching"),
        "{}: child: no subscriber within 30 s",
        kind.name()
    );
    println!("\nchild-origin {}", link.origin());
    for chunk in 0..MESSAGES / 1000 {
        host.send_local(chunk * 1000..(chunk + 1) * 1000);
    }
    let reports = host.shutdown();
    assert!(
        reports.iter().all(|r| r.stats.handled == MESSAGES),
        "{}: child: {reports:?}",
        kind.name()
    );
    assert_eq!(seen.lock().expect("tally").local, MESSAGES);
    let published = link.publisher_stats();
    assert_eq!(
        (published.published, published.failed),
        (MESSAGES, 0),
        "{}: child",
        kind.name()
    );
    link.close().expect("close");
}

#[test]
fn one_million_in_order_host_std() {
    let _watchdog = crate::support::watchdog(
        "two_processes::one_million_in_order_host_std",
        Duration::from_secs(400),
    );
    one_million(
        Kind::Std,
        "two_processes::one_million_in_order_host_std",
        17_501,
    );
}

#[test]
fn one_million_in_order_host_smol() {
    let _watchdog = crate::support::watchdog(
        "two_processes::one_million_in_order_host_smol",
        Duration::from_secs(400),
    );
    one_million(
        Kind::Smol,
        "two_processes::one_million_in_order_host_smol",
        17_502,
    );
}

#[test]
fn one_million_in_order_host_tokio() {
    let _watchdog = crate::support::watchdog(
        "two_processes::one_million_in_order_host_tokio",
        Duration::from_secs(400),
    );
    one_million(
        Kind::Tokio,
        "two_processes::one_million_in_order_host_tokio",
        17_503,
    );
}
