//! A loaded library: opened from a checked file, its descriptor verified,
//! kept mapped while a plugin or an envelope made by it lives.

use std::ffi::c_void;
use std::fs::{self, File};
use std::io;
use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use plugbus_core::ImageOwner;
use plugbus_core::ffi::{
    ABI_VERSION, CORE_VERSION, DESCRIPTOR_PREFIX, DescriptorHeader, MAGIC, PluginDescriptor,
    PluginVTable, RUSTC_VERSION, VTABLE_PREFIX,
};

use super::elf;
use super::error::{LoadError, MessageType};
use super::options::LoadOptions;

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
    /// The file actually loaded: a copy (removed on drop) or `path`.
    loaded: PathBuf,
    copied: bool,
}

// SAFETY: the raw pointers are the library's thunk table (immutable, valid
// while the library is loaded, which this `Image` ensures) and the owner's
// context (this `Image` itself); the functions behind them may be called
// from any thread (`PluginVTable`'s contract). `libloading::Library` is
// `Send + Sync`.
unsafe impl Send for Image {}
// SAFETY: as for `Send`: shared access only reads the table and descriptor.
unsafe impl Sync for Image {}

/// A file's identity, as the system loader sees it.
type FileKey = (u64, u64);

/// Live images by file, so loading a file that is already loaded without a
/// copy shares its image (the system loader shares the mapping, and the
/// library has one image-owner slot). The lock is also held while a library
/// is opened and set up, and while one is closed.
static IMAGES: Mutex<Vec<(FileKey, Weak<Image>)>> = Mutex::new(Vec::new());

/// Names copies uniquely within the process.
static COPIES: AtomicU64 = AtomicU64::new(0);

impl Image {
    /// Checks the file at `path`, loads it (or a copy) and checks its
    /// descriptor against `expected`.
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
        let copy = if options.copy {
            Some(PrivateCopy::make(path, options)?)
        } else {
            None
        };
        let loaded = copy.as_ref().map_or(path, |c| &c.path);
        let mut file = File::open(loaded).map_err(|e| io_error(path, "opening it", e))?;
        let size = file
            .metadata()
            .map_err(|e| io_error(path, "reading its metadata", e))?
            .len();
        check_file(path, &mut file, size)?;
        let key = file_key(&file);
        drop(file);

        let mut images = IMAGES.lock().unwrap_or_else(PoisonError::into_inner);
        images.retain(|(_, image)| image.strong_count() > 0);
        if !options.copy {
            let live = images
                .iter()
                .filter(|(k, _)| Some(*k) == key)
                .find_map(|(_, image)| image.upgrade());
            if let Some(image) = live {
                // Unlocked first: if the check fails and this was the last
                // reference, dropping the image takes the lock.
                drop(images);
                check_descriptor(path, &image.descriptor, expected)?;
                return Ok(image);
            }
        }

        // SAFETY: the caller's promise (loading runs initialisers); the file
        // was checked above so a truncated library cannot fault the loader.
        let library = unsafe { dlopen(loaded) }.map_err(|source| LoadError::NotLoadable {
            path: path.to_owned(),
            reason: String::from("the system loader refused it"),
            source: Some(source),
        })?;
        let name = match &options.crate_name {
            Some(name) => name.clone(),
            None => crate_name(path),
        };
        let descriptor_symbol = format!("{DESCRIPTOR_PREFIX}{name}");
        let vtable_symbol = format!("{VTABLE_PREFIX}{name}");
        // SAFETY: the symbol is a `PluginDescriptor` static if the library
        // is a plugbus plugin (the caller's promise for a library exporting
        // this name); only its header is read before the version checks say
        // the rest has this layout. `read_unaligned` copies it out, so
        // nothing borrows from the library.
        let descriptor = unsafe {
            let address = symbol(&library, &descriptor_symbol, path)?.cast::<DescriptorHeader>();
            let header = address.read_unaligned();
            check_header(path, &header)?;
            address.cast::<PluginDescriptor>().read_unaligned()
        };
        check_descriptor(path, &descriptor, expected)?;
        // SAFETY: as above, the table exported next to a checked descriptor.
        let vtable = unsafe { symbol(&library, &vtable_symbol, path)? }.cast::<PluginVTable>();

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
            loaded: loaded.to_owned(),
            copied: copy.is_some(),
        });
        // The image now removes the copy when it drops.
        if let Some(copy) = copy {
            copy.keep();
        }
        // SAFETY: the owner lives inside the `Arc<Image>` and every envelope
        // the library creates retains that `Arc` through it, so it outlives
        // them; its functions are ours and thread-safe. Called once, before
        // any other plugin code, under the `IMAGES` lock.
        unsafe { (image.vtable().set_image_owner)(&image.owner) };
        if let Some(key) = key {
            images.push((key, Arc::downgrade(&image)));
        }
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
        let _images = IMAGES.lock().unwrap_or_else(PoisonError::into_inner);
        // The library may stay mapped after `close` (a `thread_local!` with a
        // destructor on a living thread keeps it): it must not keep pointing
        // at this image's owner, which is freed with `self`. Only cleared if
        // still ours: a later load of the same file may have set its own.
        // SAFETY: the vtable is a static of the still-loaded library; the
        // thunk only compares and swaps a pointer, running no plugin code.
        unsafe { (self.vtable().clear_image_owner)(&self.owner) };
        // SAFETY: the last plugin and envelope of this library are gone (they
        // each held the `Arc`), so none of its code can run any more. Taken
        // once, here.
        let library = unsafe { ManuallyDrop::take(&mut self.library) };
        // A failed dlclose leaves the library mapped, which is safe.
        let _ = library.close();
        if self.copied {
            let _ = fs::remove_file(&self.loaded);
        }
    }
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
        Err(source) => Err(LoadError::NoDescriptor {
            path: path.to_owned(),
            symbol: name.to_owned(),
            source,
        }),
    }
}

fn check_file(path: &Path, file: &mut File, size: u64) -> Result<(), LoadError> {
    if !cfg!(all(unix, not(target_vendor = "apple"))) {
        // Only ELF targets are checked before loading.
        return Ok(());
    }
    elf::check(file, size).map_err(|problem| match problem {
        elf::Problem::NotLoadable(reason) => LoadError::NotLoadable {
            path: path.to_owned(),
            reason,
            source: None,
        },
        elf::Problem::Truncated { needed } => LoadError::Truncated {
            path: path.to_owned(),
            size,
            needed,
        },
        elf::Problem::Io(source) => io_error(path, "reading its ELF headers", source),
    })
}

fn check_header(path: &Path, header: &DescriptorHeader) -> Result<(), LoadError> {
    if header.magic != MAGIC {
        return Err(LoadError::BadMagic {
            path: path.to_owned(),
            found: header.magic,
        });
    }
    if header.abi_version != ABI_VERSION {
        return Err(LoadError::AbiVersion {
            path: path.to_owned(),
            plugin: header.abi_version,
            host: ABI_VERSION,
        });
    }
    let size = size_of::<PluginDescriptor>() as u32;
    if header.size != size {
        return Err(LoadError::DescriptorSize {
            path: path.to_owned(),
            plugin: header.size,
            host: size,
        });
    }
    Ok(())
}

fn check_descriptor(
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

fn file_key(file: &File) -> Option<FileKey> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        file.metadata().ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        None
    }
}

fn io_error(path: &Path, action: &str, source: io::Error) -> LoadError {
    LoadError::Io {
        path: path.to_owned(),
        action: action.to_owned(),
        source,
    }
}

/// A private copy of the library, removed on drop unless kept.
struct PrivateCopy {
    path: PathBuf,
    keep: bool,
}

impl PrivateCopy {
    fn make(original: &Path, options: &LoadOptions) -> Result<PrivateCopy, LoadError> {
        let dir = options.copy_dir.clone().unwrap_or_else(std::env::temp_dir);
        let file_name = original
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| String::from("plugin"));
        let mut source = File::open(original).map_err(|e| io_error(original, "opening it", e))?;
        for _ in 0..64 {
            // ORDERING: only uniqueness matters.
            let n = COPIES.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("plugbus-{}-{n}-{file_name}", std::process::id()));
            let mut target = match File::create_new(&path) {
                Ok(file) => file,
                // A copy left by an earlier process with our pid.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(io_error(
                        original,
                        &format!("creating its copy `{}`", path.display()),
                        e,
                    ));
                }
            };
            let copy = PrivateCopy { path, keep: false };
            io::copy(&mut source, &mut target).map_err(|e| {
                io_error(
                    original,
                    &format!("copying it to `{}`", copy.path.display()),
                    e,
                )
            })?;
            return Ok(copy);
        }
        Err(io_error(
            original,
            &format!("naming a copy in `{}`", dir.display()),
            io::Error::from(io::ErrorKind::AlreadyExists),
        ))
    }

    /// Leaves the file for the image to remove.
    fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for PrivateCopy {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
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
