// A message type without `Fingerprint` cannot be exported.
use plugbus_core::{Flow, Message, Plugin};

pub struct Reading {
    pub celsius: f32,
}

pub struct Logger;

impl Plugin<Reading> for Logger {
    fn handle_message(&mut self, _: &Message<Reading>) -> Flow {
        Flow::Continue
    }
}

plugbus_core::export_plugin! {
    plugin: Logger,
    message: Reading,
    construct: |_: &str| Ok::<_, String>(Logger),
}

fn main() {}
