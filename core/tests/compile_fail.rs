//! The compiler messages a user sees for the commonest mistakes at the
//! plugin boundary say what to write and point at the user's code (never at
//! plugbus's private paths). Each case in `core/tests/ui/` fails to compile with
//! exactly the message in its `.stderr` file (`TRYBUILD=overwrite` rewrites
//! them after a deliberate change).

#[test]
fn compiler_messages() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
