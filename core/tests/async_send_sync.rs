//! Pins which core types are `Send`, `Sync` and `Unpin`, so a change that
//! gains or loses one fails to compile here rather than in a host. The
//! checks are all at compile time; the tests only give them a name.
//!
//! A message type must be `Send + Sync + 'static`, so the "not" cases use a
//! payload that is `Send` but not `Sync` (`Cell`) or neither (`Rc`).

#![allow(clippy::type_complexity)]

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;

use plugbus_core::task::{AsyncSender, LaneTask, Reports, Room};
use plugbus_core::{Bus, Lane, LocalHost, Message, Outbox, Recv, Replies, Report};

/// Compiles only if `$ty` has every one of the traits.
macro_rules! assert_impl {
    ($ty:ty: $($tr:path),+) => {{
        fn check<T: ?Sized $(+ $tr)+>() {}
        check::<$ty>();
    }};
}

/// Compiles only if `$ty` lacks the trait: with it, the call below would
/// have two candidate impls and be ambiguous.
macro_rules! assert_not_impl {
    ($ty:ty: $tr:path) => {{
        trait AmbiguousIfImpl<A> {
            fn some_item() {}
        }
        impl<T: ?Sized> AmbiguousIfImpl<()> for T {}
        #[allow(dead_code)]
        struct Invalid;
        impl<T: ?Sized + $tr> AmbiguousIfImpl<Invalid> for T {}
        let _ = <$ty as AmbiguousIfImpl<_>>::some_item;
    }};
}

type Finish = fn(Report);

#[test]
fn messages_and_the_bus_cross_threads() {
    assert_impl!(Message<u32>: Send, Sync, Unpin);
    assert_impl!(Bus<u32>: Send, Sync, Unpin);
    // A payload that is not `Sync` is shared by every clone: not sendable.
    assert_not_impl!(Message<Cell<u32>>: Send);
    assert_not_impl!(Message<Cell<u32>>: Sync);
    assert_not_impl!(Message<Rc<u32>>: Send);
}

#[test]
fn lanes_move_but_are_not_shared_and_the_local_host_is_shared_to_attach() {
    // The plugin inside is `Send` only: a lane runs on one thread at a time.
    assert_impl!(Lane<u32>: Send, Unpin);
    assert_not_impl!(Lane<u32>: Sync);
    // Its `&self` methods attach under a lock or go through the bus; only
    // `&mut self` methods run the lanes.
    assert_impl!(LocalHost<u32>: Send, Sync, Unpin);
}

#[test]
fn outboxes_and_replies_cross_threads_with_sendable_replies() {
    assert_impl!(Outbox<u32>: Send, Sync, Unpin);
    assert_impl!(Replies<u32>: Send, Sync, Unpin);
    assert_impl!(Recv<'static, u32>: Send, Sync, Unpin);
    assert_not_impl!(Outbox<Rc<u32>>: Send);
    assert_not_impl!(Replies<Rc<u32>>: Send);
}

#[test]
fn the_async_pieces_can_be_spawned_on_a_multi_thread_executor() {
    assert_impl!(LaneTask<u32, Finish>: Send, Unpin, Future<Output = ()>);
    assert_not_impl!(LaneTask<u32, Finish>: Sync);
    // A `finish` that cannot leave its thread keeps the task on it.
    assert_not_impl!(LaneTask<u32, Box<dyn FnOnce(Report)>>: Send);
    assert_impl!(LaneTask<u32, Box<dyn FnOnce(Report)>>: Unpin);
    assert_impl!(Room<'static, u32>: Send, Sync, Unpin, Future<Output = ()>);
    assert_impl!(AsyncSender<u32>: Send, Sync, Unpin, Clone);
    assert_impl!(Reports: Send, Sync, Unpin);
}

/// Compiles only if the type of `$value` lacks the trait, like
/// `assert_not_impl!` for values whose type has no name (futures).
macro_rules! assert_value_not_impl {
    ($value:expr, $tr:path) => {{
        trait AmbiguousIfImpl<A> {
            fn check(&self) {}
        }
        impl<T: ?Sized> AmbiguousIfImpl<()> for T {}
        #[allow(dead_code)]
        struct Invalid;
        impl<T: ?Sized + $tr> AmbiguousIfImpl<Invalid> for T {}
        AmbiguousIfImpl::check(&$value);
    }};
}

#[test]
fn the_sending_and_collecting_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let sender = AsyncSender::new(Bus::<u32>::with_capacity(4));
    let one = sender.send(1);
    let many = sender.send_batch(vec![2, 3]);
    send(&one);
    send(&many);
    // `async fn` futures: pin them to poll them.
    assert_value_not_impl!(one, Unpin);
    assert_value_not_impl!(many, Unpin);
    let mut reports = Reports::new();
    let collect = reports.collect();
    send(&collect);
    assert_value_not_impl!(collect, Unpin);
}

#[test]
fn requests_responders_and_answers_cross_threads_with_sendable_answers() {
    use plugbus_core::ask::{Answer, AnswerError, Answers, Asking, Done, Request, Responder};
    // A request sits in a message every lane shares; a responder moves to
    // whichever thread answers; answers go back to the asker.
    assert_impl!(Request<String, u32>: Send, Sync, Unpin);
    assert_impl!(Responder<u32>: Send, Sync, Unpin);
    assert_impl!(Answers<u32>: Send, Sync, Unpin);
    assert_impl!(Answer<u32>: Send, Sync, Unpin);
    assert_impl!(AnswerError<u32>: Send, Sync, Unpin);
    assert_impl!(Asking<u32>: Send, Sync, Unpin);
    assert_impl!(Done<'static, u32>: Send, Sync, Unpin, Future<Output = ()>);
    // An answer is shared like a message: not sendable if not `Sync`.
    assert_not_impl!(Request<u32, Cell<u32>>: Send);
    assert_not_impl!(Request<Cell<u32>, u32>: Sync);
    assert_not_impl!(Responder<Rc<u32>>: Send);
    assert_not_impl!(Answers<Cell<u32>>: Send);
    let bus = Bus::<u32>::with_capacity(4);
    let (asking, message) = Asking::<u32>::new(&bus, |_request: Request<(), u32>| 0, (), None);
    let send_question = plugbus_core::ask::send(&bus, message);
    fn send<T: Send>(_: &T) {}
    send(&send_question);
    assert_value_not_impl!(send_question, Unpin);
    drop(asking);
}
