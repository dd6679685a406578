//! Request and response: ask the plugins a question and collect each one's
//! answer with its id, within a timeout.
//!
//! Every host has `ask(make, question, timeout)` (the async hosts await it
//! and have `ask_blocking`): it wraps `question` in a [`Request`], lets
//! `make` put the request into a message (an enum variant's constructor,
//! usually), broadcasts that message like any other, and returns the
//! [`Answers`]. A plugin answers with [`Request::answer`], passing the id
//! its [`on_attach`](crate::Plugin::on_attach) received, or takes a
//! [`Responder`] to answer later.
//!
//! ```
//! use std::time::Duration;
//! use plugbus_core::ask::Request;
//! use plugbus_core::{Flow, LocalHost, Message, Plugin, PluginId};
//!
//! enum Command {
//!     Log(String),
//!     Count(Request<(), usize>),
//! }
//!
//! #[derive(Default)]
//! struct Lines {
//!     id: Option<PluginId>,
//!     lines: usize,
//! }
//!
//! impl Plugin<Command> for Lines {
//!     fn on_attach(&mut self, id: PluginId) {
//!         self.id = Some(id);
//!     }
//!     fn handle_message(&mut self, message: &Message<Command>) -> Flow {
//!         match &**message {
//!             Command::Log(_) => self.lines += 1,
//!             Command::Count(request) => {
//!                 if let Some(id) = self.id {
//!                     let _ = request.answer(id, self.lines);
//!                 }
//!             }
//!         }
//!         Flow::Continue
//!     }
//! }
//!
//! let mut host = LocalHost::new();
//! let lines = host.attach(Lines::default()).unwrap();
//! host.send(Command::Log("started".into())).unwrap();
//! let answers = host.ask(Command::Count, (), Duration::from_millis(100)).unwrap();
//! assert_eq!(answers.get(lines), Some(&1));
//! ```
//!
//! # Who is waited for
//! The plugins attached when the question is sent (and any that attached
//! while it was being sent), each until it settles: it answered, it
//! declined (its filter declined the question, or its handler returned
//! without answering and without taking a [`Responder`], or its last
//! responder was dropped unused), or it panicked on the question. `ask`
//! returns as soon as every plugin has settled, or at the timeout; the
//! plugins that had not settled by then are [`Answers::timed_out`]. A
//! plugin that left the host, or whose overflow policy dropped the
//! question, is among them.
//!
//! # Late answers
//! An answer that comes after the question closed for its plugin (the
//! deadline passed, or the plugin had declined) is refused: the plugin gets
//! [`AnswerError::Late`] with its value, and the question's
//! [`Answers::late`] counts it. Each question has its own reply object, so
//! an answer can never reach another question.
//!
//! # Why the plugin passes its id
//! A [`Message`](crate::Message) is one allocation shared by every lane, so
//! the request in it cannot know which plugin is calling. The lane knows,
//! and tells the question when it is done with it (that is how a plugin
//! that declines is told apart from a slow one), but the answer itself may
//! come from anywhere: the handler, another thread, a later message, a
//! future after an `await`, a dynamic library, a child process. The id is
//! a number every one of those can carry; a thread-local "current plugin"
//! would be wrong after an `await` or in another thread, and would have to
//! be set in every binary.

mod answers;
mod asking;
#[cfg(feature = "crossing")]
pub(crate) mod remote;
mod reply;
mod request;

pub use answers::{Answer, Answers};
pub use asking::{Asking, Done, send, send_with};
pub(crate) use reply::{Delivery, Hook, questions_live};
pub use request::{AnswerError, Request, Responder};
