//! The child process: loads the plugin with the loader's checks and feeds
//! it the frames the host writes into shared memory.

use std::ffi::OsString;
use std::hint;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use std::sync::{Arc, Mutex, PoisonError};

use plugbus_core::crossing::{self, ChildEnd};
use plugbus_core::{Exit, Fingerprint, Flow, Message, Plugin, PluginId};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::encoding::{Encoding, Postcard};
use super::shm::{self, BUSY, Segment};
use crate::LoadOptions;

/// The argument that tells a program it was started as an isolated
/// plugin's child; what follows it is for [`run_child`] alone.
pub(super) const CHILD_FLAG: &str = "--plugbus-isolated-child";

/// Exit statuses the host reads.
pub(super) const EXIT_LOAD: i32 = 70;
pub(super) const EXIT_PROTOCOL: i32 = 71;
pub(super) const EXIT_ORPHAN: i32 = 72;

/// How long the child spins on an empty ring before it sleeps: a few
/// microseconds, which keeps a busy stream's round trip free of futex
/// calls without burning a core for long when the host is idle.
const SPINS: u32 = 2_000;
/// How often a sleeping child checks that its host is alive, beside
/// `PR_SET_PDEATHSIG`.
const HEARTBEAT: Duration = Duration::from_millis(100);

/// Runs this process as an isolated plugin's child if the host started it
/// as one (its arguments hold the marker the host adds), and exits when
/// the plugin is done; returns at once otherwise. Messages cross encoded
/// with serde + postcard ([`Postcard`]); [`run_child_with`] chooses.
///
/// Call it first thing in `main` of the program the host starts: the
/// runner named by [`IsolateOptions::runner`](super::IsolateOptions::runner),
/// or, by default, the host's own program. `M` must be the host's message
/// type: the loader checks the library against it as in-process loading
/// does.
///
/// ```no_run
/// // src/bin/runner.rs of a host whose message type is `Job`:
/// # #[derive(serde::Serialize, serde::Deserialize, plugbus_core::Fingerprint)] struct Job(u64);
/// fn main() {
///     plugbus_host_std::isolated::run_child::<Job>();
///     eprintln!("this program runs isolated plugins for a plugbus host");
///     std::process::exit(2);
/// }
/// ```
pub fn run_child<M>()
where
    M: Fingerprint + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    run_child_with::<M, Postcard>();
}

/// [`run_child`] for the host's encoding `E`: [`Postcard`], or [`Plain`]
/// for a plain-data message type sent with
/// `Isolated::<M, Plain>`. A child whose host uses another encoding exits
/// at once, and the host's spawn fails naming both.
///
/// [`Plain`]: super::Plain
pub fn run_child_with<M, E>()
where
    M: Fingerprint + Send + Sync + 'static,
    E: Encoding<M>,
{
    let args: Vec<OsString> = std::env::args_os().collect();
    let Some(at) = args.iter().position(|arg| arg == CHILD_FLAG) else {
        return;
    };
    let code = match Arguments::parse(&args[at + 1..]) {
        Some(arguments) => serve::<M, E>(arguments),
        None => {
            eprintln!("plugbus isolated child: malformed arguments from the host");
            EXIT_PROTOCOL
        }
    };
    std::process::exit(code);
}

struct Arguments {
    fd: i32,
    host: u32,
    token: u32,
    encoding: String,
    path: PathBuf,
    config: String,
    crate_name: Option<String>,
}

impl Arguments {
    fn parse(args: &[OsString]) -> Option<Arguments> {
        let fd = args.first()?.to_str()?.parse().ok()?;
        let host = args.get(1)?.to_str()?.parse().ok()?;
        let token = args.get(2)?.to_str()?.parse().ok()?;
        let encoding = args.get(3)?.to_str()?.to_owned();
        let path = PathBuf::from(args.get(4)?);
        let config = args.get(5)?.to_str()?.to_owned();
        let crate_name = match args.get(6) {
            Some(name) => Some(name.to_str()?.to_owned()),
            None => None,
        };
        Some(Arguments {
            fd,
            host,
            token,
            encoding,
            path,
            config,
            crate_name,
        })
    }
}

fn host_alive(host: u32) -> bool {
    // SAFETY: getppid has no preconditions.
    let parent = unsafe { libc::getppid() };
    u32::try_from(parent).ok() == Some(host)
}

fn serve<M, E>(arguments: Arguments) -> i32
where
    M: Fingerprint + Send + Sync + 'static,
    E: Encoding<M>,
{
    if !host_alive(arguments.host) {
        return EXIT_ORPHAN;
    }
    let segment = match Segment::open(arguments.fd) {
        Ok(segment) => segment,
        Err(error) => {
            eprintln!("plugbus isolated child: cannot map the shared memory: {error}");
            return EXIT_PROTOCOL;
        }
    };
    let segment = Arc::new(segment);
    if arguments.encoding != E::NAME {
        segment.set_error(&format!(
            "the host sends messages as `{}`, but this runner decodes `{}` \
             (its main calls run_child_with::<M, E> with the other encoding)",
            arguments.encoding,
            E::NAME
        ));
        return EXIT_LOAD;
    }
    let mut options = LoadOptions::new();
    if let Some(name) = arguments.crate_name {
        options = options.crate_name(name);
    }
    // SAFETY: the host asked for this library, after its own checks of
    // the file; loading it is what this process is for.
    let loaded = unsafe { crate::load_with::<M>(&arguments.path, &arguments.config, &options) };
    let plugin = match loaded {
        Ok(plugin) => plugin,
        Err(error) => {
            segment.set_error(&chain(&error));
            return EXIT_LOAD;
        }
    };
    let control = segment.control();
    // ORDERING: Release, so the host that sees `ready` sees the mapping's
    // earlier writes (none it relies on today; cheap).
    control.ready.store(arguments.token, Ordering::Release);
    // A standby child, started ahead so a restart does not wait for a
    // process and a library to load, waits here until the host makes it
    // the active one (after a death).
    loop {
        // ORDERING: Acquire pairs with the host's SeqCst store, made after
        // it set `start` for this child.
        let active = control.active.load(Ordering::Acquire);
        if active == arguments.token {
            break;
        }
        shm::futex_wait(&control.active, active, HEARTBEAT);
        if !host_alive(arguments.host) {
            return EXIT_ORPHAN;
        }
    }
    let end: Arc<dyn ChildEnd> = Arc::new(Replies {
        segment: Arc::clone(&segment),
        // ORDERING: Acquire: the last child's published position (the host
        // made this child active after reaping it).
        write: Mutex::new(control.reply_write.load(Ordering::Acquire)),
        host: arguments.host,
    });
    run::<M, E, _>(&segment, plugin, arguments.host, &end)
}

/// The child's end of the reply ring: what the plugin's outboxes and
/// questions send through (see `shm`).
struct Replies {
    segment: Arc<Segment>,
    /// The position after the last reply written; the lock makes this
    /// process's threads one writer.
    write: Mutex<u64>,
    host: u32,
}

impl Replies {
    /// Writes one reply; if the ring has no room, waits for it when `wait`
    /// (answers must not be lost), else counts it refused. False if it was
    /// not written.
    fn send(&self, kind: u32, number: u64, bytes: &[u8], wait: bool) -> bool {
        let control = self.segment.control();
        if bytes.len() > Segment::max_reply() {
            control.replies_refused.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let mut write = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let fits = || {
            // ORDERING: SeqCst: the sleeper's re-check in the handshake
            // (`shm`), against the host's publication of `reply_read`.
            Segment::reply_fits(
                *write,
                bytes.len(),
                control.reply_read.load(Ordering::SeqCst),
            )
        };
        let (end, mut room) = fits();
        while !room {
            if !wait || !host_alive(self.host) {
                control.replies_refused.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            shm::sleep_unless(&control.reply_room, Duration::from_millis(1), || fits().1);
            room = fits().1;
        }
        // SAFETY: one writer (the lock), the length is checked above, and
        // `reply_fits` found the bytes up to `end` free.
        unsafe { self.segment.write_reply(*write, kind, number, bytes) };
        *write = end;
        shm::publish_and_ring(&control.reply_write, end, &control.reply_bell);
        true
    }
}

impl ChildEnd for Replies {
    fn reply(&self, outbox: u32, reply: &[u8]) -> bool {
        self.send(shm::REPLY, u64::from(outbox), reply, false)
    }

    fn answer(&self, question: u64, answer: Option<&[u8]>) {
        let sent = answer.is_some_and(|bytes| self.send(shm::ANSWER, question, bytes, true));
        if !sent {
            // No answer, or one too long for the ring: the host must stop
            // waiting either way.
            self.send(shm::DECLINE, question, &[], true);
        }
    }
}

/// The error and its sources on one line, for the host's error.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn run<M, E, P>(segment: &Segment, mut plugin: P, host: u32, end: &Arc<dyn ChildEnd>) -> i32
where
    M: Send + Sync + 'static,
    E: Encoding<M>,
    P: Plugin<M>,
{
    let control = segment.control();
    // ORDERING: Acquire: the host set `start` before it started this child.
    let mut pos = control.start.load(Ordering::Acquire);
    let mut attached = false;
    let mut since_wake = 0u32;
    loop {
        // ORDERING: Acquire pairs with the host's SeqCst publication of
        // `write`: the frame's bytes are visible once the position is.
        let write = control.write.load(Ordering::Acquire);
        if pos == write {
            wake_host(control);
            since_wake = 0;
            if control.closing.load(Ordering::SeqCst) != 0
                && control.write.load(Ordering::SeqCst) == pos
            {
                break;
            }
            if !wait_for_frame(control, pos) && !host_alive(host) {
                return EXIT_ORPHAN;
            }
            continue;
        }
        if !attached {
            attach(&mut plugin, control);
            attached = true;
        }
        let Some((bytes, next)) = segment.read_frame(pos) else {
            eprintln!("plugbus isolated child: no frame at position {pos}");
            return EXIT_PROTOCOL;
        };
        // ORDERING: Release; the host reads it after this process ended
        // (or in its room check, where only the position matters).
        control.progress.store(pos | BUSY, Ordering::Release);
        let (decoded, questions) = crossing::decode_with(end, || E::decode(bytes));
        let value = match decoded {
            Ok(value) => value,
            Err(error) => {
                // The frame at `pos` stays marked busy: the host
                // dead-letters it and starts a child after it.
                eprintln!("plugbus isolated child: {error}");
                return EXIT_PROTOCOL;
            }
        };
        let message = Message::new(value);
        let flow = if plugin.wants(&message) {
            plugin.handle_message(&message)
        } else {
            Flow::Continue
        };
        // Questions the plugin neither answered nor deferred are refused
        // now, before the acknowledgement below, as a lane reports them.
        questions.delivered();
        drop(message);
        // ORDERING: Release, then the count: the host's room check reads
        // `progress` with Acquire; `handled` is a statistic.
        control.progress.store(next, Ordering::Release);
        control.handled.fetch_add(1, Ordering::Relaxed);
        pos = next;
        if let Flow::Detach(status) = flow {
            control.status.store(status.0, Ordering::Relaxed);
            // ORDERING: SeqCst, read by the host after this process ended.
            control.detached.store(1, Ordering::SeqCst);
            plugin.on_detach(Exit::Detached(status));
            drop(plugin);
            return 0;
        }
        since_wake += 1;
        if since_wake == 64 {
            // Acknowledgement in batches: a host waiting for room hears of
            // progress every 64 messages, and whenever the ring runs dry.
            wake_host(control);
            since_wake = 0;
        }
    }
    if !attached && control.plugin_id.load(Ordering::Acquire) != u64::MAX {
        attach(&mut plugin, control);
    }
    let exit = match control.closing.load(Ordering::Acquire) {
        2 => Exit::Removed,
        _ => Exit::Shutdown,
    };
    plugin.on_detach(exit);
    drop(plugin);
    0
}

fn attach<M, P: Plugin<M>>(plugin: &mut P, control: &shm::Control) {
    // ORDERING: Acquire: set by the host's lane before it wrote a frame.
    let id = control.plugin_id.load(Ordering::Acquire);
    plugin.on_attach(PluginId::from_raw(id));
}

fn wake_host(control: &shm::Control) {
    // ORDERING: SeqCst against the host's SeqCst store of its bell and
    // re-load of `progress` (the handshake in `shm`).
    if control.host_waiting.load(Ordering::SeqCst) != 0
        && control.host_waiting.swap(0, Ordering::SeqCst) != 0
    {
        shm::futex_wake(&control.host_waiting);
    }
}

/// Spins, then sleeps until the host publishes past `pos` or asks the
/// child to close; false if it timed out (time to check the host).
fn wait_for_frame(control: &shm::Control, pos: u64) -> bool {
    let ready = || {
        // ORDERING: SeqCst, the sleeper's re-check in the handshake.
        control.write.load(Ordering::SeqCst) != pos || control.closing.load(Ordering::SeqCst) != 0
    };
    for _ in 0..SPINS {
        if ready() {
            return true;
        }
        hint::spin_loop();
    }
    shm::sleep_unless(&control.child_sleeping, HEARTBEAT, ready);
    ready()
}
