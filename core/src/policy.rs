//! How a plugin's lane behaves when it falls behind.

use alloc::string::String;
use alloc::sync::Arc;

use crate::lifecycle::clock::SharedClock;
use crate::lifecycle::{Backoff, Clock, DeadLetter, Intensity, Restart};
use crate::outbox::Outbox;

/// What happens to a message that a full lane cannot take.
///
/// Every message a policy drops or refuses is counted in the plugin's
/// [`Stats`](crate::Stats); nothing is lost silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Overflow {
    /// The sender waits until the lane has room: nothing is lost.
    #[default]
    Block,
    /// The oldest queued message is dropped to make room for the new one.
    DropOldest,
    /// The new message is dropped for this plugin; the others still get it.
    DropNewest,
    /// The send fails for everyone and names the plugins that were full.
    Reject,
}

impl Overflow {
    /// Whether lanes with this policy read the shared ring (and so gate the
    /// sender) rather than a queue of their own.
    pub(crate) fn reads_ring(self) -> bool {
        matches!(self, Overflow::Block | Overflow::Reject)
    }
}

/// How a plugin is attached: its queue capacity, overflow policy and name,
/// and for a supervised plugin its restart policy, limits and backoff (see
/// [`lifecycle`](crate::lifecycle)).
///
/// # Example
/// ```
/// use plugbus_core::{AttachOptions, Overflow};
///
/// let options = AttachOptions::new()
///     .capacity(64)
///     .overflow(Overflow::DropOldest)
///     .name("metrics");
/// assert_eq!(options.get_capacity(), Some(64));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachOptions {
    pub(crate) capacity: Option<usize>,
    pub(crate) overflow: Overflow,
    pub(crate) name: Option<String>,
    pub(crate) restart: Restart,
    pub(crate) intensity: Intensity,
    pub(crate) backoff: Backoff,
    pub(crate) clock: Option<SharedClock>,
    pub(crate) dead_letters: Option<DeadLetters>,
}

/// A dead-letter outbox of some message type, compared by identity; the
/// host checks its type at attach.
#[derive(Clone)]
pub(crate) struct DeadLetters(Arc<dyn core::any::Any + Send + Sync>);

impl DeadLetters {
    /// The outbox, if it is for `M`.
    pub(crate) fn get<M: Send + Sync + 'static>(&self) -> Option<Outbox<DeadLetter<M>>> {
        self.0.downcast_ref::<Outbox<DeadLetter<M>>>().cloned()
    }
}

impl PartialEq for DeadLetters {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for DeadLetters {}

impl core::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Outbox")
    }
}

impl AttachOptions {
    /// The defaults: the host's ring capacity, [`Overflow::Block`], the
    /// plugin's own name.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many messages the plugin may lag behind before its policy applies.
    /// For `Block` and `Reject` it is at most the host's ring capacity.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// The overflow policy.
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// The name used in reports, instead of [`Plugin::name`](crate::Plugin::name).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// When the plugin is restarted with a fresh instance from its
    /// factory (attach it with `attach_supervised`): never (the default),
    /// after a panic, or also after it detaches with a failure status.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// How many restarts within how long before the lane gives up
    /// (default 5 in 5 seconds).
    pub fn intensity(mut self, intensity: Intensity) -> Self {
        self.intensity = intensity;
        self
    }

    /// How long to wait before each restart (default: no wait).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The clock the intensity period and the backoff are measured with.
    /// With the `std` feature the default is
    /// [`StdClock`](crate::lifecycle::StdClock); without it there is none
    /// unless given here (see [`Clock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(SharedClock(Arc::new(clock)));
        self
    }

    /// Where messages go whose handling panicked while the lane went on
    /// (restarted or rolled back the plugin), with the panic's text: see
    /// [`DeadLetter`]. The outbox must be of the host's message type, or
    /// the attach fails with
    /// [`AttachError::DeadLetters`](crate::AttachError::DeadLetters).
    pub fn dead_letters<M: Send + Sync + 'static>(mut self, outbox: Outbox<DeadLetter<M>>) -> Self {
        self.dead_letters = Some(DeadLetters(Arc::new(outbox)));
        self
    }

    /// The restart policy.
    pub fn get_restart(&self) -> Restart {
        self.restart
    }

    /// The restart limit.
    pub fn get_intensity(&self) -> Intensity {
        self.intensity
    }

    /// The backoff.
    pub fn get_backoff(&self) -> Backoff {
        self.backoff
    }

    /// The capacity asked for, if any.
    pub fn get_capacity(&self) -> Option<usize> {
        self.capacity
    }

    /// The overflow policy.
    pub fn get_overflow(&self) -> Overflow {
        self.overflow
    }
}
