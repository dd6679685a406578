//! The runtime-agnostic half of an async host: a lane as a future, the wait
//! for room under [`Overflow::Block`](crate::Overflow::Block), sending with
//! that wait, and collecting the lanes' reports at shutdown.
//!
//! An async host adds only how it spawns [`LaneTask`]s (on an executor or a
//! runtime handle) and how it blocks for the `*_blocking` twins of its
//! calls; everything here is built on `core::future` and `core::task` and
//! works with any executor. The futures sleep through their task's
//! `Waker`: it is registered first, then the sleep bit is set or the
//! waiting sender registered, then the condition is checked again, so no
//! wake is lost, and nothing waits by spinning or yielding in a loop.
//!
//! ```
//! use std::pin::pin;
//! use std::sync::mpsc;
//! use std::task::{Context, Waker};
//!
//! use plugbus_core::task::{AsyncSender, LaneTask};
//! use plugbus_core::{AttachOptions, Bus, Flow, Message, Plugin};
//!
//! struct Sum(u64);
//! impl Plugin<u64> for Sum {
//!     fn handle_message(&mut self, message: &Message<u64>) -> Flow {
//!         self.0 += **message;
//!         Flow::Continue
//!     }
//! }
//!
//! let sender = AsyncSender::new(Bus::with_capacity(64));
//! let (reports, report) = mpsc::channel();
//! let finish = move |r| reports.send(r).unwrap();
//! let lane = LaneTask::attach(sender.bus(), Sum(0), AttachOptions::new(), finish)?;
//!
//! // A real host spawns `lane` on its executor and awaits the sends in a
//! // task; polling both by hand with a waker that does nothing shows the
//! // same steps.
//! let mut cx = Context::from_waker(Waker::noop());
//! let mut lane = pin!(lane);
//! let mut send = pin!(sender.send_batch(0..100));
//! let sent = loop {
//!     if let std::task::Poll::Ready(sent) = send.as_mut().poll(&mut cx) {
//!         break sent.unwrap();
//!     }
//!     let _ = lane.as_mut().poll(&mut cx);
//! };
//! assert_eq!(sent, 100);
//! sender.bus().close();
//! while lane.as_mut().poll(&mut cx).is_pending() {}
//! assert_eq!(report.recv().unwrap().stats.handled, 100);
//! # Ok::<(), plugbus_core::AttachError>(())
//! ```

mod lane;
mod reports;
mod room;
mod sender;

pub use lane::{LaneTask, Timer};
pub use reports::Reports;
pub use room::Room;
pub use sender::AsyncSender;

#[cfg(test)]
mod test_support;
