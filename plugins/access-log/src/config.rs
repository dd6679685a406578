//! The log plugins' configuration: whitespace-separated `key=value` options,
//! each for every plugin or, as `plugin.key=value`, for one.

use std::fmt;

/// A log plugin's configuration string, checked against the keys it knows.
///
/// An option `top.n=3` is for the plugin named `top` only: the others skip
/// it. So one string can configure a whole directory of plugins, each
/// loaded with the same configuration; a plugin still refuses a key of its
/// own it does not know, and an unqualified key every plugin must know.
///
/// ```
/// use plugbus_access_log::{ConfigError, Options};
///
/// let options = Options::parse("top.n=3 tail.keep=9", "top", &["n"])?;
/// assert_eq!(options.number("n", 5)?, 3);
/// assert_eq!(Options::parse("", "top", &["n"])?.number("n", 5)?, 5);
/// assert_eq!(
///     Options::parse("top.m=3", "top", &["n"]).unwrap_err().to_string(),
///     "unknown option `top.m` (known: n)"
/// );
/// # Ok::<(), ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options<'a> {
    pairs: Vec<(&'a str, &'a str)>,
}

/// A configuration the plugin cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// An option that is not `key=value`.
    NotKeyValue(String),
    /// A key the plugin does not know; the keys it knows.
    Unknown {
        /// The key given.
        key: String,
        /// The keys the plugin knows.
        known: Vec<&'static str>,
    },
    /// A value that is not a whole number from 1 up.
    NotPositive {
        /// The key.
        key: String,
        /// The value given.
        value: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NotKeyValue(option) => {
                write!(f, "option `{}` is not key=value", option.escape_debug())
            }
            ConfigError::Unknown { key, known } => write!(
                f,
                "unknown option `{}` (known: {})",
                key.escape_debug(),
                known.join(", ")
            ),
            ConfigError::NotPositive { key, value } => write!(
                f,
                "option `{key}` wants a whole number from 1 up, not `{}`",
                value.escape_debug()
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

impl<'a> Options<'a> {
    /// Splits `config` into `key=value` options and keeps those for
    /// `plugin` (`plugin.key=value`, or an unqualified `key=value`), each of
    /// which must have a key in `known`.
    ///
    /// # Errors
    /// [`ConfigError::NotKeyValue`] or [`ConfigError::Unknown`] for the
    /// first option that is wrong.
    pub fn parse(
        config: &'a str,
        plugin: &str,
        known: &[&'static str],
    ) -> Result<Self, ConfigError> {
        let mut pairs = Vec::new();
        for option in config.split_whitespace() {
            let (name, value) = option
                .split_once('=')
                .ok_or_else(|| ConfigError::NotKeyValue(option.to_owned()))?;
            let key = match name.split_once('.') {
                Some((owner, key)) if owner == plugin => key,
                Some(_) => continue,
                None => name,
            };
            if !known.contains(&key) {
                return Err(ConfigError::Unknown {
                    key: name.to_owned(),
                    known: known.to_vec(),
                });
            }
            pairs.push((key, value));
        }
        Ok(Options { pairs })
    }

    /// The last value given for `key` as a number from 1 up, or `default`.
    ///
    /// # Errors
    /// [`ConfigError::NotPositive`] if the value is not one.
    pub fn number(&self, key: &str, default: u64) -> Result<u64, ConfigError> {
        let Some(&(_, value)) = self.pairs.iter().rev().find(|(k, _)| *k == key) else {
            return Ok(default);
        };
        value
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| ConfigError::NotPositive {
                key: key.to_owned(),
                value: value.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_options_are_named() {
        assert_eq!(
            Options::parse("n", "p", &["n"]),
            Err(ConfigError::NotKeyValue("n".into()))
        );
        let zero = Options::parse("n=0", "p", &["n"]).unwrap().number("n", 1);
        assert_eq!(
            zero.unwrap_err().to_string(),
            "option `n` wants a whole number from 1 up, not `0`"
        );
        let words = Options::parse("n=ten", "p", &["n"]).unwrap().number("n", 1);
        assert!(words.is_err());
        assert_eq!(
            Options::parse(" n=1  p.n=2 ", "p", &["n"])
                .unwrap()
                .number("n", 1),
            Ok(2)
        );
    }

    #[test]
    fn other_plugins_options_are_skipped_not_checked() {
        let options = Options::parse("q.x=1 q.n=zero p.n=4", "p", &["n"]).unwrap();
        assert_eq!(options.number("n", 1), Ok(4));
        assert!(Options::parse("x=1", "p", &["n"]).is_err());
        assert!(Options::parse("q.x", "p", &["n"]).is_err());
    }
}
