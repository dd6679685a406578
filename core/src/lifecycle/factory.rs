//! What builds a fresh instance of a supervised plugin.

use core::convert::Infallible;
use core::fmt::Display;

use crate::plugin::Plugin;

/// Builds instances of one plugin: the first when it is attached, and a
/// fresh one each time its lane restarts it.
///
/// A closure returning a plugin is a factory (it cannot fail). A dynamic
/// plugin's library is one too (in `plugbus-host-std`'s loader: it builds
/// again with the same configuration). A factory that fails makes the
/// attach fail, or counts as a failed restart under the plugin's
/// [`Intensity`](super::Intensity).
///
/// # Example
/// ```
/// use plugbus_core::lifecycle::Factory;
/// use plugbus_core::{Flow, Message, Plugin};
///
/// struct Parser { strict: bool }
/// impl Plugin<String> for Parser {
///     fn handle_message(&mut self, _: &Message<String>) -> Flow { Flow::Continue }
/// }
///
/// // A closure: the configuration moves in and each call builds anew.
/// let strict = true;
/// let mut factory = move || Parser { strict };
/// assert!(Factory::<String>::make(&mut factory).is_ok());
///
/// // A factory that may fail says why.
/// struct FromFile(&'static str);
/// impl Factory<String> for FromFile {
///     type Plugin = Parser;
///     type Error = String;
///     fn make(&mut self) -> Result<Parser, String> {
///         match self.0 {
///             "strict" => Ok(Parser { strict: true }),
///             other => Err(format!("unknown mode {other:?}")),
///         }
///     }
/// }
/// assert_eq!(FromFile("lax").make().err().unwrap(), "unknown mode \"lax\"");
/// ```
pub trait Factory<M>: Send + 'static {
    /// The plugin it builds.
    type Plugin: Plugin<M>;
    /// Why it could not build one.
    type Error: Display;

    /// Builds a fresh instance.
    ///
    /// # Errors
    /// Why no instance could be built; reported by the attach, or in the
    /// report's events for a restart.
    fn make(&mut self) -> Result<Self::Plugin, Self::Error>;
}

impl<M, P, F> Factory<M> for F
where
    P: Plugin<M>,
    F: FnMut() -> P + Send + 'static,
{
    type Plugin = P;
    type Error = Infallible;

    fn make(&mut self) -> Result<P, Infallible> {
        Ok(self())
    }
}
