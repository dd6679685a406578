//! Shared pieces of the plugbus test suite: the conformance harness that runs
//! one definition of each scenario on every host, and helpers that find the
//! example plugins' dynamic libraries.

pub mod conformance;
pub mod dylib;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
