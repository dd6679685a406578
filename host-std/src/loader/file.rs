//! Reading a plugin's descriptor from its file, before the system loader
//! maps any of it: the file is parsed with the `object` crate (ELF, Mach-O,
//! PE), its loadable segments are checked against its size (a library cut
//! short inside a segment makes `dlopen` fault with SIGBUS instead of
//! failing), and the exported descriptor's bytes are read from the file.
//! The descriptor is plain data (integers and byte arrays, no pointers, so
//! no relocations): the bytes in the file are the bytes the library would
//! show once loaded.

use std::fs::File;
use std::io;
use std::path::Path;

use object::read::ReadCache;
use object::{
    Architecture, BinaryFormat, Endianness, Object, ObjectKind, ObjectSection, ObjectSegment,
    ObjectSymbol,
};
use plugbus_core::ffi::{
    ABI_VERSION, DESCRIPTOR_PREFIX, DescriptorHeader, MAGIC, PluginDescriptor, VTABLE_PREFIX,
};

use super::error::LoadError;

/// What the file says about itself.
#[derive(Debug, Clone)]
pub(crate) struct FileFacts {
    /// The exported descriptor, read from the file.
    pub(crate) descriptor: PluginDescriptor,
    /// The crate name its symbols carry.
    pub(crate) crate_name: String,
    /// "ELF", "Mach-O" or "PE".
    pub(crate) format: &'static str,
}

/// This machine's architecture, where `object` names it.
const ARCHITECTURE: Option<Architecture> = if cfg!(target_arch = "x86_64") {
    Some(Architecture::X86_64)
} else if cfg!(target_arch = "x86") {
    Some(Architecture::I386)
} else if cfg!(target_arch = "aarch64") {
    Some(Architecture::Aarch64)
} else if cfg!(target_arch = "arm") {
    Some(Architecture::Arm)
} else if cfg!(target_arch = "riscv64") {
    Some(Architecture::Riscv64)
} else if cfg!(target_arch = "powerpc64") {
    Some(Architecture::PowerPc64)
} else if cfg!(target_arch = "s390x") {
    Some(Architecture::S390x)
} else if cfg!(target_arch = "loongarch64") {
    Some(Architecture::LoongArch64)
} else {
    None
};

/// The object format the system loader of this target opens.
const FORMAT: BinaryFormat = if cfg!(target_vendor = "apple") {
    BinaryFormat::MachO
} else if cfg!(windows) {
    BinaryFormat::Pe
} else {
    BinaryFormat::Elf
};

fn format_name(format: BinaryFormat) -> &'static str {
    match format {
        BinaryFormat::Elf => "ELF",
        BinaryFormat::MachO => "Mach-O",
        BinaryFormat::Pe => "PE",
        BinaryFormat::Coff => "COFF",
        BinaryFormat::Wasm => "WebAssembly",
        BinaryFormat::Xcoff => "XCOFF",
        _ => "unknown format",
    }
}

/// Checks that `file` (at `path`, as given) is a shared library for this
/// machine that the system loader can map whole, and reads the plugbus
/// descriptor of crate `crate_name` from it, checking its header (magic, ABI
/// version, size). Reads only the headers, symbol tables and the descriptor
/// itself, through the open file.
pub(crate) fn read(path: &Path, file: &File, crate_name: &str) -> Result<FileFacts, LoadError> {
    read_from(path, &ReadCache::new(file), crate_name)
}

/// [`read`] on the file's bytes, already in memory.
pub(crate) fn read_bytes(
    path: &Path,
    bytes: &[u8],
    crate_name: &str,
) -> Result<FileFacts, LoadError> {
    read_from(path, bytes, crate_name)
}

fn read_from<'a, R: object::ReadRef<'a>>(
    path: &Path,
    data: R,
    crate_name: &str,
) -> Result<FileFacts, LoadError> {
    let size = data.len().map_err(|()| {
        io_error(
            path,
            "reading its size",
            std::io::Error::other("unreadable"),
        )
    })?;
    let object = object::File::parse(data).map_err(|e| match elf_needs(data) {
        Some(needed) if needed > size => LoadError::Truncated {
            path: path.to_owned(),
            size,
            needed,
        },
        _ => not_loadable(path, reason_of(data, e)),
    })?;
    check_machine(path, &object)?;
    check_extent(path, &object, size)?;

    let descriptor_symbol = format!("{DESCRIPTOR_PREFIX}{crate_name}");
    let vtable_symbol = format!("{VTABLE_PREFIX}{crate_name}");
    let mut descriptor_at = None;
    let mut vtable_found = false;
    let mut others = Vec::new();
    for (name, address) in exports(&object) {
        if name == descriptor_symbol {
            descriptor_at = Some(address);
        } else if name == vtable_symbol {
            vtable_found = true;
        } else if let Some(other) = name.strip_prefix(DESCRIPTOR_PREFIX) {
            others.push(other.to_owned());
        }
    }
    let Some(address) = descriptor_at else {
        return Err(LoadError::NoDescriptor {
            path: path.to_owned(),
            symbol: descriptor_symbol,
            exported: others.into_iter().next(),
        });
    };
    if !vtable_found {
        return Err(LoadError::NoDescriptor {
            path: path.to_owned(),
            symbol: vtable_symbol,
            exported: None,
        });
    }
    let descriptor = read_descriptor(path, &object, address)?;
    Ok(FileFacts {
        descriptor,
        crate_name: crate_name.to_owned(),
        format: format_name(object.format()),
    })
}

/// Every descriptor a host binary carries in its data for the message types
/// it loads plugins for (the loader keeps one per type, see
/// `super::image::expected`), found by their magic; for `plugbus inspect
/// --check-against`. Skips bytes that only look like one.
pub(crate) fn embedded(path: &Path, file: &File) -> Result<Vec<PluginDescriptor>, LoadError> {
    let cache = ReadCache::new(file);
    let object =
        object::File::parse(&cache).map_err(|e| not_loadable(path, reason_of(&cache, e)))?;
    let mut found = Vec::new();
    let data_kinds = [
        object::SectionKind::ReadOnlyData,
        object::SectionKind::ReadOnlyDataWithRel,
        object::SectionKind::ReadOnlyString,
        object::SectionKind::Data,
    ];
    for section in object.sections() {
        if !data_kinds.contains(&section.kind()) {
            continue;
        }
        let Ok(data) = section.data() else { continue };
        let mut at = 0;
        while let Some(offset) = find(&data[at..], &MAGIC) {
            let start = at + offset;
            at = start + 1;
            let Some(bytes) = data.get(start..start + size_of::<PluginDescriptor>()) else {
                break;
            };
            let descriptor = descriptor_from(bytes);
            if descriptor.header.abi_version == ABI_VERSION
                && descriptor.header.size as usize == size_of::<PluginDescriptor>()
                && !descriptor.rustc_version().is_empty()
                && !found.contains(&descriptor)
            {
                found.push(descriptor);
            }
        }
    }
    Ok(found)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Exported symbols as (name without any platform prefix, address).
fn exports<'a, R: object::ReadRef<'a>>(object: &object::File<'a, R>) -> Vec<(String, u64)> {
    match object.format() {
        // ELF's exports are its defined dynamic symbols.
        BinaryFormat::Elf => object
            .dynamic_symbols()
            .filter(|s| s.is_definition())
            .filter_map(|s| Some((s.name().ok()?.to_owned(), s.address())))
            .collect(),
        // Mach-O and PE have an export table; Mach-O names start with `_`.
        format => object
            .exports()
            .ok()
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|export| {
                let object::NameOrOrdinal::Name(name) = export.name() else {
                    return None;
                };
                let object::ExportTarget::Address { address } = export.target() else {
                    return None;
                };
                let name = String::from_utf8_lossy(name);
                let name = match format {
                    BinaryFormat::MachO => name.strip_prefix('_').unwrap_or(&name).to_owned(),
                    _ => name.into_owned(),
                };
                Some((name, address))
            })
            .collect(),
    }
}

fn check_machine<'a, R: object::ReadRef<'a>>(
    path: &Path,
    object: &object::File<'a, R>,
) -> Result<(), LoadError> {
    if object.format() != FORMAT {
        return Err(not_loadable(
            path,
            format!(
                "it is a {} file, this system loads {}",
                format_name(object.format()),
                format_name(FORMAT)
            ),
        ));
    }
    if let Some(ours) = ARCHITECTURE {
        if object.architecture() != ours {
            return Err(not_loadable(
                path,
                format!(
                    "it is built for {:?}, this machine is {ours:?}",
                    object.architecture()
                ),
            ));
        }
    }
    let native = if cfg!(target_endian = "little") {
        Endianness::Little
    } else {
        Endianness::Big
    };
    if object.endianness() != native {
        return Err(not_loadable(path, "it has the other byte order".to_owned()));
    }
    if object.is_64() != cfg!(target_pointer_width = "64") {
        return Err(not_loadable(
            path,
            format!(
                "it is a {}-bit object, this machine runs {}-bit code",
                if object.is_64() { 64 } else { 32 },
                usize::BITS
            ),
        ));
    }
    match object.kind() {
        // A position-independent executable is ELF's `ET_DYN` too, marked
        // with `DF_1_PIE` by current linkers.
        ObjectKind::Dynamic if elf_pie(object) => Err(not_loadable(
            path,
            "it is an executable, not a shared library".to_owned(),
        )),
        ObjectKind::Dynamic => Ok(()),
        ObjectKind::Executable => Err(not_loadable(
            path,
            "it is an executable, not a shared library".to_owned(),
        )),
        ObjectKind::Relocatable => Err(not_loadable(
            path,
            "it is an object file (.o), not a shared library".to_owned(),
        )),
        other => Err(not_loadable(
            path,
            format!("it is a {other:?} file, not a shared library"),
        )),
    }
}

/// Whether an ELF object's dynamic section has `DF_1_PIE` in `DT_FLAGS_1`.
fn elf_pie<'a, R: object::ReadRef<'a>>(object: &object::File<'a, R>) -> bool {
    const DT_NULL: u64 = 0;
    const DT_FLAGS_1: u64 = 0x6fff_fffb;
    const DF_1_PIE: u64 = 0x0800_0000;
    let Some(data) = object
        .section_by_name(".dynamic")
        .and_then(|section| section.data().ok())
    else {
        return false;
    };
    // Entries are (tag, value) words of this machine (checked before).
    let word = size_of::<usize>();
    let read = |bytes: &[u8]| -> u64 {
        let mut buf = [0u8; 8];
        buf[..word].copy_from_slice(bytes);
        if cfg!(target_endian = "little") {
            u64::from_le_bytes(buf)
        } else {
            u64::from_be_bytes(buf) >> (64 - 8 * word as u32)
        }
    };
    for entry in data.chunks_exact(2 * word) {
        let (tag, value) = (read(&entry[..word]), read(&entry[word..]));
        if tag == DT_NULL {
            break;
        }
        if tag == DT_FLAGS_1 {
            return value & DF_1_PIE != 0;
        }
    }
    false
}

/// Every loadable segment and every section with file contents lies within
/// the file.
fn check_extent<'a, R: object::ReadRef<'a>>(
    path: &Path,
    object: &object::File<'a, R>,
    size: u64,
) -> Result<(), LoadError> {
    let segments = object.segments().map(|s| s.file_range());
    let sections = object.sections().filter_map(|s| s.file_range());
    let needed = segments
        .chain(sections)
        .map(|(offset, len)| offset.saturating_add(len))
        .max()
        .unwrap_or(0);
    if needed > size {
        return Err(LoadError::Truncated {
            path: path.to_owned(),
            size,
            needed,
        });
    }
    Ok(())
}

fn read_descriptor<'a, R: object::ReadRef<'a>>(
    path: &Path,
    object: &object::File<'a, R>,
    address: u64,
) -> Result<PluginDescriptor, LoadError> {
    let bytes = |len: usize| -> Result<&'a [u8], LoadError> {
        object
            .sections()
            .find_map(|section| section.data_range(address, len as u64).ok().flatten())
            .ok_or_else(|| {
                not_loadable(
                    path,
                    format!(
                        "its descriptor at {address:#x} has no {len} bytes of contents in the file"
                    ),
                )
            })
    };
    let header = bytes(size_of::<DescriptorHeader>())?;
    // SAFETY: `DescriptorHeader` is integers and a byte array, valid for any
    // bits; `header` has exactly its size; the read is unaligned.
    let header = unsafe { header.as_ptr().cast::<DescriptorHeader>().read_unaligned() };
    check_header(path, &header)?;
    Ok(descriptor_from(bytes(size_of::<PluginDescriptor>())?))
}

/// A descriptor copied out of its bytes.
///
/// # Panics
/// If `bytes` is shorter than a descriptor (callers take exactly its size).
pub(crate) fn descriptor_from(bytes: &[u8]) -> PluginDescriptor {
    assert!(bytes.len() >= size_of::<PluginDescriptor>());
    // SAFETY: `PluginDescriptor` is `#[repr(C)]` integers and byte arrays,
    // valid for any bits; `bytes` holds at least its size; the read is
    // unaligned and copies, so nothing borrows the file's data.
    unsafe { bytes.as_ptr().cast::<PluginDescriptor>().read_unaligned() }
}

pub(crate) fn check_header(path: &Path, header: &DescriptorHeader) -> Result<(), LoadError> {
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

/// The size an ELF file's own header says it needs (program headers, their
/// segments, section headers), for a file `object` refused: a file cut
/// short is then reported as truncated rather than as damaged.
fn elf_needs<'a, R: object::ReadRef<'a>>(cache: R) -> Option<u64> {
    use object::read::elf::{FileHeader, ProgramHeader};
    fn needs<'a, H: FileHeader<Endian = Endianness>, R: object::ReadRef<'a>>(
        cache: R,
    ) -> Option<u64> {
        // Cut inside the ELF header itself: it needs its own size.
        let ident = cache.read_bytes_at(0, 5).ok()?;
        let header_size = match ident {
            [0x7f, b'E', b'L', b'F', 2] => 64,
            [0x7f, b'E', b'L', b'F', 1] => 52,
            _ => return None,
        };
        if cache.len().ok()? < header_size {
            return Some(header_size);
        }
        let header = H::parse(cache).ok()?;
        let endian = header.endian().ok()?;
        let words = |n: H::Word| -> u64 { n.into() };
        let shoff = words(header.e_shoff(endian));
        let sh = u64::from(header.e_shentsize(endian)) * u64::from(header.e_shnum(endian));
        let phoff = words(header.e_phoff(endian));
        let ph = u64::from(header.e_phentsize(endian)) * u64::from(header.e_phnum(endian));
        let mut needed = shoff.saturating_add(sh).max(phoff.saturating_add(ph));
        if let Ok(program_headers) = header.program_headers(endian, cache) {
            for segment in program_headers {
                let end =
                    words(segment.p_offset(endian)).saturating_add(words(segment.p_filesz(endian)));
                needed = needed.max(end);
            }
        }
        Some(needed)
    }
    needs::<object::elf::FileHeader64<Endianness>, R>(cache)
        .or_else(|| needs::<object::elf::FileHeader32<Endianness>, R>(cache))
}

/// Why `object` could not parse a file, in a user's words: an empty file,
/// text, or a damaged object.
fn reason_of<'a, R: object::ReadRef<'a>>(cache: R, error: object::Error) -> String {
    let Ok(len) = cache.len() else {
        return format!("not an object file ({error})");
    };
    if len == 0 {
        return String::from("the file is empty");
    }
    let head = cache.read_bytes_at(0, len.min(512)).unwrap_or(&[]);
    let known = [
        &b"\x7fELF"[..],
        &b"MZ"[..],
        &[0xcf, 0xfa, 0xed, 0xfe][..],
        &[0xce, 0xfa, 0xed, 0xfe][..],
        &[0xca, 0xfe, 0xba, 0xbe][..],
    ];
    if known.iter().any(|magic| head.starts_with(magic)) {
        return format!("a damaged or truncated object file ({error})");
    }
    if std::str::from_utf8(head).is_ok() || head.iter().all(|b| b.is_ascii()) {
        return String::from("it is a text file, not a shared library");
    }
    String::from("it is not an object file")
}

fn not_loadable(path: &Path, reason: String) -> LoadError {
    LoadError::NotLoadable {
        path: path.to_owned(),
        reason,
        source: None,
    }
}

pub(crate) fn io_error(path: &Path, action: &str, source: io::Error) -> LoadError {
    LoadError::Io {
        path: path.to_owned(),
        action: action.to_owned(),
        source,
    }
}
