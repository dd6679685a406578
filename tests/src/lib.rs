//! Shared pieces of the plugbus test suite: the conformance harness that runs
//! one definition of each scenario on every host, the scenarios the two
//! async hosts share beyond it, and helpers that find the example plugins'
//! dynamic libraries.

pub mod async_hosts;
pub mod conformance;
pub mod dylib;
pub mod observe;
pub mod watch;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
