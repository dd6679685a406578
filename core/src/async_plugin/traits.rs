//! The [`AsyncPlugin`] trait.

use core::future::Future;

use crate::lifecycle::{State, StateError};
use crate::message::Message;
use crate::plugin::{Exit, Flow, Plugin, PluginId};

/// A plugin whose handler may wait: for I/O, a timer, another task.
///
/// The same as [`Plugin`] with an `async` handler; write it as
/// `async fn handle_message`. Its lane runs it like any other: the next
/// message is handled once the previous handler's future has completed,
/// so `&mut self` needs no lock; the ring, the overflow policies, the
/// counters, restarts and shutdown (which waits for a pending future) are
/// the same. Attach it wrapped in [`Async`](crate::Async) on any host. A panic while the
/// future is polled is caught on the lane like a handler's.
///
/// Every [`Plugin`] is an `AsyncPlugin` (its handler completes without
/// waiting), so code written for async plugins takes synchronous ones too.
///
/// The future must be `Send`: a lane may run on a thread pool (tokio's,
/// smol's), and the future moves with it.
///
/// # Example
/// ```
/// use plugbus_core::{Async, AsyncPlugin, Flow, LocalHost, Message};
///
/// struct Sum(u64);
///
/// impl AsyncPlugin<u64> for Sum {
///     async fn handle_message(&mut self, message: &Message<u64>) -> Flow {
///         // An `.await` on I/O or a timer goes here.
///         self.0 += **message;
///         Flow::Continue
///     }
/// }
///
/// let mut host = LocalHost::new();
/// host.attach(Async::new(Sum(0))).unwrap();
/// host.send(2).unwrap();
/// host.send(40).unwrap();
/// assert_eq!(host.shutdown()[0].stats.handled, 2);
/// ```
pub trait AsyncPlugin<M>: Send + 'static {
    /// Handles one message; the result says whether to stay attached. The
    /// lane handles no other message until the future completes.
    fn handle_message(&mut self, message: &Message<M>) -> impl Future<Output = Flow> + Send;

    /// As [`Plugin::name`].
    fn name(&self) -> &str {
        core::any::type_name::<Self>()
    }

    /// As [`Plugin::wants`].
    fn wants(&self, message: &M) -> bool {
        let _ = message;
        true
    }

    /// As [`Plugin::on_attach`].
    fn on_attach(&mut self, id: PluginId) {
        let _ = id;
    }

    /// As [`Plugin::on_detach`]. A detach or a panic drops a pending
    /// handler future first.
    fn on_detach(&mut self, exit: Exit) {
        let _ = exit;
    }

    /// As [`Plugin::export_state`]: never called while a handler's future
    /// is pending (replacements wait for it).
    fn export_state(&mut self) -> Option<State> {
        None
    }

    /// As [`Plugin::import_state`].
    ///
    /// # Errors
    /// Why the state was not taken.
    fn import_state(&mut self, state: &State) -> Result<(), StateError> {
        Err(StateError::unknown_version(state))
    }
}

/// Every synchronous plugin is an async one whose handler never waits.
impl<M, P: Plugin<M>> AsyncPlugin<M> for P {
    fn handle_message(&mut self, message: &Message<M>) -> impl Future<Output = Flow> + Send {
        core::future::ready(Plugin::handle_message(self, message))
    }
    fn name(&self) -> &str {
        Plugin::name(self)
    }
    fn wants(&self, message: &M) -> bool {
        Plugin::wants(self, message)
    }
    fn on_attach(&mut self, id: PluginId) {
        Plugin::on_attach(self, id);
    }
    fn on_detach(&mut self, exit: Exit) {
        Plugin::on_detach(self, exit);
    }
    fn export_state(&mut self) -> Option<State> {
        Plugin::export_state(self)
    }
    fn import_state(&mut self, state: &State) -> Result<(), StateError> {
        Plugin::import_state(self, state)
    }
}
