//! Pins which of the async plugin types are `Send`, `Sync` and `Unpin`
//! (beside `async_send_sync.rs`, in the same style): a change that gains
//! or loses one fails to compile here rather than in a host.

use std::cell::Cell;

use plugbus_core::{Async, AsyncPlugin, Flow, Message};

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

/// `Send` and `Sync`.
struct Plain;
impl AsyncPlugin<u32> for Plain {
    async fn handle_message(&mut self, _: &Message<u32>) -> Flow {
        Flow::Continue
    }
}

/// `Send`, not `Sync`: a plugin needs only `Send`.
struct Counting(Cell<u32>);
impl AsyncPlugin<u32> for Counting {
    async fn handle_message(&mut self, _: &Message<u32>) -> Flow {
        self.0.set(self.0.get() + 1);
        Flow::Continue
    }
}

#[test]
fn async_is_send_sync_unpin_as_its_plugin() {
    // Unpin whatever the plugin: the plugin and its future live behind
    // pointers of their own.
    assert_impl!(Async<Plain>: Send, Sync, Unpin);
    assert_impl!(Async<Counting>: Send, Unpin);
    assert_not_impl!(Async<Counting>: Sync);
    assert_impl!(Async<std::marker::PhantomPinned>: Unpin);
}

#[test]
fn handler_futures_are_send() {
    fn future_of<P: AsyncPlugin<u32>>(plugin: &mut P, message: &Message<u32>) {
        fn send<F: Send>(_: &F) {}
        send(&plugin.handle_message(message));
    }
    let message = Message::new(1);
    future_of(&mut Plain, &message);
    future_of(&mut Counting(Cell::new(0)), &message);
}
