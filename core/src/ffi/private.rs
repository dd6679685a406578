//! Paths the export macro uses; not part of the API.

pub use alloc::string::String;
