//! The conformance suite: every scenario on every host. Adding a host is one
//! line here (and its adapter in `src/conformance/adapters.rs`).

use plugbus_tests::conformance;
use plugbus_tests::conformance::Local;

conformance!(local, Local);
