//! The shared ring every message goes through once, and the storage it
//! keeps its slots in.
//!
//! A host's users see only [`Heap`] and [`Fixed`] (to size a ring at run
//! time or at compile time) and [`Storage`], which both implement; the
//! protocol below is the dispatch core's business.

// # Maintainers' notes: the ring protocol
//
// Everything about the ring lives in this module: the slots, claiming and
// publishing positions, the readers' positions and how they hold senders
// back, feeding the lossy readers, sleep and wake-up, waiting senders and
// closing. Every `unsafe` block and every atomic ordering of the protocol is
// here, and each says why it holds; `dispatch` calls the ring through the
// crate-private API of `Ring`, `Cursor` and `Batch` and holds no unsafe
// code of its own for it.
//
// ## Positions and slots
// Messages are numbered in the order their positions are claimed. A
// position (`pos.rs`) is that number doubled, wrapping: bit 0 is then free
// for the head's "closed" flag and for a slot's stamp. The ring has a power
// of two of slots; position `p` uses slot `p % capacity`. A slot holds an
// `Option<Message<M>>` and a stamp, `2s + 1` for the message `s` last
// published in it. A new ring stamps every slot as if the message one lap
// before the first had been published there.
//
// ## Claim, write, publish (any number of senders, no lock)
// A sender claims `k` consecutive positions with one CAS on the head (the
// Disruptor's multi-producer claim), writes a message into each slot, and
// publishes each by storing its stamp (Release). Lanes take messages in
// position order and stop at the first slot whose stamp is not yet the one
// they expect, so a sender never waits for another to publish: a lane that
// finds a claimed but unpublished message sleeps until its sender publishes
// it and wakes it. Before writing, a sender checks (Acquire) that the
// slot's previous message is published; every gating reader has passed it,
// so this holds at once unless no plugin reads the ring at all.
//
// ## Gating
// A reader (`reader.rs`) publishes its position once per batch (Release).
// A `Block` reader lets senders claim up to `position + capacity`; a
// `Reject` reader the same, but a claim beyond it fails and names it. The
// claim compares against cached limits (the lowest `position + capacity`
// per kind when last computed) and looks at the readers, under the reader
// lock, only when it reaches one. Positions only grow, so a stale limit is
// a safe one; a reader that joins starts at the head and lowers the limits
// under the same lock. A claim below a limit computed before a reader
// joined stays below that reader's `start + ring capacity`, so it never
// overwrites a message the new reader will read.
//
// ## Lossy readers
// `DropOldest` and `DropNewest` lanes do not read the ring: reading a slot
// that a sender may overwrite needs a per-slot lock or epoch that costs as
// much as the clone a queue of their own takes. After publishing, a sender
// feeds every published message from where feeding stopped to each lossy
// reader (`Owner::feed`), under the feed lock, in position order, so that
// every lane sees every sender's messages in the same order. The feeder's
// position gates senders like a `Block` reader's, so a slot is not reused
// before it was fed.
//
// ## Closing
// `close` sets bit 0 of the head: every claim after fails, every claim
// before is written and published. A lane ends once the ring is closed and
// its cursor has reached the head, so nothing claimed before the close goes
// unread.
//
// ## Sleep and wake-up (`sleepers.rs`)
// A lane with nothing to do registers its waker, sets its sleep bit, pushes
// itself on the sleeper list (a lock-free stack that is only ever taken
// whole) with a SeqCst CAS, and checks for work again with SeqCst loads. A
// sender, after storing its stamps, issues a SeqCst fence and loads the
// list head; if someone is listed it takes the list and, for each entry,
// clears the sleep bit with a SeqCst swap and wakes the waker if the bit
// was set. These are the two halves of a store-buffer (Dekker) pattern:
// either the lane's check sees the stamp, or the sender's load sees the
// lane listed. A lane already listed does not push again; whoever holds its
// list will clear its bit after it set it. Close and detach set their flag,
// then swap the bit of the lanes they concern.
//
// A sender wakes at most `WAKE_AT_ONCE` (32) sleepers itself: it takes the
// list, chooses the first 32 whose bit is set, puts the rest on a second
// stack, `owed`, and only then wakes the chosen. Every lane calls `help` at
// the start of each step and before it sleeps: it takes `owed`, wakes 32
// more the same way and puts the rest back. A lane that leaves wakes every
// owed lane (`settle`). A waker that put entries on `owed` but found every
// chosen bit cleared meanwhile passes them on itself, so someone woken
// after the entries went on `owed` always remains to pass them on. With
// 4,096 lanes on two cores, a sender that woke every sleeper itself spent
// its time slice in `futex_wake` while the lanes took one message each;
// passed on, host-std's throughput at 4,096 plugins went from 5-7 to
// 51-59 M deliveries/s in the same run (`host-std/examples/throughput.rs`).
//
// ## Waiting senders (`senders.rs`)
// A sender that finds no room registers its waker, fences (SeqCst) and
// looks again; a lane publishes its position, fences, and reads the number
// of waiting senders, waking them all if it is not zero. Removing a reader,
// closing and feeding wake them too.
//
// ## Detach
// The dispatch core's detach stores its flag (SeqCst) and then loads the
// head (SeqCst); a lane loads the head, then the flag, and reads no further
// than that head. So a lane that did not see the flag reads only messages
// claimed before the detach, and the messages up to the detach's head that
// it did not read are counted as dropped.
//
// Loom models of the claim, the sleep handshake with one and with two lanes,
// wake-ups passed on, and waiting senders are in `core/tests/loom.rs`
// (where `WAKE_AT_ONCE` is 1); miri runs the unit tests.

mod broadcast;
mod padded;
mod pos;
mod reader;
mod senders;
mod sleepers;
mod storage;

pub(crate) use broadcast::{Refusal, Ring};
pub(crate) use pos::Pos;
pub(crate) use reader::{AsReader, Batch, Cursor, Gate, Owner, Reader};
pub use senders::WaiterKey;
pub(crate) use storage::MAX_CAPACITY;
pub use storage::{Fixed, Heap, MAX_HEAP_CAPACITY, Slot, Storage};
