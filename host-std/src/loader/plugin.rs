//! A plugin from a dynamic library, driven through its `extern "C"` thunks.

use std::ffi::c_void;
use std::fmt;
use std::marker::PhantomData;
use std::panic;
use std::path::Path;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use plugbus_core::__polled::{self, PollHandler};
use plugbus_core::dispatch_work::{QueueWork, RingWork};
use plugbus_core::ffi::{
    ByteSink, BytesSink, Code, FfiWaker, PluginDescriptor, PluginVTable, RawExit, RawFlow,
    RawImport,
};
use plugbus_core::lifecycle::{Factory, State, StateError};
use plugbus_core::{Exit, Fingerprint, Flow, Message, Plugin, PluginId};

use super::error::LoadError;
use super::image::Image;
use super::options::LoadOptions;

/// Loads the plugin library at `path` and builds its plugin from `config`,
/// with the default [`LoadOptions`] (from a unique copy of the file).
///
/// Before the system loader maps any of the library, so before any of its
/// code runs (initialisers included), the loader checks that the file
/// exists, is a regular file that only this process's user or root can
/// replace (see [`LoadOptions::trust_permissions`]), is a shared library for
/// this machine whose every segment lies within the file (a truncated
/// library is an error, not a crash), and exports a plugbus descriptor; it
/// reads that descriptor from the file and checks it: magic, ABI version,
/// the rustc and plugbus-core versions it was built with, and its message
/// type's name, size, alignment and [`Fingerprint`] against `M`'s. After
/// loading it confirms that the mapped descriptor is the one it read.
///
/// # Safety
/// Opening a library runs its initialisers (and closing it, its
/// finalisers), which may do anything: the caller promises that the library
/// at `path` is trusted code. The checks above catch honest mistakes (a
/// stale build, another message type, a damaged file); they cannot catch a
/// library that lies in its descriptor, or exports plugbus's symbol names
/// without being built by [`export_plugin!`](plugbus_core::export_plugin).
/// While the file is being copied (or, with [`LoadOptions::copy`] off, while
/// the library is loaded) it must not be rewritten in place; replacing it
/// by renaming a new file over it is fine. The plugin must not leave its
/// own code running after it is destroyed (a thread it spawned), since the
/// library is unloaded once the plugin and its envelopes are gone.
///
/// # Errors
/// A [`LoadError`] naming the path and what was wrong, with both sides of a
/// mismatch; [`LoadError::ConstructorFailed`] or
/// [`LoadError::ConstructorPanicked`] if the plugin's constructor refused
/// the configuration or panicked.
///
/// # Example
/// ```no_run
/// use plugbus_core::{Flow, LocalHost, Message, Plugin};
///
/// // SAFETY: the library is our own plugin, built with this workspace.
/// let plugin = unsafe { plugbus_host_std::load::<u64>("target/debug/libcounter.so", "") }?;
/// let mut host = LocalHost::new();
/// host.attach(plugin)?;
/// host.send(42)?;
/// let reports = host.shutdown();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub unsafe fn load<M: Fingerprint + Send + Sync + 'static>(
    path: impl AsRef<Path>,
    config: &str,
) -> Result<DynamicPlugin<M>, LoadError> {
    // SAFETY: the caller's promise, passed on.
    unsafe { load_with(path, config, &LoadOptions::new()) }
}

/// [`load`] with options.
///
/// # Safety
/// As [`load`].
///
/// # Errors
/// As [`load`].
///
/// # Example
/// ```no_run
/// use plugbus_host_std::{LoadOptions, load_with};
///
/// let options = LoadOptions::new().copy_dir("/var/tmp");
/// // SAFETY: the library is our own plugin, built with this workspace.
/// let plugin = unsafe { load_with::<String>("plugins/libecho.so", "", &options) }?;
/// # Ok::<(), plugbus_host_std::LoadError>(())
/// ```
pub unsafe fn load_with<M: Fingerprint + Send + Sync + 'static>(
    path: impl AsRef<Path>,
    config: &str,
    options: &LoadOptions,
) -> Result<DynamicPlugin<M>, LoadError> {
    let path = path.as_ref();
    // SAFETY: the caller's promise, passed on.
    let loaded = unsafe { construct(path, config, options) };
    #[cfg(feature = "tracing")]
    tell_load(path, loaded.as_ref());
    loaded
}

/// Tells a load (the plugin's name and version) or a refusal (the reason),
/// with the path: for [`load_with`] and for a reload's new build.
#[cfg(feature = "tracing")]
pub(crate) fn tell_load<M>(path: &Path, loaded: Result<&DynamicPlugin<M>, &LoadError>) {
    match loaded {
        Ok(plugin) => tracing::info!(
            target: "plugbus",
            path = %path.display(),
            plugin = plugin.name,
            version = plugin.descriptor().plugin_version(),
            "plugin loaded"
        ),
        Err(error) => tracing::warn!(
            target: "plugbus",
            path = %path.display(),
            reason = %error.reason(),
            "plugin refused"
        ),
    }
}

/// Checks and loads the library, and builds the plugin: [`load_with`]
/// without its events.
///
/// # Safety
/// As [`load`].
unsafe fn construct<M: Fingerprint + Send + Sync + 'static>(
    path: &Path,
    config: &str,
    options: &LoadOptions,
) -> Result<DynamicPlugin<M>, LoadError> {
    // SAFETY: the caller's promise, passed on.
    unsafe { Library::open(path, options) }?.instance(config)
}

/// A plugin library, checked and loaded once, that builds as many plugin
/// instances as asked: the second instance of a supervised plugin, or the
/// next build of one being reloaded, costs no second load. It stays mapped
/// while it, any instance it built, or any envelope they made lives.
///
/// # Example
/// ```no_run
/// use plugbus_host_std::lifecycle::Restart;
/// use plugbus_host_std::{AttachOptions, Host, Library, LoadOptions};
///
/// // SAFETY: the library is our own plugin, built with this workspace.
/// let library = unsafe { Library::<u64>::open("target/debug/libcounter.so", &LoadOptions::new()) }?;
/// let host = Host::new();
/// // Restarts build again from the same library, with the same configuration.
/// let options = AttachOptions::new().restart(Restart::OnPanic);
/// host.attach_supervised(library.factory("limit=10"), options)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Library<M> {
    image: Arc<Image>,
    _message: PhantomData<fn(&Message<M>)>,
}

impl<M: Fingerprint + Send + Sync + 'static> Library<M> {
    /// Checks the library at `path` and loads it as [`load_with`] does,
    /// without building a plugin yet.
    ///
    /// # Safety
    /// As [`load`].
    ///
    /// # Errors
    /// As [`load`], but for the constructor's errors, which come from
    /// [`instance`](Library::instance).
    pub unsafe fn open(path: impl AsRef<Path>, options: &LoadOptions) -> Result<Self, LoadError> {
        let path = path.as_ref();
        // A static per message type (a promoted constant), kept in the binary
        // even where the checks are inlined, so `plugbus inspect
        // --check-against` finds what this host expects in its file.
        let expected: &'static PluginDescriptor = const { &PluginDescriptor::new::<M>("", "") };
        let expected = std::hint::black_box(expected);
        // SAFETY: the caller's promise, passed on.
        let image = unsafe { Image::open(path, options, expected)? };
        Ok(Library {
            image,
            _message: PhantomData,
        })
    }

    /// Builds a plugin instance from `config` with the library's
    /// constructor.
    ///
    /// # Errors
    /// [`LoadError::ConstructorFailed`] or
    /// [`LoadError::ConstructorPanicked`].
    pub fn instance(&self, config: &str) -> Result<DynamicPlugin<M>, LoadError> {
        let image = &self.image;
        let path = image.path();
        let mut text = String::new();
        let mut object: *mut c_void = ptr::null_mut();
        // SAFETY: a checked table; `config` is readable for the call and
        // `object` is a valid out pointer.
        let code = unsafe {
            (image.vtable().construct)(
                config.as_ptr(),
                config.len(),
                &mut object,
                ByteSink::new(&mut text),
            )
        };
        let plugin = image.descriptor().plugin_name().to_owned();
        let object = match (code, NonNull::new(object)) {
            (Code::OK, Some(object)) => object,
            (Code::PANICKED, _) => {
                return Err(LoadError::ConstructorPanicked {
                    path: path.to_owned(),
                    plugin,
                    message: text,
                });
            }
            (Code::OK, None) => {
                return Err(LoadError::ConstructorFailed {
                    path: path.to_owned(),
                    plugin,
                    message: String::from("the constructor returned no plugin"),
                });
            }
            _ => {
                return Err(LoadError::ConstructorFailed {
                    path: path.to_owned(),
                    plugin,
                    message: text,
                });
            }
        };
        let mut name = String::new();
        // SAFETY: a live plugin from this table, not shared yet.
        let code = unsafe { (image.vtable().name)(object.as_ptr(), ByteSink::new(&mut name)) };
        if code != Code::OK {
            // The panic was caught in the plugin; its descriptor names it too.
            name = plugin;
        }
        Ok(DynamicPlugin {
            object,
            image: image.clone(),
            name,
            pending: false,
            waker: None,
            _message: PhantomData,
        })
    }

    /// A [`Factory`] that builds instances from `config`: a supervised
    /// plugin's restarts build again from this library.
    pub fn factory(&self, config: impl Into<String>) -> LibraryFactory<M> {
        LibraryFactory {
            library: self.clone(),
            config: config.into(),
        }
    }
}

impl<M> Library<M> {
    /// The library's descriptor (its plugin's name and version, its build).
    pub fn descriptor(&self) -> &PluginDescriptor {
        self.image.descriptor()
    }

    /// The path it was loaded from, as given.
    pub fn path(&self) -> &Path {
        self.image.path()
    }
}

impl<M> Clone for Library<M> {
    fn clone(&self) -> Self {
        Library {
            image: self.image.clone(),
            _message: PhantomData,
        }
    }
}

impl<M> fmt::Debug for Library<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Library")
            .field("plugin", &self.descriptor().plugin_name())
            .field("version", &self.descriptor().plugin_version())
            .field("path", &self.path())
            .finish()
    }
}

/// Builds instances of a [`Library`]'s plugin with one configuration; see
/// [`Library::factory`].
pub struct LibraryFactory<M> {
    library: Library<M>,
    config: String,
}

impl<M: Fingerprint + Send + Sync + 'static> Factory<M> for LibraryFactory<M> {
    type Plugin = DynamicPlugin<M>;
    type Error = LoadError;

    fn make(&mut self) -> Result<DynamicPlugin<M>, LoadError> {
        self.library.instance(&self.config)
    }
}

impl<M> fmt::Debug for LibraryFactory<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LibraryFactory")
            .field("library", &self.library)
            .field("config", &self.config)
            .finish()
    }
}

/// A plugin built by a dynamic library, usable like any other
/// [`Plugin`]: attach it to any host.
///
/// Each call goes through the library's `extern "C"` thunks, which catch the
/// plugin's panics; a caught panic is raised again here, on the host's side
/// (with `resume_unwind`, so the plugin's panic hook has printed it once),
/// where the host's lane records it. Dropping the plugin destroys it with
/// the library's own `destroy` thunk (and allocator). The library stays
/// loaded while this plugin or any envelope the library created lives, and
/// is unloaded after the last of them.
///
/// Load one with [`load`] or [`load_with`].
pub struct DynamicPlugin<M> {
    /// The plugin's own `Box`, freed only by `destroy`.
    object: NonNull<c_void>,
    image: Arc<Image>,
    name: String,
    /// The library's handler future is pending (an async plugin): its
    /// lane polls it again before it takes another message.
    pending: bool,
    /// The lane's waker, lent to the library at each poll.
    waker: Option<Waker>,
    _message: PhantomData<fn(&Message<M>)>,
}

// SAFETY: the object is a `Plugin<M>`, which is `Send`, built and dropped by
// the library's thunks, which may run on any thread (a pending handler's
// future is `Send` too); `Image` and `Waker` are `Send`.
// `DynamicPlugin` is not `Sync`: `wants(&self)` runs plugin code that was
// not promised to be callable from two threads at once.
unsafe impl<M: Send + Sync> Send for DynamicPlugin<M> {}

impl<M> DynamicPlugin<M> {
    /// The plugin library's descriptor (its name, version, build).
    pub fn descriptor(&self) -> &PluginDescriptor {
        self.image.descriptor()
    }

    /// The path it was loaded from, as given.
    pub fn path(&self) -> &Path {
        self.image.path()
    }

    /// The file actually mapped: the private copy, or the same as
    /// [`path`](DynamicPlugin::path) without one.
    pub fn loaded_from(&self) -> &Path {
        self.image.loaded()
    }

    fn vtable(&self) -> &PluginVTable {
        self.image.vtable()
    }

    /// Runs a thunk with a sink for its panic message; raises a caught
    /// panic again here.
    fn call<T>(&self, thunk: impl FnOnce(ByteSink<'_>) -> (Code, T)) -> T {
        let mut panic = String::new();
        let (code, value) = thunk(ByteSink::new(&mut panic));
        self.raise(code, panic);
        value
    }

    /// Raises the panic a thunk caught (its message in `panic`) again here.
    fn raise(&self, code: Code, mut panic: String) {
        if code != Code::OK {
            if panic.is_empty() {
                panic = format!("plugin `{}` failed with code {}", self.name, code.0);
            }
            panic::resume_unwind(Box::new(panic));
        }
    }
}

impl<M: Send + Sync + 'static> Plugin<M> for DynamicPlugin<M> {
    fn handle_message(&mut self, message: &Message<M>) -> Flow {
        let object = self.object.as_ptr();
        let handle = self.vtable().handle;
        let flow = self.call(|sink| {
            let mut flow = RawFlow::from(Flow::Continue);
            // SAFETY: a live plugin used by this lane only (`&mut self`),
            // an envelope of the message type the loader checked, a valid
            // out pointer.
            let code = unsafe { handle(object, ptr::from_ref(message).cast(), &mut flow, sink) };
            (code, flow)
        });
        Flow::from(flow)
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn wants(&self, message: &M) -> bool {
        let object = self.object.as_ptr();
        let wants = self.vtable().wants;
        self.call(|sink| {
            let mut wanted = 1u8;
            // SAFETY: a live plugin (not `Sync`, so no other call runs), a
            // value of the checked message type, a valid out pointer.
            let code = unsafe { wants(object, ptr::from_ref(message).cast(), &mut wanted, sink) };
            (code, wanted != 0)
        })
    }

    fn on_attach(&mut self, id: PluginId) {
        let object = self.object.as_ptr();
        let on_attach = self.vtable().on_attach;
        self.call(|sink| {
            // SAFETY: a live plugin, used exclusively.
            (unsafe { on_attach(object, id.get(), sink) }, ())
        });
    }

    fn on_detach(&mut self, exit: Exit) {
        let object = self.object.as_ptr();
        let on_detach = self.vtable().on_detach;
        self.call(|sink| {
            // SAFETY: a live plugin, used exclusively.
            (unsafe { on_detach(object, RawExit::from(exit), sink) }, ())
        });
    }

    /// The library's state, copied into the host's allocation as it
    /// leaves (the library frees its own).
    fn export_state(&mut self) -> Option<State> {
        let object = self.object.as_ptr();
        let export_state = self.vtable().export_state;
        let mut bytes = Vec::new();
        let (exported, version) = self.call(|sink| {
            let (mut exported, mut version) = (0u8, 0u32);
            // SAFETY: a live plugin, used exclusively; valid out pointers
            // and sinks for the call.
            let code = unsafe {
                export_state(
                    object,
                    &mut exported,
                    &mut version,
                    BytesSink::new(&mut bytes),
                    sink,
                )
            };
            (code, (exported, version))
        });
        (exported != 0).then(|| State::new(version, bytes))
    }

    fn __run_ring(&mut self, work: RingWork<'_, '_, M>) -> Flow {
        let mut waker = self.waker.take();
        let flow = __polled::run_ring(self, &mut waker, work);
        self.waker = waker;
        flow
    }

    fn __run_queue(&mut self, work: QueueWork<'_, M>) -> Flow {
        let mut waker = self.waker.take();
        let flow = __polled::run_queue(self, &mut waker, work);
        self.waker = waker;
        flow
    }

    unsafe fn __poll_message(&mut self, message: &Message<M>, cx: &mut Context<'_>) -> Poll<Flow> {
        // SAFETY: this method's contract is `poll_message`'s.
        unsafe { self.poll_message(message, cx) }
    }

    fn __pending(&self) -> bool {
        self.pending
    }

    /// Drops the library's pending future, by the library's code.
    fn __cancel(&mut self) {
        if !std::mem::take(&mut self.pending) {
            return;
        }
        let object = self.object.as_ptr();
        let cancel = self.vtable().cancel;
        self.call(|sink| {
            // SAFETY: a live plugin, used exclusively; the envelope its
            // future borrows is still in place (the lane cancels first).
            (unsafe { cancel(object, sink) }, ())
        });
    }

    /// Lends the state's bytes to the library for the call; it copies
    /// what it keeps.
    fn import_state(&mut self, state: &State) -> Result<(), StateError> {
        let object = self.object.as_ptr();
        let import_state = self.vtable().import_state;
        let mut text = String::new();
        let mut outcome = RawImport { refused: 0 };
        let bytes = state.bytes();
        // SAFETY: a live plugin, used exclusively; `bytes` readable for the
        // call; a valid out pointer.
        let code = unsafe {
            import_state(
                object,
                state.version(),
                bytes.as_ptr(),
                bytes.len(),
                &mut outcome,
                ByteSink::new(&mut text),
            )
        };
        self.raise(code, text.clone());
        match outcome.refused {
            0 => Ok(()),
            1 => Err(StateError::unknown_version(state)),
            _ => Err(StateError::invalid(state, text)),
        }
    }
}

/// The lane polls the library's handler (a synchronous plugin's completes
/// at once): one `poll` thunk per message, as one `handle` thunk before.
impl<M: Send + Sync + 'static> PollHandler<M> for DynamicPlugin<M> {
    fn wants(&self, message: &M) -> bool {
        Plugin::wants(self, message)
    }

    unsafe fn poll_message(&mut self, message: &Message<M>, cx: &mut Context<'_>) -> Poll<Flow> {
        let object = self.object.as_ptr();
        let poll = self.vtable().poll;
        let waker = FfiWaker::borrowed(cx.waker());
        let mut flow = RawFlow::from(Flow::Continue);
        let mut panic = String::new();
        // SAFETY: a live plugin used by this lane only (`&mut self`); an
        // envelope of the checked message type that the caller keeps in
        // place while the handler is pending (this method's contract); a
        // waker borrowed for the call; a valid out pointer.
        let code = unsafe {
            poll(
                object,
                ptr::from_ref(message).cast(),
                &waker,
                &mut flow,
                ByteSink::new(&mut panic),
            )
        };
        // A panic dropped the future inside the library already.
        self.pending = code == Code::PENDING;
        if self.pending {
            return Poll::Pending;
        }
        self.raise(code, panic);
        Poll::Ready(Flow::from(flow))
    }

    fn is_pending(&self) -> bool {
        self.pending
    }
}

impl<M> Drop for DynamicPlugin<M> {
    fn drop(&mut self) {
        let mut panic = String::new();
        // SAFETY: the plugin is live and destroyed once, here, by the
        // library that built it; the `image` field (dropped after this)
        // keeps the library loaded for the call.
        let code =
            unsafe { (self.vtable().destroy)(self.object.as_ptr(), ByteSink::new(&mut panic)) };
        // Raising a second panic while one unwinds would abort the process.
        if code != Code::OK && !std::thread::panicking() {
            panic::resume_unwind(Box::new(panic));
        }
    }
}

impl<M> fmt::Debug for DynamicPlugin<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamicPlugin")
            .field("name", &self.name)
            .field("version", &self.descriptor().plugin_version())
            .field("path", &self.path())
            .finish_non_exhaustive()
    }
}
