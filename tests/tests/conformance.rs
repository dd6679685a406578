//! The conformance suite: every scenario on every host. Adding a host is one
//! line here (and its adapter in `src/conformance/adapters.rs`).

use plugbus_tests::conformance;
use plugbus_tests::conformance::{Local, Smol, Threads, TokioCurrent, TokioMulti};

conformance!(local, Local);
conformance!(threads, Threads);
conformance!(smol, Smol);
conformance!(tokio_multi_thread, TokioMulti);
conformance!(tokio_current_thread, TokioCurrent);
