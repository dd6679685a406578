//! The plugin side of every call: generic `extern "C"` functions that the
//! export macro instantiates in the plugin crate, each catching the plugin's
//! panics before they reach the boundary.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use core::ffi::c_void;
use core::task::{Context, Poll};

use super::fingerprint::Fingerprint;
use super::vtable::{self, ByteSink, BytesSink, Code, PluginVTable, RawExit, RawFlow, RawImport};
use super::waker::FfiWaker;
use crate::dispatch::guard::guard;
use crate::lifecycle::{State, StateError};
use crate::message::Message;
use crate::plugin::{Exit, Plugin, PluginId};

/// A plugin type exported from a dynamic library, with its message type and
/// constructor. [`export_plugin!`](crate::export_plugin) implements it; the
/// thunks in [`PluginVTable::new`] call it.
///
/// Each thunk catches the plugin's panics inside the library, also a panic
/// payload whose `Drop` panics, and returns [`Code::PANICKED`]. A panic in
/// the `Drop` of a message value is the exception: it aborts the process
/// (see [`Message`]).
///
/// # Example
/// ```
/// use plugbus_core::ffi::{Export, PluginVTable};
/// use plugbus_core::{Flow, Message, Plugin};
///
/// struct Count(u64);
/// impl Plugin<u64> for Count {
///     fn handle_message(&mut self, _: &Message<u64>) -> Flow {
///         self.0 += 1;
///         Flow::Continue
///     }
/// }
///
/// struct Exported;
/// impl Export for Exported {
///     type Message = u64;
///     type Plugin = Count;
///     fn construct(config: &str) -> Result<Count, String> {
///         config.parse().map(Count).map_err(|e| format!("start: {e}"))
///     }
/// }
///
/// static VTABLE: PluginVTable = PluginVTable::new::<Exported>();
/// ```
pub trait Export: 'static {
    /// The message type the plugin handles.
    type Message: Fingerprint + Send + Sync + 'static;
    /// The plugin.
    type Plugin: Plugin<Self::Message>;
    /// Builds the plugin from its configuration, or says why not.
    ///
    /// # Errors
    /// The reason the configuration was refused, shown to the host.
    fn construct(config: &str) -> Result<Self::Plugin, String>;
}

impl PluginVTable {
    /// The thunks for `E`, instantiated in the crate that names `E`.
    pub const fn new<E: Export>() -> Self {
        PluginVTable {
            set_image_owner: vtable::set_image_owner,
            clear_image_owner: vtable::clear_image_owner,
            construct: construct::<E>,
            name: name::<E>,
            wants: wants::<E>,
            handle: handle::<E>,
            on_attach: on_attach::<E>,
            on_detach: on_detach::<E>,
            destroy: destroy::<E>,
            export_state: export_state::<E>,
            import_state: import_state::<E>,
            poll: poll::<E>,
            cancel: cancel::<E>,
        }
    }
}

/// Writes the outcome of a guarded call: `Ok` runs `done`, a panic goes to
/// the sink.
fn settle<T>(result: Result<T, String>, sink: &ByteSink<'_>, done: impl FnOnce(T)) -> Code {
    match result {
        Ok(value) => {
            done(value);
            Code::OK
        }
        Err(panic) => {
            sink.write(&panic);
            Code::PANICKED
        }
    }
}

unsafe extern "C" fn construct<E: Export>(
    config: *const u8,
    len: usize,
    out: *mut *mut c_void,
    sink: ByteSink<'_>,
) -> Code {
    // SAFETY: the loader passes `len` readable bytes for the call.
    let bytes = unsafe { core::slice::from_raw_parts(config, len) };
    let result = guard(|| {
        let config = core::str::from_utf8(bytes)
            .map_err(|e| format!("the configuration is not UTF-8: {e}"))?;
        E::construct(config).map(|plugin| Box::into_raw(Box::new(plugin)))
    });
    match result {
        Ok(Ok(plugin)) => {
            // SAFETY: `out` is a valid out pointer (the table's contract).
            unsafe { out.write(plugin.cast()) };
            Code::OK
        }
        Ok(Err(reason)) => {
            sink.write(&reason);
            Code::FAILED
        }
        Err(panic) => {
            sink.write(&panic);
            Code::PANICKED
        }
    }
}

/// # Safety
/// `plugin` came from `construct::<E>` and is not destroyed.
unsafe fn plugin_ref<'a, E: Export>(plugin: *const c_void) -> &'a E::Plugin {
    // SAFETY: the caller's promise; `construct` made it from a `Box<E::Plugin>`.
    unsafe { &*plugin.cast::<E::Plugin>() }
}

/// # Safety
/// As [`plugin_ref`], and no other reference to the plugin is in use.
unsafe fn plugin_mut<'a, E: Export>(plugin: *mut c_void) -> &'a mut E::Plugin {
    // SAFETY: the caller's promise of exclusive use.
    unsafe { &mut *plugin.cast::<E::Plugin>() }
}

unsafe extern "C" fn name<E: Export>(plugin: *const c_void, sink: ByteSink<'_>) -> Code {
    // SAFETY: the table's contract.
    let plugin = unsafe { plugin_ref::<E>(plugin) };
    let result = guard(|| sink.write(plugin.name()));
    settle(result, &sink, |()| {})
}

unsafe extern "C" fn wants<E: Export>(
    plugin: *const c_void,
    message: *const c_void,
    out: *mut u8,
    sink: ByteSink<'_>,
) -> Code {
    // SAFETY: the table's contract: a live plugin, a live `E::Message` of
    // the type the descriptor names (the loader checked its fingerprint).
    let (plugin, message) = unsafe { (plugin_ref::<E>(plugin), &*message.cast::<E::Message>()) };
    let result = guard(|| plugin.wants(message));
    settle(result, &sink, |wanted| {
        // SAFETY: a valid out pointer (the table's contract).
        unsafe { out.write(u8::from(wanted)) }
    })
}

unsafe extern "C" fn handle<E: Export>(
    plugin: *mut c_void,
    message: *const c_void,
    out: *mut RawFlow,
    sink: ByteSink<'_>,
) -> Code {
    // SAFETY: the table's contract: exclusive use of a live plugin, and a
    // live envelope of the checked message type.
    let (plugin, message) = unsafe {
        (
            plugin_mut::<E>(plugin),
            &*message.cast::<Message<E::Message>>(),
        )
    };
    let result = guard(|| plugin.handle_message(message));
    settle(result, &sink, |flow| {
        // SAFETY: a valid out pointer (the table's contract).
        unsafe { out.write(RawFlow::from(flow)) }
    })
}

unsafe extern "C" fn on_attach<E: Export>(
    plugin: *mut c_void,
    id: u64,
    sink: ByteSink<'_>,
) -> Code {
    // SAFETY: the table's contract.
    let plugin = unsafe { plugin_mut::<E>(plugin) };
    let result = guard(|| plugin.on_attach(PluginId(id)));
    settle(result, &sink, |()| {})
}

unsafe extern "C" fn on_detach<E: Export>(
    plugin: *mut c_void,
    exit: RawExit,
    sink: ByteSink<'_>,
) -> Code {
    // SAFETY: the table's contract.
    let plugin = unsafe { plugin_mut::<E>(plugin) };
    let result = guard(|| plugin.on_detach(Exit::from(exit)));
    settle(result, &sink, |()| {})
}

unsafe extern "C" fn export_state<E: Export>(
    plugin: *mut c_void,
    exported: *mut u8,
    version: *mut u32,
    bytes: BytesSink<'_>,
    sink: ByteSink<'_>,
) -> Code {
    // SAFETY: the table's contract.
    let plugin = unsafe { plugin_mut::<E>(plugin) };
    // The bytes are copied into the host's vector and the state dropped
    // here, by this library's allocator.
    let result = guard(|| {
        plugin.export_state().map(|state| {
            bytes.write(state.bytes());
            state.version()
        })
    });
    settle(result, &sink, |state| {
        // SAFETY: valid out pointers (the table's contract).
        unsafe {
            exported.write(u8::from(state.is_some()));
            version.write(state.unwrap_or(0));
        }
    })
}

unsafe extern "C" fn import_state<E: Export>(
    plugin: *mut c_void,
    version: u32,
    bytes: *const u8,
    len: usize,
    out: *mut RawImport,
    sink: ByteSink<'_>,
) -> Code {
    // SAFETY: the table's contract; the host lends `len` readable bytes for
    // the call, copied here into this library's own allocation.
    let (plugin, bytes) = unsafe {
        (
            plugin_mut::<E>(plugin),
            core::slice::from_raw_parts(bytes, len),
        )
    };
    let result = guard(|| plugin.import_state(&State::new(version, bytes.into())));
    settle(result, &sink, |outcome| {
        let refused = match outcome {
            Ok(()) => 0,
            Err(StateError::UnknownVersion { .. }) => 1,
            Err(StateError::Invalid { reason, .. }) => {
                sink.write(&reason);
                2
            }
        };
        // SAFETY: a valid out pointer (the table's contract).
        unsafe { out.write(RawImport { refused }) }
    })
}

unsafe extern "C" fn destroy<E: Export>(plugin: *mut c_void, sink: ByteSink<'_>) -> Code {
    // SAFETY: the table's contract: the plugin came from `construct::<E>`'s
    // `Box` and is destroyed once; a panicking drop still frees the box.
    let plugin = unsafe { Box::from_raw(plugin.cast::<E::Plugin>()) };
    let result = guard(move || drop(plugin));
    settle(result, &sink, |()| {})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::Flow;

    struct Counter {
        seen: u64,
        panic_at: u64,
        id: Option<PluginId>,
    }

    impl Plugin<u64> for Counter {
        fn handle_message(&mut self, message: &Message<u64>) -> Flow {
            self.seen += 1;
            assert!(
                self.seen != self.panic_at,
                "counter panicked at {}",
                **message
            );
            Flow::Continue
        }
        fn name(&self) -> &str {
            "counter"
        }
        fn on_attach(&mut self, id: PluginId) {
            self.id = Some(id);
        }
    }

    struct Exported;
    impl Export for Exported {
        type Message = u64;
        type Plugin = Counter;
        fn construct(config: &str) -> Result<Counter, String> {
            let panic_at = config.parse().map_err(|e| format!("panic_at: {e}"))?;
            Ok(Counter {
                seen: 0,
                panic_at,
                id: None,
            })
        }
    }

    static VTABLE: PluginVTable = PluginVTable::new::<Exported>();

    fn construct(config: &str) -> Result<*mut c_void, (Code, String)> {
        let mut text = String::new();
        let mut plugin = core::ptr::null_mut();
        // SAFETY: a readable config, a valid out pointer.
        let code = unsafe {
            (VTABLE.construct)(
                config.as_ptr(),
                config.len(),
                &mut plugin,
                ByteSink::new(&mut text),
            )
        };
        if code == Code::OK {
            Ok(plugin)
        } else {
            Err((code, text))
        }
    }

    #[test]
    fn thunks_run_and_catch() {
        assert_eq!(
            construct("x").unwrap_err(),
            (
                Code::FAILED,
                String::from("panic_at: invalid digit found in string")
            )
        );
        let plugin = construct("2").unwrap();
        let mut text = String::new();
        // SAFETY: a live plugin from this table, used from this thread only.
        unsafe {
            assert_eq!((VTABLE.name)(plugin, ByteSink::new(&mut text)), Code::OK);
            assert_eq!(text, "counter");
            let message = Message::new(40u64);
            let mut flow = RawFlow {
                detach: 9,
                status: 9,
            };
            let mut panic = String::new();
            let code = (VTABLE.handle)(
                plugin,
                core::ptr::from_ref(&message).cast(),
                &mut flow,
                ByteSink::new(&mut panic),
            );
            assert_eq!((code, flow), (Code::OK, RawFlow::from(Flow::Continue)));
            let code = (VTABLE.handle)(
                plugin,
                core::ptr::from_ref(&message).cast(),
                &mut flow,
                ByteSink::new(&mut panic),
            );
            assert_eq!(
                (code, panic.as_str()),
                (Code::PANICKED, "counter panicked at 40")
            );
            let mut wanted = 7u8;
            let code = (VTABLE.wants)(
                plugin,
                core::ptr::from_ref(&*message).cast(),
                &mut wanted,
                ByteSink::new(&mut text),
            );
            assert_eq!((code, wanted), (Code::OK, 1));
            // Ids are 64-bit on both sides of the boundary (ABI version 3).
            let code = (VTABLE.on_attach)(plugin, 1 << 40, ByteSink::new(&mut text));
            assert_eq!(code, Code::OK);
            assert_eq!((*plugin.cast::<Counter>()).id, Some(PluginId(1 << 40)));
            assert_eq!((VTABLE.destroy)(plugin, ByteSink::new(&mut text)), Code::OK);
        }
    }

    /// A plugin that panics with a payload whose `Drop` panics too.
    struct Bomb;

    impl Plugin<u64> for Bomb {
        fn handle_message(&mut self, _: &Message<u64>) -> Flow {
            crate::dispatch::guard::tests::panic_with_panicky_payload()
        }
    }

    struct ExportedBomb;
    impl Export for ExportedBomb {
        type Message = u64;
        type Plugin = Bomb;
        fn construct(_: &str) -> Result<Bomb, String> {
            Ok(Bomb)
        }
    }

    static BOMB: PluginVTable = PluginVTable::new::<ExportedBomb>();

    /// Issue 17, item 5: the second panic (the payload's drop) stays inside
    /// the thunk; escaping an `extern "C"` function would abort the test.
    #[test]
    fn a_payload_whose_drop_panics_stays_inside_the_thunk() {
        let mut text = String::new();
        let mut plugin = core::ptr::null_mut();
        // SAFETY: a readable config, valid out pointers, a live plugin from
        // this table used from this thread only, destroyed once.
        unsafe {
            let code = (BOMB.construct)(b"".as_ptr(), 0, &mut plugin, ByteSink::new(&mut text));
            assert_eq!(code, Code::OK);
            let message = Message::new(1u64);
            let mut flow = RawFlow::from(Flow::Continue);
            let code = (BOMB.handle)(
                plugin,
                core::ptr::from_ref(&message).cast(),
                &mut flow,
                ByteSink::new(&mut text),
            );
            assert_eq!(
                (code, text.as_str()),
                (Code::PANICKED, "panic with a non-string payload")
            );
            assert_eq!((BOMB.destroy)(plugin, ByteSink::new(&mut text)), Code::OK);
        }
    }
}

unsafe extern "C" fn poll<E: Export>(
    plugin: *mut c_void,
    message: *const c_void,
    waker: *const FfiWaker,
    out: *mut RawFlow,
    sink: ByteSink<'_>,
) -> Code {
    // SAFETY: the table's contract: exclusive use of a live plugin, a live
    // envelope of the checked message type that stays in place while the
    // handler is pending, and a borrowed waker valid for the call.
    let (plugin, message, waker) = unsafe {
        (
            plugin_mut::<E>(plugin),
            &*message.cast::<Message<E::Message>>(),
            &*waker,
        )
    };
    let result = guard(|| {
        // SAFETY: a borrowed handle of the host's, valid for the call.
        unsafe {
            waker.with_waker(|waker| {
                let mut cx = Context::from_waker(waker);
                // SAFETY: the host keeps the envelope in place until the
                // handler completes or it calls `cancel` (the table's
                // contract).
                plugin.__poll_message(message, &mut cx)
            })
        }
    });
    match result {
        Ok(Poll::Ready(flow)) => {
            // SAFETY: a valid out pointer (the table's contract).
            unsafe { out.write(RawFlow::from(flow)) };
            Code::OK
        }
        Ok(Poll::Pending) => Code::PENDING,
        Err(panic) => {
            // Dropped here, by the library's code, while the envelope is
            // still the host's to keep: the host moves past it after this.
            // A second panic, in the future's drop, is caught and dropped:
            // the first says what went wrong.
            let _ = guard(|| plugin.__cancel());
            sink.write(&panic);
            Code::PANICKED
        }
    }
}

unsafe extern "C" fn cancel<E: Export>(plugin: *mut c_void, sink: ByteSink<'_>) -> Code {
    // SAFETY: the table's contract.
    let plugin = unsafe { plugin_mut::<E>(plugin) };
    let result = guard(|| plugin.__cancel());
    settle(result, &sink, |()| {})
}

#[cfg(test)]
mod async_tests {
    //! The `poll` and `cancel` thunks on an async plugin, called as a
    //! loader would (small enough for miri).

    use alloc::string::String;
    use alloc::sync::Arc;
    use alloc::task::Wake;
    use core::ffi::c_void;
    use core::sync::atomic::{AtomicUsize, Ordering};
    use core::task::{Poll, Waker};

    use super::Export;
    use crate::ffi::{ByteSink, Code, FfiWaker, PluginVTable, RawFlow};
    use crate::{Async, AsyncPlugin, Flow, Message};

    struct Yielder;
    impl AsyncPlugin<u64> for Yielder {
        async fn handle_message(&mut self, message: &Message<u64>) -> Flow {
            let mut yielded = false;
            core::future::poll_fn(|cx| {
                if yielded {
                    return Poll::Ready(());
                }
                yielded = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            })
            .await;
            assert_ne!(**message, 13, "thirteen");
            Flow::Continue
        }
    }

    struct Exported;
    impl Export for Exported {
        type Message = u64;
        type Plugin = Async<Yielder>;
        fn construct(_: &str) -> Result<Async<Yielder>, String> {
            Ok(Async::new(Yielder))
        }
    }

    static VTABLE: PluginVTable = PluginVTable::new::<Exported>();

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Polls until the handler is done; returns the code and how often it
    /// was pending.
    fn poll(plugin: *mut c_void, message: &Message<u64>, waker: &Waker) -> (Code, usize, String) {
        let ffi = FfiWaker::borrowed(waker);
        let mut pending = 0;
        loop {
            let mut flow = RawFlow::from(Flow::Continue);
            let mut text = String::new();
            // SAFETY: a live plugin of this table; the envelope stays in
            // place until the handler is done; a borrowed waker.
            let code = unsafe {
                (VTABLE.poll)(
                    plugin,
                    core::ptr::from_ref(message).cast(),
                    &ffi,
                    &mut flow,
                    ByteSink::new(&mut text),
                )
            };
            if code != Code::PENDING {
                return (code, pending, text);
            }
            pending += 1;
        }
    }

    #[test]
    fn poll_pends_completes_panics_and_cancels() {
        let mut plugin = core::ptr::null_mut();
        let mut text = String::new();
        let config = "";
        // SAFETY: `len` readable bytes; a valid out pointer.
        let code = unsafe {
            (VTABLE.construct)(config.as_ptr(), 0, &mut plugin, ByteSink::new(&mut text))
        };
        assert_eq!(code, Code::OK);
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        assert_eq!(
            poll(plugin, &Message::new(1), &waker),
            (Code::OK, 1, String::new())
        );
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "woken through the boundary"
        );
        let (code, pending, mut text) = poll(plugin, &Message::new(13), &waker);
        assert_eq!((code, pending), (Code::PANICKED, 1));
        assert!(text.contains("thirteen"), "{text}");
        // A pending future cancelled, then the plugin destroyed.
        let message = Message::new(2);
        let ffi = FfiWaker::borrowed(&waker);
        let mut flow = RawFlow::from(Flow::Continue);
        // SAFETY: as in `poll`; the envelope outlives the cancel below.
        let code = unsafe {
            (VTABLE.poll)(
                plugin,
                core::ptr::from_ref(&message).cast(),
                &ffi,
                &mut flow,
                ByteSink::new(&mut text),
            )
        };
        assert_eq!(code, Code::PENDING);
        // SAFETY: a live plugin of this table.
        let code = unsafe { (VTABLE.cancel)(plugin, ByteSink::new(&mut text)) };
        assert_eq!(code, Code::OK);
        // SAFETY: destroyed once.
        let code = unsafe { (VTABLE.destroy)(plugin, ByteSink::new(&mut text)) };
        assert_eq!(code, Code::OK);
        assert_eq!(Arc::strong_count(&count), 2, "no waker handle left behind");
    }
}
