//! A compile-time hash of a message type's definition.
//!
//! Two binaries that pass `Message<M>` across a dynamic-library boundary must
//! agree on `M`'s layout. Size and alignment are not enough: reorder two enum
//! variants, rename a field or change a nested type and both stay the same
//! while the plugin reads the host's values wrongly. [`Fingerprint`] gives a
//! message type a 64-bit hash of its definition that the loader compares
//! before it calls any plugin code.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::marker::PhantomData;
use core::time::Duration;

use super::reply::ReplyTo;
use crate::message::Message;
use crate::outbox::Outbox;

/// A message type's name and a hash of its definition, compared by the
/// loader between a host and a plugin before any plugin code runs.
///
/// Derive it (feature `derive`): the fingerprint then hashes the type's
/// kind, name and module path, generic parameters, `repr` attributes, and
/// every variant and field in order (names, explicit discriminants, types as
/// written), and folds in the `FINGERPRINT` of each field type, so every
/// field type must implement it too. plugbus-core implements it for the
/// primitives, `String`, `Vec`, `VecDeque`, `BTreeMap`, `BTreeSet`, `Box`,
/// `Option`, `Result`, arrays, tuples up to 12, `PhantomData`, `Duration`,
/// [`Message`], [`Outbox`] and [`ReplyTo`]; with `std`, also `Instant`,
/// `SystemTime`, `HashMap` and `HashSet` (with the default hasher).
///
/// What it cannot see:
/// - the layout of types it does not define: the impls here hash a name
///   (`alloc::string::String`), so a change inside `String` from one Rust
///   release to the next is caught by the separate rustc version check, not
///   by the fingerprint;
/// - a hand-written impl that is not updated when its type changes;
/// - a field that names the type itself (`Box<Self>`): its written type and
///   the fingerprints of every other type in it are folded in, and the
///   recursive reference itself counts as a fixed placeholder;
/// - compiler flags that change layouts (`-Z randomize-layout`);
/// - behaviour: methods and trait impls are not part of it, only data.
///
/// Nothing that can borrow from a plugin's image implements it: no `&'static
/// T` or `&'static str` (a plugin's string literal lives in its read-only
/// data, unmapped when the library is unloaded), no function pointers, no
/// trait objects. Messages and replies own their data: a plugin that wants
/// to answer with a literal answers with a `String`. `Arc` and `Rc` are left
/// out too: a plugin that drops the last clone of an `Arc` it found in a
/// host's message would free host memory with its own allocator.
///
/// ```compile_fail
/// // A reply that borrows the plugin's read-only data cannot cross (the
/// // derive refuses such a field for the same reason: core/tests/ui).
/// fn crosses<T: plugbus_core::Fingerprint>() {}
/// crosses::<&'static str>();
/// ```
///
/// # Safety
/// The loader trusts the fingerprint to tell two definitions apart: a plugin
/// whose `M::FINGERPRINT` equals the host's reads the host's values as its
/// own `M`. An implementation therefore promises that:
/// - `FINGERPRINT` changes whenever anything that decides the type's layout
///   or meaning changes: its fields or variants, their order, names and
///   types, its `repr`, and the fingerprint of every type it contains (fold
///   them in with [`combine_all`]);
/// - the type owns everything it points to, or reaches it only through
///   types whose own `Fingerprint` makes that promise ([`Message`],
///   [`ReplyTo`], [`Outbox`]): no reference, pointer, function pointer or
///   trait object that could point into a plugin's image or memory of the
///   other side's allocator;
/// - dropping it frees only memory of the binary that made the value, or
///   does so through its creator's functions, as the envelopes do.
///
/// `#[derive(Fingerprint)]` keeps the first promise for the definition and
/// the other two by requiring `Fingerprint` of every field type.
///
/// # Example
/// A hand-written impl for a type the derive cannot handle; with the
/// `derive` feature, `#[derive(Fingerprint)]` writes one from the definition.
/// ```
/// use plugbus_core::Fingerprint;
/// use plugbus_core::ffi::fingerprint::{combine_all, hash_str};
///
/// struct Celsius(f32);
///
/// // SAFETY: the text is the whole definition, the field's fingerprint is
/// // folded in, and an `f32` owns nothing.
/// unsafe impl Fingerprint for Celsius {
///     const NAME: &'static str = "thermo::Celsius";
///     const FINGERPRINT: u64 = combine_all(hash_str("struct Celsius(f32)"), &[f32::FINGERPRINT]);
/// }
///
/// assert_ne!(Celsius::FINGERPRINT, f32::FINGERPRINT);
/// assert_ne!(Option::<u32>::FINGERPRINT, Option::<i32>::FINGERPRINT);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot cross a plugin boundary: it does not implement `Fingerprint`",
    label = "no `Fingerprint` for `{Self}`",
    note = "add `#[derive(plugbus_core::Fingerprint)]` to its definition (plugbus-core's `derive` feature), or for a type of another crate wrap it in a type of your own",
    note = "references, `&'static str`, function pointers, trait objects and `Arc` have no `Fingerprint` on purpose: a message owns its data (use `String`, `Box`, `Vec`)"
)]
pub unsafe trait Fingerprint {
    /// The type's name, with its module path for derived types.
    const NAME: &'static str;
    /// A hash of the type's definition.
    const FINGERPRINT: u64;
}

/// Hashes text: FNV-1a over the bytes, then a final mix.
///
/// ```
/// use plugbus_core::ffi::fingerprint::hash_str;
///
/// const A: u64 = hash_str("a");
/// assert_ne!(A, hash_str("b"));
/// ```
pub const fn hash_str(text: &str) -> u64 {
    let bytes = text.as_bytes();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    mix(hash)
}

/// Folds `value` into `seed`; the order of folding matters.
///
/// ```
/// use plugbus_core::ffi::fingerprint::combine;
///
/// assert_ne!(combine(combine(0, 1), 2), combine(combine(0, 2), 1));
/// ```
pub const fn combine(seed: u64, value: u64) -> u64 {
    mix(seed.rotate_left(29) ^ value.wrapping_add(0x9e37_79b9_7f4a_7c15))
}

/// Folds every value into `seed`, in order.
///
/// ```
/// use plugbus_core::ffi::fingerprint::{combine, combine_all};
///
/// assert_eq!(combine_all(7, &[1, 2]), combine(combine(7, 1), 2));
/// ```
pub const fn combine_all(seed: u64, values: &[u64]) -> u64 {
    let mut hash = seed;
    let mut i = 0;
    while i < values.len() {
        hash = combine(hash, values[i]);
        i += 1;
    }
    hash
}

/// The splitmix64 finaliser: every input bit affects every output bit.
const fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

macro_rules! named {
    ($($ty:ty => $name:literal),* $(,)?) => {
        // SAFETY: leaf types that own all they hold; the name is the type's.
        $(unsafe impl Fingerprint for $ty {
            const NAME: &'static str = $name;
            const FINGERPRINT: u64 = hash_str($name);
        })*
    };
}

named! {
    () => "()", bool => "bool", char => "char",
    u8 => "u8", u16 => "u16", u32 => "u32", u64 => "u64", u128 => "u128", usize => "usize",
    i8 => "i8", i16 => "i16", i32 => "i32", i64 => "i64", i128 => "i128", isize => "isize",
    f32 => "f32", f64 => "f64",
    str => "str",
    String => "alloc::string::String",
    Duration => "core::time::Duration",
}

macro_rules! wrapper {
    ($($name:literal => impl<$($p:ident $(: ?$unsized:ident)?),+> for $ty:ty;)*) => {
        // SAFETY: owning containers (or the plugbus envelopes, whose values
        // are used and freed through their creator's functions) that fold in
        // the fingerprint of every parameter.
        $(unsafe impl<$($p: Fingerprint $(+ ?$unsized)?),+> Fingerprint for $ty {
            const NAME: &'static str = $name;
            const FINGERPRINT: u64 = combine_all(hash_str($name), &[$($p::FINGERPRINT),+]);
        })*
    };
}

wrapper! {
    "alloc::vec::Vec" => impl<T> for Vec<T>;
    "alloc::collections::VecDeque" => impl<T> for VecDeque<T>;
    "alloc::collections::BTreeMap" => impl<K, V> for BTreeMap<K, V>;
    "alloc::collections::BTreeSet" => impl<T> for BTreeSet<T>;
    "alloc::boxed::Box" => impl<T: ?Sized> for Box<T>;
    "core::option::Option" => impl<T> for Option<T>;
    "core::result::Result" => impl<T, E> for Result<T, E>;
    "core::marker::PhantomData" => impl<T: ?Sized> for PhantomData<T>;
    "[]" => impl<T> for [T];
    "plugbus_core::Message" => impl<T> for Message<T>;
    "plugbus_core::ffi::ReplyTo" => impl<T> for ReplyTo<T>;
    "plugbus_core::Outbox" => impl<T> for Outbox<T>;
}

// SAFETY: as the containers: `N` and the element's fingerprint are folded in.
unsafe impl<T: Fingerprint, const N: usize> Fingerprint for [T; N] {
    const NAME: &'static str = "[T; N]";
    const FINGERPRINT: u64 = combine_all(hash_str("[T; N]"), &[N as u64, T::FINGERPRINT]);
}

macro_rules! tuple {
    ($($p:ident),+) => {
        // SAFETY: every element's fingerprint is folded in, in order.
        unsafe impl<$($p: Fingerprint),+> Fingerprint for ($($p,)+) {
            const NAME: &'static str = "(..)";
            const FINGERPRINT: u64 = combine_all(hash_str("(..)"), &[$($p::FINGERPRINT),+]);
        }
    };
}

tuple!(A);
tuple!(A, B);
tuple!(A, B, C);
tuple!(A, B, C, D);
tuple!(A, B, C, D, E);
tuple!(A, B, C, D, E, F);
tuple!(A, B, C, D, E, F, G);
tuple!(A, B, C, D, E, F, G, H);
tuple!(A, B, C, D, E, F, G, H, I);
tuple!(A, B, C, D, E, F, G, H, I, J);
tuple!(A, B, C, D, E, F, G, H, I, J, K);
tuple!(A, B, C, D, E, F, G, H, I, J, K, L);

#[cfg(feature = "std")]
mod with_std {
    extern crate std;

    use super::{Fingerprint, combine_all, hash_str};
    use std::collections::hash_map::RandomState;
    use std::collections::{HashMap, HashSet};
    use std::time::{Instant, SystemTime};

    named! {
        Instant => "std::time::Instant",
        SystemTime => "std::time::SystemTime",
    }

    // SAFETY: an owning container; both parameters are folded in.
    unsafe impl<K: Fingerprint, V: Fingerprint> Fingerprint for HashMap<K, V, RandomState> {
        const NAME: &'static str = "std::collections::HashMap";
        const FINGERPRINT: u64 =
            combine_all(hash_str(Self::NAME), &[K::FINGERPRINT, V::FINGERPRINT]);
    }

    // SAFETY: an owning container; the parameter is folded in.
    unsafe impl<T: Fingerprint> Fingerprint for HashSet<T, RandomState> {
        const NAME: &'static str = "std::collections::HashSet";
        const FINGERPRINT: u64 = combine_all(hash_str(Self::NAME), &[T::FINGERPRINT]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_types_differ() {
        assert_ne!(Vec::<u8>::FINGERPRINT, Vec::<i8>::FINGERPRINT);
        assert_ne!(<(u8, u16)>::FINGERPRINT, <(u16, u8)>::FINGERPRINT);
        assert_ne!(<[u8; 3]>::FINGERPRINT, <[u8; 4]>::FINGERPRINT);
        assert_ne!(Box::<str>::FINGERPRINT, Box::<[u8]>::FINGERPRINT);
        assert_ne!(Option::<String>::FINGERPRINT, Vec::<String>::FINGERPRINT);
    }
}
