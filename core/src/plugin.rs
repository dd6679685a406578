//! The [`Plugin`] trait and what its handler returns.

use crate::dispatch::{QueueWork, RingWork};
use crate::lifecycle::{State, StateError};
use crate::message::Message;

/// A plugin: state that receives every broadcast message on its own lane.
///
/// A lane owns its plugin and calls its methods one at a time, so `&mut self`
/// needs no lock; different plugins run at the same time on different lanes.
/// The message is lent: a plugin that wants to keep one clones the envelope
/// (one atomic increment), which is cheaper than every delivery paying it.
///
/// # Panics
/// A panic in any method, or in the plugin's `Drop`, is caught on its lane
/// (with `plugbus-core`'s `std` feature, which every host enables): the
/// plugin is detached and its [`Report`](crate::Report) says
/// [`Exit::Panicked`] with the panic's message; the host and the other
/// plugins go on. That holds even for a panic payload whose own `Drop`
/// panics (it is forgotten). One panic is not caught: in the `Drop` of a
/// *message* value, which runs wherever the last [`Message`] goes and
/// aborts the process (see [`Message`]).
///
/// # Example
/// ```
/// use plugbus_core::{Flow, LocalHost, Message, Plugin};
///
/// struct Sum(u64);
///
/// impl Plugin<u64> for Sum {
///     fn handle_message(&mut self, message: &Message<u64>) -> Flow {
///         self.0 += **message;
///         Flow::Continue
///     }
/// }
///
/// let mut host = LocalHost::new();
/// host.attach(Sum(0)).unwrap();
/// host.send(2).unwrap();
/// host.send(40).unwrap();
/// let reports = host.shutdown();
/// assert_eq!(reports[0].stats.handled, 2);
/// ```
pub trait Plugin<M>: Send + 'static {
    /// Handles one message; the result says whether to stay attached.
    fn handle_message(&mut self, message: &Message<M>) -> Flow;

    /// The name reports and errors use. Defaults to the type's name.
    fn name(&self) -> &str {
        core::any::type_name::<Self>()
    }

    /// Interest filter, run on the plugin's lane before [`handle_message`]:
    /// a message it declines is counted as filtered and not handled.
    ///
    /// [`handle_message`]: Plugin::handle_message
    fn wants(&self, message: &M) -> bool {
        let _ = message;
        true
    }

    /// Called on the plugin's lane once it is attached, before any message.
    fn on_attach(&mut self, id: PluginId) {
        let _ = id;
    }

    /// Called on the plugin's lane when it leaves the host, unless it panicked.
    /// An instance that the host replaces with another gets
    /// [`Exit::Replaced`].
    fn on_detach(&mut self, exit: Exit) {
        let _ = exit;
    }

    /// The state to hand to the instance that replaces this one (the
    /// host's `replace` or `reload`), called on the lane between two
    /// messages, before [`on_detach`](Plugin::on_detach). `None`, the
    /// default, hands nothing over: the new instance starts fresh. Never
    /// called on an instance that panicked (its state may be half-changed).
    ///
    /// # Example
    /// ```
    /// use plugbus_core::lifecycle::{State, StateError};
    /// use plugbus_core::{Flow, Message, Plugin};
    ///
    /// #[derive(Default)]
    /// struct Count(u64);
    ///
    /// impl Plugin<u32> for Count {
    ///     fn handle_message(&mut self, _: &Message<u32>) -> Flow {
    ///         self.0 += 1;
    ///         Flow::Continue
    ///     }
    ///     fn export_state(&mut self) -> Option<State> {
    ///         Some(State::new(1, self.0.to_le_bytes().to_vec()))
    ///     }
    ///     fn import_state(&mut self, state: &State) -> Result<(), StateError> {
    ///         match (state.version(), <[u8; 8]>::try_from(state.bytes())) {
    ///             (1, Ok(bytes)) => Ok(self.0 = u64::from_le_bytes(bytes)),
    ///             (1, Err(_)) => Err(StateError::invalid(state, "not 8 bytes")),
    ///             _ => Err(StateError::unknown_version(state)),
    ///         }
    ///     }
    /// }
    ///
    /// let mut old = Count(41);
    /// let mut new = Count::default();
    /// new.import_state(&old.export_state().unwrap()).unwrap();
    /// assert_eq!(new.0, 41);
    /// ```
    fn export_state(&mut self) -> Option<State> {
        None
    }

    /// Takes the state the instance it replaces exported, on the lane,
    /// before [`on_attach`](Plugin::on_attach). An error says why it does
    /// not understand the state (an unknown version, bytes that do not
    /// read); the instance then starts fresh and the lane's report says
    /// so. The default refuses every state as of an unknown version.
    ///
    /// # Errors
    /// Why the state was not taken.
    fn import_state(&mut self, state: &State) -> Result<(), StateError> {
        Err(StateError::unknown_version(state))
    }

    /// How a lane runs a batch of ring messages through this plugin: the
    /// filter, then the handler, per message. Not part of the API: only
    /// [`Async`](crate::Async) runs a batch its own way (its handler may
    /// wait). A default method, so the loop is compiled for each plugin's
    /// type and a `Box<dyn Plugin<M>>` pays one indirect call per batch.
    #[doc(hidden)]
    fn __run_ring(&mut self, work: RingWork<'_, '_, M>) -> Flow
    where
        M: Send + Sync + 'static,
    {
        crate::dispatch::run_ring(self, work)
    }

    /// As [`__run_ring`](Plugin::__run_ring) for a lossy lane's queue.
    #[doc(hidden)]
    fn __run_queue(&mut self, work: QueueWork<'_, M>) -> Flow
    where
        M: Send + Sync + 'static,
    {
        crate::dispatch::run_queue(self, work)
    }

    /// Starts handling `message`, or polls the handler started on it
    /// before if that is pending: a synchronous plugin completes at once.
    /// For a dynamic library's thunk, which the host's lane polls.
    ///
    /// # Safety
    /// If it returns `Pending`, `message` stays valid and in place until
    /// it returns `Ready` or [`__cancel`](Plugin::__cancel) is called.
    #[doc(hidden)]
    unsafe fn __poll_message(
        &mut self,
        message: &Message<M>,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<Flow> {
        let _ = cx;
        core::task::Poll::Ready(self.handle_message(message))
    }

    /// Whether a handler's future is still pending: the lane then takes no
    /// message and calls no hook until it completes or is cancelled.
    #[doc(hidden)]
    fn __pending(&self) -> bool {
        false
    }

    /// Drops a pending handler's future (detach, panic, a runtime that
    /// goes away) before its message may be freed.
    #[doc(hidden)]
    fn __cancel(&mut self) {}
}

/// A boxed plugin is a plugin: `Box<dyn Plugin<M>>` (a dynamic plugin, the
/// registry's) and `Box<P>` both attach like `P`.
impl<M: 'static, P: Plugin<M> + ?Sized> Plugin<M> for alloc::boxed::Box<P> {
    fn handle_message(&mut self, message: &Message<M>) -> Flow {
        (**self).handle_message(message)
    }
    fn name(&self) -> &str {
        (**self).name()
    }
    fn wants(&self, message: &M) -> bool {
        (**self).wants(message)
    }
    fn on_attach(&mut self, id: PluginId) {
        (**self).on_attach(id)
    }
    fn on_detach(&mut self, exit: Exit) {
        (**self).on_detach(exit)
    }
    fn export_state(&mut self) -> Option<State> {
        (**self).export_state()
    }
    fn import_state(&mut self, state: &State) -> Result<(), StateError> {
        (**self).import_state(state)
    }
    fn __run_ring(&mut self, work: RingWork<'_, '_, M>) -> Flow
    where
        M: Send + Sync + 'static,
    {
        (**self).__run_ring(work)
    }
    fn __run_queue(&mut self, work: QueueWork<'_, M>) -> Flow
    where
        M: Send + Sync + 'static,
    {
        (**self).__run_queue(work)
    }
    unsafe fn __poll_message(
        &mut self,
        message: &Message<M>,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<Flow> {
        // SAFETY: the caller's promise, passed on.
        unsafe { (**self).__poll_message(message, cx) }
    }
    fn __pending(&self) -> bool {
        (**self).__pending()
    }
    fn __cancel(&mut self) {
        (**self).__cancel()
    }
}

/// What a handler returns: keep receiving, or leave the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use = "a Flow says whether the plugin stays attached"]
pub enum Flow {
    /// Stay attached and receive the next message.
    Continue,
    /// Detach from the host with this status; no further message is handled.
    Detach(Status),
}

/// The status a plugin detaches with, reported in its [`Report`](crate::Report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct Status(pub i32);

impl Status {
    /// The plugin finished its work.
    pub const SUCCESS: Status = Status(0);
    /// The plugin gave up.
    pub const FAILURE: Status = Status(1);
}

impl core::fmt::Display for Status {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "status {}", self.0)
    }
}

/// Why a plugin left its host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Exit {
    /// Its handler returned [`Flow::Detach`].
    Detached(Status),
    /// The host shut down after draining the plugin's queue.
    Shutdown,
    /// The host detached it with [`detach`](crate::Bus::detach).
    Removed,
    /// One of its methods panicked; the report holds the message.
    Panicked,
    /// Its supervisor restarted it more often than its
    /// [`Intensity`](crate::lifecycle::Intensity) allows, and gave up; the
    /// report's events say how often, its panics why.
    GaveUp,
    /// Given to [`Plugin::on_detach`] of an instance the host replaced with
    /// another (the lane goes on); never a report's exit.
    Replaced,
}

impl core::fmt::Display for Exit {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Exit::Detached(status) => write!(f, "detached with {status}"),
            Exit::Shutdown => f.write_str("shut down"),
            Exit::Removed => f.write_str("removed by the host"),
            Exit::Panicked => f.write_str("panicked"),
            Exit::GaveUp => f.write_str("gave up restarting"),
            Exit::Replaced => f.write_str("replaced"),
        }
    }
}

/// A plugin's id within one host, unique for the host's lifetime: ids are
/// 64-bit and never reused, so an id handed out once names one plugin only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PluginId(pub(crate) u64);

impl PluginId {
    /// The id as a number.
    pub fn get(self) -> u64 {
        self.0
    }

    /// The id with this number, as [`get`](Self::get) gave it: for a
    /// process that runs a plugin on behalf of a host in another process
    /// (an isolated plugin's runner passes on the id its host chose). An
    /// id made up here names no plugin of this process's hosts.
    ///
    /// ```
    /// # use plugbus_core::PluginId;
    /// let id = PluginId::from_raw(7);
    /// assert_eq!(id.get(), 7);
    /// ```
    pub const fn from_raw(id: u64) -> Self {
        PluginId(id)
    }
}

impl core::fmt::Display for PluginId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "#{}", self.0)
    }
}
