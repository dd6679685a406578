//! Plugins registered by name, for hosts with no dynamic loader.

use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::dispatch::guard;
use crate::plugin::Plugin;

/// Builds a plugin from its configuration text.
pub type Constructor<M> = fn(config: &str) -> Result<Box<dyn Plugin<M>>, ConfigError>;

/// One named plugin constructor.
pub struct Registration<M: 'static> {
    /// The name hosts attach it by.
    pub name: &'static str,
    /// Its version, for reports.
    pub version: &'static str,
    /// Builds it from a configuration string.
    pub construct: Constructor<M>,
}

/// A table of named plugin constructors, usable in `static`s and `no_std`.
///
/// # Example
/// ```
/// use plugbus_core::registry::{ConfigError, Registration, Registry};
/// use plugbus_core::{Flow, LocalHost, Message, Plugin};
///
/// struct Scale(u32);
/// impl Plugin<u32> for Scale {
///     fn handle_message(&mut self, _: &Message<u32>) -> Flow { Flow::Continue }
/// }
///
/// fn scale(config: &str) -> Result<Box<dyn Plugin<u32>>, ConfigError> {
///     let factor = config.trim().parse().map_err(|e| ConfigError::new(format!("factor: {e}")))?;
///     Ok(Box::new(Scale(factor)))
/// }
///
/// static PLUGINS: Registry<u32> = Registry::new(&[
///     Registration { name: "scale", version: "1.0.0", construct: scale },
/// ]);
///
/// let mut host = LocalHost::new();
/// host.attach(PLUGINS.construct("scale", "3").unwrap()).unwrap();
/// assert!(PLUGINS.construct("scale", "three").is_err());
/// assert!(PLUGINS.construct("nope", "").is_err());
/// ```
pub struct Registry<M: 'static> {
    entries: &'static [Registration<M>],
}

impl<M: 'static> Registry<M> {
    /// A registry over a static table. If two entries share a name, the
    /// first wins.
    pub const fn new(entries: &'static [Registration<M>]) -> Self {
        Registry { entries }
    }

    /// The registered entries.
    pub fn entries(&self) -> &'static [Registration<M>] {
        self.entries
    }

    /// The entry with this name.
    pub fn get(&self, name: &str) -> Option<&'static Registration<M>> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// Builds the plugin registered as `name` from `config`.
    ///
    /// # Errors
    /// [`RegistryError::Unknown`] for a name not in the table (listing the
    /// known ones), [`RegistryError::Config`] when the constructor refuses
    /// the configuration, [`RegistryError::Panicked`] when it panics (with
    /// the `std` feature; otherwise a panic is not caught).
    pub fn construct(&self, name: &str, config: &str) -> Result<Box<dyn Plugin<M>>, RegistryError> {
        let entry = self.get(name).ok_or_else(|| RegistryError::Unknown {
            name: name.to_owned(),
            known: self.entries.iter().map(|e| e.name).collect(),
        })?;
        match guard::guard(|| (entry.construct)(config)) {
            Ok(Ok(plugin)) => Ok(plugin),
            Ok(Err(error)) => Err(RegistryError::Config {
                plugin: entry.name,
                error,
            }),
            Err(message) => Err(RegistryError::Panicked {
                plugin: entry.name,
                message,
            }),
        }
    }
}

impl<M: 'static> fmt::Debug for Registration<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("name", &self.name)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl<M: 'static> fmt::Debug for Registry<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| e.name))
            .finish()
    }
}

/// A constructor's refusal of its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(String);

impl ConfigError {
    /// A refusal with this reason.
    pub fn new(reason: impl Into<String>) -> Self {
        ConfigError(reason.into())
    }

    /// The reason.
    pub fn reason(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl core::error::Error for ConfigError {}

/// A plugin that could not be built from the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryError {
    /// No plugin has this name.
    Unknown {
        /// The name asked for.
        name: String,
        /// The names the registry has.
        known: Vec<&'static str>,
    },
    /// The constructor refused the configuration.
    Config {
        /// The plugin's name.
        plugin: &'static str,
        /// Its reason.
        error: ConfigError,
    },
    /// The constructor panicked.
    Panicked {
        /// The plugin's name.
        plugin: &'static str,
        /// The panic message.
        message: String,
    },
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::Unknown { name, known } => {
                write!(f, "no plugin named `{name}` is registered (known: ")?;
                for (i, known) in known.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(known)?;
                }
                f.write_str(")")
            }
            RegistryError::Config { plugin, error } => {
                write!(f, "plugin `{plugin}` refused its configuration: {error}")
            }
            RegistryError::Panicked { plugin, message } => {
                write!(f, "plugin `{plugin}` panicked while being built: {message}")
            }
        }
    }
}

/// The refusal is part of the message ("plugin `x` refused its
/// configuration: reason"), so `source()` is `None`: a report that prints
/// the chain says the reason once.
impl core::error::Error for RegistryError {}
