//! `message_plugins` 0.2 from crates.io, plugbus's predecessor: its std
//! host, one thread per plugin fed by a `std::sync::mpsc::sync_channel`.

use message_plugins::{Host, Message, Plugin};

use crate::host::{BenchHost, Summer};

/// The predecessor's plugin: the same summer behind its trait.
struct Sum(Summer);

impl Plugin<u64> for Sum {
    fn handle_message(&mut self, message: Message<u64>) -> Option<u8> {
        self.0.add(*message.content);
        None
    }
}

/// `message_plugins::Host` with a given queue capacity per plugin (its
/// default is [`Host::DEFAULT_CHANNEL_CAPACITY`], 4).
pub(crate) struct Predecessor {
    host: Option<Host<u64>>,
    capacity: usize,
}

impl std::fmt::Debug for Predecessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Predecessor")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl Predecessor {
    /// A host whose plugins are attached with `attach` (the default queue).
    pub(crate) fn default_queue() -> Self {
        Predecessor {
            host: Some(Host::new()),
            capacity: Host::<u64>::DEFAULT_CHANNEL_CAPACITY,
        }
    }

    /// A host whose plugins are attached with `attach_with_capacity`.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Predecessor {
            host: Some(Host::new()),
            capacity,
        }
    }

    fn host(&mut self) -> &mut Host<u64> {
        self.host.as_mut().expect("the host is live until shutdown")
    }
}

impl BenchHost for Predecessor {
    fn attach_sum_plugins(&mut self, summers: Vec<Summer>) {
        let capacity = self.capacity;
        let host = self.host();
        for summer in summers {
            if capacity == Host::<u64>::DEFAULT_CHANNEL_CAPACITY {
                host.attach(Sum(summer));
            } else {
                host.attach_with_capacity(Sum(summer), capacity);
            }
        }
    }

    fn send(&mut self, value: u64) {
        // The predecessor ignores failed sends; the tally catches a loss.
        self.host().send(value);
    }

    fn shutdown(mut self: Box<Self>) -> Option<Vec<u64>> {
        let mut host = self.host.take().expect("shut down once");
        for result in host.end() {
            assert!(result.is_ok(), "a message_plugins plugin thread panicked");
        }
        // The predecessor counts nothing; the tally checks every plugin.
        None
    }
}
