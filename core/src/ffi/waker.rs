//! A waker across the dynamic-library boundary.
//!
//! A host polls a dynamic async plugin's handler with its lane's waker. A
//! `Waker` is a Rust vtable of the binary that made it, so it crosses as an
//! [`FfiWaker`]: a pointer and a `#[repr(C)]` table of `extern "C"`
//! functions, all of the host. The library turns it into a `Waker` of its
//! own ([`FfiWaker::with_waker`]): borrowed for the poll, without
//! allocating; a clone the plugin keeps (to wake it later, from a timer or
//! another thread) is a block of the library's allocator holding a handle
//! the host cloned, freed by the library and released through the host's
//! `drop`. Nothing either side allocated is freed by the other.

use alloc::boxed::Box;
use core::ffi::c_void;
use core::fmt;
use core::mem::ManuallyDrop;
use core::task::{RawWaker, RawWakerVTable, Waker};

/// A host's waker as it crosses to a plugin library: a handle and the
/// host's functions for it.
///
/// A handle is either borrowed (the one passed to a poll, valid for the
/// call) or owned (returned by `clone`, released by exactly one of `wake`
/// or `drop`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct FfiWaker {
    /// The host's handle.
    pub data: *const c_void,
    /// The host's functions.
    pub vtable: &'static FfiWakerVTable,
}

/// The host's functions for an [`FfiWaker`] handle.
#[repr(C)]
pub struct FfiWakerVTable {
    /// Returns an owned handle that wakes the same task.
    pub clone: unsafe extern "C" fn(*const c_void) -> *const c_void,
    /// Wakes the task and releases an owned handle.
    pub wake: unsafe extern "C" fn(*const c_void),
    /// Wakes the task; the handle stays.
    pub wake_by_ref: unsafe extern "C" fn(*const c_void),
    /// Releases an owned handle.
    pub drop: unsafe extern "C" fn(*const c_void),
}

impl fmt::Debug for FfiWaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FfiWaker")
    }
}

impl fmt::Debug for FfiWakerVTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FfiWakerVTable")
    }
}

// The host's side: a handle is a `Waker` of the host, borrowed (`&Waker`)
// or owned (`Box<Waker>` from `clone`).

/// The host's functions, in the host's binary.
static HOST_VTABLE: FfiWakerVTable = FfiWakerVTable {
    clone: host_clone,
    wake: host_wake,
    wake_by_ref: host_wake_by_ref,
    drop: host_drop,
};

unsafe extern "C" fn host_clone(data: *const c_void) -> *const c_void {
    // SAFETY: a handle is a live `Waker` of this binary (borrowed for the
    // poll, or an owned box not yet released): the table's contract.
    let waker = unsafe { &*data.cast::<Waker>() };
    Box::into_raw(Box::new(waker.clone())).cast_const().cast()
}

unsafe extern "C" fn host_wake(data: *const c_void) {
    // SAFETY: an owned handle, from `host_clone`'s box, released here once.
    let waker = unsafe { Box::from_raw(data.cast_mut().cast::<Waker>()) };
    waker.wake();
}

unsafe extern "C" fn host_wake_by_ref(data: *const c_void) {
    // SAFETY: a live handle (see `host_clone`).
    unsafe { &*data.cast::<Waker>() }.wake_by_ref();
}

unsafe extern "C" fn host_drop(data: *const c_void) {
    // SAFETY: an owned handle, from `host_clone`'s box, released here once.
    drop(unsafe { Box::from_raw(data.cast_mut().cast::<Waker>()) });
}

impl FfiWaker {
    /// Lends `waker` across the boundary for one call: the handle borrows
    /// it, so it is valid while `waker` is.
    pub fn borrowed(waker: &Waker) -> FfiWaker {
        FfiWaker {
            data: core::ptr::from_ref(waker).cast(),
            vtable: &HOST_VTABLE,
        }
    }

    /// The library's side: runs `f` with a `Waker` of this binary that
    /// wakes through the host's handle. The `Waker` is borrowed for the
    /// call; a clone of it owns a handle the host cloned.
    ///
    /// # Safety
    /// `self` is a borrowed handle (see [`borrowed`](FfiWaker::borrowed))
    /// valid for the call, with its host's functions.
    pub unsafe fn with_waker<T>(&self, f: impl FnOnce(&Waker) -> T) -> T {
        let raw = RawWaker::new(core::ptr::from_ref(self).cast(), &BORROWED);
        // SAFETY: BORROWED's functions keep the RawWaker contract for a
        // pointer to a live `FfiWaker` (this one, borrowed for the call);
        // `ManuallyDrop`: the borrowed handle is not ours to release.
        let waker = ManuallyDrop::new(unsafe { Waker::from_raw(raw) });
        f(&waker)
    }
}

// The library's side: a `RawWaker` whose data is an `FfiWaker`, borrowed
// (the poll's, on the host's stack) or owned (a `Box<FfiWaker>` of this
// library holding an owned handle).

static BORROWED: RawWakerVTable = RawWakerVTable::new(
    clone_borrowed,
    // A borrowed waker is never woken by value or dropped: it is only ever
    // lent as `&Waker` (`with_waker` keeps it in a `ManuallyDrop`).
    noop,
    wake_by_ref,
    noop,
);

static OWNED: RawWakerVTable =
    RawWakerVTable::new(clone_owned, wake_owned, wake_by_ref, drop_owned);

unsafe fn noop(_: *const ()) {}

/// An owned waker from a live handle: the host clones its handle, the
/// library boxes it.
///
/// # Safety
/// `data` points to a live `FfiWaker`.
unsafe fn own(data: *const ()) -> RawWaker {
    // SAFETY: the caller's promise.
    let ffi = unsafe { &*data.cast::<FfiWaker>() };
    // SAFETY: the host's function on a live handle returns an owned one.
    let handle = unsafe { (ffi.vtable.clone)(ffi.data) };
    let owned = Box::new(FfiWaker {
        data: handle,
        vtable: ffi.vtable,
    });
    RawWaker::new(Box::into_raw(owned).cast_const().cast(), &OWNED)
}

unsafe fn clone_borrowed(data: *const ()) -> RawWaker {
    // SAFETY: a borrowed waker's data is the live `FfiWaker` of the poll.
    unsafe { own(data) }
}

unsafe fn clone_owned(data: *const ()) -> RawWaker {
    // SAFETY: an owned waker's data is its live `Box<FfiWaker>`.
    unsafe { own(data) }
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: borrowed or owned, the data is a live `FfiWaker`.
    let ffi = unsafe { &*data.cast::<FfiWaker>() };
    // SAFETY: the host's function on a live handle.
    unsafe { (ffi.vtable.wake_by_ref)(ffi.data) }
}

unsafe fn wake_owned(data: *const ()) {
    // SAFETY: an owned waker's box, released here once (the waker is
    // consumed).
    let ffi = unsafe { Box::from_raw(data.cast_mut().cast::<FfiWaker>()) };
    // SAFETY: the owned handle, released by the host's `wake`.
    unsafe { (ffi.vtable.wake)(ffi.data) }
}

unsafe fn drop_owned(data: *const ()) {
    // SAFETY: as in `wake_owned`.
    let ffi = unsafe { Box::from_raw(data.cast_mut().cast::<FfiWaker>()) };
    // SAFETY: the owned handle, released by the host's `drop`.
    unsafe { (ffi.vtable.drop)(ffi.data) }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use alloc::sync::Arc;
    use alloc::task::Wake;
    use core::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn wakes_cross_and_handles_are_released() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let ffi = FfiWaker::borrowed(&waker);
        // SAFETY: a borrowed handle of a live waker, for the call.
        let kept = unsafe {
            ffi.with_waker(|waker| {
                waker.wake_by_ref();
                let kept = waker.clone();
                let other = kept.clone();
                other.wake();
                kept
            })
        };
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        // The clone outlives the poll: it holds a handle of its own.
        kept.wake_by_ref();
        drop(kept);
        assert_eq!(count.0.load(Ordering::SeqCst), 3);
        // Only the host's own waker is left.
        assert_eq!(Arc::strong_count(&count), 2);
    }
}
