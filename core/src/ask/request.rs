//! The plugin's side: a question with its reply path built in.

use core::fmt;
use core::marker::PhantomData;

use super::reply::{Code, Hook};
use crate::ffi::Fingerprint;
use crate::ffi::fingerprint::{combine_all, hash_str};
use crate::message::Message;
use crate::plugin::PluginId;

/// A question `Q` whose answers are `A`, as a host's
/// [`ask`](crate::LocalHost::ask) sends it: put it in the message type
/// (`enum Command { Summarize(Request<Query, Summary>), … }`, or the whole
/// message type) and each plugin answers through it with its id.
///
/// The reply path is a pointer to the asker's reply object, reached only
/// through the asker's functions, so a request crosses a dynamic-library
/// boundary like any message: a plugin library's answer is its own
/// envelope, freed by its allocator and keeping it loaded while the asker
/// holds it. A request is made only by `ask`; it cannot be cloned (keep the
/// [`Message`] it came in, or take a [`Responder`]).
///
/// # How the host counts answers
/// A plugin answers with [`answer`](Request::answer) while it handles the
/// question, or takes a [`Responder`] with [`defer`](Request::defer) to
/// answer later (from another thread, after an `await`, on a later
/// message). A plugin whose handler returns without either has declined,
/// and so has one whose filter ([`Plugin::wants`](crate::Plugin::wants))
/// declined the question: the host stops waiting for it. It waits for the
/// others until the timeout, then names those that had not finished.
///
/// # Example
/// ```
/// use std::time::Duration;
/// use plugbus_core::ask::Request;
/// use plugbus_core::{Flow, LocalHost, Message, Plugin, PluginId};
///
/// enum Command {
///     Add(u64),
///     Total(Request<(), u64>),
/// }
///
/// #[derive(Default)]
/// struct Sum {
///     id: Option<PluginId>,
///     total: u64,
/// }
///
/// impl Plugin<Command> for Sum {
///     fn on_attach(&mut self, id: PluginId) {
///         self.id = Some(id);
///     }
///     fn handle_message(&mut self, message: &Message<Command>) -> Flow {
///         match (&**message, self.id) {
///             (Command::Add(n), _) => self.total += n,
///             (Command::Total(request), Some(id)) => {
///                 let _ = request.answer(id, self.total);
///             }
///             (Command::Total(_), None) => {}
///         }
///         Flow::Continue
///     }
/// }
///
/// let mut host = LocalHost::new();
/// let sum = host.attach(Sum::default()).unwrap();
/// host.send(Command::Add(40)).unwrap();
/// host.send(Command::Add(2)).unwrap();
/// let answers = host.ask(Command::Total, (), Duration::from_secs(1)).unwrap();
/// assert_eq!(answers.get(sum), Some(&42));
/// ```
#[repr(C)]
pub struct Request<Q, A> {
    /// The asker's reply object, retained.
    hook: *const Hook,
    question: Q,
    _answer: PhantomData<fn(A) -> A>,
}

// SAFETY: the hook is reached only through its creator's functions, which
// may run on any thread; answers cross threads as `Message<A>`, which needs
// `A: Send + Sync`. The question is shared or moved like a field.
unsafe impl<Q: Send, A: Send + Sync> Send for Request<Q, A> {}
// SAFETY: as for `Send`; `&Request` gives `&Q` and calls the hook's
// functions, which lock.
unsafe impl<Q: Sync, A: Send + Sync> Sync for Request<Q, A> {}

impl<Q, A: Send + Sync + 'static> Request<Q, A> {
    /// A request on `hook`, retaining it.
    ///
    /// # Safety
    /// `hook` is live and typed for answers `A`.
    pub(crate) unsafe fn new(hook: *const Hook, question: Q) -> Self {
        // SAFETY: live by the caller's contract.
        unsafe { Hook::retain(hook) };
        Request {
            hook,
            question,
            _answer: PhantomData,
        }
    }

    /// The question.
    pub fn question(&self) -> &Q {
        &self.question
    }

    /// Answers for `plugin` (the id its `on_attach` received), in an
    /// envelope of the calling binary.
    ///
    /// # Errors
    /// [`AnswerError::Late`] if the question closed for this plugin (the
    /// timeout passed, or its handler had already returned without
    /// answering or deferring): the answer is dropped and counted in
    /// [`Answers::late`](super::Answers::late).
    /// [`AnswerError::Duplicate`] if this plugin answered already. Either
    /// way the value comes back.
    pub fn answer(&self, plugin: PluginId, value: A) -> Result<(), AnswerError<A>> {
        answer(self.hook, plugin, value)
    }

    /// A handle to answer for `plugin` later, from anywhere: the host waits
    /// for it (until the timeout) even after the handler returns, and
    /// stops waiting if it is dropped unused.
    pub fn defer(&self, plugin: PluginId) -> Responder<A> {
        // SAFETY: the request retains its hook.
        let counts = unsafe { Hook::defer(self.hook, plugin) };
        // SAFETY: as above; the responder retains it too.
        unsafe { Hook::retain(self.hook) };
        Responder {
            hook: self.hook,
            plugin,
            counts,
            _answer: PhantomData,
        }
    }
}

/// Offers `value` for `plugin` through `hook`.
fn answer<A: Send + Sync + 'static>(
    hook: *const Hook,
    plugin: PluginId,
    value: A,
) -> Result<(), AnswerError<A>> {
    // SAFETY: callers hold a reference to `hook`, typed for `A`.
    match unsafe { Hook::answer(hook, plugin, Message::new(value)) } {
        Ok(()) => Ok(()),
        Err((code, message)) => {
            let value = match Message::try_unwrap(message) {
                Ok(value) => value,
                // Made just above in this binary and never shared.
                Err(_) => unreachable!("a refused answer is still ours alone"),
            };
            Err(if code == Code::DUPLICATE {
                AnswerError::Duplicate(value)
            } else {
                AnswerError::Late(value)
            })
        }
    }
}

impl<Q, A> Drop for Request<Q, A> {
    fn drop(&mut self) {
        // SAFETY: our reference, given up.
        unsafe { Hook::release_if_any(self.hook) }
    }
}

impl<Q: fmt::Debug, A> fmt::Debug for Request<Q, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("question", &self.question)
            .finish_non_exhaustive()
    }
}

// SAFETY: both parameters are folded in; the question is owned, and
// answers cross through the creator's hook as envelopes of the answering
// binary (see `reply.rs`), so nothing in a `Request` borrows from or frees
// into another binary's image or allocator.
unsafe impl<Q: Fingerprint, A: Fingerprint> Fingerprint for Request<Q, A> {
    const NAME: &'static str = "plugbus_core::ask::Request";
    const FINGERPRINT: u64 = combine_all(
        hash_str("plugbus_core::ask::Request"),
        &[Q::FINGERPRINT, A::FINGERPRINT],
    );
}

/// An answer a plugin owes: made by [`Request::defer`], answered with
/// [`answer`](Responder::answer) from any thread, at any time before the
/// timeout. Dropping it unused tells the host not to wait for it.
pub struct Responder<A> {
    hook: *const Hook,
    plugin: PluginId,
    /// Whether the host waits for it (the question was open when it was
    /// made).
    counts: bool,
    _answer: PhantomData<fn(A) -> A>,
}

// SAFETY: as for `Request`: the hook's functions run on any thread and the
// answer crosses as a `Message<A>`.
unsafe impl<A: Send + Sync> Send for Responder<A> {}
// SAFETY: `&Responder` only reads its plugin id.
unsafe impl<A: Send + Sync> Sync for Responder<A> {}

impl<A: Send + Sync + 'static> Responder<A> {
    /// The plugin it answers for.
    pub fn plugin(&self) -> PluginId {
        self.plugin
    }

    /// Answers, as [`Request::answer`] does.
    ///
    /// # Errors
    /// As [`Request::answer`].
    pub fn answer(self, value: A) -> Result<(), AnswerError<A>> {
        answer(self.hook, self.plugin, value)
    }
}

impl<A> Drop for Responder<A> {
    fn drop(&mut self) {
        // SAFETY: the responder retains its hook until here; `counts` says
        // whether `defer` counted it.
        unsafe {
            if self.counts {
                Hook::undefer(self.hook, self.plugin);
            }
            Hook::release_if_any(self.hook);
        }
    }
}

impl<A> fmt::Debug for Responder<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("plugin", &self.plugin)
            .finish_non_exhaustive()
    }
}

/// Why an answer was refused; the value comes back.
#[derive(Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnswerError<A> {
    /// The question had closed for this plugin: its timeout passed, or
    /// its handler had returned without answering or deferring. Counted in
    /// [`Answers::late`](super::Answers::late).
    Late(A),
    /// This plugin had answered already.
    Duplicate(A),
}

impl<A> AnswerError<A> {
    /// The refused value.
    pub fn into_inner(self) -> A {
        match self {
            AnswerError::Late(value) | AnswerError::Duplicate(value) => value,
        }
    }
}

impl<A> fmt::Debug for AnswerError<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnswerError::Late(_) => f.write_str("Late(..)"),
            AnswerError::Duplicate(_) => f.write_str("Duplicate(..)"),
        }
    }
}

impl<A> fmt::Display for AnswerError<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnswerError::Late(_) => f.write_str("the question had closed for this plugin"),
            AnswerError::Duplicate(_) => f.write_str("this plugin had answered already"),
        }
    }
}

impl<A> core::error::Error for AnswerError<A> {}
