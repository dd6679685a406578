//! The table of `extern "C"` functions a plugin library exports, and the
//! plain values that cross it.

use alloc::string::String;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::fmt;
use core::marker::PhantomData;

use super::waker::FfiWaker;
use crate::message::ImageOwner;
use crate::plugin::{Exit, Flow, Status};

/// What a thunk returns: whether the plugin's code returned, failed or
/// panicked (the panic was caught inside the plugin).
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Code(pub u32);

impl Code {
    /// The call returned normally.
    pub const OK: Code = Code(0);
    /// The call failed with a message written to the sink (a constructor
    /// that refused its configuration).
    pub const FAILED: Code = Code(1);
    /// The plugin panicked; the panic message was written to the sink.
    pub const PANICKED: Code = Code(2);
    /// The handler's future is pending: poll it again once the waker
    /// given wakes (since ABI version 6).
    pub const PENDING: Code = Code(3);
}

/// Where a plugin writes text for its host (a panic or error message, its
/// name): a function of the host that copies the bytes into a host-owned
/// `String`. The plugin never hands over memory it allocated.
///
/// # Example
/// ```
/// use plugbus_core::ffi::ByteSink;
///
/// let mut text = String::new();
/// let sink = ByteSink::new(&mut text);
/// sink.write("boom");
/// sink.write(" twice");
/// assert_eq!(text, "boom twice");
/// ```
#[repr(C)]
pub struct ByteSink<'a> {
    ctx: *mut c_void,
    write: unsafe extern "C" fn(*mut c_void, *const u8, usize),
    _target: PhantomData<&'a mut String>,
}

impl<'a> ByteSink<'a> {
    /// A sink that appends to `target` (invalid UTF-8 is replaced).
    pub fn new(target: &'a mut String) -> Self {
        ByteSink {
            ctx: core::ptr::from_mut(target).cast(),
            write: append_to_string,
            _target: PhantomData,
        }
    }

    /// Appends `text` through the creator's function.
    pub fn write(&self, text: &str) {
        // SAFETY: a `ByteSink` is only made by `new`, whose `ctx` is a
        // `&'a mut String` still borrowed for `'a`, and whose function is
        // `append_to_string` of the binary that made it. Passing it by value
        // through an `extern "C"` thunk keeps both.
        unsafe { (self.write)(self.ctx, text.as_ptr(), text.len()) }
    }
}

/// The host's side of a [`ByteSink`].
unsafe extern "C" fn append_to_string(ctx: *mut c_void, bytes: *const u8, len: usize) {
    // SAFETY: `ctx` is the `&mut String` given to `ByteSink::new`, not used
    // elsewhere while the sink lives; `bytes` is `len` readable bytes for
    // the duration of the call (`ByteSink::write` passes a `&str`).
    unsafe {
        let target = &mut *ctx.cast::<String>();
        let bytes = core::slice::from_raw_parts(bytes, len);
        target.push_str(&String::from_utf8_lossy(bytes));
    }
}

impl fmt::Debug for ByteSink<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ByteSink")
    }
}

/// Where a plugin writes its exported state: a function of the host that
/// copies the bytes into a host-owned `Vec<u8>`, as [`ByteSink`] does for
/// text, so the state's bytes are freed by the allocator that made them on
/// each side.
///
/// # Example
/// ```
/// use plugbus_core::ffi::BytesSink;
///
/// let mut bytes = Vec::new();
/// let sink = BytesSink::new(&mut bytes);
/// sink.write(&[1, 2]);
/// sink.write(&[3]);
/// assert_eq!(bytes, [1, 2, 3]);
/// ```
#[repr(C)]
pub struct BytesSink<'a> {
    ctx: *mut c_void,
    write: unsafe extern "C" fn(*mut c_void, *const u8, usize),
    _target: PhantomData<&'a mut Vec<u8>>,
}

impl<'a> BytesSink<'a> {
    /// A sink that appends to `target`.
    pub fn new(target: &'a mut Vec<u8>) -> Self {
        BytesSink {
            ctx: core::ptr::from_mut(target).cast(),
            write: append_to_vec,
            _target: PhantomData,
        }
    }

    /// Appends `bytes` through the creator's function.
    pub fn write(&self, bytes: &[u8]) {
        // SAFETY: as `ByteSink::write`: made only by `new`, from a
        // `&'a mut Vec<u8>` still borrowed, with this binary's function.
        unsafe { (self.write)(self.ctx, bytes.as_ptr(), bytes.len()) }
    }
}

/// The host's side of a [`BytesSink`].
unsafe extern "C" fn append_to_vec(ctx: *mut c_void, bytes: *const u8, len: usize) {
    // SAFETY: `ctx` is the `&mut Vec<u8>` given to `BytesSink::new`, not
    // used elsewhere while the sink lives; `bytes` is `len` readable bytes
    // for the duration of the call.
    unsafe {
        let target = &mut *ctx.cast::<Vec<u8>>();
        target.extend_from_slice(core::slice::from_raw_parts(bytes, len));
    }
}

impl fmt::Debug for BytesSink<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BytesSink")
    }
}

/// What [`PluginVTable::import_state`] says about the state it was handed.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawImport {
    /// 0 taken, 1 unknown version, 2 invalid (the reason in the text sink).
    pub refused: u32,
}

/// A [`Flow`] as two integers.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawFlow {
    /// 0 to continue, 1 to detach.
    pub detach: u32,
    /// The detach status.
    pub status: i32,
}

impl From<Flow> for RawFlow {
    fn from(flow: Flow) -> Self {
        match flow {
            Flow::Continue => RawFlow {
                detach: 0,
                status: 0,
            },
            Flow::Detach(status) => RawFlow {
                detach: 1,
                status: status.0,
            },
        }
    }
}

impl From<RawFlow> for Flow {
    /// Any non-zero `detach` detaches.
    fn from(raw: RawFlow) -> Self {
        if raw.detach == 0 {
            Flow::Continue
        } else {
            Flow::Detach(Status(raw.status))
        }
    }
}

/// An [`Exit`] as two integers.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawExit {
    /// 0 detached, 1 shutdown, 2 removed, 3 panicked, 4 gave up, 5
    /// replaced.
    pub kind: u32,
    /// The status of a detach.
    pub status: i32,
}

impl From<Exit> for RawExit {
    fn from(exit: Exit) -> Self {
        let (kind, status) = match exit {
            Exit::Detached(status) => (0, status.0),
            Exit::Shutdown => (1, 0),
            Exit::Removed => (2, 0),
            Exit::Panicked => (3, 0),
            Exit::GaveUp => (4, 0),
            Exit::Replaced => (5, 0),
        };
        RawExit { kind, status }
    }
}

impl From<RawExit> for Exit {
    /// An unknown kind reads as [`Exit::Removed`].
    fn from(raw: RawExit) -> Self {
        match raw.kind {
            0 => Exit::Detached(Status(raw.status)),
            1 => Exit::Shutdown,
            3 => Exit::Panicked,
            4 => Exit::GaveUp,
            5 => Exit::Replaced,
            _ => Exit::Removed,
        }
    }
}

/// The functions a plugin library exports next to its
/// [`PluginDescriptor`](super::PluginDescriptor), generated by
/// [`export_plugin!`](crate::export_plugin).
///
/// Every function but `set_image_owner` and `clear_image_owner` runs plugin
/// code inside
/// `catch_unwind` and returns a [`Code`]; text (a panic message, an error,
/// the plugin's name) goes through the host's [`ByteSink`]. The plugin
/// pointer is the plugin's own `Box`, freed only by `destroy`.
///
/// # Safety contract of the functions
/// The caller passes a plugin pointer returned by `construct` of the same
/// table and not yet destroyed, uses it from one thread at a time (`wants`
/// may share it with nothing else running), passes a message pointer to a
/// live `Message<M>` (for `handle`) or `M` (for `wants`) of the message type
/// the descriptor names, and valid out pointers.
#[repr(C)]
pub struct PluginVTable {
    /// Sets the owner that every envelope the library creates retains.
    pub set_image_owner: unsafe extern "C" fn(*const ImageOwner),
    /// Clears that owner if it is still the one given; called when the
    /// loader lets go of the library (it may stay mapped).
    pub clear_image_owner: unsafe extern "C" fn(*const ImageOwner),
    /// Builds the plugin from `len` bytes of UTF-8 configuration; writes the
    /// plugin pointer on [`Code::OK`].
    pub construct: unsafe extern "C" fn(*const u8, usize, *mut *mut c_void, ByteSink<'_>) -> Code,
    /// Writes the plugin's name to the sink.
    pub name: unsafe extern "C" fn(*const c_void, ByteSink<'_>) -> Code,
    /// Runs the filter on `*const M`; writes 1 (wanted) or 0.
    pub wants: unsafe extern "C" fn(*const c_void, *const c_void, *mut u8, ByteSink<'_>) -> Code,
    /// Runs the handler on `*const Message<M>`; writes the flow.
    pub handle:
        unsafe extern "C" fn(*mut c_void, *const c_void, *mut RawFlow, ByteSink<'_>) -> Code,
    /// Runs `on_attach` with the plugin's id (64-bit since ABI version 3).
    pub on_attach: unsafe extern "C" fn(*mut c_void, u64, ByteSink<'_>) -> Code,
    /// Runs `on_detach`.
    pub on_detach: unsafe extern "C" fn(*mut c_void, RawExit, ByteSink<'_>) -> Code,
    /// Drops the plugin with the library's own allocator.
    pub destroy: unsafe extern "C" fn(*mut c_void, ByteSink<'_>) -> Code,
    /// Runs `export_state`: writes 1 to the `u8` and the state's version to
    /// the `u32` and its bytes to the [`BytesSink`] if it exported one, 0
    /// if not (since ABI version 5).
    pub export_state:
        unsafe extern "C" fn(*mut c_void, *mut u8, *mut u32, BytesSink<'_>, ByteSink<'_>) -> Code,
    /// Runs `import_state` on a state of the version given, read from
    /// `len` bytes the host lends for the call; writes whether it was
    /// taken, and a refusal's reason to the text sink (since ABI version 5).
    pub import_state: unsafe extern "C" fn(
        *mut c_void,
        u32,
        *const u8,
        usize,
        *mut RawImport,
        ByteSink<'_>,
    ) -> Code,
    /// Starts handling a `*const Message<M>`, or polls the handler started
    /// on it before, with the host's waker: writes the flow and returns
    /// [`Code::OK`] once done, or returns [`Code::PENDING`]; the envelope
    /// stays valid until then or until `cancel`. A panic drops the
    /// handler's future inside the library before it returns
    /// [`Code::PANICKED`] (since ABI version 6).
    pub poll: unsafe extern "C" fn(
        *mut c_void,
        *const c_void,
        *const FfiWaker,
        *mut RawFlow,
        ByteSink<'_>,
    ) -> Code,
    /// Drops a pending handler's future inside the library (since ABI
    /// version 6).
    pub cancel: unsafe extern "C" fn(*mut c_void, ByteSink<'_>) -> Code,
}

impl fmt::Debug for PluginVTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PluginVTable")
    }
}

/// The image-owner thunk: sets the owner in this binary's copy of
/// plugbus-core.
#[cfg(feature = "std")]
pub(crate) unsafe extern "C" fn set_image_owner(owner: *const ImageOwner) {
    // SAFETY: the loader's promise, passed on: `owner` outlives every
    // envelope this library creates (see `ImageOwner`).
    unsafe { crate::message::set_image_owner(owner) }
}

/// The image-owner thunk that undoes [`set_image_owner`] if nothing newer
/// replaced it.
#[cfg(feature = "std")]
pub(crate) unsafe extern "C" fn clear_image_owner(owner: *const ImageOwner) {
    crate::message::clear_image_owner(owner);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_and_exit_round_trip() {
        for flow in [Flow::Continue, Flow::Detach(Status(-7))] {
            assert_eq!(Flow::from(RawFlow::from(flow)), flow);
        }
        for exit in [
            Exit::Detached(Status(3)),
            Exit::Shutdown,
            Exit::Removed,
            Exit::Panicked,
            Exit::GaveUp,
            Exit::Replaced,
        ] {
            assert_eq!(Exit::from(RawExit::from(exit)), exit);
        }
    }
}
