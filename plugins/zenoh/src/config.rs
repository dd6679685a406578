//! [`Config`]: what a [`Link`](crate::Link) joins, as a typed builder or
//! as the configuration text a dynamic plugin receives.

use core::fmt;
use core::str::FromStr;

use crate::wire::Origin;

/// Where and how a host joins zenoh.
///
/// Built in code:
/// ```
/// use plugbus_zenoh::{Config, Congestion};
///
/// let config = Config::new()
///     .key("demo/numbers")
///     .listen("tcp/127.0.0.1:7447")
///     .congestion(Congestion::Block);
/// ```
/// or read from text (the configuration string of the dynamic plugin):
/// whitespace-separated `name=value` options, where `listen` and `connect`
/// may repeat.
/// ```
/// use plugbus_zenoh::{Config, Mode};
///
/// let config: Config = "key=demo/numbers connect=tcp/127.0.0.1:7447 mode=client".parse()?;
/// assert_eq!(config.mode_of(), Mode::Client);
/// assert!("key=demo wat=1".parse::<Config>().is_err());
/// # Ok::<(), plugbus_zenoh::ConfigError>(())
/// ```
///
/// | option | meaning | default |
/// |---|---|---|
/// | `key` | the key expression the publisher puts on | none: no publisher |
/// | `subscribe` | the key expression a source listens to | `key` |
/// | `listen` | an endpoint to accept connections on, e.g. `tcp/127.0.0.1:7447` | zenoh's (peer mode: any interface, a free port) |
/// | `connect` | an endpoint to connect to | none |
/// | `mode` | `peer` or `client` | `peer` |
/// | `congestion` | `block` (the publisher waits, nothing is lost) or `drop` (zenoh may drop when its queue is full; receivers count the gaps) | `block` |
/// | `relay` | `true`: the publisher also republishes what arrived from the network, under its original origin and sequence | `false` |
/// | `origin` | this host's origin, 16 hexadecimal digits (share one between a host's source and a dynamically loaded publisher) | random |
/// | `scouting` | `multicast` turns zenoh's multicast discovery on | `off`: only the endpoints named |
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub(crate) key: Option<String>,
    pub(crate) subscribe: Option<String>,
    pub(crate) listen: Vec<String>,
    pub(crate) connect: Vec<String>,
    pub(crate) mode: Mode,
    pub(crate) congestion: Congestion,
    pub(crate) relay: bool,
    pub(crate) origin: Option<Origin>,
    pub(crate) multicast_scouting: bool,
}

/// zenoh's role for this host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Connects to other peers directly (and learns of more through them).
    #[default]
    Peer,
    /// Connects to one router or peer, which forwards for it.
    Client,
}

/// What the publisher does when zenoh's queue towards a subscriber is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Congestion {
    /// Wait: the publishing plugin's lane waits, its host's overflow policy
    /// applies, nothing is lost.
    #[default]
    Block,
    /// Drop the message in zenoh (it does not say which); receivers see
    /// the hole in the sequence and count it as a gap.
    Drop,
}

impl Config {
    /// No key, no endpoints, peer mode, `Block`, no relay, a random origin,
    /// scouting off.
    pub fn new() -> Self {
        Config::default()
    }

    /// The key expression the publisher puts on (and a source subscribes to
    /// unless [`subscribe`](Config::subscribe) says otherwise).
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// The key expression sources subscribe to, e.g. `demo/**`.
    pub fn subscribe(mut self, key: impl Into<String>) -> Self {
        self.subscribe = Some(key.into());
        self
    }

    /// Adds an endpoint to listen on, e.g. `tcp/127.0.0.1:7447`.
    pub fn listen(mut self, endpoint: impl Into<String>) -> Self {
        self.listen.push(endpoint.into());
        self
    }

    /// Adds an endpoint to connect to; zenoh retries in the background
    /// until it answers.
    pub fn connect(mut self, endpoint: impl Into<String>) -> Self {
        self.connect.push(endpoint.into());
        self
    }

    /// Peer or client.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// `Block` (the default) or `Drop`.
    pub fn congestion(mut self, congestion: Congestion) -> Self {
        self.congestion = congestion;
        self
    }

    /// Whether the publisher republishes what arrived from the network.
    pub fn relay(mut self, relay: bool) -> Self {
        self.relay = relay;
        self
    }

    /// This host's origin instead of a random one.
    pub fn origin(mut self, origin: Origin) -> Self {
        self.origin = Some(origin);
        self
    }

    /// Turns zenoh's multicast scouting on (off by default: a link joins
    /// only the endpoints it names).
    pub fn multicast_scouting(mut self, on: bool) -> Self {
        self.multicast_scouting = on;
        self
    }

    /// The mode set.
    pub fn mode_of(&self) -> Mode {
        self.mode
    }

    /// The text form, which [`FromStr`] reads back.
    pub fn to_text(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut words: Vec<String> = Vec::new();
        if let Some(key) = &self.key {
            words.push(format!("key={key}"));
        }
        if let Some(key) = &self.subscribe {
            words.push(format!("subscribe={key}"));
        }
        words.extend(self.listen.iter().map(|e| format!("listen={e}")));
        words.extend(self.connect.iter().map(|e| format!("connect={e}")));
        if self.mode == Mode::Client {
            words.push("mode=client".into());
        }
        if self.congestion == Congestion::Drop {
            words.push("congestion=drop".into());
        }
        if self.relay {
            words.push("relay=true".into());
        }
        if let Some(origin) = self.origin {
            words.push(format!("origin={origin}"));
        }
        if self.multicast_scouting {
            words.push("scouting=multicast".into());
        }
        f.write_str(&words.join(" "))
    }
}

impl FromStr for Config {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, ConfigError> {
        let mut config = Config::new();
        for word in text.split_whitespace() {
            let Some((name, value)) = word.split_once('=') else {
                return Err(ConfigError::MissingValue {
                    option: word.to_owned(),
                });
            };
            let bad = |expected: &'static str| ConfigError::BadValue {
                option: name.to_owned(),
                value: value.to_owned(),
                expected,
            };
            if value.is_empty() {
                return Err(ConfigError::MissingValue {
                    option: name.to_owned(),
                });
            }
            match name {
                "key" => config.key = Some(value.to_owned()),
                "subscribe" => config.subscribe = Some(value.to_owned()),
                "listen" => config.listen.push(value.to_owned()),
                "connect" => config.connect.push(value.to_owned()),
                "mode" => {
                    config.mode = match value {
                        "peer" => Mode::Peer,
                        "client" => Mode::Client,
                        _ => return Err(bad("peer or client")),
                    }
                }
                "congestion" => {
                    config.congestion = match value {
                        "block" => Congestion::Block,
                        "drop" => Congestion::Drop,
                        _ => return Err(bad("block or drop")),
                    }
                }
                "relay" => {
                    config.relay = match value {
                        "true" => true,
                        "false" => false,
                        _ => return Err(bad("true or false")),
                    }
                }
                "origin" => {
                    config.origin = Some(
                        value
                            .parse()
                            .map_err(|_| bad("up to 16 hexadecimal digits"))?,
                    )
                }
                "scouting" => {
                    config.multicast_scouting = match value {
                        "multicast" => true,
                        "off" => false,
                        _ => return Err(bad("multicast or off")),
                    }
                }
                _ => {
                    return Err(ConfigError::UnknownOption {
                        option: name.to_owned(),
                    });
                }
            }
        }
        Ok(config)
    }
}

/// Configuration text that does not read as a [`Config`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// An option this crate does not know.
    UnknownOption {
        /// The option's name.
        option: String,
    },
    /// An option without `=value`, or with an empty value.
    MissingValue {
        /// The option's name.
        option: String,
    },
    /// A value the option does not take.
    BadValue {
        /// The option's name.
        option: String,
        /// The value given.
        value: String,
        /// What it takes.
        expected: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::UnknownOption { option } => write!(f, "unknown option {option:?}"),
            ConfigError::MissingValue { option } => write!(f, "option {option:?} needs a value"),
            ConfigError::BadValue {
                option,
                value,
                expected,
            } => {
                write!(f, "option {option:?} takes {expected}, not {value:?}")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_reads_back() {
        let config = Config::new()
            .key("a/b")
            .subscribe("a/**")
            .listen("tcp/127.0.0.1:1")
            .connect("tcp/127.0.0.1:2")
            .connect("tcp/127.0.0.1:3")
            .mode(Mode::Client)
            .congestion(Congestion::Drop)
            .relay(true)
            .origin(Origin::from_u64(0xab))
            .multicast_scouting(true);
        assert_eq!(config.to_text().parse::<Config>(), Ok(config));
        assert_eq!("".parse::<Config>(), Ok(Config::new()));
    }

    #[test]
    fn bad_text_names_its_cause() {
        let error = |text: &str| text.parse::<Config>().unwrap_err().to_string();
        assert_eq!(error("key=a wat=1"), r#"unknown option "wat""#);
        assert_eq!(error("relay"), r#"option "relay" needs a value"#);
        assert_eq!(error("key="), r#"option "key" needs a value"#);
        assert_eq!(
            error("mode=router"),
            r#"option "mode" takes peer or client, not "router""#
        );
        assert_eq!(
            error("origin=xyz"),
            r#"option "origin" takes up to 16 hexadecimal digits, not "xyz""#
        );
    }
}
