//! The counted envelope every plugin receives.

use alloc::boxed::Box;
use core::fmt;
use core::marker::PhantomData;
use core::ops::Deref;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering, fence};

use crate::ask::{Delivery, Hook};
use crate::plugin::PluginId;

/// A broadcast message: one allocation, shared by every plugin that sees it.
///
/// `Clone` is one atomic increment; the last drop frees the value with the
/// allocator of the binary that created it, because the envelope carries its
/// creator's release function. That keeps a message valid when a dynamic
/// plugin built with another global allocator drops the last reference.
///
/// # A value whose `Drop` panics aborts the process
/// The last drop frees the value through its creator's release function,
/// an `extern "C"` function (so that the creator's allocator frees it, also
/// across a dynamic-library boundary), and a panic cannot unwind out of an
/// `extern "C"` function: if `M`'s `Drop` panics, the process aborts,
/// wherever the last reference went (a plugin, a lane's queue, or the
/// sender reusing a ring slot). `Arc` would unwind into whoever dropped it
/// instead; `catch_unwind` around a drop of a `Message` does not help. Give
/// message types a `Drop` that does not panic.
///
/// Cloning aborts too, as `Arc`'s does, if the count would pass
/// `isize::MAX` (only reachable by leaking envelopes).
///
/// # Example
/// ```
/// use plugbus_core::Message;
///
/// let message = Message::new(String::from("hello"));
/// let kept = message.clone();
/// assert_eq!(kept.len(), 5);
/// assert!(Message::ptr_eq(&message, &kept));
/// ```
pub struct Message<M> {
    inner: NonNull<Inner<M>>,
    _owns: PhantomData<Inner<M>>,
}

/// The part of an envelope that does not depend on `M`; `#[repr(C)]` so both
/// sides of a dynamic-library boundary agree on it.
#[repr(C)]
struct Header {
    count: AtomicUsize,
    /// Frees the whole envelope; compiled into the binary that allocated it.
    release: unsafe extern "C" fn(*mut Header),
    /// Keeps the creating library mapped while the envelope lives (null in
    /// the host and in statically linked plugins). A question's envelope
    /// (see [`crate::ask`]) has its reply object's hook here instead, with
    /// the lowest bit set: every lane that delivers it tells the hook, and
    /// the hook retains the creating library for the envelope. (A field of
    /// its own would make every envelope a word longer, which cost
    /// `LocalHost`'s throughput of small messages 5 to 10%.)
    owner: *const ImageOwner,
}

/// The lowest bit of `Header::owner`: set for a question's hook.
const HOOK_TAG: usize = 1;

impl Header {
    /// The hook of a question's envelope, or null.
    fn hook(&self) -> *const Hook {
        if self.owner.addr() & HOOK_TAG == 0 {
            return ptr::null();
        }
        self.owner.map_addr(|addr| addr & !HOOK_TAG).cast()
    }

    /// The image owner the envelope holds itself (null for a question's).
    fn own_owner(&self) -> *const ImageOwner {
        if self.owner.addr() & HOOK_TAG == 0 {
            self.owner
        } else {
            ptr::null()
        }
    }
}

#[repr(C)]
struct Inner<M> {
    header: Header,
    value: M,
}

/// A handle that keeps a loaded library mapped: a dynamic-library host gives
/// one to each library it loads, and every envelope created inside that
/// library retains it until the envelope is freed.
///
/// The functions are the host's, so calling `release` last, after the
/// envelope's memory is gone, runs host code even if it unmaps the library.
#[repr(C)]
#[derive(Debug)]
pub struct ImageOwner {
    /// Opaque context passed to both functions.
    pub ctx: *const (),
    /// Adds one reference to the context.
    pub retain: unsafe extern "C" fn(*const ()),
    /// Drops one reference; may unload the library.
    pub release: unsafe extern "C" fn(*const ()),
}

/// The owner of the binary this copy of plugbus-core is linked into.
static IMAGE_OWNER: AtomicPtr<ImageOwner> = AtomicPtr::new(ptr::null_mut());

/// Sets the owner of the binary this copy of plugbus-core is linked into.
///
/// # Safety
/// `owner` must be null or point to an [`ImageOwner`] whose functions may be
/// called from any thread and which stays valid while any envelope created
/// after this call lives (the owner's own reference count ensures that when
/// `retain` is honest). Only a dynamic-library loader calls this, once,
/// before it runs any plugin code.
#[cfg_attr(not(feature = "std"), allow(dead_code))] // only the export thunks call it
pub(crate) unsafe fn set_image_owner(owner: *const ImageOwner) {
    // ORDERING: Release pairs with the Acquire in `Message::new`, so a thread
    // that sees the pointer sees the pointee.
    IMAGE_OWNER.store(owner.cast_mut(), Ordering::Release);
}

/// Clears the owner set by [`set_image_owner`] if it is still `expected`: a
/// loader calls this when it lets go of a library, because a library that
/// stays mapped after `dlclose` (a `thread_local!` with a destructor keeps it)
/// would otherwise keep pointing at a freed owner. Comparing first leaves
/// alone an owner that a later load of the same library installed.
#[cfg_attr(not(feature = "std"), allow(dead_code))] // only the export thunks call it
pub(crate) fn clear_image_owner(expected: *const ImageOwner) {
    // ORDERING: AcqRel/Acquire: ordered with `set_image_owner`'s Release and
    // `Message::new`'s Acquire; the pointee is not touched here.
    let _ = IMAGE_OWNER.compare_exchange(
        expected.cast_mut(),
        ptr::null_mut(),
        Ordering::AcqRel,
        Ordering::Acquire,
    );
}

// SAFETY: a `Message<M>` hands out `&M` to any thread holding a clone and may
// drop `M` on any thread, exactly like `Arc<M>`; that needs `M: Send + Sync`.
unsafe impl<M: Send + Sync> Send for Message<M> {}
// SAFETY: as for `Send`: shared access only gives `&M`.
unsafe impl<M: Send + Sync> Sync for Message<M> {}

impl<M> Message<M> {
    /// Wraps `value` in a new envelope with a count of one.
    pub fn new(value: M) -> Self {
        Self::with_hook(value, ptr::null())
    }

    /// Wraps `value` in a new envelope whose lanes tell `hook` of each
    /// delivery (null: none); the envelope retains the hook until its
    /// memory is freed.
    pub(crate) fn with_hook(value: M, hook: *const Hook) -> Self {
        let owner = if hook.is_null() {
            retain_own_image()
        } else {
            // SAFETY: a non-null hook is live: the caller holds a reference;
            // `hold` retains this binary's image for the envelope.
            unsafe { Hook::hold(hook) };
            // A hook is aligned (it starts with a pointer), so its lowest
            // bit is free for the tag.
            hook.map_addr(|addr| addr | HOOK_TAG).cast()
        };
        let inner = Box::new(Inner {
            header: Header {
                count: AtomicUsize::new(1),
                release: release::<M>,
                owner,
            },
            value,
        });
        Message {
            inner: NonNull::from(Box::leak(inner)),
            _owns: PhantomData,
        }
    }

    /// Whether two envelopes are the same allocation.
    pub fn ptr_eq(this: &Self, other: &Self) -> bool {
        this.inner == other.inner
    }

    /// How many envelopes share this allocation right now.
    pub fn count(this: &Self) -> usize {
        // ORDERING: a snapshot for diagnostics; nothing is synchronised on it.
        this.header().count.load(Ordering::Relaxed)
    }

    /// Returns the value if this is the only envelope, or the envelope back.
    ///
    /// Also returns the envelope back if it was created in another binary
    /// (a dynamic plugin's envelope in its host, or the host's in a plugin):
    /// the value's memory belongs to that binary's allocator, which only the
    /// envelope's own release function may free.
    pub fn try_unwrap(this: Self) -> Result<M, Self> {
        let header = this.header();
        // ORDERING: Acquire pairs with the Release in `set_image_owner`. A
        // binary's envelopes carry the owner it had when it created them,
        // which a loader sets before any of the binary's code runs.
        if header.owner != IMAGE_OWNER.load(Ordering::Acquire).cast_const() {
            return Err(this);
        }
        Self::unwrap_own(this)
    }

    /// [`try_unwrap`](Message::try_unwrap) for an envelope the caller knows
    /// this binary created (it called `Message::new` itself).
    pub(crate) fn unwrap_own(this: Self) -> Result<M, Self> {
        let header = this.header();
        // ORDERING: Acquire makes every earlier use of the value through
        // another envelope happen before we take it, as in `Arc::try_unwrap`.
        if header
            .count
            .compare_exchange(1, 0, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(this);
        }
        let this = core::mem::ManuallyDrop::new(this);
        let inner = this.inner.as_ptr();
        // SAFETY: the count went from 1 to 0, so we are the only owner; the
        // value is read out exactly once and the memory is then released by
        // its creator's function, which frees without dropping the value
        // because the count of zero tells it the value was moved out.
        unsafe {
            let value = ptr::read(&(*inner).value);
            let header = &raw mut (*inner).header;
            let (owner, hook) = ((*header).own_owner(), (*header).hook());
            ((*header).release)(header);
            release_envelope_refs(owner, hook);
            Ok(value)
        }
    }

    /// Tells a question's reply object that the lane of `plugin` is done
    /// with this envelope (a lane calls it after the filter, the handler,
    /// or a panic in either, when [`questions_live`] said so for its
    /// batch); nothing for an envelope without a hook.
    ///
    /// [`questions_live`]: crate::ask::questions_live
    #[inline]
    pub(crate) fn delivered(&self, plugin: PluginId, delivery: Delivery<'_>) {
        let hook = self.header().hook();
        if !hook.is_null() {
            // SAFETY: the envelope retains its hook while it lives.
            unsafe { tell_hook(hook, plugin, delivery) };
        }
    }

    /// Sets the count, so a test can start it near the overflow without
    /// making billions of clones.
    #[cfg(test)]
    pub(crate) fn set_count(this: &Self, count: usize) {
        this.header().count.store(count, Ordering::Relaxed);
    }

    fn header(&self) -> &Header {
        // SAFETY: `inner` stays allocated while this envelope holds a count.
        unsafe { &self.inner.as_ref().header }
    }
}

/// Drops what a freed envelope held besides its memory: a question's hook
/// (whose `unhold` hands back the image it retained for the envelope), then
/// the image owner, last, since releasing it may unload the code of both.
///
/// # Safety
/// `owner` and `hook` are what the envelope held (each may be null), not
/// yet released.
unsafe fn release_envelope_refs(owner: *const ImageOwner, hook: *const Hook) {
    // SAFETY: by the caller's contract.
    unsafe {
        let owner = if hook.is_null() {
            owner
        } else {
            Hook::unhold(hook)
        };
        release_owner(owner);
    }
}

/// The rare path of [`Message::delivered`], out of the lanes' loop.
///
/// # Safety
/// `hook` is live.
#[cold]
#[inline(never)]
unsafe fn tell_hook(hook: *const Hook, plugin: PluginId, delivery: Delivery<'_>) {
    // SAFETY: live by the caller's contract.
    unsafe { Hook::delivered(hook, plugin, delivery) };
}

/// Frees an envelope allocated by this binary. The value is dropped first
/// unless `try_unwrap` moved it out (it leaves a count of zero; a normal last
/// drop leaves a count of `usize::MAX`).
unsafe extern "C" fn release<M>(header: *mut Header) {
    let inner = header.cast::<Inner<M>>();
    // SAFETY: `header` is the first field of a `Box<Inner<M>>` allocated by
    // `Message::new` in this binary (this function is stored only there),
    // and the caller owns it exclusively.
    unsafe {
        // ORDERING: the caller already synchronised the count.
        let moved_out = (*header).count.load(Ordering::Relaxed) == 0;
        if moved_out {
            let inner = inner.cast::<core::mem::MaybeUninit<Inner<M>>>();
            drop(Box::from_raw(inner));
        } else {
            drop(Box::from_raw(inner));
        }
    }
}

/// The owner of this binary, retained: what `Message::new` stores, for
/// other values that must keep their creator's library mapped (an
/// [`Outbox`](crate::Outbox)'s queue). Null in a host or a static plugin.
/// Release it with [`release_owner`].
pub(crate) fn retain_own_image() -> *const ImageOwner {
    // ORDERING: Acquire pairs with the Release in `set_image_owner`.
    let owner = IMAGE_OWNER.load(Ordering::Acquire);
    if !owner.is_null() {
        // SAFETY: a non-null owner is valid by `set_image_owner`'s contract.
        unsafe { ((*owner).retain)((*owner).ctx) };
    }
    owner
}

/// Drops the library reference an envelope held, after its memory is gone.
///
/// # Safety
/// `owner` is null or an owner retained by `Message::new` or
/// [`retain_own_image`], not yet released.
pub(crate) unsafe fn release_owner(owner: *const ImageOwner) {
    if !owner.is_null() {
        // SAFETY: by `set_image_owner`'s contract the owner outlives every
        // envelope created while it was set; copying the fields out first
        // means nothing of it is touched once `release` runs.
        unsafe {
            let ImageOwner { ctx, release, .. } = ptr::read(owner);
            release(ctx);
        }
    }
}

/// The highest count a clone may start from, as for `Arc`: far below
/// `usize::MAX`, so that even many threads cloning at once after it was
/// passed cannot wrap the count before each of them aborts.
const MAX_COUNT: usize = isize::MAX as usize;

impl<M> Clone for Message<M> {
    fn clone(&self) -> Self {
        // ORDERING: Relaxed as in `Arc::clone`: a new reference is made from
        // an existing one, which already keeps the allocation alive.
        let old = self.header().count.fetch_add(1, Ordering::Relaxed);
        if old > MAX_COUNT {
            // Only reachable by leaking billions of envelopes (about 2^31 on
            // a 32-bit target). A panic would leave the increment in place,
            // and callers that catch it could go on until the count wraps and
            // a drop frees a live value: abort, as `Arc` does.
            abort_on_overflow();
        }
        Message {
            inner: self.inner,
            _owns: PhantomData,
        }
    }
}

/// Ends the process: an envelope's count overflowed.
#[cold]
#[inline(never)]
fn abort_on_overflow() -> ! {
    #[cfg(feature = "std")]
    {
        extern crate std;
        std::eprintln!("plugbus: Message reference count overflow; aborting");
        std::process::abort()
    }
    #[cfg(not(feature = "std"))]
    {
        // `core` has no abort: a panic raised while another unwinds aborts
        // (and with `panic = "abort"` the first one already does).
        struct Abort;
        impl Drop for Abort {
            fn drop(&mut self) {
                panic!("plugbus Message reference count overflow");
            }
        }
        let _abort = Abort;
        panic!("plugbus Message reference count overflow")
    }
}

impl<M> Drop for Message<M> {
    fn drop(&mut self) {
        // ORDERING: Release on every decrement and Acquire before freeing, as
        // in `Arc::drop`: all uses of the value happen before it is dropped.
        if self.header().count.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        let header = self.inner.as_ptr().cast::<Header>();
        // SAFETY: the count reached zero, so this is the last envelope. The
        // marker `usize::MAX` tells `release` to drop the value. The release
        // function is the creator's, so the creator's allocator frees it.
        unsafe {
            (*header).count.store(usize::MAX, Ordering::Relaxed);
            let (owner, hook) = ((*header).own_owner(), (*header).hook());
            ((*header).release)(header);
            release_envelope_refs(owner, hook);
        }
    }
}

impl<M> Deref for Message<M> {
    type Target = M;
    fn deref(&self) -> &M {
        // SAFETY: `inner` stays allocated while this envelope holds a count,
        // and the value is only ever shared immutably.
        unsafe { &self.inner.as_ref().value }
    }
}

impl<M> AsRef<M> for Message<M> {
    fn as_ref(&self) -> &M {
        self
    }
}

impl<M> From<M> for Message<M> {
    fn from(value: M) -> Self {
        Message::new(value)
    }
}

impl<M: fmt::Debug> fmt::Debug for Message<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<M: fmt::Display> fmt::Display for Message<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<M: PartialEq> PartialEq for Message<M> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<M: Eq> Eq for Message<M> {}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::sync::Arc;

    #[test]
    fn last_drop_drops_value_once() {
        let witness = Arc::new(());
        let message = Message::new(witness.clone());
        let copies: alloc::vec::Vec<_> = (0..5).map(|_| message.clone()).collect();
        assert_eq!(Message::count(&message), 6);
        drop(copies);
        assert_eq!(Arc::strong_count(&witness), 2);
        drop(message);
        assert_eq!(Arc::strong_count(&witness), 1);
    }

    #[test]
    fn try_unwrap_takes_value_without_double_drop() {
        let witness = Arc::new(());
        let message = Message::new((witness.clone(), String::from("x")));
        let copy = message.clone();
        let message = Message::try_unwrap(message).unwrap_err();
        drop(copy);
        let (w, s) = Message::try_unwrap(message).unwrap();
        assert_eq!(s, "x");
        assert_eq!(Arc::strong_count(&witness), 2);
        drop(w);
        assert_eq!(Arc::strong_count(&witness), 1);
    }

    /// A clone from the highest allowed count still works, and the count
    /// goes back down (run under miri too).
    #[test]
    fn a_clone_at_the_highest_count_is_fine() {
        let message = Message::new(String::from("x"));
        Message::set_count(&message, MAX_COUNT);
        let copy = message.clone();
        assert_eq!(Message::count(&message), MAX_COUNT + 1);
        drop(copy);
        assert_eq!(Message::count(&message), MAX_COUNT);
        Message::set_count(&message, 1);
    }

    /// Runs the ignored test `name` of this binary in a child process with
    /// `PLUGBUS_ABORT_CHILD` set, and returns how it ended.
    #[cfg(all(feature = "std", unix, not(miri)))]
    fn in_child(name: &str) -> (Option<i32>, alloc::string::String) {
        extern crate std;
        use std::os::unix::process::ExitStatusExt;
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                name,
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("PLUGBUS_ABORT_CHILD", "1")
            .output()
            .expect("run the test binary in a child process");
        (
            output.status.signal(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Whether this process is the child [`in_child`] started; the ignored
    /// tests do nothing in any other process.
    #[cfg(all(feature = "std", unix, not(miri)))]
    fn is_child() -> bool {
        extern crate std;
        std::env::var_os("PLUGBUS_ABORT_CHILD").is_some()
    }

    #[cfg(all(feature = "std", unix, not(miri)))]
    #[test]
    #[ignore = "run by clone_past_the_highest_count_aborts in a child process"]
    fn child_clone_past_the_highest_count() {
        extern crate std;
        if !is_child() {
            return;
        }
        let message = Message::new(0u8);
        Message::set_count(&message, MAX_COUNT + 1);
        // A caught panic here used to leave the increment in place.
        let _ = std::panic::catch_unwind(|| drop(message.clone()));
        std::process::exit(0);
    }

    /// Issue 17, item 4: a clone past the limit aborts the process, as
    /// `Arc`'s does, instead of panicking with the increment left in place.
    #[cfg(all(feature = "std", unix, not(miri)))]
    #[test]
    fn clone_past_the_highest_count_aborts() {
        let (signal, stderr) = in_child("message::tests::child_clone_past_the_highest_count");
        assert_eq!(signal, Some(6), "the child did not abort: {stderr}");
        assert!(stderr.contains("reference count overflow"), "{stderr}");
    }

    /// A message whose `Drop` panics.
    #[cfg(all(feature = "std", unix, not(miri)))]
    struct PanicsOnDrop;

    #[cfg(all(feature = "std", unix, not(miri)))]
    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("the message's drop panics");
        }
    }

    #[cfg(all(feature = "std", unix, not(miri)))]
    #[test]
    #[ignore = "run by a_message_whose_drop_panics_aborts in a child process"]
    fn child_message_drop_panics() {
        extern crate std;
        if !is_child() {
            return;
        }
        let message = Message::new(PanicsOnDrop);
        let _ = std::panic::catch_unwind(move || drop(message));
        std::process::exit(0);
    }

    /// What the docs of `Message` say: the last drop runs the value's `Drop`
    /// inside its creator's `extern "C"` release function, so a panic there
    /// aborts the process (it cannot unwind out, and `catch_unwind` around
    /// the drop does not help).
    #[cfg(all(feature = "std", unix, not(miri)))]
    #[test]
    fn a_message_whose_drop_panics_aborts() {
        let (signal, stderr) = in_child("message::tests::child_message_drop_panics");
        assert_eq!(signal, Some(6), "the child did not abort: {stderr}");
        assert!(stderr.contains("the message's drop panics"), "{stderr}");
    }
}
