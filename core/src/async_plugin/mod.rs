//! Plugins whose handler is `async`: [`AsyncPlugin`], and [`Async`], which
//! attaches one to any host.

mod slot;
mod traits;
mod wrapper;

pub use traits::AsyncPlugin;
pub use wrapper::Async;

#[cfg(all(test, feature = "std"))]
mod tests;
