//! A question's stand-in on the far side of a process boundary (feature
//! `crossing`): the reply object a [`Request`](super::Request) decoded in
//! a child process points to. Its functions forward the plugin's answer,
//! or its refusal, over the child's [`ChildEnd`]; the plugin cannot tell it
//! from the asker's own reply object.
//!
//! # Protocol
//! One `Remote` per decoded question, in an `Arc` of the decoding binary.
//! Exactly one word goes back per question: the first answer, or a refusal
//! once nothing more can come (the runner said the plugin is done with the
//! message and no [`Responder`](super::Responder) is left, or the stand-in
//! was dropped before that). Everything is under one lock; an answer and a
//! refusal cannot both be sent.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr;

use serde::Serialize;

use super::reply::{Code, Hook, VTable};
use crate::crossing::ChildEnd;
use crate::message::{ImageOwner, Message};

extern crate std;

/// The stand-in for question number `question` of the host.
#[repr(C)]
pub(crate) struct Remote {
    /// First, so that a pointer to the hook is a pointer to the whole.
    hook: Hook,
    question: u64,
    end: Arc<dyn ChildEnd>,
    /// A sleeping lock, not a spin lock: sending an answer may wait for
    /// room in the runner's channel while it is held.
    state: std::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The answer or the refusal is sent: nothing more goes.
    closed: bool,
    answered: bool,
    /// The runner said the plugin is done with the message.
    delivered: bool,
    /// Responders that count and still exist.
    responders: u32,
}

impl State {
    /// Whether the question should be refused now: nothing was sent and
    /// nothing more can come.
    fn declines(&self) -> bool {
        !self.closed && self.delivered && self.responders == 0
    }
}

/// The functions for answers `A`.
struct Table<A>(PhantomData<fn(A) -> A>);

impl<A: Serialize + Send + Sync + 'static> Table<A> {
    const VTABLE: VTable = VTable {
        answer: answer::<A>,
        defer,
        undefer,
        delivered,
        retain,
        release,
        hold: retain,
        unhold,
    };
}

impl Remote {
    /// A stand-in for the host's question `question`, whose answers are
    /// `A`, sending over `end`.
    pub(crate) fn new<A: Serialize + Send + Sync + 'static>(
        question: u64,
        end: Arc<dyn ChildEnd>,
    ) -> Arc<Remote> {
        Arc::new(Remote {
            hook: Hook {
                vtable: &Table::<A>::VTABLE,
            },
            question,
            end,
            state: std::sync::Mutex::new(State::default()),
        })
    }

    /// The hook to put in a request (not retained).
    pub(crate) fn hook(self: &Arc<Self>) -> *const Hook {
        Arc::as_ptr(self).cast()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The runner is done with the message that carried the question: the
    /// handler returned or the filter declined it. Refuses the question if
    /// the plugin neither answered nor kept a responder.
    pub(crate) fn delivered(&self) {
        let mut state = self.state();
        state.delivered = true;
        self.decline_if_done(&mut state);
    }

    fn decline_if_done(&self, state: &mut State) {
        if state.declines() {
            state.closed = true;
            self.end.answer(self.question, None);
        }
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        // Never delivered (the message was not handled: its decoding failed
        // after this question, say): the asker must not wait for it.
        let state = self
            .state
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !state.closed {
            state.closed = true;
            self.end.answer(self.question, None);
        }
    }
}

/// Runs `f`, or returns `fallback` if it panicked: these functions are
/// called through `extern "C"` pointers, which must not unwind.
fn caught<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    std::panic::catch_unwind(core::panic::AssertUnwindSafe(f)).unwrap_or(fallback)
}

/// # Safety
/// `hook` is a live `Remote` (the caller holds a reference).
unsafe fn remote<'a>(hook: *const Hook) -> &'a Remote {
    // SAFETY: the hook is the first field of a live `Remote` (`repr(C)`),
    // by the caller's contract.
    unsafe { &*hook.cast::<Remote>() }
}

/// # Safety
/// As the `answer` entry of [`VTable`]: `hook` is live and typed for `A`;
/// `answer` points to a `Message<A>`, taken only when this returns TAKEN.
unsafe extern "C" fn answer<A: Serialize + Send + Sync + 'static>(
    hook: *const Hook,
    _plugin: u64,
    answer: *mut c_void,
) -> u8 {
    // SAFETY: the caller's contract.
    let remote = unsafe { remote(hook) };
    // SAFETY: the caller's contract: a live `Message<A>`, read here.
    let value = unsafe { &*answer.cast::<Message<A>>() };
    caught(Code::LATE, || {
        let mut state = remote.state();
        if state.answered {
            return Code::DUPLICATE;
        }
        if state.closed {
            return Code::LATE;
        }
        state.closed = true;
        match postcard::to_allocvec(&**value) {
            Ok(bytes) => {
                state.answered = true;
                remote.end.answer(remote.question, Some(&bytes));
                drop(state);
                // SAFETY: TAKEN is returned below: the envelope is ours to
                // drop, and the caller forgets it.
                drop(unsafe { ptr::read(answer.cast::<Message<A>>()) });
                Code::TAKEN
            }
            Err(_) => {
                // An answer that cannot be encoded is refused as late (the
                // plugin gets it back), and the asker stops waiting.
                remote.end.answer(remote.question, None);
                Code::LATE
            }
        }
    })
}

/// # Safety
/// `hook` is live.
unsafe extern "C" fn defer(hook: *const Hook, _plugin: u64) -> bool {
    // SAFETY: the caller's contract.
    let remote = unsafe { remote(hook) };
    caught(false, || {
        let mut state = remote.state();
        if state.closed {
            return false;
        }
        state.responders += 1;
        true
    })
}

/// # Safety
/// `hook` is live; `defer` returned true for the responder that is gone.
unsafe extern "C" fn undefer(hook: *const Hook, _plugin: u64) {
    // SAFETY: the caller's contract.
    let remote = unsafe { remote(hook) };
    caught((), || {
        let mut state = remote.state();
        state.responders = state.responders.saturating_sub(1);
        remote.decline_if_done(&mut state);
    });
}

/// # Safety
/// `hook` is live. (Only a lane calls this, through a question's envelope;
/// a runner makes its envelopes without a hook and calls
/// [`Remote::delivered`] itself, so this is here for completeness.)
unsafe extern "C" fn delivered(
    hook: *const Hook,
    _plugin: u64,
    _code: u8,
    _text: *const u8,
    _len: usize,
) {
    // SAFETY: the caller's contract.
    let remote = unsafe { remote(hook) };
    caught((), || remote.delivered());
}

/// # Safety
/// `hook` is live: the caller holds a reference.
unsafe extern "C" fn retain(hook: *const Hook) {
    // SAFETY: an `Arc<Remote>`'s pointer with a reference held (the
    // caller's contract).
    unsafe { Arc::increment_strong_count(hook.cast::<Remote>()) }
}

/// # Safety
/// `hook` is a reference the caller gives up.
unsafe extern "C" fn release(hook: *const Hook) {
    // SAFETY: the caller's reference, given up; dropping the last runs
    // `Remote`'s `Drop`, which cannot unwind past here unless a `ChildEnd`
    // panics (its contract forbids it).
    unsafe { Arc::decrement_strong_count(hook.cast::<Remote>()) }
}

/// # Safety
/// As [`release`].
unsafe extern "C" fn unhold(hook: *const Hook) -> *const ImageOwner {
    // SAFETY: the caller's contract, passed on.
    unsafe { release(hook) };
    ptr::null()
}

/// The stand-ins a message's decoding made, told when the runner is done
/// with the message.
pub(crate) type Made = Vec<Arc<Remote>>;
