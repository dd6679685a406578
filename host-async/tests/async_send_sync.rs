//! Which of the async host's types and futures are `Send`, `Sync` and
//! `Unpin`: a host is shared between tasks of a multi-thread runtime, and
//! its futures are awaited in tasks that move between threads.

use std::future::Future;

use plugbus_host_async::{Host, LaneThread, Runtime, Sender};

#[derive(Debug)]
struct AnyRuntime;

impl Runtime for AnyRuntime {
    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, _lane: F) {}
}

fn send_sync<T: Send + Sync>(_: &T) {}
fn send<T: Send>(_: &T) {}
fn unpin<T: Unpin>(_: &T) {}

#[test]
fn hosts_senders_and_their_futures_are_send() {
    // A message type that is Send + Sync but not Unpin-relevant.
    let host: Host<String, AnyRuntime> = Host::on(AnyRuntime);
    send_sync(&host);
    unpin(&host);
    let sender: Sender<String> = host.sender();
    send_sync(&sender);
    unpin(&sender);
    send(&host.send(String::new()));
    send(&host.send_batch(vec![String::new()]));
    send(&sender.send(String::new()));
    send(&sender.send_batch(vec![String::new()]));
    let ask = host.ask(
        |_request: plugbus_host_async::ask::Request<(), u32>| String::new(),
        (),
        std::time::Duration::from_secs(1),
    );
    send(&ask);
    drop(ask);
    send(&host.shutdown());
    send_sync(&LaneThread::new());
}
