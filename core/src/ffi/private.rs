//! Paths the export macro uses; not part of the API.

pub use alloc::string::String;

use alloc::string::ToString;
use core::fmt::Display;

/// Runs a plugin's constructor, turning its error into text.
pub fn construct_with<P, E: Display>(
    construct: impl FnOnce(&str) -> Result<P, E>,
    config: &str,
) -> Result<P, String> {
    construct(config).map_err(|error| error.to_string())
}
