//! The host's side: a plugin that forwards its lane's messages to a child
//! process, and the watcher thread that starts, watches and restarts it.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use plugbus_core::crossing::{self, AnswerFn, HostEnd, ReplyFn};
use plugbus_core::ffi::PluginDescriptor;
use plugbus_core::lifecycle::Restart;
use plugbus_core::{Exit, Fingerprint, Flow, Message, Plugin, PluginId, Status};
use plugbus_wire::{self as wire, Header, Origin};

use super::child::EXIT_LOAD;
use super::encoding::{Encoding, Postcard};
use super::error::IsolateError;
use super::options::IsolateOptions;
use super::process::{self, Running, Start};
use super::shm::{self, BUSY, Segment};
use super::stats::{Death, IsolatedStats};

/// How long `IsolatedHandle::wait_acknowledged` spins before it sleeps.
const SPIN_FOR: Duration = Duration::from_micros(20);

/// The fast flag the lane reads per message; details are in `Watch`.
const RUNNING: u8 = 0;
const DETACHED: u8 = 1;
const GAVE_UP: u8 = 2;

/// A plugin whose code runs in a child process of its own.
///
/// It is attached like any plugin (its lane, overflow policy and counters
/// are the host's); its `handle_message` writes the message, encoded with
/// serde + postcard, into shared memory and returns without waiting for
/// the child, which loads the plugin's library with the loader's checks
/// and handles the messages in order. A child that dies (any signal,
/// abort, `exit`) or hangs past the deadline is replaced per the restart
/// policy, and gets every message not yet finished except the one that was
/// being handled, which is dead-lettered. Linux only.
///
/// The lane's `handled` counts messages forwarded; what the plugin
/// finished is [`IsolatedStats::acknowledged`], read through a
/// [`handle`](Isolated::handle).
///
/// ```no_run
/// use plugbus_host_std::Host;
/// use plugbus_host_std::isolated::{IsolateOptions, Isolated};
/// # #[derive(serde::Serialize, serde::Deserialize, plugbus_core::Fingerprint)] struct Job(u64);
///
/// // The runner's main calls plugbus_host_std::isolated::run_child::<Job>().
/// let options = IsolateOptions::new().runner("target/debug/job-runner");
/// let plugin = Isolated::<Job>::spawn("target/debug/libjob_plugin.so", "", options)?;
/// let handle = plugin.handle();
/// let host = Host::new();
/// host.attach(plugin)?;
/// host.send(Job(1))?;
/// host.shutdown(); // the child drains, runs on_detach, exits
/// assert_eq!(handle.stats().acknowledged, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Isolated<M, E = Postcard> {
    shared: Arc<Shared>,
    watcher: Option<JoinHandle<()>>,
    /// The thread that reads the child's replies.
    replier: Option<JoinHandle<()>>,
    /// The reply paths of the messages encoded (`Shared::crossings`).
    end: Arc<dyn HostEnd>,
    buffer: Vec<u8>,
    origin: Origin,
    sequence: u64,
    _message: PhantomData<fn(&M) -> E>,
}

/// A handle on an isolated plugin once it is attached: its counters and
/// its child's process id.
#[derive(Clone)]
pub struct IsolatedHandle {
    shared: Arc<Shared>,
}

struct Shared {
    segment: Segment,
    name: String,
    phase: AtomicU8,
    pid: AtomicU32,
    forwarded: AtomicU64,
    oversized: AtomicU64,
    unencodable: AtomicU64,
    bad_replies: AtomicU64,
    /// The reply thread stops (the proxy is dropped).
    replies_stop: AtomicBool,
    crossings: Mutex<Crossings>,
    watch: Mutex<Watch>,
    changed: Condvar,
}

/// The reply paths of the messages forwarded: the requests and outboxes
/// they carried (see `plugbus_core::crossing`). Its lock also makes the
/// reply thread and the watcher one reader of the reply ring.
#[derive(Default)]
struct Crossings {
    /// The plugin's id, from `on_attach`.
    plugin: u64,
    next_question: u64,
    /// Questions not answered yet, with the position of the frame that
    /// carried them.
    questions: HashMap<u64, (u64, AnswerFn)>,
    outboxes: Vec<(usize, ReplyFn)>,
    /// The position of the frame being encoded, and the questions it
    /// carries so far (refused if it is not sent).
    encoding_at: u64,
    encoding: Vec<u64>,
}

impl Crossings {
    /// Refuses the questions of frames before `position`: the child that
    /// had them died (after its replies were read).
    fn decline_before(&mut self, position: u64) {
        let given: Vec<u64> = self
            .questions
            .iter()
            .filter(|(_, (at, _))| *at < position)
            .map(|(&number, _)| number)
            .collect();
        for number in given {
            if let Some((_, answer)) = self.questions.remove(&number) {
                answer(None);
            }
        }
    }

    /// The lane ends: nothing more can answer or reply.
    fn close(&mut self) {
        self.decline_before(u64::MAX);
        self.outboxes.clear();
    }

    /// The frame being encoded is not sent: refuses its questions.
    fn abort(&mut self) {
        for number in std::mem::take(&mut self.encoding) {
            if let Some((_, answer)) = self.questions.remove(&number) {
                answer(None);
            }
        }
    }
}

/// The host end the proxy encodes with.
struct Ends(Arc<Shared>);

impl HostEnd for Ends {
    fn plugin(&self) -> PluginId {
        PluginId::from_raw(self.0.crossings().plugin)
    }

    fn question(&self, answer: AnswerFn) -> u64 {
        let mut crossings = self.0.crossings();
        let number = crossings.next_question;
        crossings.next_question += 1;
        let at = crossings.encoding_at;
        crossings.questions.insert(number, (at, answer));
        crossings.encoding.push(number);
        number
    }

    fn outbox(&self, key: usize, make: &mut dyn FnMut() -> ReplyFn) -> u32 {
        let mut crossings = self.0.crossings();
        if let Some(at) = crossings.outboxes.iter().position(|(k, _)| *k == key) {
            return at as u32;
        }
        crossings.outboxes.push((key, make()));
        (crossings.outboxes.len() - 1) as u32
    }
}

struct Watch {
    stats: IsolatedStats,
    /// Why the plugin's lane ends, once it does.
    gave_up: Option<String>,
    /// The watcher has reaped the last child and returned.
    ended: bool,
    /// The proxy is dropped: kill the child and return.
    stop: bool,
}

impl Shared {
    fn watch(&self) -> MutexGuard<'_, Watch> {
        self.watch.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn crossings(&self) -> MutexGuard<'_, Crossings> {
        self.crossings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads every reply the child published and passes each on: to its
    /// outbox, or to the asker. Returns the crossings, still locked, so
    /// the caller can refuse questions knowing no reply is left unread.
    fn read_replies(&self) -> MutexGuard<'_, Crossings> {
        let mut crossings = self.crossings();
        let control = self.segment.control();
        // ORDERING: Relaxed: only this reader (under the lock) stores it.
        let mut read = control.reply_read.load(Ordering::Relaxed);
        // ORDERING: Acquire pairs with the child's publication: the bytes
        // before it are visible.
        let write = control.reply_write.load(Ordering::Acquire);
        if read == write {
            return crossings;
        }
        if write < read {
            // A child that moved its position back: caught up with below.
            self.bad_replies.fetch_add(1, Ordering::Relaxed);
        }
        while read < write {
            let Some((kind, number, bytes, next)) = self.segment.read_reply(read, write) else {
                // Not a reply: a child breaking the protocol. What is left
                // up to its position is skipped.
                self.bad_replies.fetch_add(1, Ordering::Relaxed);
                break;
            };
            read = next;
            let known = match kind {
                shm::REPLY => usize::try_from(number)
                    .ok()
                    .and_then(|at| crossings.outboxes.get(at))
                    .is_some_and(|(_, reply)| reply(&bytes)),
                shm::ANSWER | shm::DECLINE => match crossings.questions.remove(&number) {
                    Some((_, answer)) => {
                        answer((kind == shm::ANSWER).then_some(&bytes[..]));
                        true
                    }
                    None => false,
                },
                _ => false,
            };
            if !known {
                self.bad_replies.fetch_add(1, Ordering::Relaxed);
            }
        }
        // A child that moved its position back, or past the ring, is
        // caught up with (what it claims is there was refused above).
        shm::publish_and_ring(&control.reply_read, write, &control.reply_room);
        crossings
    }

    fn stats(&self) -> IsolatedStats {
        let mut stats = self.watch().stats.clone();
        stats.forwarded = self.forwarded.load(Ordering::Relaxed);
        stats.oversized = self.oversized.load(Ordering::Relaxed);
        stats.unencodable = self.unencodable.load(Ordering::Relaxed);
        stats.bad_replies = self.bad_replies.load(Ordering::Relaxed);
        stats.replies_refused = self
            .segment
            .control()
            .replies_refused
            .load(Ordering::Relaxed);
        stats.acknowledged = self.segment.control().handled.load(Ordering::Relaxed);
        stats
    }

    /// Wakes a lane waiting for room, so it re-reads the position and the
    /// phase.
    fn wake_lane(&self) {
        let bell = &self.segment.control().host_waiting;
        // ORDERING: SeqCst, the waker's half of the handshake in `shm`.
        if bell.swap(0, Ordering::SeqCst) != 0 {
            shm::futex_wake(bell);
        }
    }
}

impl<M: Fingerprint + Send + Sync + 'static, E: Encoding<M>> Isolated<M, E> {
    /// Checks the library at `path` as the loader would for `M` (from the
    /// file, without loading it here), starts a child that loads it with
    /// `config` and the loader's checks, and waits until the child says
    /// the plugin is constructed.
    ///
    /// # Errors
    /// [`IsolateError::Load`] if the host's check refuses the file,
    /// [`IsolateError::Child`] with the child's error if it could not load
    /// or construct the plugin, [`IsolateError::Spawn`] if the process or
    /// the shared memory could not be made, [`IsolateError::Timeout`],
    /// [`IsolateError::Unsupported`] off Linux.
    pub fn spawn(
        path: impl AsRef<Path>,
        config: &str,
        options: IsolateOptions,
    ) -> Result<Isolated<M, E>, IsolateError> {
        let path = path.as_ref();
        let inspection = crate::loader::inspect(path)?;
        inspection.check_against(const { &PluginDescriptor::new::<M>("", "") })?;
        let name = inspection.descriptor.plugin_name().to_owned();
        let program = match &options.runner {
            Some(program) => program.clone(),
            None => std::env::current_exe().map_err(IsolateError::Spawn)?,
        };
        let segment = Segment::create(options.ring_bytes).map_err(IsolateError::Spawn)?;
        segment
            .control()
            .plugin_id
            .store(u64::MAX, Ordering::Relaxed);
        let shared = Arc::new(Shared {
            segment,
            name,
            phase: AtomicU8::new(RUNNING),
            pid: AtomicU32::new(0),
            forwarded: AtomicU64::new(0),
            oversized: AtomicU64::new(0),
            unencodable: AtomicU64::new(0),
            bad_replies: AtomicU64::new(0),
            replies_stop: AtomicBool::new(false),
            crossings: Mutex::new(Crossings::default()),
            watch: Mutex::new(Watch {
                stats: IsolatedStats::default(),
                gave_up: None,
                ended: false,
                stop: false,
            }),
            changed: Condvar::new(),
        });
        let (started, first) = mpsc::channel();
        let watcher = Watcher {
            shared: Arc::clone(&shared),
            program,
            library: path.to_path_buf(),
            encoding: E::NAME,
            config: config.to_owned(),
            options,
            restarts: VecDeque::new(),
            next_token: 0,
            standby: None,
        };
        let watcher = thread::Builder::new()
            .name(format!("plugbus-isolated-{}", shared.name))
            .spawn(move || watcher.run(&started))
            .map_err(IsolateError::Spawn)?;
        let outcome = first
            .recv()
            .unwrap_or_else(|_| Err(IsolateError::Child("the watcher thread ended".into())));
        let end: Arc<dyn HostEnd> = Arc::new(Ends(Arc::clone(&shared)));
        let mut isolated = Isolated {
            shared,
            watcher: Some(watcher),
            replier: None,
            end,
            buffer: Vec::new(),
            origin: Origin::random(),
            sequence: 0,
            _message: PhantomData,
        };
        outcome?;
        let shared = Arc::clone(&isolated.shared);
        let replier = thread::Builder::new()
            .name(format!("plugbus-replies-{}", shared.name))
            .spawn(move || read_replies_until_stopped(&shared))
            .map_err(IsolateError::Spawn)?;
        isolated.replier = Some(replier);
        Ok(isolated)
    }
}

impl<M, E> Isolated<M, E> {
    /// A handle that stays valid after the plugin is attached.
    pub fn handle(&self) -> IsolatedHandle {
        IsolatedHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The flow to return instead of forwarding, if the plugin ended.
    fn ended(&self) -> Option<Flow> {
        // ORDERING: Acquire pairs with the watcher's Release store after it
        // recorded why in `Watch`.
        match self.shared.phase.load(Ordering::Acquire) {
            RUNNING => None,
            DETACHED => {
                let status = self.shared.segment.control().status.load(Ordering::Relaxed);
                Some(Flow::Detach(Status(status)))
            }
            _ => {
                let reason = self.shared.watch().gave_up.clone().unwrap_or_default();
                // The lane catches this and reports the plugin as panicked,
                // with this text, as it would an in-process plugin's panic.
                std::panic::panic_any(reason);
            }
        }
    }

    /// Waits until the ring has room up to `end`; false if the plugin
    /// ended meanwhile.
    fn wait_for_room(&self, end: u64) -> bool {
        let control = self.shared.segment.control();
        let capacity = self.shared.segment.capacity();
        let fits = || {
            // ORDERING: SeqCst: the sleeper's re-check in the handshake.
            end - (control.progress.load(Ordering::SeqCst) & !BUSY) <= capacity
                || self.shared.phase.load(Ordering::SeqCst) != RUNNING
        };
        while !fits() {
            shm::sleep_unless(&control.host_waiting, Duration::from_millis(1), fits);
        }
        self.shared.phase.load(Ordering::Acquire) == RUNNING
    }
}

impl<M: Send + Sync + 'static, E: Encoding<M>> Plugin<M> for Isolated<M, E> {
    fn handle_message(&mut self, message: &Message<M>) -> Flow {
        if let Some(flow) = self.ended() {
            return flow;
        }
        self.buffer.clear();
        let header = Header {
            origin: self.origin,
            sequence: self.sequence,
        };
        let segment = &self.shared.segment;
        let control = segment.control();
        // ORDERING: Relaxed: this lane is the only writer of `write`.
        let write = control.write.load(Ordering::Relaxed);
        {
            let mut crossings = self.shared.crossings();
            crossings.encoding_at = write;
            crossings.encoding.clear();
        }
        // Requests and outboxes in the message leave their reply paths
        // with `Shared::crossings`, under the frame's position.
        let buffer = &mut self.buffer;
        let encoded = crossing::encode_with(&self.end, || E::encode(header, &**message, buffer));
        if !encoded {
            self.shared.crossings().abort();
            self.shared.unencodable.fetch_add(1, Ordering::Relaxed);
            return Flow::Continue;
        }
        if self.buffer.len() > segment.max_frame() {
            self.shared.crossings().abort();
            self.shared.oversized.fetch_add(1, Ordering::Relaxed);
            return Flow::Continue;
        }
        let (_, end) = segment.place(write, self.buffer.len());
        if !self.wait_for_room(end) {
            self.shared.crossings().abort();
            return self.ended().unwrap_or(Flow::Continue);
        }
        // SAFETY: this lane is the segment's only writer (the watcher
        // never writes frames), and the room check above keeps the bytes
        // up to `end` clear of every frame not yet finished.
        unsafe { segment.write_frame(write, &self.buffer) };
        shm::publish_and_ring(&control.write, end, &control.child_sleeping);
        self.sequence += 1;
        self.shared.forwarded.fetch_add(1, Ordering::Relaxed);
        Flow::Continue
    }

    fn name(&self) -> &str {
        &self.shared.name
    }

    fn on_attach(&mut self, id: PluginId) {
        self.shared.crossings().plugin = id.get();
        // ORDERING: Release: the child reads it (Acquire) after it saw a
        // frame published after this store, or at closing.
        self.shared
            .segment
            .control()
            .plugin_id
            .store(id.get(), Ordering::Release);
    }

    fn on_detach(&mut self, exit: Exit) {
        let control = self.shared.segment.control();
        let closing = match exit {
            Exit::Removed => 2,
            _ => 1,
        };
        // ORDERING: SeqCst publication, then the child's bell, as for a frame.
        control.closing.store(closing, Ordering::SeqCst);
        if control.child_sleeping.swap(0, Ordering::SeqCst) != 0 {
            shm::futex_wake(&control.child_sleeping);
        }
        // The child drains what was forwarded (restarted per policy if it
        // dies), runs the plugin's on_detach and exits; the watcher reaps
        // it. Each step is bounded by the hang deadline.
        let mut watch = self.shared.watch();
        while !watch.ended {
            watch = self
                .shared
                .changed
                .wait(watch)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl<M, E> Drop for Isolated<M, E> {
    fn drop(&mut self) {
        self.shared.watch().stop = true;
        if let Some(watcher) = self.watcher.take() {
            let _ = watcher.join();
        }
        // ORDERING: SeqCst, then the bell: the reply thread re-checks the
        // flag after it set its bell (the handshake in `shm`).
        self.shared.replies_stop.store(true, Ordering::SeqCst);
        let bell = &self.shared.segment.control().reply_bell;
        bell.store(0, Ordering::SeqCst);
        shm::futex_wake(bell);
        if let Some(replier) = self.replier.take() {
            let _ = replier.join();
        }
        self.shared.crossings().close();
    }
}

/// The reply thread: passes on what the child replies as it comes, until
/// the proxy is dropped.
fn read_replies_until_stopped(shared: &Shared) {
    let control = shared.segment.control();
    // ORDERING: SeqCst, the sleeper's re-check in the handshake (`shm`).
    let ready = || {
        shared.replies_stop.load(Ordering::SeqCst)
            || control.reply_write.load(Ordering::SeqCst)
                != control.reply_read.load(Ordering::SeqCst)
    };
    while !shared.replies_stop.load(Ordering::SeqCst) {
        drop(shared.read_replies());
        shm::sleep_unless(&control.reply_bell, Duration::from_millis(100), ready);
    }
}

impl<M, E> fmt::Debug for Isolated<M, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Isolated")
            .field("name", &self.shared.name)
            .field("forwarded", &self.sequence)
            .finish_non_exhaustive()
    }
}

impl IsolatedHandle {
    /// The plugin's counters (see [`IsolatedStats`]).
    pub fn stats(&self) -> IsolatedStats {
        self.shared.stats()
    }

    /// How many messages the plugin finished ([`IsolatedStats::acknowledged`]),
    /// one atomic load: cheap enough to poll.
    pub fn acknowledged(&self) -> u64 {
        // ORDERING: Acquire pairs with nothing in particular: a counter the
        // child bumps after it stored its progress.
        self.shared
            .segment
            .control()
            .handled
            .load(Ordering::Acquire)
    }

    /// Waits until the plugin finished `count` messages in all
    /// ([`acknowledged`](Self::acknowledged) reaches it), at most
    /// `timeout`; true if it did. Sleeps on the futex the child rings when
    /// its ring runs dry, as the lane does when it waits for room.
    pub fn wait_acknowledged(&self, count: u64, timeout: Duration) -> bool {
        let started = Instant::now();
        let deadline = started + timeout;
        let done = || self.acknowledged() >= count;
        // Spins first, for at most `SPIN_FOR` (and the timeout): a plugin
        // that finishes within it costs no futex wake-up, which on an
        // idle machine costs more than the message.
        let spin_until = started + SPIN_FOR.min(timeout);
        loop {
            for _ in 0..64 {
                if done() {
                    return true;
                }
                std::hint::spin_loop();
            }
            if Instant::now() >= spin_until {
                break;
            }
        }
        // The child rings `host_waiting` whenever its ring runs dry (the
        // handshake in `shm`). It bumps `handled` with a Relaxed add, outside
        // that handshake, so a wake-up could in principle be missed: the
        // 1 ms slices bound what that costs.
        let bell = &self.shared.segment.control().host_waiting;
        while !done() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            shm::sleep_unless(bell, left.min(Duration::from_millis(1)), done);
        }
        true
    }

    /// The process id of the child running the plugin now, if one runs.
    pub fn child_pid(&self) -> Option<u32> {
        Some(self.shared.pid.load(Ordering::Acquire)).filter(|&pid| pid != 0)
    }

    /// The plugin's name (its package's, from the library's descriptor).
    pub fn name(&self) -> &str {
        &self.shared.name
    }
}

impl fmt::Debug for IsolatedHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IsolatedHandle")
            .field("name", &self.shared.name)
            .field("child_pid", &self.child_pid())
            .finish_non_exhaustive()
    }
}

/// The thread that starts each child, watches it (death through its
/// `pidfd`, hangs through its progress) and applies the restart policy.
/// It starts every child itself: the parent-death signal follows the
/// thread that forked.
///
/// With a standby (the default), it keeps one more child started ahead,
/// its plugin loaded and constructed, waiting on the `active` word: a
/// restart then only hands it the position to start at, instead of
/// waiting for a process and a library to load.
struct Watcher {
    shared: Arc<Shared>,
    program: PathBuf,
    library: PathBuf,
    /// The encoding's name, passed to every child.
    encoding: &'static str,
    config: String,
    options: IsolateOptions,
    restarts: VecDeque<Instant>,
    next_token: u32,
    standby: Option<Running>,
}

/// Why the watcher stops watching.
enum Outcome {
    /// Start the next child.
    Restart,
    /// The plugin's lane ends (or the proxy was dropped).
    Done,
}

/// What ended the wait for the active child.
enum Ended {
    /// It died; true if it was killed as hung.
    Died(bool),
    /// The proxy was dropped: the child is killed and reaped.
    Stopped,
}

impl Watcher {
    fn run(mut self, started: &mpsc::Sender<Result<(), IsolateError>>) {
        let first = self
            .start(true)
            .and_then(|running| self.wait_ready(running));
        match first {
            Ok(running) => {
                let _ = started.send(Ok(()));
                self.start_standby();
                self.watch(running);
            }
            Err(error) => {
                let _ = started.send(Err(error));
                self.finish(None);
            }
        }
    }

    /// Starts a child; the active one at once if `active`, else a standby.
    fn start(&mut self, active: bool) -> Result<Running, IsolateError> {
        let control = self.shared.segment.control();
        self.next_token += 1;
        let token = self.next_token;
        if active {
            self.shared.segment.clear_error();
            // ORDERING: SeqCst; no child reads before its process starts,
            // which orders this store before it.
            control.active.store(token, Ordering::SeqCst);
        }
        let running = process::start(&Start {
            program: &self.program,
            runner_args: &self.options.runner_args,
            segment: self.shared.segment.fd(),
            token,
            encoding: self.encoding,
            library: &self.library,
            config: &self.config,
            crate_name: self.options.crate_name.as_deref(),
            memory_limit: self.options.memory_limit,
            cpu_time_limit: self.options.cpu_time_limit,
        })
        .map_err(IsolateError::Spawn)?;
        if active {
            // ORDERING: Release, for handles reading the pid (Acquire).
            self.shared.pid.store(running.child.id(), Ordering::Release);
        }
        Ok(running)
    }

    fn start_standby(&mut self) {
        if self.options.standby && self.standby.is_none() {
            self.standby = self.start(false).ok();
        }
    }

    /// Makes the standby the active child, if it is still alive.
    fn promote(&mut self) -> Option<Running> {
        let mut standby = self.standby.take()?;
        if process::wait_readable(&standby.pidfd, Duration::ZERO) {
            // It died waiting (its plugin failed to load, say): reaped
            // here, and a fresh child is started instead.
            let _ = standby.child.wait();
            return None;
        }
        let active = &self.shared.segment.control().active;
        // ORDERING: SeqCst, after `start` and `progress` were set for it;
        // the standby loads `active` with Acquire before it reads them.
        active.store(standby.token, Ordering::SeqCst);
        shm::futex_wake(active);
        self.shared.pid.store(standby.child.id(), Ordering::Release);
        Some(standby)
    }

    /// Waits until the first child has loaded the plugin.
    fn wait_ready(&self, mut running: Running) -> Result<Running, IsolateError> {
        let control = self.shared.segment.control();
        let deadline = Instant::now() + self.options.start_timeout;
        loop {
            // ORDERING: Acquire pairs with the child's Release store.
            if control.ready.load(Ordering::Acquire) == running.token {
                return Ok(running);
            }
            if process::wait_readable(&running.pidfd, Duration::from_millis(1)) {
                let status = running.child.wait().map_err(IsolateError::Spawn)?;
                self.shared.pid.store(0, Ordering::Release);
                let text = self.shared.segment.error();
                return Err(IsolateError::Child(if text.is_empty() {
                    format!("the runner {status} before it was ready")
                } else {
                    text
                }));
            }
            if Instant::now() >= deadline {
                let _ = running.child.kill();
                let _ = running.child.wait();
                self.shared.pid.store(0, Ordering::Release);
                return Err(IsolateError::Timeout);
            }
        }
    }

    fn watch(&mut self, mut running: Running) {
        loop {
            let hung = match self.wait_for_end(&mut running) {
                Ended::Died(hung) => hung,
                Ended::Stopped => return self.finish(None),
            };
            let status = running.child.wait();
            self.shared.pid.store(0, Ordering::Release);
            drop(running.pidfd);
            let (code, signal) = match status {
                Ok(status) => process::ending(status),
                Err(_) => (None, None),
            };
            match self.after_death(code, signal, hung) {
                Outcome::Done => return,
                Outcome::Restart => {
                    // The nth restart within the intensity period waits
                    // as a lane's would.
                    let nth = u32::try_from(self.restarts.len()).unwrap_or(u32::MAX);
                    let delay = self.options.backoff.delay(nth);
                    if !delay.is_zero() && !self.pause(delay) {
                        return self.finish(None);
                    }
                    let next = match self.promote() {
                        Some(standby) => Ok(standby),
                        None => self.start(true),
                    };
                    match next {
                        Ok(next) => running = next,
                        Err(error) => {
                            let reason = format!(
                                "isolated plugin `{}` could not be restarted: {error}",
                                self.shared.name
                            );
                            return self.finish(Some(reason));
                        }
                    }
                    self.start_standby();
                }
            }
        }
    }

    /// Waits `delay` before a restart, or less if the lane closes (the next
    /// child then drains what was sent at once, as a lane restarts without
    /// waiting at shutdown). Returns false if the proxy was dropped.
    fn pause(&self, delay: Duration) -> bool {
        let control = self.shared.segment.control();
        // A delay past what `Instant` can hold waits for the close.
        let until = Instant::now().checked_add(delay);
        let mut watch = self.shared.watch();
        loop {
            if watch.stop {
                return false;
            }
            // ORDERING: Relaxed: a flag polled while waiting; the child reads
            // it itself with the ordering it needs.
            if control.closing.load(Ordering::Relaxed) != 0 {
                return true;
            }
            let slice = Duration::from_millis(10);
            let left = until.map_or(slice, |t| t.saturating_duration_since(Instant::now()));
            if left.is_zero() {
                return true;
            }
            watch = self
                .shared
                .changed
                .wait_timeout(watch, left.min(slice))
                .map_or_else(|e| e.into_inner().0, |(guard, _)| guard);
        }
    }

    /// Waits until the active child ends, reaping a standby that dies
    /// meanwhile, or until the proxy is dropped.
    fn wait_for_end(&mut self, running: &mut Running) -> Ended {
        let control = self.shared.segment.control();
        let deadline = self.options.hang_deadline;
        let tick = (deadline / 8).clamp(Duration::from_millis(1), Duration::from_millis(50));
        let mut seen = (u64::MAX, u64::MAX);
        let mut since = Instant::now();
        let mut hung = false;
        loop {
            let standby = self.standby.as_ref().map(|s| &s.pidfd);
            let (ended, standby_ended) = process::wait_either(&running.pidfd, standby, tick);
            if standby_ended {
                if let Some(mut dead) = self.standby.take() {
                    let _ = dead.child.wait();
                }
            }
            if ended {
                return Ended::Died(hung);
            }
            if self.shared.watch().stop {
                let _ = running.child.kill();
                let _ = running.child.wait();
                self.shared.pid.store(0, Ordering::Release);
                return Ended::Stopped;
            }
            // ORDERING: Relaxed: a sample; only its change over time matters.
            let progress = control.progress.load(Ordering::Relaxed);
            let handled = control.handled.load(Ordering::Relaxed);
            if progress & BUSY == 0 || (progress, handled) != seen {
                seen = (progress, handled);
                since = Instant::now();
            } else if !hung && since.elapsed() >= deadline {
                hung = true;
                let _ = running.child.kill();
            }
        }
    }

    /// Reads where the dead child stopped, dead-letters the message it was
    /// handling, and decides whether a new child starts.
    fn after_death(&mut self, code: Option<i32>, signal: Option<i32>, hung: bool) -> Outcome {
        let shared = Arc::clone(&self.shared);
        let segment = &shared.segment;
        let control = segment.control();
        // ORDERING: SeqCst loads after the child was reaped: its stores
        // are all visible (the kernel's exit and our wait order them).
        if control.detached.load(Ordering::SeqCst) != 0 {
            self.shared.phase.store(DETACHED, Ordering::Release);
            self.finish(None);
            return Outcome::Done;
        }
        let write = control.write.load(Ordering::SeqCst);
        let start = control.start.load(Ordering::SeqCst);
        let progress = control.progress.load(Ordering::SeqCst);
        let mut done = progress & !BUSY;
        if done < start || done > write || done % 8 != 0 {
            // A child that wrote nonsense: redeliver all it was given.
            done = start;
        }
        let closing = control.closing.load(Ordering::SeqCst) != 0;
        if closing && done == write {
            // It drained everything: its exit (or death in on_detach) ends
            // the plugin; nothing is left to redeliver.
            self.finish(None);
            return Outcome::Done;
        }
        let busy = progress & BUSY != 0 && done < write;
        let (message, next) = match busy.then(|| segment.read_frame(done)).flatten() {
            Some((bytes, next)) => (
                wire::decode_header(bytes)
                    .ok()
                    .map(|(_, header, _)| header.sequence),
                next,
            ),
            None => (None, done),
        };
        let death = Death {
            code,
            signal,
            hung,
            message,
        };
        let redelivered = count_frames(segment, next, write);
        let load_error = (code == Some(EXIT_LOAD)).then(|| segment.error());
        let restarts = self.options.restart != Restart::Never;
        let allowed = restarts && self.may_restart();
        let gave_up = (!allowed).then(|| {
            let mut reason = format!("isolated plugin `{}` {death}", self.shared.name);
            if let Some(error) = load_error {
                reason.push_str(&format!(" (could not load: {error})"));
            }
            reason.push_str(if restarts {
                "; restart intensity exceeded"
            } else {
                "; restarts are off"
            });
            reason
        });
        // ORDERING: SeqCst: no child reads these before it is made active
        // (a later SeqCst store it loads with Acquire); the lane's room
        // check reads `progress` with SeqCst after we wake it. Without a
        // restart, `progress` moves to `write`: the ring is free, so a lane
        // waiting for room sees the end.
        // The dead child's replies are read first; then the questions it
        // was given (frames before `next`) can no longer be answered.
        self.shared.read_replies().decline_before(next);
        control.start.store(next, Ordering::SeqCst);
        control
            .progress
            .store(if allowed { next } else { write }, Ordering::SeqCst);
        {
            // One critical section: whoever sees this death in the stats
            // also sees the lane's end, if it ends.
            let mut watch = self.shared.watch();
            watch.stats.dead_lettered += u64::from(busy);
            watch.stats.hung += u64::from(hung);
            watch.stats.last_death = Some(death);
            if allowed {
                watch.stats.restarts += 1;
                watch.stats.redelivered += redelivered;
            }
            if let Some(reason) = gave_up {
                watch.gave_up = Some(reason);
                // ORDERING: Release, after the reason is stored (under the
                // lock too): the lane loads the phase with Acquire.
                self.shared.phase.store(GAVE_UP, Ordering::Release);
            }
        }
        if allowed {
            self.shared.wake_lane();
            return Outcome::Restart;
        }
        self.finish(None);
        Outcome::Done
    }

    /// Whether the restart intensity allows one more restart now.
    fn may_restart(&mut self) -> bool {
        let now = Instant::now();
        while self
            .restarts
            .front()
            .is_some_and(|&at| now.duration_since(at) > self.options.intensity.period())
        {
            self.restarts.pop_front();
        }
        if self.restarts.len() >= self.options.intensity.restarts() as usize {
            return false;
        }
        self.restarts.push_back(now);
        true
    }

    /// The watcher returns: kills and reaps the standby, records why the
    /// lane ends (if it does), wakes the lane and whoever waits in
    /// `on_detach`.
    fn finish(&mut self, gave_up: Option<String>) {
        if let Some(mut standby) = self.standby.take() {
            let _ = standby.child.kill();
            let _ = standby.child.wait();
        }
        // No child runs any more: its last replies are passed on, and the
        // questions still open are refused.
        self.shared.read_replies().close();
        let mut watch = self.shared.watch();
        if let Some(reason) = gave_up {
            watch.gave_up = Some(reason);
            // ORDERING: Release, after the reason is stored (under the lock
            // too): the lane loads the phase with Acquire.
            self.shared.phase.store(GAVE_UP, Ordering::Release);
        }
        watch.ended = true;
        drop(watch);
        self.shared.changed.notify_all();
        self.shared.wake_lane();
    }
}

/// How many frames lie between two positions (the host's own frames).
fn count_frames(segment: &Segment, mut from: u64, to: u64) -> u64 {
    let mut count = 0;
    while from < to {
        match segment.read_frame(from) {
            Some((_, next)) => from = next,
            None => break,
        }
        count += 1;
    }
    count
}
