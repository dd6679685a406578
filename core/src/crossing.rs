//! Replies across a process boundary (feature `crossing`): how a
//! [`Request`] and an [`Outbox`] inside a message cross when the message is
//! encoded with serde, so that a plugin in another process answers and
//! replies exactly as it would in process.
//!
//! Plugin authors do not use this module. They derive `Serialize` and
//! `Deserialize` for their message type as usual (a `Request<Q, A>` or an
//! `Outbox<R>` field needs `Q`, `A`, `R` to be serde types too), and the
//! runner that carries messages to another process (plugbus-host-std's
//! isolated plugins) does the rest:
//! - the host encodes each message inside [`encode_with`], giving a
//!   [`HostEnd`]: a `Request` in the message takes a
//!   [`Responder`](crate::ask::Responder) for the plugin and leaves it with
//!   the host end under a number; an `Outbox` leaves a handle under a
//!   number (the same number for every message that carries the same
//!   queue). Only the numbers and the question cross.
//! - the other process decodes inside [`decode_with`], giving a
//!   [`ChildEnd`]: the decoded `Request` and `Outbox` send answers and
//!   replies, encoded with postcard, through it, and the runner tells the
//!   [`Questions`] when the plugin is done with the message, so a plugin
//!   that neither answered nor deferred is reported as declining, as a
//!   lane would.
//!
//! Outside those two calls a `Request` or an `Outbox` refuses to be
//! encoded or decoded, with a serde error naming why: a network link (the
//! zenoh bridge) has no way back to the asker.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use plugbus_core::crossing::{self, AnswerFn, ChildEnd, HostEnd, ReplyFn};
//! use plugbus_core::{PluginId, outbox};
//!
//! // A host end that keeps reply paths by number, and a child end that
//! // hands replies straight to it (a real runner puts shared memory or a
//! // socket between the two).
//! #[derive(Default)]
//! struct Book {
//!     outboxes: Mutex<Vec<(usize, ReplyFn)>>,
//!     questions: Mutex<Vec<Option<AnswerFn>>>,
//! }
//! impl HostEnd for Book {
//!     fn plugin(&self) -> PluginId { PluginId::from_raw(1) }
//!     fn question(&self, answer: AnswerFn) -> u64 {
//!         let mut questions = self.questions.lock().unwrap();
//!         questions.push(Some(answer));
//!         questions.len() as u64 - 1
//!     }
//!     fn outbox(&self, key: usize, make: &mut dyn FnMut() -> ReplyFn) -> u32 {
//!         let mut outboxes = self.outboxes.lock().unwrap();
//!         if let Some(at) = outboxes.iter().position(|(k, _)| *k == key) {
//!             return at as u32;
//!         }
//!         outboxes.push((key, make()));
//!         outboxes.len() as u32 - 1
//!     }
//! }
//! struct Wire(Arc<Book>);
//! impl ChildEnd for Wire {
//!     fn reply(&self, outbox: u32, reply: &[u8]) -> bool {
//!         (self.0.outboxes.lock().unwrap()[outbox as usize].1)(reply)
//!     }
//!     fn answer(&self, question: u64, answer: Option<&[u8]>) {
//!         let taken = self.0.questions.lock().unwrap()[question as usize].take();
//!         if let Some(answer_fn) = taken {
//!             answer_fn(answer);
//!         }
//!     }
//! }
//!
//! let book = Arc::new(Book::default());
//! let host: Arc<dyn HostEnd> = book.clone();
//! let child: Arc<dyn ChildEnd> = Arc::new(Wire(book));
//! let (tx, replies) = outbox::<u32>(4);
//! let bytes = crossing::encode_with(&host, || postcard::to_allocvec(&tx)).unwrap();
//! drop(tx);
//! let (decoded, questions) = crossing::decode_with(&child, || {
//!     postcard::from_bytes::<plugbus_core::Outbox<u32>>(&bytes)
//! });
//! decoded.unwrap().send(7).unwrap(); // in the other process, in truth
//! questions.delivered();
//! assert_eq!(replies.try_recv().as_deref(), Some(&7));
//! ```

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;

use serde::de::{DeserializeOwned, Error as _};
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ask::Request;
use crate::ask::remote::{Made, Remote};
use crate::outbox::Outbox;
use crate::plugin::PluginId;

extern crate std;

/// What the host end keeps for one question: called once with the encoded
/// answer, or with `None` when the plugin declined (or can no longer
/// answer: its process died).
pub type AnswerFn = Box<dyn FnOnce(Option<&[u8]>) + Send>;

/// What the host end keeps for one outbox: queues an encoded reply,
/// returning false if the bytes did not decode. (A full queue refuses the
/// reply and counts it in [`Replies::dropped`](crate::Replies::dropped),
/// as for a plugin in process; that returns true.)
pub type ReplyFn = Box<dyn Fn(&[u8]) -> bool + Send + Sync>;

/// The host's side of a crossing: it keeps the reply paths of the messages
/// encoded inside [`encode_with`], by number.
pub trait HostEnd: Send + Sync {
    /// The id of the plugin the messages go to: its answers count for it.
    fn plugin(&self) -> PluginId;
    /// Keeps `answer` under a new number, until the other side answers or
    /// declines the question of that number.
    fn question(&self, answer: AnswerFn) -> u64;
    /// The number of the outbox whose identity is `key`: the same number
    /// each time the same queue crosses. The first time, keeps the handle
    /// `make` returns under it.
    fn outbox(&self, key: usize, make: &mut dyn FnMut() -> ReplyFn) -> u32;
}

/// The far side of a crossing: where the requests and outboxes decoded
/// inside [`decode_with`] send what the plugin says. Its methods must not
/// panic.
pub trait ChildEnd: Send + Sync {
    /// Sends a reply (postcard bytes) to outbox number `outbox`; false if
    /// there is no room now, in which case the plugin gets its value back,
    /// as from a full outbox. Must not block for long: sending to an
    /// outbox never blocks a plugin.
    fn reply(&self, outbox: u32, reply: &[u8]) -> bool;
    /// Sends the answer (postcard bytes) to question number `question`, or
    /// `None`: the plugin declined it. Called once per question; must not
    /// lose it (wait for room if need be).
    fn answer(&self, question: u64, answer: Option<&[u8]>);
}

std::thread_local! {
    static HOST: RefCell<Option<Arc<dyn HostEnd>>> = const { RefCell::new(None) };
    static CHILD: RefCell<Option<(Arc<dyn ChildEnd>, Made)>> = const { RefCell::new(None) };
}

/// Puts a thread-local back as it was, also on a panic.
struct Restore<T: 'static> {
    key: &'static std::thread::LocalKey<RefCell<Option<T>>>,
    previous: Option<T>,
}

impl<T: 'static> Drop for Restore<T> {
    fn drop(&mut self) {
        let previous = self.previous.take();
        self.key.with(|cell| *cell.borrow_mut() = previous);
    }
}

/// Runs `encode` (which serializes messages) with `end` keeping the reply
/// paths of every `Request` and `Outbox` serialized meanwhile, on this
/// thread.
pub fn encode_with<T>(end: &Arc<dyn HostEnd>, encode: impl FnOnce() -> T) -> T {
    let previous = HOST.with(|cell| cell.borrow_mut().replace(Arc::clone(end)));
    let _restore = Restore {
        key: &HOST,
        previous,
    };
    encode()
}

/// Runs `decode` (which deserializes messages) with every `Request` and
/// `Outbox` deserialized meanwhile, on this thread, sending through `end`.
/// Returns the questions decoded, to be told when the plugin is done with
/// the message ([`Questions::delivered`]).
pub fn decode_with<T>(end: &Arc<dyn ChildEnd>, decode: impl FnOnce() -> T) -> (T, Questions) {
    let previous = CHILD.with(|cell| cell.borrow_mut().replace((Arc::clone(end), Vec::new())));
    let restore = Restore {
        key: &CHILD,
        previous,
    };
    let value = decode();
    let made = CHILD.with(|cell| {
        cell.borrow_mut()
            .as_mut()
            .map(|(_, made)| core::mem::take(made))
            .unwrap_or_default()
    });
    drop(restore);
    (value, Questions { made })
}

/// The questions one decoded message carries, until the plugin is done
/// with the message.
#[must_use = "tell the questions when the plugin is done with the message, or they are refused when dropped"]
pub struct Questions {
    made: Made,
}

impl Questions {
    /// The plugin's handler returned (or its filter declined the message):
    /// each question it neither answered nor kept a
    /// [`Responder`](crate::ask::Responder) for is refused now, as a lane
    /// would report it declined. (Dropped without this call, they are
    /// refused once the message is gone too.)
    pub fn delivered(self) {
        for remote in &self.made {
            remote.delivered();
        }
    }

    /// How many questions the message carried.
    pub fn len(&self) -> usize {
        self.made.len()
    }

    /// Whether the message carried none.
    pub fn is_empty(&self) -> bool {
        self.made.is_empty()
    }
}

impl fmt::Debug for Questions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Questions")
            .field("len", &self.made.len())
            .finish()
    }
}

const NO_HOST_END: &str = "a plugbus Request or Outbox crosses only to an isolated plugin \
     (plugbus_core::crossing::encode_with): its reply path cannot go over this link";
const NO_CHILD_END: &str = "a plugbus Request or Outbox is decoded only by an isolated \
     plugin's runner (plugbus_core::crossing::decode_with)";

fn host_end() -> Option<Arc<dyn HostEnd>> {
    HOST.with(|cell| cell.borrow().clone())
}

fn child_end() -> Option<Arc<dyn ChildEnd>> {
    CHILD.with(|cell| cell.borrow().as_ref().map(|(end, _)| Arc::clone(end)))
}

/// Crosses as its number and its question; the host end keeps a
/// [`Responder`](crate::ask::Responder) for the plugin, so the asker waits
/// for the answer from the other side.
impl<Q, A> Serialize for Request<Q, A>
where
    Q: Serialize,
    A: DeserializeOwned + Send + Sync + 'static,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let end = host_end().ok_or_else(|| S::Error::custom(NO_HOST_END))?;
        let responder = self.defer(end.plugin());
        let number = end.question(Box::new(move |answer| {
            let value = answer.and_then(|bytes| postcard::from_bytes::<A>(bytes).ok());
            match value {
                // A late answer is counted by the question itself.
                Some(value) => drop(responder.answer(value)),
                None => drop(responder),
            }
        }));
        (number, self.question()).serialize(serializer)
    }
}

/// Decodes as a request whose answers go back through the child end.
impl<'de, Q, A> Deserialize<'de> for Request<Q, A>
where
    Q: Deserialize<'de>,
    A: Serialize + Send + Sync + 'static,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (number, question) = <(u64, Q)>::deserialize(deserializer)?;
        let end = child_end().ok_or_else(|| D::Error::custom(NO_CHILD_END))?;
        let remote = Remote::new::<A>(number, end);
        // SAFETY: the hook is a live `Remote` (held by `remote` until the
        // request has retained it), typed for `A`.
        let request = unsafe { Request::new(remote.hook(), question) };
        CHILD.with(|cell| {
            if let Some((_, made)) = cell.borrow_mut().as_mut() {
                made.push(remote);
            }
        });
        Ok(request)
    }
}

/// Crosses as its number; the host end keeps a handle on the queue.
impl<R> Serialize for Outbox<R>
where
    R: DeserializeOwned + Send + Sync + 'static,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let end = host_end().ok_or_else(|| S::Error::custom(NO_HOST_END))?;
        let number = end.outbox(self.key(), &mut || {
            let outbox = self.clone();
            Box::new(move |bytes| {
                postcard::from_bytes::<R>(bytes)
                    .map(|value| drop(outbox.send(value)))
                    .is_ok()
            })
        });
        number.serialize(serializer)
    }
}

/// Decodes as an outbox whose replies go back through the child end.
impl<'de, R> Deserialize<'de> for Outbox<R>
where
    R: Serialize + Send + Sync + 'static,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let number = u32::deserialize(deserializer)?;
        let end = child_end().ok_or_else(|| D::Error::custom(NO_CHILD_END))?;
        Ok(Outbox::remote(number, end))
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::String;
    use alloc::vec;
    use core::time::Duration;
    use std::sync::Mutex;

    use super::*;
    use crate::ask::AnswerError;
    use crate::{Flow, LocalHost, Message, Plugin, outbox};

    /// A host end and a child end in one process: what a runner puts
    /// shared memory between.
    #[derive(Default)]
    struct Book {
        plugin: Mutex<Option<PluginId>>,
        outboxes: Mutex<Vec<(usize, ReplyFn)>>,
        questions: Mutex<Vec<Option<AnswerFn>>>,
        declined: Mutex<Vec<u64>>,
    }

    impl HostEnd for Book {
        fn plugin(&self) -> PluginId {
            self.plugin.lock().unwrap().unwrap()
        }
        fn question(&self, answer: AnswerFn) -> u64 {
            let mut questions = self.questions.lock().unwrap();
            questions.push(Some(answer));
            questions.len() as u64 - 1
        }
        fn outbox(&self, key: usize, make: &mut dyn FnMut() -> ReplyFn) -> u32 {
            let mut outboxes = self.outboxes.lock().unwrap();
            if let Some(at) = outboxes.iter().position(|(k, _)| *k == key) {
                return at as u32;
            }
            outboxes.push((key, make()));
            outboxes.len() as u32 - 1
        }
    }

    struct Wire(Arc<Book>);

    impl ChildEnd for Wire {
        fn reply(&self, outbox: u32, reply: &[u8]) -> bool {
            (self.0.outboxes.lock().unwrap()[outbox as usize].1)(reply)
        }
        fn answer(&self, question: u64, answer: Option<&[u8]>) {
            if answer.is_none() {
                self.0.declined.lock().unwrap().push(question);
            }
            let taken = self.0.questions.lock().unwrap()[question as usize].take();
            let answer_fn = taken.expect("one word per question");
            answer_fn(answer);
        }
    }

    #[derive(serde::Serialize, serde::Deserialize)]
    enum Command {
        Add(u64),
        Total(Request<(), u64>),
        ReportTo(Outbox<String>),
    }

    /// What the plugin in the "other process" does with a question.
    #[derive(Clone, Copy)]
    enum Mode {
        Answer,
        AnswerTwice,
        Decline,
        Defer,
    }

    /// A plugin whose handler crosses: encodes the message, decodes it, and
    /// handles the copy as the child would.
    struct Crossing {
        book: Arc<Book>,
        mode: Mode,
        total: u64,
        replies: Vec<Outbox<String>>,
        deferred: Vec<crate::ask::Responder<u64>>,
        refusals: Arc<Mutex<Vec<&'static str>>>,
    }

    impl Plugin<Command> for Crossing {
        fn on_attach(&mut self, id: PluginId) {
            *self.book.plugin.lock().unwrap() = Some(id);
        }
        fn handle_message(&mut self, message: &Message<Command>) -> Flow {
            let host: Arc<dyn HostEnd> = self.book.clone();
            let child: Arc<dyn ChildEnd> = Arc::new(Wire(self.book.clone()));
            let bytes = encode_with(&host, || postcard::to_allocvec(&**message)).unwrap();
            let (copy, questions) = decode_with(&child, || postcard::from_bytes::<Command>(&bytes));
            let id = self.book.plugin();
            match copy.unwrap() {
                Command::Add(n) => self.total += n,
                Command::ReportTo(outbox) => {
                    let _ = outbox.send(alloc::format!("total {}", self.total));
                    self.replies.push(outbox);
                }
                Command::Total(request) => match self.mode {
                    Mode::Answer => request.answer(id, self.total).unwrap(),
                    Mode::AnswerTwice => {
                        request.answer(id, self.total).unwrap();
                        let again = request.answer(id, 0);
                        assert!(matches!(again, Err(AnswerError::Duplicate(0))));
                        self.refusals.lock().unwrap().push("duplicate");
                    }
                    Mode::Decline => {}
                    Mode::Defer => self.deferred.push(request.defer(id)),
                },
            }
            questions.delivered();
            Flow::Continue
        }
    }

    fn host(mode: Mode) -> (LocalHost<Command>, PluginId, Arc<Book>) {
        let book = Arc::new(Book::default());
        let host = LocalHost::new();
        let id = host
            .attach(Crossing {
                book: book.clone(),
                mode,
                total: 0,
                replies: Vec::new(),
                deferred: Vec::new(),
                refusals: Arc::default(),
            })
            .unwrap();
        (host, id, book)
    }

    #[test]
    fn an_answer_from_the_other_side_reaches_the_asker() {
        for mode in [Mode::Answer, Mode::AnswerTwice] {
            let (mut host, id, book) = host(mode);
            host.send(Command::Add(40)).unwrap();
            host.send(Command::Add(2)).unwrap();
            let answers = host
                .ask(Command::Total, (), Duration::from_secs(5))
                .unwrap();
            assert_eq!(answers.get(id), Some(&42));
            assert!(answers.is_complete());
            assert!(book.declined.lock().unwrap().is_empty());
        }
    }

    #[test]
    fn a_question_not_answered_on_the_other_side_is_declined() {
        let (mut host, id, book) = host(Mode::Decline);
        let answers = host
            .ask(Command::Total, (), Duration::from_secs(5))
            .unwrap();
        assert_eq!(answers.get(id), None);
        assert_eq!(answers.declined(), [id]);
        assert_eq!(*book.declined.lock().unwrap(), vec![0]);
    }

    #[test]
    fn a_deferred_question_keeps_the_asker_waiting_until_its_timeout() {
        let (mut host, id, _) = host(Mode::Defer);
        let answers = host
            .ask(Command::Total, (), Duration::from_millis(50))
            .unwrap();
        assert_eq!(answers.timed_out(), [id]);
    }

    #[test]
    fn replies_from_the_other_side_reach_the_outbox() {
        let (mut host, _, book) = host(Mode::Answer);
        let (tx, replies) = outbox(8);
        host.send(Command::Add(5)).unwrap();
        host.send(Command::ReportTo(tx.clone())).unwrap();
        host.send(Command::ReportTo(tx)).unwrap();
        host.run_until_idle();
        let got: Vec<String> = replies.drain().iter().map(|m| (**m).clone()).collect();
        assert_eq!(got, ["total 5", "total 5"]);
        // The same queue crossed twice under one number.
        assert_eq!(book.outboxes.lock().unwrap().len(), 1);
    }

    #[test]
    fn outside_a_crossing_requests_and_outboxes_refuse_to_encode() {
        let (tx, _replies) = outbox::<String>(1);
        let error = postcard::to_allocvec(&Command::ReportTo(tx)).unwrap_err();
        assert!(matches!(error, postcard::Error::SerdeSerCustom));
        let bytes = postcard::to_allocvec(&(0u32,)).unwrap();
        assert!(postcard::from_bytes::<Outbox<String>>(&bytes).is_err());
    }
}
