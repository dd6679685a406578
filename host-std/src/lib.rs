//! Plugbus host on std threads: one OS thread per plugin, and the dynamic-library loader.

#![forbid(unsafe_code)]
