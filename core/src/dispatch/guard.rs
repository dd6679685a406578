//! Runs plugin code so that a panic is caught at the lane where the target
//! unwinds (with the `std` feature) and reported as the panic's message.

use alloc::string::String;

/// Runs `f`; with `std`, a panic becomes `Err(message)`.
#[cfg(feature = "std")]
pub(crate) fn guard<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    extern crate std;
    std::panic::catch_unwind(core::panic::AssertUnwindSafe(f)).map_err(|payload| {
        if let Some(s) = payload.downcast_ref::<&'static str>() {
            String::from(*s)
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            String::from("panic with a non-string payload")
        }
    })
}

/// Runs `f`; without `std` a panic cannot be caught here, and aborts or
/// halts as the target's panic handler decides.
#[cfg(not(feature = "std"))]
pub(crate) fn guard<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    Ok(f())
}
