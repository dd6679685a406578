//! A subscriber process killed mid-stream. The publishing host P (in the
//! test's process) keeps running with exact local counts; the subscriber R
//! (a child process) relays what it receives to a downstream host S (in the
//! test's process too). After R is killed and a new R joins, the new R sees
//! P's messages from then on, and S counts exactly the messages it missed
//! as a gap: P -> R -> S, then P -> R' -> S.

use std::io::Write;
use std::time::Duration;

use crate::support::{Kind, Tally, TestHost};
use plugbus_zenoh::{Config, Link};

const BATCH: u64 = 3_000;
const LIMIT: Duration = Duration::from_secs(60);

fn killed(kind: Kind, test: &str, first_port: u16) {
    let (p_port, s_port) = (first_port, first_port + 1);
    let key = format!("killed{first_port}");
    if crate::support::child_role().as_deref() == Some("relay") {
        return relay(kind, &key, p_port, s_port);
    }
    let name = kind.name();
    let p_link = Link::open(
        Config::new()
            .key(format!("{key}/p"))
            .listen(crate::support::tcp(p_port)),
    )
    .unwrap_or_else(|e| panic!("{name}: open P: {e}"));
    let s_link = Link::open(
        Config::new()
            .subscribe(format!("{key}/r"))
            .listen(crate::support::tcp(s_port)),
    )
    .unwrap_or_else(|e| panic!("{name}: open S: {e}"));
    let mut p = TestHost::new(kind);
    let (p_tally, p_seen) = Tally::counting();
    let p_id = p.attach(p_tally);
    p.attach_publisher(p_link.publisher().expect("publisher"));
    let mut s = TestHost::new(kind);
    let (s_tally, s_seen) = Tally::keeping();
    s.attach(s_tally);
    let s_source = s.source(&s_link);

    // P -> R -> S: the first batch arrives whole.
    let mut r1 = crate::support::spawn_child(test, "relay");
    crate::support::read_line_from(&mut r1, "relay-ready", LIMIT);
    assert!(
        p_link.wait_for_subscribers(LIMIT).expect("matching"),
        "{name}: R subscribed"
    );
    p.send_local(0..BATCH);
    crate::support::wait_source(&format!("{name}: S gets batch 1"), &s_source, LIMIT, |st| {
        st.delivered == BATCH
    });

    // R is killed: P goes on, and what it sends while nobody listens is
    // lost for S (zenoh has no subscriber to send it to).
    r1.kill().expect("kill R");
    let _ = r1.wait();
    crate::support::wait_for(&format!("{name}: P to see R gone"), LIMIT, || {
        !p_link
            .wait_for_subscribers(Duration::ZERO)
            .expect("matching")
    });
    p.send_local(BATCH..2 * BATCH);
    crate::support::wait_for(
        &format!("{name}: P's local plugin to handle 2 batches"),
        LIMIT,
        || p.stats(p_id).handled == 2 * BATCH,
    );

    // A new R joins: it sees from then on; S counts the missed batch.
    let mut r2 = crate::support::spawn_child(test, "relay");
    crate::support::read_line_from(&mut r2, "relay-ready", LIMIT);
    assert!(
        p_link.wait_for_subscribers(LIMIT).expect("matching"),
        "{name}: R' subscribed"
    );
    p.send_local(2 * BATCH..3 * BATCH);
    let stats =
        crate::support::wait_source(&format!("{name}: S gets batch 3"), &s_source, LIMIT, |st| {
            st.delivered == 2 * BATCH
        });
    // R' reports what it saw when its stdin closes.
    drop(r2.stdin.take());
    crate::support::wait_child(&format!("{name}: R'"), &mut r2, LIMIT);

    let p_origin = p_link.origin();
    let from_p = stats
        .origins
        .iter()
        .find(|o| o.origin == p_origin)
        .expect("P's origin at S");
    assert_eq!(
        (from_p.first, from_p.end),
        (0, 3 * BATCH),
        "{name}: S's span of P"
    );
    assert_eq!(
        (from_p.taken, from_p.gaps, from_p.duplicates),
        (2 * BATCH, BATCH, 0),
        "{name}"
    );
    assert_eq!(stats.gaps, BATCH, "{name}: the gap is counted");
    let s_seen = s_seen.lock().expect("tally");
    let expected = (0..BATCH).chain(2 * BATCH..3 * BATCH);
    s_seen.assert_exactly(name, p_origin, expected);

    let s_final = s_source.shutdown();
    assert_eq!(s_final.delivered, 2 * BATCH, "{name}");
    s.shutdown();
    let reports = p.shutdown();
    assert!(
        reports.iter().all(|r| r.stats.handled == 3 * BATCH),
        "{name}: P exact: {reports:?}"
    );
    assert_eq!(p_seen.lock().expect("tally").local, 3 * BATCH, "{name}");
    assert_eq!(p_link.publisher_stats().published, 3 * BATCH, "{name}");
    p_link.close().expect("close P");
    s_link.close().expect("close S");
}

/// The child: subscribes to P's key, relays to S's, until its stdin closes.
fn relay(kind: Kind, key: &str, p_port: u16, s_port: u16) {
    let config = Config::new()
        .subscribe(format!("{key}/p"))
        .key(format!("{key}/r"))
        .connect(crate::support::tcp(p_port))
        .connect(crate::support::tcp(s_port))
        .relay(true);
    let link = Link::open(config).expect("open R");
    let mut host = TestHost::new(kind);
    host.attach_publisher(link.publisher().expect("publisher"));
    let source = host.source(&link);
    // Connected to P and to S, then S's subscription known: a relay that
    // said it was ready before its session to S was up lost its first
    // messages once, under heavy load.
    crate::support::wait_for("R: connected to P and S", LIMIT, || link.peers() >= 2);
    assert!(
        link.wait_for_subscribers(LIMIT).expect("matching"),
        "R: S subscribed"
    );
    println!("\nrelay-ready");
    std::io::stdout().flush().expect("stdout");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    let stats = source.shutdown();
    host.shutdown();
    // It joined after batch 2: it saw batch 3 alone, in order, no gap.
    let from_p = &stats.origins[0];
    assert_eq!(
        (from_p.first, from_p.taken, from_p.gaps),
        (2 * BATCH, BATCH, 0),
        "R': {stats:?}"
    );
    assert_eq!(link.publisher_stats().relayed, BATCH, "R'");
    link.close().expect("close R");
}

#[test]
fn killed_subscriber_host_std() {
    let _watchdog = crate::support::watchdog(
        "killed::killed_subscriber_host_std",
        Duration::from_secs(240),
    );
    killed(Kind::Std, "killed::killed_subscriber_host_std", 17_530);
}

#[test]
fn killed_subscriber_host_smol() {
    let _watchdog = crate::support::watchdog(
        "killed::killed_subscriber_host_smol",
        Duration::from_secs(240),
    );
    killed(Kind::Smol, "killed::killed_subscriber_host_smol", 17_532);
}

#[test]
fn killed_subscriber_host_tokio() {
    let _watchdog = crate::support::watchdog(
        "killed::killed_subscriber_host_tokio",
        Duration::from_secs(240),
    );
    killed(Kind::Tokio, "killed::killed_subscriber_host_tokio", 17_534);
}
