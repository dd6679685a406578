//! The descriptor a plugin library exports: plain data a loader reads and
//! checks before it runs any of the library's code.

use core::fmt;

use super::fingerprint::Fingerprint;

/// The first bytes of every descriptor.
pub const MAGIC: [u8; 8] = *b"\x7fPLUGBUS";

/// The version of the descriptor, thunk table and envelope layouts. A loader
/// only reads the rest of a descriptor whose `abi_version` equals its own.
/// Version 3: `on_attach` takes the plugin's id as a `u64`. Version 4: an
/// envelope's owner field may hold a question's hook, tagged (`ask`).
/// Version 5: the thunk table ends with `export_state` and `import_state`.
/// Version 6: it ends with `poll` and `cancel` (async handlers, with an
/// [`FfiWaker`]).
///
/// [`FfiWaker`]: super::FfiWaker
pub const ABI_VERSION: u32 = 6;

/// The compiler that built this copy of plugbus-core, as `rustc -V` says it
/// (captured by the build script).
pub const RUSTC_VERSION: &str = env!("PLUGBUS_RUSTC_VERSION");

/// This crate's version.
pub const CORE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The exported descriptor of a plugin crate is named this prefix followed by
/// the crate's name (`plugbus_descriptor_my_plugin`), so two plugin crates
/// linked into one binary do not collide.
pub const DESCRIPTOR_PREFIX: &str = "plugbus_descriptor_";

/// The exported thunk table is named this prefix followed by the crate's name.
pub const VTABLE_PREFIX: &str = "plugbus_vtable_";

/// The fields every ABI version starts with, so a loader can read them
/// before it knows the rest of the layout.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescriptorHeader {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// [`ABI_VERSION`] of the plugbus-core that built the plugin.
    pub abi_version: u32,
    /// The size of the whole descriptor in bytes.
    pub size: u32,
}

/// What a plugin library says about itself, exported as a static by
/// [`export_plugin!`](crate::export_plugin).
///
/// Only integers and fixed-size byte arrays (text is UTF-8 padded with
/// zeros), no pointers: a tool can read it straight from the file without
/// loading the library, and a loader can check it before any code of the
/// library runs.
///
/// # Example
/// ```
/// use plugbus_core::ffi::{PluginDescriptor, RUSTC_VERSION};
///
/// let descriptor = PluginDescriptor::new::<u64>("counter", "1.2.3");
/// assert_eq!(descriptor.plugin_name(), "counter");
/// assert_eq!(descriptor.message_name(), "u64");
/// assert_eq!(descriptor.message_size, 8);
/// assert_eq!(descriptor.rustc_version(), RUSTC_VERSION);
/// ```
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PluginDescriptor {
    /// Magic, ABI version and size.
    pub header: DescriptorHeader,
    /// `size_of` the message type.
    pub message_size: u64,
    /// `align_of` the message type.
    pub message_align: u64,
    /// The message type's [`Fingerprint::FINGERPRINT`].
    pub message_fingerprint: u64,
    /// [`RUSTC_VERSION`] of the build.
    pub rustc_version: [u8; 128],
    /// [`CORE_VERSION`] of the build.
    pub core_version: [u8; 32],
    /// The message type's [`Fingerprint::NAME`] (cut at 192 bytes).
    pub message_name: [u8; 192],
    /// The plugin's name, usually its package name (cut at 64 bytes).
    pub plugin_name: [u8; 64],
    /// The plugin's version (cut at 64 bytes).
    pub plugin_version: [u8; 64],
}

impl PluginDescriptor {
    /// The descriptor of a plugin for messages `M`, built by this copy of
    /// plugbus-core with this compiler.
    pub const fn new<M: Fingerprint>(plugin_name: &str, plugin_version: &str) -> Self {
        PluginDescriptor {
            header: DescriptorHeader {
                magic: MAGIC,
                abi_version: ABI_VERSION,
                size: size_of::<PluginDescriptor>() as u32,
            },
            message_size: size_of::<M>() as u64,
            message_align: align_of::<M>() as u64,
            message_fingerprint: M::FINGERPRINT,
            rustc_version: fixed(RUSTC_VERSION),
            core_version: fixed(CORE_VERSION),
            message_name: fixed(M::NAME),
            plugin_name: fixed(plugin_name),
            plugin_version: fixed(plugin_version),
        }
    }

    /// The compiler that built the plugin.
    pub fn rustc_version(&self) -> &str {
        text(&self.rustc_version)
    }

    /// The plugbus-core version the plugin was built with.
    pub fn core_version(&self) -> &str {
        text(&self.core_version)
    }

    /// The name of the plugin's message type.
    pub fn message_name(&self) -> &str {
        text(&self.message_name)
    }

    /// The plugin's name.
    pub fn plugin_name(&self) -> &str {
        text(&self.plugin_name)
    }

    /// The plugin's version.
    pub fn plugin_version(&self) -> &str {
        text(&self.plugin_version)
    }
}

impl fmt::Debug for PluginDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginDescriptor")
            .field("header", &self.header)
            .field("plugin_name", &self.plugin_name())
            .field("plugin_version", &self.plugin_version())
            .field("rustc_version", &self.rustc_version())
            .field("core_version", &self.core_version())
            .field("message_name", &self.message_name())
            .field("message_size", &self.message_size)
            .field("message_align", &self.message_align)
            .field(
                "message_fingerprint",
                &format_args!("{:#018x}", self.message_fingerprint),
            )
            .finish()
    }
}

/// `text` as zero-padded bytes, cut at a character boundary if too long.
const fn fixed<const N: usize>(text: &str) -> [u8; N] {
    let bytes = text.as_bytes();
    let mut len = if bytes.len() < N { bytes.len() } else { N };
    // Continuation bytes are 0b10xx_xxxx: back off to a character start.
    while len < bytes.len() && len > 0 && bytes[len] & 0xc0 == 0x80 {
        len -= 1;
    }
    let mut out = [0u8; N];
    let mut i = 0;
    while i < len {
        out[i] = bytes[i];
        i += 1;
    }
    out
}

/// The text before the first zero byte; a field that is not UTF-8 (a
/// corrupt file) reads as a marker rather than failing.
fn text(bytes: &[u8]) -> &str {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    core::str::from_utf8(&bytes[..end]).unwrap_or("<not utf-8>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_cuts_at_char_boundary() {
        let cut: [u8; 4] = fixed("abcé");
        assert_eq!(text(&cut), "abc");
        let whole: [u8; 5] = fixed("abcé");
        assert_eq!(text(&whole), "abcé");
    }

    #[test]
    fn header_is_at_the_start() {
        let descriptor = PluginDescriptor::new::<u8>("p", "0.1.0");
        assert_eq!(core::mem::offset_of!(PluginDescriptor, header), 0);
        assert_eq!(
            descriptor.header.size as usize,
            size_of::<PluginDescriptor>()
        );
        assert_eq!(size_of::<DescriptorHeader>(), 16);
    }
}
