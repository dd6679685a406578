//! A subscriber that keeps every `plugbus` event with its fields as text.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::{Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

/// One event: its level, its message, and every other field as text
/// (numbers in decimal, `%` fields by `Display`, `?` fields by `Debug`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Its level.
    pub level: Level,
    /// Its message.
    pub message: String,
    /// Its other fields, by name.
    pub fields: BTreeMap<String, String>,
}

impl Event {
    /// An event as a test expects it.
    pub fn new(level: Level, message: &str, fields: &[(&str, &str)]) -> Self {
        Event {
            level,
            message: message.to_owned(),
            fields: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    /// A field, or "" if it has none of that name.
    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }
}

/// Collects the events with target `plugbus`.
#[derive(Debug, Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<Event>>>);

impl Capture {
    /// A capture, and a subscriber that fills it.
    pub fn new() -> (Self, impl Subscriber + Send + Sync + 'static) {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::registry().with(capture.clone());
        (capture, subscriber)
    }

    /// Every event so far, in the order they were raised.
    pub fn events(&self) -> Vec<Event> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The events about one plugin (field `plugin`), in order.
    pub fn of_plugin(&self, name: &str) -> Vec<Event> {
        self.events()
            .into_iter()
            .filter(|e| e.field("plugin") == name)
            .collect()
    }
}

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != "plugbus" {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let message = fields.0.remove("message").unwrap_or_default();
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Event {
                level: *event.metadata().level(),
                message,
                fields: fields.0,
            });
    }
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}
