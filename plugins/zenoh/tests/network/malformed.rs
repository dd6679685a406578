//! Bytes on the key expression that are not frames of the message type:
//! each is counted and reported with a typed error, and the source goes on
//! to deliver the good frame that follows, on every host kind.

use std::time::Duration;

use crate::support::{Kind, Tally, TestHost};
use plugbus_zenoh::wire::{self, Header, Origin};
use plugbus_zenoh::{Config, DecodeError, Link, SourceError};
use zenoh::Wait;

const LIMIT: Duration = Duration::from_secs(30);

/// Whether a decode error is the one a malformed frame should give.
type Expect = fn(&DecodeError) -> bool;

fn malformed(kind: Kind, port: u16) {
    let name = kind.name();
    let key = format!("malformed{port}/x");
    let link = Link::open(
        Config::new()
            .subscribe(key.clone())
            .listen(crate::support::tcp(port)),
    )
    .unwrap_or_else(|e| panic!("{name}: open: {e}"));
    let mut host = TestHost::new(kind);
    let (tally, seen) = Tally::keeping();
    let id = host.attach(tally);
    let source = host.source(&link);

    // A plain zenoh session, as any program on the network could be.
    let mut config = zenoh::Config::default();
    config
        .insert_json5(
            "connect/endpoints",
            &format!("[\"{}\"]", crate::support::tcp(port)),
        )
        .expect("connect");
    config
        .insert_json5("scouting/multicast/enabled", "false")
        .expect("scouting");
    let raw = zenoh::open(config).wait().expect("a raw session");
    let publisher = raw
        .declare_publisher(key.clone())
        .wait()
        .expect("a raw publisher");
    crate::support::wait_for(&format!("{name}: the source's subscription"), LIMIT, || {
        publisher
            .matching_status()
            .wait()
            .expect("matching")
            .matching()
    });

    let origin = Origin::from_u64(0x5eed);
    let good = |sequence: u64, value: u64| {
        let mut bytes = Vec::new();
        wire::encode(Header { origin, sequence }, &value, &mut bytes).expect("encode");
        bytes
    };
    let mut truncated_payload = good(0, u64::MAX);
    truncated_payload.pop();
    let mut trailing = good(0, 7);
    trailing.push(0);
    let bad: Vec<(Vec<u8>, Expect)> = vec![
        (vec![], |e| matches!(e, DecodeError::Empty)),
        (vec![9, 9, 9], |e| matches!(e, DecodeError::UnknownKind(9))),
        (vec![1, 0, 0], |e| {
            matches!(e, DecodeError::TruncatedHeader { len: 3 })
        }),
        (truncated_payload, |e| {
            matches!(e, DecodeError::Payload { .. })
        }),
        (trailing, |e| {
            matches!(e, DecodeError::TrailingBytes { count: 1, .. })
        }),
    ];
    let count = bad.len() as u64;
    for (i, (bytes, is_expected)) in bad.into_iter().enumerate() {
        publisher.put(bytes).wait().expect("put");
        let stats = crate::support::wait_source(
            &format!("{name}: malformed frame {i}"),
            &source,
            LIMIT,
            |s| s.malformed == i as u64 + 1,
        );
        match &stats.last_error {
            Some(SourceError::Malformed { key: on, error }) => {
                assert_eq!(on, &key, "{name}: the key is named");
                assert!(is_expected(error), "{name}: frame {i} gave {error:?}");
                let text = error.to_string();
                assert!(
                    !text.contains('\n') && !text.ends_with('.'),
                    "{name}: one line: {text}"
                );
            }
            other => panic!("{name}: frame {i}: last error {other:?}"),
        }
    }
    // The source goes on: a good frame after the bad ones is delivered.
    publisher.put(good(0, 42)).wait().expect("put");
    crate::support::wait_for(&format!("{name}: the good frame handled"), LIMIT, || {
        host.stats(id).handled == 1
    });
    let stats = source.shutdown();
    assert_eq!(
        (stats.malformed, stats.delivered),
        (count, 1),
        "{name}: {stats:?}"
    );
    let error = SourceError::Malformed {
        key: key.clone(),
        error: DecodeError::Empty,
    };
    assert_eq!(
        error.to_string(),
        format!("malformed frame on {key}"),
        "{name}"
    );
    seen.lock()
        .expect("tally")
        .assert_exactly(name, origin, [42].into_iter());
    host.shutdown();
    drop(publisher);
    raw.close().wait().expect("close the raw session");
    link.close().expect("close");
}

#[test]
fn malformed_payload_host_std() {
    let _watchdog =
        crate::support::watchdog("malformed_payload_host_std", Duration::from_secs(120));
    malformed(Kind::Std, 17_540);
}

#[test]
fn malformed_payload_host_smol() {
    let _watchdog =
        crate::support::watchdog("malformed_payload_host_smol", Duration::from_secs(120));
    malformed(Kind::Smol, 17_541);
}

#[test]
fn malformed_payload_host_tokio() {
    let _watchdog =
        crate::support::watchdog("malformed_payload_host_tokio", Duration::from_secs(120));
    malformed(Kind::Tokio, 17_542);
}
