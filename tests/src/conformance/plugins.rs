//! Plugins the scenarios are made of.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use plugbus_core::{Flow, Message, Outbox, Plugin, Status};

/// What a [`Recorder`] saw, readable from the test thread.
#[derive(Debug)]
pub struct Seen<M>(Arc<Mutex<Vec<M>>>);

impl<M> Clone for Seen<M> {
    fn clone(&self) -> Self {
        Seen(self.0.clone())
    }
}

impl<M: Clone> Seen<M> {
    /// Everything handled so far, in order.
    pub fn get(&self) -> Vec<M> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A plugin that records every message it handles, with optional behaviours
/// the scenarios switch on.
pub struct Recorder<M> {
    seen: Seen<M>,
    name: String,
    handled: usize,
    detach_after: Option<(usize, Status)>,
    panic_on: Option<usize>,
    panic_in_attach: bool,
    panic_in_detach: bool,
    panic_in_drop: bool,
    filter: Option<fn(&M) -> bool>,
    gate: Option<Gate>,
    attach_gate: Option<Gate>,
    delay: Option<Duration>,
    reply: Option<Outbox<M>>,
}

impl<M: Clone + Send + Sync + 'static> Recorder<M> {
    /// A recorder with no special behaviour, and what it will see.
    pub fn new(name: &str) -> (Self, Seen<M>) {
        let seen = Seen(Arc::new(Mutex::new(Vec::new())));
        (
            Recorder {
                seen: seen.clone(),
                name: name.to_string(),
                handled: 0,
                detach_after: None,
                panic_on: None,
                panic_in_attach: false,
                panic_in_detach: false,
                panic_in_drop: false,
                filter: None,
                gate: None,
                attach_gate: None,
                delay: None,
                reply: None,
            },
            seen,
        )
    }

    /// Detaches with `status` after handling `n` messages.
    pub fn detach_after(mut self, n: usize, status: Status) -> Self {
        self.detach_after = Some((n, status));
        self
    }

    /// Panics while handling its `n`th message (1-based).
    pub fn panic_on(mut self, n: usize) -> Self {
        self.panic_on = Some(n);
        self
    }

    /// Panics in `on_attach`.
    pub fn panic_in_attach(mut self) -> Self {
        self.panic_in_attach = true;
        self
    }

    /// Panics in `on_detach`.
    pub fn panic_in_detach(mut self) -> Self {
        self.panic_in_detach = true;
        self
    }

    /// Panics when dropped.
    pub fn panic_in_drop(mut self) -> Self {
        self.panic_in_drop = true;
        self
    }

    /// Declines messages for which `filter` is false.
    pub fn filter(mut self, filter: fn(&M) -> bool) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Waits at `gate` before handling each message.
    pub fn gate(mut self, gate: Gate) -> Self {
        self.gate = Some(gate);
        self
    }

    /// Waits at `gate` in `on_attach`, before it takes any message.
    pub fn gate_attach(mut self, gate: Gate) -> Self {
        self.attach_gate = Some(gate);
        self
    }

    /// Sleeps this long in every handler.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Sends every message it handles back through `outbox`.
    pub fn reply(mut self, outbox: Outbox<M>) -> Self {
        self.reply = Some(outbox);
        self
    }
}

impl<M> std::fmt::Debug for Recorder<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("name", &self.name)
            .field("handled", &self.handled)
            .finish_non_exhaustive()
    }
}

impl<M: Clone + Send + Sync + 'static> Plugin<M> for Recorder<M> {
    fn handle_message(&mut self, message: &Message<M>) -> Flow {
        if let Some(gate) = &self.gate {
            gate.pass();
        }
        if let Some(delay) = self.delay {
            std::thread::sleep(delay);
        }
        self.handled += 1;
        if self.panic_on == Some(self.handled) {
            panic!("{} panics on message {}", self.name, self.handled);
        }
        self.seen
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((**message).clone());
        if let Some(outbox) = &self.reply {
            outbox
                .send((**message).clone())
                .unwrap_or_else(|_| panic!("{}: outbox full", self.name));
        }
        match self.detach_after {
            Some((n, status)) if self.handled == n => Flow::Detach(status),
            _ => Flow::Continue,
        }
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn wants(&self, message: &M) -> bool {
        self.filter.is_none_or(|f| f(message))
    }

    fn on_attach(&mut self, _: plugbus_core::PluginId) {
        if let Some(gate) = &self.attach_gate {
            gate.pass();
        }
        if self.panic_in_attach {
            panic!("{} panics in on_attach", self.name);
        }
    }

    fn on_detach(&mut self, _: plugbus_core::Exit) {
        if self.panic_in_detach {
            panic!("{} panics in on_detach", self.name);
        }
    }
}

impl<M> Drop for Recorder<M> {
    fn drop(&mut self) {
        if self.panic_in_drop {
            panic!("{} panics in drop", self.name);
        }
    }
}

/// How long a [`Gate`] holds a plugin at most.
pub(crate) const GATE_PATIENCE: Duration = Duration::from_secs(10);

/// Holds a plugin inside its handler until the test opens it, and counts
/// how many handler calls reached it. On a host whose lanes run only when
/// polled, a gate starts open: its lanes cannot run during a send anyway.
#[derive(Clone, Debug)]
pub struct Gate(Arc<(Mutex<GateState>, Condvar)>);

#[derive(Debug)]
struct GateState {
    open: bool,
    entered: usize,
}

impl Gate {
    /// A gate, closed if lanes run concurrently with the test thread.
    pub fn new(concurrent: bool) -> Self {
        Gate(Arc::new((
            Mutex::new(GateState {
                open: !concurrent,
                entered: 0,
            }),
            Condvar::new(),
        )))
    }

    /// Waits until the gate is open. A gate still closed after
    /// [`GATE_PATIENCE`] means the test failed before it opened it: the
    /// plugin panics, so its lane ends and the host can shut down and the
    /// test report its own failure, instead of hanging on the lane.
    fn pass(&self) {
        let (lock, cvar) = &*self.0;
        let mut state = lock.lock().unwrap_or_else(PoisonError::into_inner);
        state.entered += 1;
        cvar.notify_all();
        let deadline = std::time::Instant::now() + GATE_PATIENCE;
        while !state.open {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            assert!(!left.is_zero(), "a gate was never opened");
            state = cvar
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// How many handler calls reached the gate.
    pub fn entered(&self) -> usize {
        self.0
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entered
    }

    /// Lets every waiting and future handler through.
    pub fn open(&self) {
        let (lock, cvar) = &*self.0;
        lock.lock().unwrap_or_else(PoisonError::into_inner).open = true;
        cvar.notify_all();
    }
}

/// A plugin that only counts what it handles, for message types that are not
/// `Clone`.
#[derive(Debug)]
pub struct Counter(Arc<std::sync::atomic::AtomicU64>);

impl Counter {
    /// A counter and a handle to read it.
    pub fn new() -> (Self, Arc<std::sync::atomic::AtomicU64>) {
        let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
        (Counter(count.clone()), count)
    }
}

impl<M: Send + Sync + 'static> Plugin<M> for Counter {
    fn handle_message(&mut self, _: &Message<M>) -> Flow {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Flow::Continue
    }
}

/// Counts messages and, at the `n`th (from 1), panics with a payload whose
/// own `Drop` panics too.
#[derive(Debug)]
pub struct PanickyPayload {
    n: usize,
    handled: usize,
}

impl PanickyPayload {
    /// Panics at message `n`.
    pub fn at(n: usize) -> Self {
        PanickyPayload { n, handled: 0 }
    }
}

/// The payload [`PanickyPayload`] panics with.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("the panic payload's drop panics");
    }
}

impl<M: Send + Sync + 'static> Plugin<M> for PanickyPayload {
    fn handle_message(&mut self, _: &Message<M>) -> Flow {
        self.handled += 1;
        if self.handled == self.n {
            std::panic::panic_any(Bomb);
        }
        Flow::Continue
    }

    fn name(&self) -> &str {
        "panicky-payload"
    }
}
