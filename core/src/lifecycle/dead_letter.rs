//! A message no instance of a plugin could handle.

use alloc::string::String;
use core::fmt;

use crate::message::Message;
use crate::plugin::PluginId;

/// A message whose handling panicked on a supervised plugin, with the
/// panic's text. The lane does not hand it to the restarted instance (a
/// message that panics once is likely to panic again, and a restart loop
/// would never get past it); it counts it as dead-lettered and, if the
/// plugin was attached with
/// [`AttachOptions::dead_letters`](crate::AttachOptions::dead_letters),
/// sends it there.
///
/// # Example
/// ```
/// use plugbus_core::lifecycle::{DeadLetter, Restart};
/// use plugbus_core::{outbox, AttachOptions, Flow, LocalHost, Message, Plugin};
///
/// struct Picky;
/// impl Plugin<u32> for Picky {
///     fn handle_message(&mut self, m: &Message<u32>) -> Flow {
///         assert!(**m != 13, "unlucky");
///         Flow::Continue
///     }
/// }
///
/// let (letters, dead) = outbox::<DeadLetter<u32>>(8);
/// let options = AttachOptions::new().restart(Restart::OnPanic).dead_letters(letters);
/// let mut host = LocalHost::new();
/// let id = host.attach_supervised(|| Picky, options).unwrap();
/// host.send_batch([12, 13, 14]).unwrap();
/// let reports = host.shutdown();
/// assert_eq!(reports[0].stats.handled, 2);
/// assert_eq!(reports[0].stats.dead_lettered, 1);
/// let letter = dead.try_recv().unwrap();
/// assert_eq!((letter.plugin, *letter.message, letter.panic.as_str()), (id, 13, "unlucky"));
/// ```
#[non_exhaustive]
pub struct DeadLetter<M> {
    /// The plugin it was sent to.
    pub plugin: PluginId,
    /// The message.
    pub message: Message<M>,
    /// What the panic said.
    pub panic: String,
}

impl<M: fmt::Debug> fmt::Debug for DeadLetter<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadLetter")
            .field("plugin", &self.plugin)
            .field("message", &*self.message)
            .field("panic", &self.panic)
            .finish()
    }
}
