// `construct:` returns the plugin itself instead of a `Result`.
use plugbus_core::{Flow, Message, Plugin};

pub struct Counter(u64);

impl Counter {
    pub fn new(_config: &str) -> Counter {
        Counter(0)
    }
}

impl Plugin<u64> for Counter {
    fn handle_message(&mut self, _: &Message<u64>) -> Flow {
        self.0 += 1;
        Flow::Continue
    }
}

plugbus_core::export_plugin! {
    plugin: Counter,
    message: u64,
    construct: Counter::new,
}

fn main() {}
