//! How a plugin's lane behaves when it falls behind.

use alloc::string::String;

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

/// How a plugin is attached: its queue capacity, overflow policy and name.
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

    /// The capacity asked for, if any.
    pub fn get_capacity(&self) -> Option<usize> {
        self.capacity
    }

    /// The overflow policy.
    pub fn get_overflow(&self) -> Overflow {
        self.overflow
    }
}
