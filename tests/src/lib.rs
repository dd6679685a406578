//! Shared pieces of the plugbus conformance suite.

pub mod dylib;
