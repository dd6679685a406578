//! [`Async`]: an [`AsyncPlugin`] as a [`Plugin`] every host attaches.

use alloc::boxed::Box;
use core::fmt;
use core::future::Future;
use core::pin::pin;
use core::ptr::NonNull;
use core::task::{Context, Poll, Waker};

use super::polled::{self, PollHandler};
use super::slot::Slot;
use super::traits::AsyncPlugin;
use crate::dispatch::{QueueWork, RingWork};
use crate::lifecycle::{State, StateError};
use crate::message::Message;
use crate::plugin::{Exit, Flow, Plugin, PluginId};

/// An [`AsyncPlugin`] ready to attach: every host's `attach`,
/// `attach_with`, `attach_supervised` (a factory that returns `Async`s)
/// and `replace` take it like any plugin, and its lane awaits its handler.
///
/// While a handler's future is pending, the lane takes no other message
/// for it (under [`Overflow::Block`](crate::Overflow::Block) the sender
/// waits for it once the ring is full, as for a slow handler). The future
/// is polled on the lane with a waker that marks the lane ready: a task
/// host's lane task sleeps meanwhile, a thread host's thread parks, and
/// [`LocalHost::poll`](crate::LocalHost::poll) skips the lane until the
/// future is woken, so async plugins run without an executor too.
/// Shutdown waits for a pending future; a detach drops it.
///
/// A handler that completes without waiting costs no allocation: the
/// future is written into a block allocated once per instance.
///
/// # Example
/// ```
/// use plugbus_core::{Async, AsyncPlugin, AttachOptions, Flow, LocalHost, Message};
/// use plugbus_core::lifecycle::Restart;
///
/// struct Check;
/// impl AsyncPlugin<i32> for Check {
///     async fn handle_message(&mut self, message: &Message<i32>) -> Flow {
///         assert!(**message >= 0, "negative");
///         Flow::Continue
///     }
/// }
///
/// let mut host = LocalHost::new();
/// host.attach_supervised(|| Async::new(Check), AttachOptions::new().restart(Restart::OnPanic))
///     .unwrap();
/// host.send_batch([1, -2, 3]).unwrap();
/// let stats = host.shutdown()[0].stats;
/// assert_eq!((stats.handled, stats.panicked, stats.restarts), (2, 1, 1));
/// ```
pub struct Async<P> {
    /// The plugin, in a block of its own (from `Box::into_raw`): a pending
    /// future borrows it, so it must not move with `Async` (a lane may
    /// move its instance), and no `Box` may assert unique access to it
    /// meanwhile.
    plugin: NonNull<P>,
    /// The handler's future while it runs.
    slot: Slot,
    /// The waker that marks this instance's lane ready, made on its first
    /// batch.
    waker: Option<Waker>,
}

// SAFETY: `Async` owns its plugin (a `P: Send`) through the pointer, and
// its slot holds only `Send` futures; the waker is `Send`.
unsafe impl<P: Send> Send for Async<P> {}

// SAFETY: through `&Async` only `&P` is reachable (`name`, `wants`), and
// not while a future borrows the plugin; the slot and the waker are not
// touched through `&self`.
unsafe impl<P: Sync> Sync for Async<P> {}

impl<P> Async<P> {
    /// Wraps an async plugin for a host.
    pub fn new(plugin: P) -> Self {
        Async {
            plugin: NonNull::from(Box::leak(Box::new(plugin))),
            slot: Slot::new(),
            waker: None,
        }
    }

    /// The plugin itself. Outside a lane (where a user holds an `Async`)
    /// no future is pending.
    fn get(&self) -> Option<&P> {
        if self.slot.is_live() {
            return None;
        }
        // SAFETY: the block lives as long as `self`; no live future holds
        // a `&mut` to it (the slot is empty).
        Some(unsafe { self.plugin.as_ref() })
    }

    /// The plugin, for a hook: the lane calls hooks only when no future is
    /// pending; one that is (a bug) is forgotten, never run on after the
    /// plugin was touched.
    fn get_mut(&mut self) -> &mut P {
        if self.slot.is_live() {
            debug_assert!(false, "a hook ran while a handler's future was pending");
            self.slot.abandon();
        }
        // SAFETY: the block lives as long as `self`, and no live future
        // borrows it (the slot is empty).
        unsafe { self.plugin.as_mut() }
    }
}

impl<P> Drop for Async<P> {
    fn drop(&mut self) {
        // A lane cancels a pending future before it lets the message go;
        // one still here is forgotten (its borrows may be gone).
        self.slot.abandon();
        // SAFETY: from `Box::leak` in `new`, owned by `self`, no longer
        // borrowed by any future.
        drop(unsafe { Box::from_raw(self.plugin.as_ptr()) });
    }
}

/// The plugin and its slot, as the batch loops poll them.
struct Handler<'a, P> {
    plugin: NonNull<P>,
    slot: &'a mut Slot,
}

impl<M, P: AsyncPlugin<M>> PollHandler<M> for Handler<'_, P> {
    fn wants(&self, message: &M) -> bool {
        // SAFETY: the block lives as long as the `Async`; the loops ask
        // only when no future is live (none borrows the plugin).
        unsafe { self.plugin.as_ref() }.wants(message)
    }

    unsafe fn poll_message(&mut self, message: &Message<M>, cx: &mut Context<'_>) -> Poll<Flow> {
        if self.slot.is_live() {
            // SAFETY: the future borrows the plugin, in its block, and the
            // message, which the caller keeps in place (this trait method's
            // contract).
            return unsafe { self.slot.resume(cx) };
        }
        // SAFETY: as in `wants`; no future is live to borrow the plugin.
        let plugin = unsafe { &mut *self.plugin.as_ptr() };
        let future = AsyncPlugin::handle_message(plugin, message);
        // SAFETY: no future is live; the plugin stays in its block until
        // the `Async` drops (which forgets a live future), and the message
        // stays in place until the future completes or is cancelled (this
        // method's contract).
        unsafe { self.slot.start(future, cx) }
    }

    fn is_pending(&self) -> bool {
        self.slot.is_live()
    }
}

impl<M: Send + Sync + 'static, P: AsyncPlugin<M>> Plugin<M> for Async<P> {
    /// Called directly (not by a lane), runs the handler to completion on
    /// the calling thread: it parks while the future waits (with the `std`
    /// feature), or spins (without).
    fn handle_message(&mut self, message: &Message<M>) -> Flow {
        let plugin = self.get_mut();
        let mut future = pin!(AsyncPlugin::handle_message(plugin, message));
        block_on(future.as_mut())
    }

    fn name(&self) -> &str {
        match self.get() {
            Some(plugin) => plugin.name(),
            None => core::any::type_name::<P>(),
        }
    }

    /// While a future is pending (only inside a lane, which does not ask
    /// then) says yes without asking the plugin.
    fn wants(&self, message: &M) -> bool {
        self.get().is_none_or(|plugin| plugin.wants(message))
    }

    fn on_attach(&mut self, id: PluginId) {
        self.get_mut().on_attach(id);
    }

    fn on_detach(&mut self, exit: Exit) {
        self.get_mut().on_detach(exit);
    }

    fn export_state(&mut self) -> Option<State> {
        self.get_mut().export_state()
    }

    fn import_state(&mut self, state: &State) -> Result<(), StateError> {
        self.get_mut().import_state(state)
    }

    fn __run_ring(&mut self, work: RingWork<'_, '_, M>) -> Flow {
        let mut handler = Handler {
            plugin: self.plugin,
            slot: &mut self.slot,
        };
        polled::run_ring(&mut handler, &mut self.waker, work)
    }

    fn __run_queue(&mut self, work: QueueWork<'_, M>) -> Flow {
        let mut handler = Handler {
            plugin: self.plugin,
            slot: &mut self.slot,
        };
        polled::run_queue(&mut handler, &mut self.waker, work)
    }

    unsafe fn __poll_message(&mut self, message: &Message<M>, cx: &mut Context<'_>) -> Poll<Flow> {
        let mut handler = Handler {
            plugin: self.plugin,
            slot: &mut self.slot,
        };
        // SAFETY: this method's contract is `poll_message`'s.
        unsafe { handler.poll_message(message, cx) }
    }

    fn __pending(&self) -> bool {
        self.slot.is_live()
    }

    fn __cancel(&mut self) {
        // SAFETY: the lane cancels while the message the future borrows is
        // still where it was (before it commits past it or pops it), and
        // the plugin is in its block.
        unsafe { self.slot.cancel() }
    }
}

/// Polls `future` until it completes on this thread.
fn block_on<F: Future<Output = Flow>>(mut future: core::pin::Pin<&mut F>) -> Flow {
    #[cfg(feature = "std")]
    {
        extern crate std;
        struct Unpark(std::thread::Thread);
        impl alloc::task::Wake for Unpark {
            fn wake(self: alloc::sync::Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(alloc::sync::Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(flow) = future.as_mut().poll(&mut cx) {
                return flow;
            }
            std::thread::park();
        }
    }
    #[cfg(not(feature = "std"))]
    {
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(flow) = future.as_mut().poll(&mut cx) {
                return flow;
            }
            core::hint::spin_loop();
        }
    }
}

impl<P> fmt::Debug for Async<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Async")
            .field("plugin", &core::any::type_name::<P>())
            .field("pending", &self.slot.is_live())
            .finish_non_exhaustive()
    }
}
