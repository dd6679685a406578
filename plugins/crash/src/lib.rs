//! A plugin that crashes its process on request: a null write (SIGSEGV),
//! `abort`, a stack overflow, an endless loop, `exit(3)`, a panic, an
//! allocation past any limit. Every message carries a sequence number;
//! with `log=PATH` in its configuration the plugin appends each number it
//! finished to that file (8 bytes, little-endian, one `write` each, so a
//! crash right after loses nothing), which is how the tests see what a
//! child process did.
//!
//! It also answers questions and replies to outboxes (`Ask`, `AskLater`,
//! `Decline`, `AskThenAbort`, `ReplyTo`), which is how the tests see that
//! replies from a child process reach the host.
//!
//! The message type lives here too, so the tests link it from this crate.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::time::Duration;

use plugbus_core::ask::{Request, Responder};
use plugbus_core::{Fingerprint, Flow, Message, Outbox, Plugin, PluginId, Status};
use serde::{Deserialize, Serialize};

/// What the plugin is asked to do; the `u64` is the message's number.
#[derive(Debug, Serialize, Deserialize, Fingerprint)]
pub enum Task {
    /// Finish normally.
    Record(u64),
    /// Write through a null pointer.
    Segfault(u64),
    /// `std::process::abort`.
    Abort(u64),
    /// Recurse until the stack overflows.
    Overflow(u64),
    /// Loop forever.
    Spin(u64),
    /// `std::process::exit` with this status.
    Exit(u64, i32),
    /// Panic.
    Panic(u64),
    /// Sleep this many milliseconds, then finish.
    Sleep(u64, u64),
    /// Allocate and touch this many bytes, then finish.
    Allocate(u64, u64),
    /// Carry bytes (for the benchmark), then finish. Serde's default for a
    /// `Vec<u8>`: a sequence, encoded byte by byte.
    Bytes(u64, Vec<u8>),
    /// The same with `serde_bytes`, the usual annotation for byte buffers:
    /// encoded as one length and the bytes.
    Blob(u64, #[serde(with = "serde_bytes")] Vec<u8>),
    /// Leave: `Flow::Detach` with status 3.
    Leave(u64),
    /// Answer the question (a number) with twice the number.
    Ask(u64, Request<u64, u64>),
    /// Answer it the same from another thread, 20 ms after the handler
    /// returned.
    AskLater(u64, Request<u64, u64>),
    /// Neither answer nor defer: the plugin declines.
    Decline(u64, Request<u64, u64>),
    /// Keep a responder, then abort: nobody can answer any more.
    AskThenAbort(u64, Request<u64, u64>),
    /// Send the number, and each later message's number, into the outbox.
    ReplyTo(u64, Outbox<u64>),
}

impl Task {
    /// The message's number.
    pub fn number(&self) -> u64 {
        match *self {
            Task::Record(n)
            | Task::Segfault(n)
            | Task::Abort(n)
            | Task::Overflow(n)
            | Task::Spin(n)
            | Task::Exit(n, _)
            | Task::Panic(n)
            | Task::Sleep(n, _)
            | Task::Allocate(n, _)
            | Task::Bytes(n, _)
            | Task::Blob(n, _)
            | Task::Leave(n)
            | Task::Ask(n, _)
            | Task::AskLater(n, _)
            | Task::Decline(n, _)
            | Task::AskThenAbort(n, _)
            | Task::ReplyTo(n, _) => n,
        }
    }
}

/// The plugin.
#[derive(Debug, Default)]
pub struct Crash {
    log: Option<File>,
    finished: u64,
    id: Option<PluginId>,
    outboxes: Vec<Outbox<u64>>,
    /// Kept so an abort happens with a responder alive.
    kept: Vec<Responder<u64>>,
}

/// A configuration the plugin does not understand.
#[derive(Debug)]
pub struct ConfigError(String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Crash {
    /// `log=PATH` appends each finished number to PATH; `fail` refuses to
    /// start.
    pub fn new(config: &str) -> Result<Self, ConfigError> {
        let mut crash = Crash::default();
        for option in config.split_whitespace() {
            match option.split_once('=') {
                Some(("log", path)) => {
                    let file = OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .map_err(|error| ConfigError(format!("cannot open log {path}: {error}")))?;
                    crash.log = Some(file);
                }
                None if option == "fail" => {
                    return Err(ConfigError("refused: the configuration says fail".into()));
                }
                _ => return Err(ConfigError(format!("unknown option `{option}`"))),
            }
        }
        Ok(crash)
    }

    /// How many messages it finished.
    pub fn finished(&self) -> u64 {
        self.finished
    }
}

#[inline(never)]
fn overflow(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 64]);
    if frame[0] == u64::MAX {
        return 0;
    }
    overflow(depth + 1) + frame[7]
}

impl Plugin<Task> for Crash {
    fn on_attach(&mut self, id: PluginId) {
        self.id = Some(id);
    }

    fn handle_message(&mut self, message: &Message<Task>) -> Flow {
        let mut flow = Flow::Continue;
        for outbox in &self.outboxes {
            let _ = outbox.send(message.number());
        }
        let id = self.id.unwrap_or(PluginId::from_raw(u64::MAX));
        match &**message {
            Task::Ask(_, request) => {
                let _ = request.answer(id, request.question() * 2);
            }
            Task::AskLater(_, request) => {
                let responder = request.defer(id);
                let answer = request.question() * 2;
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(20));
                    let _ = responder.answer(answer);
                });
            }
            Task::Decline(..) => {}
            Task::AskThenAbort(_, request) => {
                self.kept.push(request.defer(id));
                std::process::abort();
            }
            Task::ReplyTo(n, outbox) => {
                let _ = outbox.send(*n);
                self.outboxes.push(outbox.clone());
            }
            Task::Record(_) | Task::Bytes(..) | Task::Blob(..) => {}
            Task::Segfault(_) => {
                let null = std::hint::black_box(std::ptr::null_mut::<u64>());
                // SAFETY: none: this is the fault under test (SIGSEGV).
                unsafe { null.write_volatile(1) };
            }
            Task::Abort(_) => std::process::abort(),
            Task::Overflow(n) => {
                std::hint::black_box(overflow(*n));
            }
            Task::Spin(_) => loop {
                std::hint::spin_loop();
                std::hint::black_box(());
            },
            Task::Exit(_, status) => std::process::exit(*status),
            Task::Panic(n) => panic!("crash: panic at message {n}"),
            Task::Sleep(_, millis) => std::thread::sleep(Duration::from_millis(*millis)),
            Task::Allocate(_, bytes) => {
                let block = vec![1u8; *bytes as usize];
                std::hint::black_box(&block);
            }
            Task::Leave(_) => flow = Flow::Detach(Status(3)),
        }
        self.finished += 1;
        if let Some(log) = &mut self.log {
            // One write of 8 bytes to a file opened for appending.
            let _ = log.write_all(&message.number().to_le_bytes());
        }
        flow
    }

    fn name(&self) -> &str {
        "crash"
    }
}

plugbus_core::export_plugin! {
    plugin: Crash,
    message: Task,
    construct: Crash::new,
}
