//! Replacing the instance a lane runs: what to put in, and what came of it.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use super::{Factory, StateError};
use crate::dispatch::{Erased, Make, erase};
use crate::plugin::{Plugin, PluginId};
use crate::sync::Mutex;

/// A new instance for a plugin's lane, with what else changes with it: the
/// factory its later restarts use, and how long the instance before it is
/// kept for a rollback.
///
/// # Example
/// ```
/// use plugbus_core::lifecycle::Replacement;
/// use plugbus_core::{Flow, LocalHost, Message, Plugin};
///
/// struct Version(u32);
/// impl Plugin<u32> for Version {
///     fn handle_message(&mut self, _: &Message<u32>) -> Flow { Flow::Continue }
/// }
///
/// let mut host = LocalHost::new();
/// let id = host.attach(Version(1)).unwrap();
/// // Version 2 takes over; if it panics within its first 100 messages,
/// // version 1 comes back. Later restarts build version 2.
/// let replacement = Replacement::new(Version(2)).factory(|| Version(2)).rollback(100);
/// host.replace_with(id, replacement).unwrap();
/// ```
pub struct Replacement<M: Send + Sync + 'static> {
    pub(crate) instance: Erased<M>,
    pub(crate) factory: Option<Box<dyn Make<M>>>,
    pub(crate) rollback: usize,
}

impl<M: Send + Sync + 'static> Replacement<M> {
    /// `plugin` replaces the running instance; restarts keep the factory
    /// the plugin was attached with.
    pub fn new(plugin: impl Plugin<M>) -> Self {
        Replacement {
            instance: erase(plugin),
            factory: None,
            rollback: 0,
        }
    }

    /// Restarts after this build `factory`'s instances.
    #[must_use]
    pub fn factory(mut self, factory: impl Factory<M>) -> Self {
        self.factory = Some(Box::new(factory));
        self
    }

    /// Keeps the instance it replaces (and its library) until the new one
    /// has taken `messages` messages; if the new one panics before, the
    /// old one is put back, with the factory it had, and goes on from the
    /// next message; the message the new one panicked on is dead-lettered
    /// (0, the default: no rollback).
    #[must_use]
    pub fn rollback(mut self, messages: usize) -> Self {
        self.rollback = messages;
        self
    }
}

impl<M: Send + Sync + 'static> fmt::Debug for Replacement<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replacement")
            .field("factory", &self.factory.is_some())
            .field("rollback", &self.rollback)
            .finish_non_exhaustive()
    }
}

/// What a replacement did with the old instance's state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Handover {
    /// The old instance exported nothing (or there was none: the lane was
    /// waiting to restart).
    Nothing,
    /// The new instance took the state of this version.
    Taken {
        /// The state's version.
        version: u32,
    },
    /// The new instance refused it and started fresh.
    Refused(StateError),
    /// Exporting the state panicked; the new instance started fresh.
    ExportPanicked(String),
}

/// A replacement that took place.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Replaced {
    /// The plugin.
    pub id: PluginId,
    /// What became of the old instance's state.
    pub state: Handover,
}

/// Why a replacement did not take place. The old instance, if any, runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplaceError {
    /// No such plugin is attached (it left, was detached, or the host shut
    /// down before the lane came to the swap).
    NotAttached(PluginId),
    /// The new instance panicked in `import_state` or `on_attach`; it was
    /// dropped and the old one kept.
    Panicked {
        /// The plugin.
        id: PluginId,
        /// The panic's message.
        panic: String,
    },
}

impl fmt::Display for ReplaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplaceError::NotAttached(id) => write!(f, "plugin {id} is not attached"),
            ReplaceError::Panicked { id, panic } => {
                write!(
                    f,
                    "the new instance of plugin {id} panicked as it started: {panic}"
                )
            }
        }
    }
}

impl core::error::Error for ReplaceError {}

/// The outcome of a replacement, which the lane writes and the caller
/// waits for.
pub(crate) struct Outcome {
    /// The result once settled, and the waker of whoever waits for it.
    state: Mutex<(Option<Settled>, Option<Waker>)>,
}

type Settled = Result<Replaced, ReplaceError>;

impl Outcome {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Outcome {
            state: Mutex::new((None, None)),
        })
    }

    /// Settles it (once; later calls are ignored) and wakes the waiter.
    pub(crate) fn settle(&self, result: Result<Replaced, ReplaceError>) {
        let waker = {
            let mut state = self.state.lock();
            if state.0.is_some() {
                return;
            }
            state.0 = Some(result);
            state.1.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The outcome, if settled.
    pub(crate) fn take(&self) -> Option<Result<Replaced, ReplaceError>> {
        self.state.lock().0.take()
    }

    fn poll(&self, cx: &mut Context<'_>) -> Poll<Result<Replaced, ReplaceError>> {
        let mut state = self.state.lock();
        if let Some(result) = state.0.take() {
            return Poll::Ready(result);
        }
        if !state.1.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            state.1 = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// A replacement on its way to a plugin's lane, which makes the swap
/// between two batches; resolves once it did (or could not). Dropping it
/// does not cancel the replacement.
#[must_use = "the replacement happens anyway; await it to know how it went"]
pub struct Replacing {
    outcome: Arc<Outcome>,
}

impl Replacing {
    pub(crate) fn new(outcome: Arc<Outcome>) -> Self {
        Replacing { outcome }
    }

    /// Waits on the calling thread until the lane made the swap.
    ///
    /// # Errors
    /// Why it did not take place.
    #[cfg(feature = "std")]
    pub fn wait_blocking(self) -> Result<Replaced, ReplaceError> {
        extern crate std;
        struct Unpark(std::thread::Thread);
        impl std::task::Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(result) = self.outcome.poll(&mut cx) {
                return result;
            }
            std::thread::park();
        }
    }
}

impl Future for Replacing {
    type Output = Result<Replaced, ReplaceError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.outcome.poll(cx)
    }
}

impl fmt::Debug for Replacing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Replacing")
    }
}
