//! The tally plugin, shared by both builds (`crate::BUILD` says which).

use std::fmt;

use plugbus_commands::{Tally, Tick};
use plugbus_core::lifecycle::{State, StateError};
use plugbus_core::{Flow, Message, Plugin, PluginId};

/// The one state layout both builds read: counted, skipped, out of order,
/// handovers, the number of senders, then each sender's last number
/// (`u64::MAX`: none yet); every field a little-endian `u64`.
const STATE_VERSION: u32 = 1;

/// Senders it keeps a last number for; a higher sender's messages count as
/// out of order.
const MAX_SENDERS: usize = 1024;

/// Counts numbered messages; see the crate's docs.
#[derive(Debug)]
pub struct Counter {
    id: Option<PluginId>,
    tally: Tally,
    /// The last number seen from each sender.
    last: Vec<Option<u64>>,
    /// The version its state is exported as.
    export_version: u32,
}

/// Why [`Counter::new`] refused its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CounterError {
    /// The configuration said `fail`.
    Asked,
    /// An option it does not know, or a bad number.
    Option(String),
}

impl fmt::Display for CounterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CounterError::Asked => f.write_str("refused to start: the configuration says fail"),
            CounterError::Option(option) => write!(f, "bad option `{option}`"),
        }
    }
}

impl std::error::Error for CounterError {}

impl Counter {
    /// Builds the counter from its configuration (see the crate's docs).
    ///
    /// # Errors
    /// [`CounterError::Asked`] for `fail`; [`CounterError::Option`] for
    /// anything it does not know.
    ///
    /// # Panics
    /// For `panic`, on purpose.
    pub fn new(config: &str) -> Result<Self, CounterError> {
        let mut export_version = STATE_VERSION;
        for option in config.split_whitespace() {
            match option.split_once('=') {
                None if option == "fail" => return Err(CounterError::Asked),
                None if option == "panic" => panic!("tally: panic in the constructor"),
                Some(("state-version", n)) => {
                    export_version = n
                        .parse()
                        .map_err(|_| CounterError::Option(option.to_owned()))?;
                }
                _ => return Err(CounterError::Option(option.to_owned())),
            }
        }
        Ok(Counter {
            id: None,
            tally: Tally {
                build: crate::BUILD,
                ..Tally::default()
            },
            last: Vec::new(),
            export_version,
        })
    }

    /// What it has counted so far.
    pub fn tally(&self) -> Tally {
        self.tally
    }

    fn count(&mut self, sender: u32, seq: u64) {
        self.tally.counted += 1;
        let Some(index) = usize::try_from(sender).ok().filter(|&i| i < MAX_SENDERS) else {
            self.tally.out_of_order += 1;
            return;
        };
        if self.last.len() <= index {
            self.last.resize(index + 1, None);
        }
        let expected = self.last[index].map_or(0, |last| last.saturating_add(1));
        if seq < expected {
            self.tally.out_of_order += 1;
        } else {
            self.tally.skipped += seq - expected;
            self.last[index] = Some(seq);
        }
    }
}

impl Plugin<Tick> for Counter {
    fn handle_message(&mut self, message: &Message<Tick>) -> Flow {
        match &**message {
            Tick::Seq { sender, seq } => self.count(*sender, *seq),
            Tick::Poison { sender, seq } => panic!("tally: poison {sender}/{seq}"),
            Tick::Tally(request) => {
                if let Some(id) = self.id {
                    let _ = request.answer(id, self.tally);
                }
            }
        }
        Flow::Continue
    }

    fn name(&self) -> &str {
        "tally"
    }

    fn on_attach(&mut self, id: PluginId) {
        self.id = Some(id);
    }

    fn export_state(&mut self) -> Option<State> {
        let t = self.tally;
        let mut words = vec![
            t.counted,
            t.skipped,
            t.out_of_order,
            t.handovers,
            self.last.len() as u64,
        ];
        words.extend(self.last.iter().map(|last| last.unwrap_or(u64::MAX)));
        let bytes = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        Some(State::new(self.export_version, bytes))
    }

    fn import_state(&mut self, state: &State) -> Result<(), StateError> {
        if state.version() != STATE_VERSION {
            return Err(StateError::unknown_version(state));
        }
        let bytes = state.bytes();
        if bytes.len() % 8 != 0 || bytes.len() < 5 * 8 {
            return Err(StateError::invalid(state, "not a whole number of fields"));
        }
        let words: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|w| u64::from_le_bytes(w.try_into().unwrap_or_default()))
            .collect();
        let senders = usize::try_from(words[4]).unwrap_or(usize::MAX);
        if senders > MAX_SENDERS || words.len() != 5 + senders {
            return Err(StateError::invalid(state, "sender count does not match"));
        }
        self.tally.counted = words[0];
        self.tally.skipped = words[1];
        self.tally.out_of_order = words[2];
        self.tally.handovers = words[3] + 1;
        self.last = words[5..]
            .iter()
            .map(|&last| (last != u64::MAX).then_some(last))
            .collect();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(counter: &mut Counter, sender: u32, seq: u64) {
        counter.count(sender, seq);
    }

    #[test]
    fn counts_skips_and_disorder_per_sender() {
        let mut c = Counter::new("").unwrap();
        for n in [0, 1, 3, 3, 2, 4] {
            seq(&mut c, 0, n);
        }
        seq(&mut c, 1, 5);
        let t = c.tally();
        assert_eq!((t.counted, t.skipped, t.out_of_order), (7, 1 + 5, 2));
    }

    #[test]
    fn state_round_trips_and_refuses_what_it_does_not_know() {
        let mut old = Counter::new("").unwrap();
        seq(&mut old, 2, 0);
        seq(&mut old, 2, 1);
        let state = old.export_state().unwrap();
        let mut new = Counter::new("").unwrap();
        new.import_state(&state).unwrap();
        seq(&mut new, 2, 2);
        let t = new.tally();
        assert_eq!((t.counted, t.skipped, t.handovers), (3, 0, 1));

        let mut odd = Counter::new("state-version=7").unwrap();
        let state = odd.export_state().unwrap();
        assert_eq!(
            Counter::new("").unwrap().import_state(&state),
            Err(StateError::UnknownVersion { version: 7 })
        );
        let short = State::new(1, vec![0; 12]);
        assert!(matches!(
            Counter::new("").unwrap().import_state(&short),
            Err(StateError::Invalid { version: 1, .. })
        ));
    }

    #[test]
    fn configuration_errors_are_typed() {
        assert_eq!(Counter::new("fail").unwrap_err(), CounterError::Asked);
        assert_eq!(
            Counter::new("state-version=x").unwrap_err().to_string(),
            "bad option `state-version=x`"
        );
        assert!(std::panic::catch_unwind(|| Counter::new("panic")).is_err());
    }
}
