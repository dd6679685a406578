//! A loaded library: its file checked and its descriptor read from the file
//! before the system loader maps it, the mapped descriptor confirmed, kept
//! mapped while a plugin or an envelope made by it lives.

use std::ffi::c_void;
use std::fs::{self, File};
use std::io::{self, Read};
use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use plugbus_core::ImageOwner;
use plugbus_core::ffi::{
    CORE_VERSION, DESCRIPTOR_PREFIX, PluginDescriptor, PluginVTable, RUSTC_VERSION, VTABLE_PREFIX,
};

use super::copy::Copy;
use super::error::{LoadError, MessageType};
use super::file::{self, FileFacts, io_error};
use super::options::LoadOptions;
use super::permissions;

/// One `dlopen` of a plugin library, shared (`Arc`) by the plugin built from
/// it and by every envelope the library created, through `owner`.
pub(crate) struct Image {
    library: ManuallyDrop<libloading::Library>,
    /// Handed to the library; its `ctx` is this `Image` inside its `Arc`.
    owner: ImageOwner,
    vtable: *const PluginVTable,
    descriptor: PluginDescriptor,
    /// The path the caller gave.
    path: PathBuf,
    /// The name the system loader opened (`/proc/self/fd/N` on Linux).
    loaded: PathBuf,
    /// What keeps `loaded` valid and unique: the open file or the copy.
    backing: Option<Backing>,
}

/// The open file (or private copy) behind a loaded library. While a library
/// is mapped its backing stays open, so that the name the system loader
/// knows it by (`/proc/self/fd/N`) is never reused for another file.
#[derive(Debug)]
#[allow(dead_code, reason = "held open, never read")]
enum Backing {
    /// The user's file, loaded in place.
    InPlace(File),
    /// A private copy.
    Copied(Copy),
}

// SAFETY: the raw pointers are the library's thunk table (immutable, valid
// while the library is loaded, which this `Image` ensures) and the owner's
// context (this `Image` itself); the functions behind them may be called
// from any thread (`PluginVTable`'s contract). `libloading::Library` is
// `Send + Sync`.
unsafe impl Send for Image {}
// SAFETY: as for `Send`: shared access only reads the table and descriptor.
unsafe impl Sync for Image {}

/// A file's identity: a file rewritten in place keeps its device and inode
/// but changes size or modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    device: u64,
    inode: u64,
    size: u64,
    modified: Option<std::time::SystemTime>,
}

impl FileId {
    fn same_file(&self, other: &FileId) -> bool {
        (self.device, self.inode) == (other.device, other.inode)
    }
}

/// A library the system loader still maps.
struct Mapped {
    /// The user's file for a library loaded in place (its canonical path and
    /// identity), `None` for a copy.
    origin: Option<(PathBuf, FileId)>,
    /// The image while it lives.
    image: Weak<Image>,
    /// Once the image is gone but the library stayed mapped: the name to ask
    /// the system loader about, and the backing kept open meanwhile.
    lingering: Option<(PathBuf, Backing)>,
}

/// Every library this loader mapped that may still be mapped. The lock is
/// held while a library is opened and set up, and while one is closed.
static MAPPED: Mutex<Vec<Mapped>> = Mutex::new(Vec::new());

impl Image {
    /// Checks the file at `path` and the descriptor in it against
    /// `expected`, then loads it (or a copy) and confirms the descriptor the
    /// system loader mapped.
    ///
    /// # Safety
    /// As [`load_with`](super::load_with): loading runs the library's
    /// initialisers, and the caller vouches that a library with a valid
    /// descriptor is an honest plugbus plugin.
    pub(crate) unsafe fn open(
        path: &Path,
        options: &LoadOptions,
        expected: &PluginDescriptor,
    ) -> Result<Arc<Image>, LoadError> {
        let metadata = regular_file(path)?;
        if !options.trust_permissions {
            permissions::check(path)?;
        }
        let mut file = File::open(path).map_err(|e| io_error(path, "opening it", e))?;
        let name = match &options.crate_name {
            Some(name) => name.clone(),
            None => crate_name(path),
        };

        // The whole file, read once: checked from memory, and (for a copy)
        // written from the same bytes, so the bytes checked are the bytes
        // mapped.
        let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
        file.read_to_end(&mut bytes)
            .map_err(|e| io_error(path, "reading it", e))?;

        let mut mapped = MAPPED.lock().unwrap_or_else(PoisonError::into_inner);
        forget_unmapped(&mut mapped);
        let (facts, backing, loaded, origin) = if options.copy {
            let facts = file::read_bytes(path, &bytes, &name)?;
            check_descriptor(path, &facts.descriptor, expected)?;
            let copy = Copy::make(path, &bytes, options.copy_dir.as_deref())?;
            let loaded = copy.path.clone();
            (facts, Backing::Copied(copy), loaded, None)
        } else {
            let id = file_id(&file, &metadata);
            let origin = match id {
                Some(id) => Some((canonical(path)?, id)),
                None => None,
            };
            if let Some(origin) = &origin {
                if let Some(image) = in_place(path, &mapped, origin)? {
                    // Unlocked first: if the check fails and this was the
                    // last reference, dropping the image takes the lock.
                    drop(mapped);
                    check_descriptor(path, &image.descriptor, expected)?;
                    return Ok(image);
                }
            }
            let facts = file::read_bytes(path, &bytes, &name)?;
            check_descriptor(path, &facts.descriptor, expected)?;
            let loaded = loader_name(path, &file);
            (facts, Backing::InPlace(file), loaded, origin)
        };
        drop(bytes);

        // SAFETY: the caller's promise (loading runs initialisers). Every
        // check that the file allows was made on the very bytes the system
        // loader maps (the sealed copy, or the open file on Linux).
        let library = unsafe { dlopen(&loaded) }.map_err(|source| LoadError::NotLoadable {
            path: path.to_owned(),
            reason: String::from("the system loader refused it"),
            source: Some(source),
        })?;
        let (descriptor, vtable) = match confirm(path, &library, &facts) {
            Ok(found) => found,
            Err(error) => {
                close(library, &loaded, origin, backing, &mut mapped);
                return Err(error);
            }
        };
        let image = Arc::new_cyclic(|weak: &Weak<Image>| Image {
            library: ManuallyDrop::new(library),
            owner: ImageOwner {
                ctx: weak.as_ptr().cast(),
                retain: retain_image,
                release: release_image,
            },
            vtable,
            descriptor,
            path: path.to_owned(),
            loaded,
            backing: Some(backing),
        });
        // SAFETY: the owner lives inside the `Arc<Image>` and every envelope
        // the library creates retains that `Arc` through it, so it outlives
        // them; its functions are ours and thread-safe. Called before any
        // other plugin code, under the lock; no other live image shares this
        // mapping (a second load of a mapped file shares the image instead),
        // so no other image's owner is replaced.
        unsafe { (image.vtable().set_image_owner)(&image.owner) };
        mapped.push(Mapped {
            origin,
            image: Arc::downgrade(&image),
            lingering: None,
        });
        Ok(image)
    }

    /// The library's thunk table.
    pub(crate) fn vtable(&self) -> &PluginVTable {
        // SAFETY: a static of the library, which stays loaded while `self`
        // lives; checked to be a plugbus table of this ABI version.
        unsafe { &*self.vtable }
    }

    pub(crate) fn descriptor(&self) -> &PluginDescriptor {
        &self.descriptor
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn loaded(&self) -> &Path {
        &self.loaded
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        // Under the lock, so no other thread opens this file meanwhile and
        // finds the mapping half closed.
        let mut mapped = MAPPED.lock().unwrap_or_else(PoisonError::into_inner);
        // The library may stay mapped after `close` (a `thread_local!` with a
        // destructor on a living thread keeps it): it must not keep pointing
        // at this image's owner, which is freed with `self`.
        // SAFETY: the vtable is a static of the still-loaded library; the
        // thunk only compares and swaps a pointer, running no plugin code.
        unsafe { (self.vtable().clear_image_owner)(&self.owner) };
        // SAFETY: the last plugin and envelope of this library are gone (they
        // each held the `Arc`), so none of its code can run any more. Taken
        // once, here.
        let library = unsafe { ManuallyDrop::take(&mut self.library) };
        let me: *const Image = self;
        let position = mapped.iter().position(|m| m.image.as_ptr() == me);
        let origin = position.and_then(|at| mapped.swap_remove(at).origin);
        if let Some(backing) = self.backing.take() {
            close(library, &self.loaded, origin, backing, &mut mapped);
        }
    }
}

/// Closes a library; if the system keeps it mapped, remembers it with its
/// backing kept open (so its name is not reused, and a load in place of a
/// replaced file is refused).
fn close(
    library: libloading::Library,
    loaded: &Path,
    origin: Option<(PathBuf, FileId)>,
    backing: Backing,
    mapped: &mut Vec<Mapped>,
) {
    // A failed dlclose leaves the library mapped, which the check sees.
    let _ = library.close();
    if still_mapped(loaded) {
        mapped.push(Mapped {
            origin,
            image: Weak::new(),
            lingering: Some((loaded.to_owned(), backing)),
        });
    }
}

/// Drops the records of libraries the system has unmapped since (a thread
/// that kept one has exited), closing their backing.
fn forget_unmapped(mapped: &mut Vec<Mapped>) {
    mapped.retain(|m| match &m.lingering {
        Some((name, _)) => still_mapped(name),
        None => m.image.strong_count() > 0,
    });
}

/// For a load in place: the live image of this very file to share, or an
/// error if another build from the same path (or this file, rewritten) is
/// still mapped; `None` if nothing is in the way.
fn in_place(
    path: &Path,
    mapped: &[Mapped],
    (origin, id): &(PathBuf, FileId),
) -> Result<Option<Arc<Image>>, LoadError> {
    for entry in mapped {
        let Some((their_origin, their_id)) = &entry.origin else {
            continue;
        };
        let live = entry.image.upgrade();
        let same_file = their_id.same_file(id);
        if !same_file && their_origin != origin {
            continue;
        }
        if same_file && their_id == id {
            if live.is_some() {
                return Ok(live);
            }
            // Left mapped by the system, but the same bytes: loading maps
            // it again, with a new image.
            continue;
        }
        return Err(LoadError::StillMapped {
            path: path.to_owned(),
            in_use: live.is_some(),
        });
    }
    Ok(None)
}

/// After `dlopen`: the mapped descriptor is the one read from the file, and
/// the thunk table is there.
fn confirm(
    path: &Path,
    library: &libloading::Library,
    facts: &FileFacts,
) -> Result<(PluginDescriptor, *const PluginVTable), LoadError> {
    let descriptor_symbol = format!("{DESCRIPTOR_PREFIX}{}", facts.crate_name);
    let vtable_symbol = format!("{VTABLE_PREFIX}{}", facts.crate_name);
    // SAFETY: the symbol's bytes were read from the file and checked to be
    // a descriptor of this ABI version; `read_unaligned` copies it out, so
    // nothing borrows from the library.
    let descriptor = unsafe {
        symbol(library, &descriptor_symbol, path)?
            .cast::<PluginDescriptor>()
            .read_unaligned()
    };
    if descriptor != facts.descriptor {
        return Err(LoadError::DescriptorChanged {
            path: path.to_owned(),
        });
    }
    // SAFETY: as above, the table exported next to a checked descriptor.
    let vtable = unsafe { symbol(library, &vtable_symbol, path)? }.cast::<PluginVTable>();
    Ok((descriptor, vtable))
}

unsafe extern "C" fn retain_image(ctx: *const ()) {
    // SAFETY: `ctx` is the `Image` inside its `Arc` (made by `new_cyclic`),
    // and the caller holds a reference: the envelope's creator code runs
    // only while the image is alive.
    unsafe { Arc::increment_strong_count(ctx.cast::<Image>()) }
}

unsafe extern "C" fn release_image(ctx: *const ()) {
    // SAFETY: drops the reference `retain_image` added; the envelope copied
    // the owner's fields out before calling, so freeing the image is fine.
    unsafe { Arc::decrement_strong_count(ctx.cast::<Image>()) }
}

/// # Safety
/// As `libloading::Library::new`: runs the library's initialisers.
unsafe fn dlopen(path: &Path) -> Result<libloading::Library, libloading::Error> {
    #[cfg(unix)]
    {
        use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
        // RTLD_NOW: an unresolved symbol is a load error now rather than a
        // crash at its first call. RTLD_LOCAL: the plugin's symbols do not
        // leak into other libraries.
        // SAFETY: the caller's promise.
        unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }.map(Into::into)
    }
    #[cfg(not(unix))]
    {
        // SAFETY: the caller's promise.
        unsafe { libloading::Library::new(path) }
    }
}

/// The address of an exported symbol.
///
/// # Safety
/// Looking a name up runs no library code; the caller decides how to read it.
unsafe fn symbol(
    library: &libloading::Library,
    name: &str,
    path: &Path,
) -> Result<*const c_void, LoadError> {
    // SAFETY: `*const c_void` makes the symbol's value its address, which
    // is all we take.
    match unsafe { library.get::<*const c_void>(name) } {
        Ok(symbol) => Ok(*symbol),
        // The file exported it: what was mapped is not what was read.
        Err(_) => Err(LoadError::DescriptorChanged {
            path: path.to_owned(),
        }),
    }
}

pub(crate) fn check_descriptor(
    path: &Path,
    plugin: &PluginDescriptor,
    host: &PluginDescriptor,
) -> Result<(), LoadError> {
    if plugin.rustc_version() != RUSTC_VERSION {
        return Err(LoadError::RustcVersion {
            path: path.to_owned(),
            plugin: plugin.rustc_version().to_owned(),
            host: RUSTC_VERSION.to_owned(),
        });
    }
    if plugin.core_version() != CORE_VERSION {
        return Err(LoadError::CoreVersion {
            path: path.to_owned(),
            plugin: plugin.core_version().to_owned(),
            host: CORE_VERSION.to_owned(),
        });
    }
    let (theirs, ours) = (MessageType::of(plugin), MessageType::of(host));
    if theirs != ours {
        return Err(LoadError::MessageType {
            path: path.to_owned(),
            plugin: theirs,
            host: ours,
        });
    }
    Ok(())
}

/// The crate name a file name implies: `libmy_plugin.so`,
/// `libmy_plugin-0a1b2c.so` and `my_plugin.dll` give `my_plugin`.
pub(crate) fn crate_name(path: &Path) -> String {
    let file = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let file = if cfg!(windows) {
        file.as_str()
    } else {
        file.strip_prefix("lib").unwrap_or(&file)
    };
    let stem = file.split('.').next().unwrap_or(file);
    stem.split('-').next().unwrap_or(stem).to_owned()
}

fn kind_of(metadata: &fs::Metadata) -> &'static str {
    if metadata.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let kind = metadata.file_type();
        if kind.is_fifo() {
            return "a named pipe";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_block_device() || kind.is_char_device() {
            return "a device";
        }
    }
    "not a regular file"
}

/// The file at `path` exists and is a regular file.
fn regular_file(path: &Path) -> Result<fs::Metadata, LoadError> {
    let metadata = fs::metadata(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => LoadError::NotFound {
            path: path.to_owned(),
        },
        _ => io_error(path, "reading its metadata", source),
    })?;
    if !metadata.is_file() {
        return Err(LoadError::NotRegularFile {
            path: path.to_owned(),
            kind: kind_of(&metadata),
        });
    }
    Ok(metadata)
}

fn canonical(path: &Path) -> Result<PathBuf, LoadError> {
    fs::canonicalize(path).map_err(|e| io_error(path, "resolving its path", e))
}

/// The identity of the open file (the one that will be mapped).
fn file_id(file: &File, fallback: &fs::Metadata) -> Option<FileId> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let metadata = file.metadata().unwrap_or_else(|_| fallback.clone());
        Some(FileId {
            device: metadata.dev(),
            inode: metadata.ino(),
            size: metadata.len(),
            modified: metadata.modified().ok(),
        })
    }
    #[cfg(not(unix))]
    {
        let _ = (file, fallback);
        None
    }
}

/// The name the system loader opens for a file loaded in place: on Linux
/// the open file itself, so the file checked is the file mapped.
fn loader_name(path: &Path, file: &File) -> PathBuf {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let _ = path;
        PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = file;
        path.to_owned()
    }
}

/// Whether the system loader still maps the library it opened as `name`.
fn still_mapped(name: &Path) -> bool {
    #[cfg(unix)]
    {
        use libloading::os::unix::Library;
        // SAFETY: RTLD_NOLOAD only looks the library up: nothing is mapped
        // and no initialiser runs. The reference it adds is dropped at once.
        match unsafe { Library::open(Some(name), libc::RTLD_NOW | libc::RTLD_NOLOAD) } {
            Ok(library) => {
                let _ = library.close();
                true
            }
            Err(_) => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = name;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_names_from_file_names() {
        for (file, name) in [
            ("target/debug/deps/libplugbus_concat.so", "plugbus_concat"),
            ("libplugbus_concat-0a1b2c3d.so", "plugbus_concat"),
            ("libx.so.1.2", "x"),
        ] {
            if !cfg!(windows) {
                assert_eq!(crate_name(Path::new(file)), name, "{file}");
            }
        }
    }
}
