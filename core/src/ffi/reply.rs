//! A function of the host that a plugin may call with values it creates.

use alloc::boxed::Box;
use core::ffi::c_void;
use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;

use super::vtable::Code;
use crate::message::Message;

type Callback<R> = Box<dyn Fn(Message<R>) + Send + Sync>;

/// A reply path inside a message: a function of the binary that made it,
/// which a plugin calls with envelopes of its own.
///
/// It crosses a dynamic-library boundary soundly because everything it holds
/// is used through functions of its creator: calling it runs the creator's
/// code, and dropping it (wherever the last envelope holding it goes) frees
/// the closure with the creator's allocator. The reply travels as a
/// [`Message`], so its value is freed by the plugin's allocator and keeps the
/// plugin's library mapped for as long as the host holds it.
///
/// It is not `Clone`: a plugin can only call it through the message.
///
/// # Example
/// ```
/// use std::sync::{Arc, Mutex};
/// use plugbus_core::ffi::ReplyTo;
///
/// let got = Arc::new(Mutex::new(Vec::new()));
/// let sink = got.clone();
/// let reply = ReplyTo::new(move |m| sink.lock().unwrap().push(*m));
/// assert!(reply.send(7u32));
/// assert_eq!(*got.lock().unwrap(), [7]);
/// ```
#[repr(C)]
pub struct ReplyTo<R> {
    /// A `Box<Callback<R>>` of the creator.
    ctx: *mut c_void,
    /// Takes the `Message<R>` behind the second pointer (the caller forgets
    /// it) and passes it to the callback.
    call: unsafe extern "C" fn(*mut c_void, *mut c_void) -> Code,
    /// Frees `ctx`.
    release: unsafe extern "C" fn(*mut c_void),
    _marker: PhantomData<fn(Message<R>)>,
}

// SAFETY: the callback is `Send + Sync`, and it receives `Message<R>`s from
// whichever thread calls it, which needs `R: Send + Sync` like the envelope.
unsafe impl<R: Send + Sync> Send for ReplyTo<R> {}
// SAFETY: sharing only allows `send`, which calls the `Sync` callback.
unsafe impl<R: Send + Sync> Sync for ReplyTo<R> {}

impl<R: Send + Sync + 'static> ReplyTo<R> {
    /// A reply path that calls `f` with every reply.
    ///
    /// Without the `std` feature `f` must not panic: a panic cannot be
    /// caught at the boundary and aborts. With it, a panic is caught and
    /// [`send`](ReplyTo::send) returns false.
    pub fn new(f: impl Fn(Message<R>) + Send + Sync + 'static) -> Self {
        let callback: Box<Callback<R>> = Box::new(Box::new(f));
        ReplyTo {
            ctx: Box::into_raw(callback).cast(),
            call: call::<R>,
            release: release::<R>,
            _marker: PhantomData,
        }
    }

    /// Wraps `value` in a new envelope and passes it to the creator's
    /// function. Returns false if that function panicked.
    pub fn send(&self, value: R) -> bool {
        self.send_message(Message::new(value))
    }

    /// Passes an envelope to the creator's function. Returns false if that
    /// function panicked.
    pub fn send_message(&self, message: Message<R>) -> bool {
        let mut message = ManuallyDrop::new(message);
        // SAFETY: `ctx` and `call` were made together by `new` in the
        // creator and live until `release`; `call` takes ownership of the
        // envelope, which we forget.
        let code = unsafe { (self.call)(self.ctx, core::ptr::from_mut(&mut message).cast()) };
        code == Code::OK
    }
}

unsafe extern "C" fn call<R>(ctx: *mut c_void, message: *mut c_void) -> Code {
    // SAFETY: `ctx` is the creator's `Box<Callback<R>>`, alive until
    // `release`; `message` points to a `Message<R>` the caller forgets.
    let (callback, message) = unsafe {
        (
            &*ctx.cast::<Callback<R>>(),
            core::ptr::read(message.cast::<Message<R>>()),
        )
    };
    match crate::dispatch::guard::guard(|| callback(message)) {
        Ok(()) => Code::OK,
        Err(_) => Code::PANICKED,
    }
}

unsafe extern "C" fn release<R>(ctx: *mut c_void) {
    // SAFETY: `ctx` came from `Box::into_raw` in `new`, and `Drop` calls
    // this once.
    drop(unsafe { Box::from_raw(ctx.cast::<Callback<R>>()) });
}

impl<R> Drop for ReplyTo<R> {
    fn drop(&mut self) {
        // SAFETY: the creator's function frees the creator's allocation,
        // once, whichever binary drops the `ReplyTo`.
        unsafe { (self.release)(self.ctx) }
    }
}

impl<R> fmt::Debug for ReplyTo<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplyTo(..)")
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use alloc::sync::Arc;
    use core::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_panicking_callback_is_caught_and_the_closure_freed_once() {
        let witness = Arc::new(AtomicUsize::new(0));
        let seen = witness.clone();
        let reply = ReplyTo::new(move |m: Message<u32>| {
            // ORDERING: a test counter.
            seen.fetch_add(1, Ordering::Relaxed);
            assert!(*m != 13, "unlucky");
        });
        assert!(reply.send(1));
        assert!(!reply.send(13));
        assert_eq!(witness.load(Ordering::Relaxed), 2);
        assert_eq!(Arc::strong_count(&witness), 2);
        drop(reply);
        assert_eq!(Arc::strong_count(&witness), 1);
    }

    /// Issue 17, item 5: a callback that panics with a payload whose `Drop`
    /// panics too; the second panic stays inside the `extern "C"` thunk.
    #[test]
    fn a_payload_whose_drop_panics_stays_inside_the_reply_thunk() {
        let reply = ReplyTo::new(|_: Message<u32>| {
            crate::dispatch::guard::tests::panic_with_panicky_payload()
        });
        assert!(!reply.send(1));
        assert!(!reply.send(2));
    }
}
