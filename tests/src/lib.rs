//! Shared pieces of the plugbus test suite: the conformance harness that runs
//! one definition of each scenario on every host.

pub mod conformance;
