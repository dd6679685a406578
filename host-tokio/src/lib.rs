//! Plugbus host on tokio: one task per plugin, async API.

#![forbid(unsafe_code)]
