//! Plugbus host on smol: one task per plugin, async API.

#![forbid(unsafe_code)]
