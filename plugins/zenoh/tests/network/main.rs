//! The network tests of plugbus-zenoh, in one test binary (each links
//! zenoh, about 160 MB in a debug build; one binary instead of seven saves
//! the disk and the link time). Loopback only, a fixed port range per
//! module, multicast scouting off, every wait bounded.

mod support;

mod drop;
mod dynamic;
mod killed;
mod local_host;
mod malformed;
mod ring;
mod two_processes;
