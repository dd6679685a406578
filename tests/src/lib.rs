//! Shared pieces of the plugbus conformance suite.
