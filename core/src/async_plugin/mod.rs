//! Plugins whose handler is `async`: [`AsyncPlugin`], and [`Async`], which
//! attaches one to any host.

#[doc(hidden)]
pub mod polled;
mod slot;
mod traits;
mod wrapper;

pub use traits::AsyncPlugin;
pub use wrapper::Async;

#[cfg(all(test, feature = "std"))]
mod tests;
