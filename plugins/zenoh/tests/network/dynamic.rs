//! The publisher loaded from this crate's own dynamic library
//! (`libplugbus_zenoh.so`, a `Publisher<u64>` for hosts of `Net<u64>`),
//! configured by text: it publishes under the origin the text names, in
//! order, and text it cannot read is a typed load error, not a crash.

use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
use std::path::PathBuf;
use std::time::Duration;

use crate::support::Tally;
use plugbus_host_std::{Host, LoadOptions, load_with};
use plugbus_zenoh::{Config, Link, Net, Origin};

const PORT: u16 = 17_550;
const MESSAGES: u64 = 5_000;
const LIMIT: Duration = Duration::from_secs(60);

/// The cdylib cargo built beside this test (in deps/ or the profile
/// directory above it).
fn library() -> PathBuf {
    let file = format!("{DLL_PREFIX}plugbus_zenoh{DLL_SUFFIX}");
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join(&file))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("{file} not found beside {}", exe.display()))
}

#[test]
fn the_dynamic_publisher_publishes_under_the_configured_origin() {
    let _watchdog = crate::support::watchdog("dynamic publisher", Duration::from_secs(120));
    let receiver = Link::open(
        Config::new()
            .subscribe("dyn/n")
            .listen(crate::support::tcp(PORT)),
    )
    .expect("the receiving link");
    let received = Host::new();
    let (tally, seen) = Tally::keeping();
    received.attach(tally).expect("attach");
    let sender = received.sender();
    let source = receiver
        .source(move |batch| sender.send_batch(batch))
        .expect("source");

    let origin = Origin::from_u64(0x00c0_ffee_00c0_ffee);
    let config = format!(
        "key=dyn/n connect={} origin={origin}",
        crate::support::tcp(PORT)
    );
    let host: Host<Net<u64>> = Host::new();
    // SAFETY: this crate's own library, built by cargo for this test. No
    // copy: the debug build is large, and nothing rewrites it meanwhile.
    let publisher =
        unsafe { load_with::<Net<u64>>(library(), &config, &LoadOptions::new().copy(false)) }
            .unwrap_or_else(|e| panic!("load: {e}"));
    host.attach(publisher).expect("attach the loaded publisher");

    // Until the publisher's session has connected, zenoh has no route and
    // drops: send one at a time until the first arrives.
    let mut next = 0;
    crate::support::wait_for(
        "the loaded publisher's first message to arrive",
        LIMIT,
        || {
            host.send(Net::local(next)).expect("send");
            next += 1;
            std::thread::sleep(Duration::from_millis(5));
            source.stats().delivered > 0
        },
    );
    host.send_batch((next..MESSAGES).map(Net::local))
        .expect("send");
    let reports = host.shutdown(); // end frame and flush, then the library goes
    assert_eq!(reports[0].stats.handled, MESSAGES, "{reports:?}");
    let stats = crate::support::wait_source("every message and the end", &source, LIMIT, |s| {
        s.origins.iter().all(|o| o.ended) && !s.origins.is_empty()
    });
    let from = &stats.origins[0];
    assert_eq!(from.origin, origin, "the configured origin");
    assert_eq!(
        (from.end, from.gaps, from.duplicates),
        (MESSAGES, 0, 0),
        "{stats:?}"
    );
    let first = from.first;
    seen.lock()
        .expect("tally")
        .assert_exactly("dynamic", origin, first..MESSAGES);
    assert_eq!(source.shutdown().delivered, MESSAGES - first);
    received.shutdown();
    receiver.close().expect("close");
}

#[test]
fn configuration_text_it_cannot_read_is_a_load_error() {
    let _watchdog =
        crate::support::watchdog("dynamic publisher, bad text", Duration::from_secs(60));
    for (text, cause) in [
        ("key=dyn/bad wat=1", r#"unknown option "wat""#),
        ("connect=tcp/127.0.0.1:1", "no key expression configured"),
        (
            "key=dyn/bad mode=router",
            r#"option "mode" takes peer or client, not "router""#,
        ),
    ] {
        // SAFETY: as above.
        let loaded =
            unsafe { load_with::<Net<u64>>(library(), text, &LoadOptions::new().copy(false)) };
        let error = loaded.err().unwrap_or_else(|| panic!("{text:?} loaded"));
        let mut chain = error.to_string();
        let mut cause_of = std::error::Error::source(&error);
        while let Some(inner) = cause_of {
            chain.push_str(": ");
            chain.push_str(&inner.to_string());
            cause_of = inner.source();
        }
        assert!(chain.contains(cause), "{text:?}: {chain}");
    }
}
