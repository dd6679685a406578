//! `derive(Fingerprint)` folds in the fingerprints of field types, so a
//! change in a nested type changes the outer fingerprint even where the
//! outer definition reads the same. (The derive's own tests cover changes
//! to the definition itself; `dylib_errors` covers a reordered `Command`
//! built into a plugin.)

use std::time::{Duration, Instant};

use plugbus_core::Fingerprint;

#[derive(Fingerprint)]
#[allow(dead_code)]
struct Envelope<T> {
    id: u64,
    body: T,
}

#[derive(Fingerprint)]
#[allow(dead_code)]
enum Small {
    A(u8),
}

#[derive(Fingerprint)]
#[allow(dead_code)]
enum Wide {
    A(u16),
}

#[test]
fn nested_types_change_the_outer_fingerprint() {
    assert_ne!(Envelope::<u32>::FINGERPRINT, Envelope::<i32>::FINGERPRINT);
    assert_ne!(
        Envelope::<Small>::FINGERPRINT,
        Envelope::<Wide>::FINGERPRINT
    );
    assert_ne!(
        Envelope::<Instant>::FINGERPRINT,
        Envelope::<Duration>::FINGERPRINT
    );
    assert_ne!(
        Envelope::<Vec<Option<String>>>::FINGERPRINT,
        Envelope::<Vec<Option<Box<str>>>>::FINGERPRINT
    );
    // The same type always has the same fingerprint, and its full name.
    assert_eq!(Envelope::<u32>::FINGERPRINT, Envelope::<u32>::FINGERPRINT);
    assert_eq!(Envelope::<u32>::NAME, "dylib_fingerprint::Envelope");
    assert_eq!(
        <plugbus_commands::Command as Fingerprint>::NAME,
        "plugbus_commands::Command"
    );
}

/// A list whose items hold a recursive reference next to a payload
/// (issue 17): the derive used to leave the whole field out of the hash, so
/// a payload of another layout went unnoticed.
#[derive(Fingerprint)]
#[allow(dead_code)]
struct List<P> {
    items: Vec<(Box<List<P>>, P)>,
}

#[derive(Fingerprint)]
#[allow(dead_code)]
struct Narrow {
    a: u8,
}

#[derive(Fingerprint)]
#[allow(dead_code)]
struct Broad {
    a: u64,
    b: u64,
}

#[test]
fn a_payload_beside_a_recursive_reference_changes_the_fingerprint() {
    assert_ne!(List::<Narrow>::FINGERPRINT, List::<Broad>::FINGERPRINT);
    // The layout alone would not tell them apart.
    assert_eq!(size_of::<List<Narrow>>(), size_of::<List<Broad>>());
}
