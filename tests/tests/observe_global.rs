//! Lanes attached under the global subscriber: the hosts do not bind them
//! to it (it is every thread's default already), and core's lifecycle
//! events still reach it from every lane thread and task. Also pins the
//! `Debug` text of the global dispatch, by which the hosts tell it from a
//! scoped one. A binary of its own: the global subscriber cannot be unset.

use plugbus_tests::conformance::{Smol, Threads, TokioCurrent, TokioMulti};
use plugbus_tests::observe::{Capture, scenarios};

#[test]
fn lanes_under_the_global_subscriber() {
    let (capture, subscriber) = Capture::new();
    tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
    scenarios::logs_lifecycle::<Threads>(&capture, "global-threads");
    scenarios::logs_lifecycle::<Smol>(&capture, "global-smol");
    scenarios::logs_lifecycle::<TokioMulti>(&capture, "global-tokio-multi");
    scenarios::logs_lifecycle::<TokioCurrent>(&capture, "global-tokio-current");
    let seen = [
        scenarios::lane_runs_under::<Threads>(),
        scenarios::lane_runs_under::<Smol>(),
        scenarios::lane_runs_under::<TokioMulti>(),
        scenarios::lane_runs_under::<TokioCurrent>(),
    ];
    for seen in seen {
        assert!(seen.starts_with("Dispatch::Global("), "{seen}");
    }
}
