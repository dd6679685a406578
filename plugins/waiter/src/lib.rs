//! Example async plugin: counts numbered [`Tick`]s, and waits before each
//! one: a yield (its waker woken at once), or, every third message, a
//! waker it keeps and wakes from the next poll (a clone that outlives the
//! poll it came from, as a timer or another thread would hold one). It
//! answers [`Tick::Tally`] with its count and panics on
//! [`Tick::Poison`], after its wait.
//!
//! Exported with the same [`export_plugin!`](plugbus_core::export_plugin)
//! as a synchronous plugin: the plugin type is [`Async`]`<Waiter>`.
//!
//! ```
//! use plugbus_commands::Tick;
//! use plugbus_core::{Async, LocalHost};
//! use plugbus_waiter::Waiter;
//!
//! let mut host = LocalHost::new();
//! host.attach(Async::new(Waiter::default())).unwrap();
//! for seq in 0..10 {
//!     host.send(Tick::Seq { sender: 0, seq }).unwrap();
//! }
//! assert_eq!(host.shutdown()[0].stats.handled, 10);
//! ```

#![forbid(unsafe_code)]

use std::future::poll_fn;
use std::task::{Poll, Waker};

use plugbus_commands::{Tally, Tick};
use plugbus_core::{Async, AsyncPlugin, Flow, Message, PluginId};

/// The plugin: its count, and the wakers it keeps between polls.
#[derive(Debug, Default)]
pub struct Waiter {
    id: Option<PluginId>,
    tally: Tally,
    /// The next number expected from sender 0.
    next: u64,
}

impl Waiter {
    /// Builds one; the configuration is ignored.
    ///
    /// # Errors
    /// Never.
    pub fn new(_config: &str) -> Result<Async<Waiter>, std::convert::Infallible> {
        Ok(Async::new(Waiter::default()))
    }
}

/// Pending once. With `keep`, the waker is cloned, kept past the poll, and
/// woken (by value) from the next one, after it was cloned again and the
/// first clone dropped: every path of a waker across the boundary.
async fn wait(keep: bool) {
    let mut kept: Option<Waker> = None;
    let mut polled = false;
    poll_fn(|cx| {
        if polled {
            if let Some(waker) = kept.take() {
                let again = waker.clone();
                drop(waker);
                again.wake();
            }
            return Poll::Ready(());
        }
        polled = true;
        if keep {
            kept = Some(cx.waker().clone());
            // Another clone, woken by value (on purpose: the path of a
            // clone released by `wake`); the first stays for the next poll.
            let now = cx.waker().clone();
            now.wake();
        } else {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    })
    .await;
}

impl AsyncPlugin<Tick> for Waiter {
    fn name(&self) -> &str {
        "waiter"
    }

    fn on_attach(&mut self, id: PluginId) {
        self.id = Some(id);
    }

    async fn handle_message(&mut self, message: &Message<Tick>) -> Flow {
        match &**message {
            Tick::Seq { seq, .. } | Tick::Poison { seq, .. } => {
                let seq = *seq;
                // A heap block of the library's, alive across the wait.
                let note = format!("tick {seq}");
                wait(seq % 3 == 0).await;
                assert!(
                    !matches!(**message, Tick::Poison { .. }),
                    "poisoned at {note}"
                );
                if seq != self.next {
                    self.tally.out_of_order += 1;
                }
                self.next = seq + 1;
                self.tally.counted += 1;
            }
            Tick::Tally(request) => {
                wait(false).await;
                if let Some(id) = self.id {
                    let _ = request.answer(id, self.tally);
                }
            }
        }
        Flow::Continue
    }
}

plugbus_core::export_plugin! {
    plugin: Async<Waiter>,
    message: Tick,
    construct: Waiter::new,
}
