//! The host's side: a question being asked, and sending its envelope.

use alloc::sync::Arc;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::answers::Answers;
use super::reply::{Deadline, Shared};
use super::request::Request;
use crate::dispatch::Bus;
use crate::error::{SendError, TrySendError};
use crate::message::Message;
use crate::ring::Storage;
use crate::task::Room;

#[cfg(feature = "std")]
extern crate std;

/// A question on its way: made by a host's `ask` with the envelope to
/// send, then waited on until every plugin asked has settled or the
/// deadline passes, then [`finish`](Asking::finish)ed into [`Answers`].
/// Hosts use it; users call their host's `ask`.
///
/// # Example
/// What `ask` does on a host, step by step, on a bare [`Bus`]:
/// ```
/// use plugbus_core::ask::{Asking, Request};
/// use plugbus_core::{AttachOptions, Bus, Flow, Message, Plugin, PluginId};
///
/// struct Echo(Option<PluginId>);
/// impl Plugin<Request<u8, u8>> for Echo {
///     fn on_attach(&mut self, id: PluginId) {
///         self.0 = Some(id);
///     }
///     fn handle_message(&mut self, request: &Message<Request<u8, u8>>) -> Flow {
///         let _ = request.answer(self.0.unwrap(), *request.question());
///         Flow::Continue
///     }
/// }
///
/// let bus = Bus::with_capacity(8);
/// let mut lane = bus.attach(Echo(None), AttachOptions::new())?;
/// let (asking, message) = Asking::new(&bus, |request| request, 7, None);
/// plugbus_core::ask::send_with(&bus, message, |_| {}).unwrap();
/// assert!(!asking.is_done());
/// lane.run(16);
/// assert!(asking.is_done());
/// let answers = asking.finish();
/// assert_eq!(answers.get(lane.id()), Some(&7));
/// # Ok::<(), plugbus_core::AttachError>(())
/// ```
pub struct Asking<A> {
    shared: Arc<Shared<A>>,
}

impl<A: Send + Sync + 'static> Asking<A> {
    /// A question to the plugins attached to `bus` now, and its envelope:
    /// `make` puts the [`Request`] into a message. With `std`, `deadline`
    /// is the instant after which answers are late (`None`: none; the
    /// asker then decides alone when to stop waiting). Without `std` it is
    /// always `None`.
    pub fn new<M, S, Q>(
        bus: &Bus<M, S>,
        make: impl FnOnce(Request<Q, A>) -> M,
        question: Q,
        deadline: Deadline,
    ) -> (Self, Message<M>)
    where
        M: Send + Sync + 'static,
        S: Storage<M>,
    {
        let asked = bus.plugins().into_iter().map(|plugin| plugin.id);
        let shared = Shared::new(asked, deadline);
        let hook = shared.hook();
        // SAFETY: `shared` is live and typed for `A`; the request and the
        // envelope retain it.
        let request = unsafe { Request::new(hook, question) };
        let message = Message::with_hook(make(request), hook);
        (Asking { shared }, message)
    }

    /// Whether every plugin asked has settled (answered, declined or
    /// panicked), or the deadline has passed.
    pub fn is_done(&self) -> bool {
        self.shared.is_done()
    }

    /// Resolves once [`is_done`](Asking::is_done) would say true, woken by
    /// the plugins. Nothing wakes it at the deadline: a host races it with
    /// a timer.
    pub fn done(&self) -> Done<'_, A> {
        Done { asking: self }
    }

    /// The deadline given to [`new`](Asking::new).
    #[cfg(feature = "std")]
    pub fn deadline(&self) -> Option<std::time::Instant> {
        self.shared.deadline()
    }

    /// Waits on the calling thread until [`is_done`](Asking::is_done)
    /// would say true.
    #[cfg(feature = "std")]
    pub fn wait_blocking(&self) {
        use std::time::Instant;

        struct Unpark(std::thread::Thread);
        impl std::task::Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = core::task::Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        while self.shared.poll_done(&mut cx).is_pending() {
            match self.deadline() {
                Some(deadline) => {
                    std::thread::park_timeout(deadline.saturating_duration_since(Instant::now()));
                }
                None => std::thread::park(),
            }
        }
    }

    /// Closes the question and returns what it collected. Answers that come
    /// after this are late.
    pub fn finish(self) -> Answers<A> {
        self.shared.finish()
    }
}

impl<A> fmt::Debug for Asking<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Asking").finish_non_exhaustive()
    }
}

/// The future of [`Asking::done`].
#[must_use = "futures do nothing unless polled"]
pub struct Done<'a, A> {
    asking: &'a Asking<A>,
}

impl<A: Send + Sync + 'static> Future for Done<'_, A> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.asking.shared.poll_done(cx)
    }
}

impl<A> fmt::Debug for Done<'_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Done")
    }
}

/// The value of a question's envelope that was not sent.
fn question_value<M>(message: Message<M>) -> M {
    match Message::unwrap_own(message) {
        Ok(value) => value,
        Err(_) => unreachable!("an unpublished question has a single reference"),
    }
}

/// Sends a question's envelope, calling `wait` whenever a `Block` plugin is
/// full and retrying after it returns, as [`Bus::send_with`] does.
///
/// # Errors
/// As [`Bus::send_with`], with the message handed back.
pub fn send_with<M: Send + Sync + 'static, S: Storage<M>>(
    bus: &Bus<M, S>,
    mut message: Message<M>,
    mut wait: impl FnMut(&Bus<M, S>),
) -> Result<(), SendError<M>> {
    loop {
        match bus.try_send_message(message) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(back)) => {
                message = back;
                wait(bus);
            }
            Err(TrySendError::Failed(error)) => return Err(error.map(question_value)),
        }
    }
}

/// Sends a question's envelope, awaiting room under `Block`.
///
/// # Errors
/// As [`send_with`].
pub async fn send<M: Send + Sync + 'static, S: Storage<M>>(
    bus: &Bus<M, S>,
    mut message: Message<M>,
) -> Result<(), SendError<M>> {
    loop {
        match bus.try_send_message(message) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(back)) => {
                message = back;
                Room::new(bus).await;
            }
            Err(TrySendError::Failed(error)) => return Err(error.map(question_value)),
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use alloc::vec;
    use core::time::Duration;

    use super::*;
    use crate::LocalHost;
    use crate::ask::Request;
    use crate::error::SendError;
    use crate::plugin::{Flow, Plugin};
    use crate::policy::{AttachOptions, Overflow};

    enum Msg {
        Plain,
        Ask(Request<u32, u32>),
    }

    struct Quiet;
    impl Plugin<Msg> for Quiet {
        fn handle_message(&mut self, _: &Message<Msg>) -> Flow {
            Flow::Continue
        }
    }

    /// A question a full `Reject` plugin refuses comes back in the send's
    /// error with its message; its envelope and hook are freed with it.
    #[test]
    fn a_refused_question_comes_back_in_the_error() {
        let mut host = LocalHost::with_capacity(4);
        let full = host
            .attach_with(
                Quiet,
                AttachOptions::new().overflow(Overflow::Reject).capacity(1),
            )
            .unwrap();
        // Fills it: the lanes do not run until `ask`.
        assert!(host.try_send(Msg::Plain).is_ok());
        match host.ask(Msg::Ask, 7, Duration::from_secs(5)) {
            Err(SendError::Rejected {
                value: Msg::Ask(request),
                refused,
            }) => {
                assert_eq!(*request.question(), 7);
                assert_eq!(refused, vec![full]);
            }
            Err(other) => panic!("expected Rejected, got {other}"),
            Ok(answers) => panic!("expected Rejected, got {answers:?}"),
        }
        assert_eq!(host.run_until_idle(), 1);
    }
}
