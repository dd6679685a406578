//! Runs plugin code so that a panic is caught at the lane where the target
//! unwinds (with the `std` feature) and reported as the panic's message.
//!
//! The lanes, the FFI thunks and the reply thunk all catch through
//! [`guard`], so what it promises holds at every place plugin code runs: no
//! unwind leaves it, not even one from the panic payload's own `Drop`.

use alloc::string::String;

/// Runs `f`; with `std`, a panic becomes `Err(message)`.
///
/// The payload is dropped here, inside a second `catch_unwind`: a payload
/// whose `Drop` panics (`panic_any(value)` with such a value) would otherwise
/// unwind out of the guard — out of an `extern "C"` thunk (an abort), or out
/// of a lane before it saved its cursor. The payload of that second panic
/// (usually a message) is dropped the same way, and a third is forgotten,
/// as the standard library's runtime forgets a payload whose drop panicked:
/// a `Drop` that panics with a copy of itself would otherwise keep the lane
/// here for ever.
#[cfg(feature = "std")]
pub(crate) fn guard<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    extern crate std;
    use core::panic::AssertUnwindSafe;
    use std::panic::catch_unwind;

    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
            String::from(*s)
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            String::from("panic with a non-string payload")
        };
        if let Err(second) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            if let Err(third) = catch_unwind(AssertUnwindSafe(move || drop(second))) {
                core::mem::forget(third);
            }
        }
        message
    })
}

/// Runs `f`; without `std` a panic cannot be caught here, and aborts or
/// halts as the target's panic handler decides.
#[cfg(not(feature = "std"))]
pub(crate) fn guard<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    Ok(f())
}

#[cfg(all(test, feature = "std"))]
pub(crate) mod tests {
    extern crate std;

    use super::guard;

    /// A panic payload whose own `Drop` panics.
    #[derive(Debug)]
    pub(crate) struct PanickyPayload;

    impl Drop for PanickyPayload {
        fn drop(&mut self) {
            panic!("the payload's drop panics too");
        }
    }

    /// Panics with a [`PanickyPayload`].
    pub(crate) fn panic_with_panicky_payload() -> ! {
        std::panic::panic_any(PanickyPayload)
    }

    #[test]
    fn a_payload_whose_drop_panics_is_caught_and_forgotten() {
        let caught = guard(|| -> u32 { panic_with_panicky_payload() });
        assert_eq!(caught, Err("panic with a non-string payload".into()));
    }

    /// A payload whose `Drop` panics with another such payload.
    struct Recurring;

    impl Drop for Recurring {
        fn drop(&mut self) {
            std::panic::panic_any(Recurring);
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "forgets the third payload on purpose, a leak to miri")]
    fn a_payload_that_keeps_panicking_when_dropped_is_forgotten() {
        let caught = guard(|| -> u32 { std::panic::panic_any(Recurring) });
        assert_eq!(caught, Err("panic with a non-string payload".into()));
    }

    #[test]
    fn string_payloads_become_the_message() {
        assert_eq!(guard(|| panic!("plain")), Err::<(), _>("plain".into()));
        let n = 3;
        assert_eq!(
            guard(|| panic!("formatted {n}")),
            Err::<(), _>("formatted 3".into())
        );
        assert_eq!(guard(|| 5), Ok(5));
    }
}
