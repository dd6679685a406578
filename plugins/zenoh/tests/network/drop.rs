//! `congestion=drop`: the publisher never waits; zenoh may discard what a
//! slow receiver cannot take, and the receiver counts every discarded
//! message as a gap, the tail included (the end frame goes out under
//! `Block`): what it handled plus its gaps is exactly what was published.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use plugbus_core::{Flow, Message, Plugin};
use plugbus_host_std::Host;
use plugbus_zenoh::{Config, Congestion, Link, Net};

const PORT: u16 = 17_560;
/// 12,000 messages of 4 KiB (48 MiB) towards a host of 16 slots whose one
/// plugin stalls on the first until every put has been made. The source's
/// queue (4,096 samples, 16 MiB) and the kernel's and zenoh's buffers on
/// loopback (a few MiB) hold well under half of it, so zenoh must drop the
/// rest however fast or slow the machine is (a fixed 3 s stall was not
/// enough on a loaded CI machine: the publisher had not filled the buffers
/// by the time the receiver woke).
const MESSAGES: u64 = 12_000;
const PAYLOAD: usize = 4096;
const LIMIT: Duration = Duration::from_secs(90);

/// A numbered message with a payload.
type Numbered = (u64, Vec<u8>);

/// Stalls on its first message until `release` is set (or [`LIMIT`]
/// passes), and checks what it gets only ever goes up.
struct Slow {
    last: Option<u64>,
    release: Arc<AtomicBool>,
}

impl Plugin<Net<Numbered>> for Slow {
    fn handle_message(&mut self, message: &Message<Net<Numbered>>) -> Flow {
        let number = message.0;
        assert!(
            self.last.is_none_or(|last| number > last),
            "out of order or repeated"
        );
        if self.last.is_none() {
            let start = Instant::now();
            // ORDERING: Acquire pairs with the test's Release; nothing else
            // is published through the flag, it only ends the stall.
            while !self.release.load(Ordering::Acquire) && start.elapsed() < LIMIT {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        self.last = Some(number);
        Flow::Continue
    }
}

#[test]
fn drops_are_counted_as_gaps() {
    let _watchdog = crate::support::watchdog("drop", Duration::from_secs(180));
    let receiver = Link::open(
        Config::new()
            .subscribe("drop/n")
            .listen(crate::support::tcp(PORT)),
    )
    .expect("open");
    let received = Host::with_capacity(16);
    let release = Arc::new(AtomicBool::new(false));
    let slow = received
        .attach(Slow {
            last: None,
            release: Arc::clone(&release),
        })
        .expect("attach");
    let sender = received.sender();
    let source = receiver
        .source::<Numbered, _>(move |batch| sender.send_batch(batch))
        .expect("source");

    let link = Link::open(
        Config::new()
            .key("drop/n")
            .connect(crate::support::tcp(PORT))
            .congestion(Congestion::Drop),
    )
    .expect("open");
    let host: Host<Net<Numbered>> = Host::new();
    host.attach(link.publisher().expect("publisher"))
        .expect("attach");
    assert!(
        link.wait_for_subscribers(LIMIT).expect("matching"),
        "no subscriber"
    );
    host.send_batch((0..MESSAGES).map(|n| Net::local((n, vec![7; PAYLOAD]))))
        .expect("send");
    // Every put made (dropped ones included) while the receiver stalls;
    // then let it go, before the end frame, which goes out under Block.
    crate::support::wait_for("every put", LIMIT, || {
        link.publisher_stats().published == MESSAGES
    });
    release.store(true, Ordering::Release);
    host.shutdown(); // the end frame, under Block, then the flush
    assert_eq!(link.publisher_stats().published, MESSAGES);

    let stats = crate::support::wait_source("the end of the stream", &source, LIMIT, |s| {
        s.origins.iter().any(|o| o.ended)
    });
    let from = &stats.origins[0];
    assert_eq!(from.end, MESSAGES, "{stats:?}");
    assert_eq!(
        from.taken + from.gaps,
        MESSAGES - from.first,
        "taken + gaps = sent: {stats:?}"
    );
    assert_eq!(from.first, 0, "subscribed before the first put: {stats:?}");
    println!(
        "drop: {} of {MESSAGES} arrived, {} counted as gaps",
        from.taken, from.gaps
    );
    assert!(
        from.gaps > 0,
        "48 MiB towards a stalled receiver: zenoh dropped nothing? {stats:?}"
    );
    let final_stats = source.shutdown();
    crate::support::wait_for("the slow plugin to finish", LIMIT, || {
        received
            .stats(slow)
            .is_some_and(|s| s.handled == final_stats.delivered)
    });
    received.shutdown();
    link.close().expect("close");
    receiver.close().expect("close");
}
