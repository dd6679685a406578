//! The macro a plugin crate calls to become a loadable library.

use alloc::string::{String, ToString};
use core::fmt::Display;

/// Exports a plugin from a crate built as `cdylib` (and `rlib`): a
/// [`PluginDescriptor`](crate::ffi::PluginDescriptor) static and a
/// [`PluginVTable`](crate::ffi::PluginVTable) of `extern "C"` thunks that
/// catch the plugin's panics.
///
/// - `plugin`: the plugin type, implementing `Plugin<message>`;
/// - `message`: the message type, implementing [`Fingerprint`](crate::Fingerprint);
/// - `construct`: a function or closure without captures
///   `(&str) -> Result<plugin, E>` with `E: Display`, given the host's
///   configuration text (see [`Constructor`](crate::ffi::Constructor)).
///
/// The descriptor carries the package's name and version. The statics are
/// exported as `plugbus_descriptor_<crate>` and `plugbus_vtable_<crate>`
/// (`<crate>` is the crate's name, as in `libmy_plugin.so`), so several
/// plugin crates linked statically into one binary do not collide, and a
/// loader finds them from the library's file name.
///
/// The thunks catch panics with `std::panic::catch_unwind`, so this macro
/// needs plugbus-core's `std` feature: a plugin crate depends on
/// `plugbus-core` with `features = ["std"]` (a `cdylib` links std anyway).
/// A plugin crate that also builds for `no_std` targets can put the feature
/// and this call behind a feature of its own. The plugin must be built with
/// `panic = "unwind"` (the default): with `abort`, a panic ends the process.
///
/// # Example
/// ```
/// use plugbus_core::{Flow, Message, Plugin};
///
/// struct Count(u64);
///
/// impl Plugin<u64> for Count {
///     fn handle_message(&mut self, _: &Message<u64>) -> Flow {
///         self.0 += 1;
///         Flow::Continue
///     }
/// }
///
/// fn build(config: &str) -> Result<Count, std::num::ParseIntError> {
///     config.trim().parse().map(Count)
/// }
///
/// plugbus_core::export_plugin! {
///     plugin: Count,
///     message: u64,
///     construct: build,
/// }
/// ```
#[cfg(feature = "std")]
#[macro_export]
macro_rules! export_plugin {
    (plugin: $plugin:ty, message: $message:ty, construct: $construct:expr $(,)?) => {
        const _: () = {
            struct Exported;

            impl $crate::ffi::Export for Exported {
                type Message = $message;
                type Plugin = $plugin;
                fn construct(
                    config: &::core::primitive::str,
                ) -> ::core::result::Result<$plugin, $crate::ffi::__private::String> {
                    // A function or a closure: coerced to this pointer type,
                    // which also gives a closure its parameter type. A wrong
                    // signature is a type error at the caller's expression.
                    let construct: fn(&::core::primitive::str) -> ::core::result::Result<$plugin, _> =
                        $construct;
                    $crate::ffi::Constructor::<$plugin>::construct(construct, config)
                }
            }

            #[unsafe(export_name = ::core::concat!(
                                                                "plugbus_descriptor_",
                                                                ::core::env!("CARGO_CRATE_NAME")
                                                            ))]
            static DESCRIPTOR: $crate::ffi::PluginDescriptor =
                $crate::ffi::PluginDescriptor::new::<$message>(
                    ::core::env!("CARGO_PKG_NAME"),
                    ::core::env!("CARGO_PKG_VERSION"),
                );

            #[unsafe(export_name = ::core::concat!(
                                                                "plugbus_vtable_",
                                                                ::core::env!("CARGO_CRATE_NAME")
                                                            ))]
            static VTABLE: $crate::ffi::PluginVTable = $crate::ffi::PluginVTable::new::<Exported>();
        };
    };
}

/// What `construct:` in [`export_plugin!`](crate::export_plugin) must be: a
/// function (or closure without captures) from the host's configuration
/// text to `Result<P, E>`, where `E: Display` says why the configuration was
/// refused.
///
/// # Example
/// ```
/// use plugbus_core::ffi::Constructor;
///
/// fn build(config: &str) -> Result<u32, std::num::ParseIntError> {
///     config.parse()
/// }
///
/// let construct: fn(&str) -> Result<u32, std::num::ParseIntError> = build;
/// assert_eq!(construct.construct("7"), Ok(7));
/// assert_eq!(
///     construct.construct("x"),
///     Err(String::from("invalid digit found in string"))
/// );
/// ```
#[diagnostic::on_unimplemented(
    message = "the error of `construct:` in `export_plugin!` must implement `Display`: `{Self}` returns an error that does not",
    label = "its error type must implement `std::fmt::Display`",
    note = "write `construct: MyPlugin::new` with `fn new(config: &str) -> Result<MyPlugin, E>` where `E: Display` (`String` will do)"
)]
pub trait Constructor<P> {
    /// Runs the constructor, turning its error into text for the host.
    ///
    /// # Errors
    /// The constructor's error, as its `Display` text.
    fn construct(self, config: &str) -> Result<P, String>;
}

impl<P, E: Display> Constructor<P> for fn(&str) -> Result<P, E> {
    fn construct(self, config: &str) -> Result<P, String> {
        self(config).map_err(|error| error.to_string())
    }
}

/// Exports a plugin from a dynamic library. This build of plugbus-core lacks
/// the `std` feature the generated thunks need to catch panics, so the macro
/// only reports that.
#[cfg(not(feature = "std"))]
#[macro_export]
macro_rules! export_plugin {
    ($($anything:tt)*) => {
        ::core::compile_error!(
            "plugbus_core::export_plugin! needs plugbus-core's `std` feature: its thunks catch \
             the plugin's panics with std::panic::catch_unwind"
        );
    };
}
