//! `LocalHost` (not `Send`, no threads): the source sends into a bounded
//! `SyncSender`, and the loop that owns the host drains it with the host's
//! normal send and polls.

use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use crate::support::Tally;
use plugbus_core::LocalHost;
use plugbus_host_std::Host;
use plugbus_zenoh::{Config, Link, Net};

const PORT: u16 = 17_570;
const MESSAGES: u64 = 20_000;

#[test]
fn a_local_host_drains_the_source_queue() {
    let _watchdog = crate::support::watchdog("local host", Duration::from_secs(120));
    let receiver = Link::open(
        Config::new()
            .subscribe("local/n")
            .listen(crate::support::tcp(PORT)),
    )
    .expect("open");
    let mut local: LocalHost<Net<u64>> = LocalHost::new();
    let (tally, seen) = Tally::counting();
    let id = local.attach(tally).expect("attach");
    let (queue, arrivals) = sync_channel(1024);
    let source = receiver.source(queue).expect("source");

    let link = Link::open(
        Config::new()
            .key("local/n")
            .connect(crate::support::tcp(PORT)),
    )
    .expect("open");
    let host: Host<Net<u64>> = Host::new();
    host.attach(link.publisher().expect("publisher"))
        .expect("attach");
    assert!(
        link.wait_for_subscribers(Duration::from_secs(30))
            .expect("matching"),
        "no subscriber"
    );
    host.send_batch((0..MESSAGES).map(Net::local))
        .expect("send");

    // The host's own loop: drain, send, poll.
    let deadline = Instant::now() + Duration::from_secs(60);
    while local.stats(id).is_none_or(|s| s.handled < MESSAGES) {
        assert!(
            Instant::now() < deadline,
            "LocalHost: timed out waiting for {MESSAGES} messages"
        );
        for message in arrivals.try_iter() {
            local.send(message).expect("local send");
        }
        local.run_until_idle();
        std::thread::sleep(Duration::from_millis(1));
    }
    host.shutdown();
    let stats = source.shutdown();
    assert_eq!(
        (stats.delivered, stats.gaps, stats.duplicates),
        (MESSAGES, 0, 0),
        "{stats:?}"
    );
    let reports = local.shutdown();
    assert_eq!(reports[0].stats.handled, MESSAGES);
    let seen = seen.lock().expect("tally");
    assert_eq!(
        seen.counted[&link.origin()],
        (MESSAGES, MESSAGES, 0),
        "in order"
    );
    link.close().expect("close");
    receiver.close().expect("close");
}
