//! Test plugin that counts messages in a `thread_local!` with a destructor.
//! The system registers that destructor on the thread that handled a
//! message, and keeps the library mapped until the thread exits, even after
//! the host unloaded it: the loader tests use it for the library that
//! outlives its plugin.
//!
//! ```
//! use plugbus_commands::{Command, report};
//! use plugbus_core::LocalHost;
//! use plugbus_sticky::Sticky;
//!
//! let mut host = LocalHost::new();
//! host.attach(Sticky).unwrap();
//! host.send(Command::Clear).unwrap();
//! let (ask, replies) = report();
//! host.send(ask).unwrap();
//! host.run_until_idle();
//! assert_eq!(replies.try_recv().unwrap().messages, 2);
//! ```

#![forbid(unsafe_code)]

use std::cell::Cell;

use plugbus_commands::{Command, Summary};
use plugbus_core::{Flow, Message, Plugin};

/// A counter with a destructor, per thread.
struct Count(Cell<u64>);

impl Drop for Count {
    fn drop(&mut self) {
        // Only its existence matters: a destructor ties the library to the
        // thread.
        self.0.set(0);
    }
}

thread_local! {
    static COUNT: Count = const { Count(Cell::new(0)) };
}

/// Counts messages per thread; answers `Report` with the count.
#[derive(Debug, Default)]
pub struct Sticky;

impl Plugin<Command> for Sticky {
    fn handle_message(&mut self, message: &Message<Command>) -> Flow {
        let messages = COUNT.with(|count| {
            count.0.set(count.0.get() + 1);
            count.0.get()
        });
        if let Command::Report(reply) = &**message {
            reply.send(Summary::new("sticky").messages(messages));
        }
        Flow::Continue
    }

    fn name(&self) -> &str {
        "sticky"
    }
}

plugbus_core::export_plugin! {
    plugin: Sticky,
    message: Command,
    construct: |_: &str| Ok::<_, std::convert::Infallible>(Sticky),
}
