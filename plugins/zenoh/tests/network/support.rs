//! What the zenoh tests share: one small adapter per host kind, a plugin
//! that tallies what it handles, deadlines, and child processes.
//!
//! Every test uses loopback endpoints on ports of its own (see each file's
//! `PORT` constants), with multicast scouting off (the crate's default).

use std::collections::{BTreeMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plugbus_core::{AttachOptions, Flow, Message, Plugin, PluginId, Report, Stats};
use plugbus_zenoh::{Link, Net, Origin, Publisher, Source};

/// The host kinds every scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Std,
    Smol,
    Tokio,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Std => "host-std",
            Kind::Smol => "host-smol",
            Kind::Tokio => "host-tokio",
        }
    }
}

/// A host of `Net<u64>` of any kind, with the glue this crate asks for:
/// "send into this host" as a closure, and the publisher on a thread lane
/// on the async hosts (a put may block).
pub(crate) struct TestHost {
    pub(crate) kind: Kind,
    inner: Inner,
}

enum Inner {
    Std(plugbus_host_std::Host<Net<u64>>),
    Smol(plugbus_host_smol::Host<'static, Net<u64>>),
    Tokio(plugbus_host_tokio::Host<Net<u64>>, tokio::runtime::Runtime),
}

impl TestHost {
    pub(crate) fn new(kind: Kind) -> TestHost {
        let inner = match kind {
            Kind::Std => Inner::Std(plugbus_host_std::Host::new()),
            Kind::Smol => Inner::Smol(
                plugbus_host_smol::Builder::new()
                    .threads(2)
                    .build()
                    .expect("a smol host"),
            ),
            Kind::Tokio => {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a tokio runtime");
                let host = plugbus_host_tokio::Host::on(runtime.handle().clone());
                Inner::Tokio(host, runtime)
            }
        };
        TestHost { kind, inner }
    }

    pub(crate) fn attach(&mut self, plugin: impl Plugin<Net<u64>>) -> PluginId {
        match &mut self.inner {
            Inner::Std(host) => host.attach(plugin),
            Inner::Smol(host) => host.attach(plugin),
            Inner::Tokio(host, _) => host.attach(plugin),
        }
        .unwrap_or_else(|e| panic!("{}: attach: {e}", self.kind.name()))
    }

    pub(crate) fn attach_publisher(&mut self, publisher: Publisher<u64>) -> PluginId {
        self.attach_on_thread(publisher)
    }

    /// A plugin whose handler may block (a publisher): its own thread.
    pub(crate) fn attach_on_thread(&mut self, plugin: impl Plugin<Net<u64>>) -> PluginId {
        let options = AttachOptions::new();
        match &mut self.inner {
            Inner::Std(host) => host.attach_with(plugin, options),
            Inner::Smol(host) => host.attach_on_thread(plugin, options),
            Inner::Tokio(host, _) => host.attach_on_thread(plugin, options),
        }
        .unwrap_or_else(|e| panic!("{}: attach: {e}", self.kind.name()))
    }

    /// A source of `link` sending into this host through its normal send.
    pub(crate) fn source(&self, link: &Link) -> Source<u64> {
        match &self.inner {
            Inner::Std(host) => {
                let sender = host.sender();
                link.source(move |batch| sender.send_batch(batch))
            }
            Inner::Smol(host) => {
                let sender = host.sender();
                link.source(move |batch| sender.send_batch_blocking(batch))
            }
            Inner::Tokio(host, _) => {
                let sender = host.sender();
                link.source(move |batch| sender.send_batch_blocking(batch))
            }
        }
        .unwrap_or_else(|e| panic!("{}: source: {e}", self.kind.name()))
    }

    /// Sends local messages, from this (plain) thread.
    pub(crate) fn send_local(&self, values: impl IntoIterator<Item = u64>) {
        let batch: Vec<Net<u64>> = values.into_iter().map(Net::local).collect();
        let sent = match &self.inner {
            Inner::Std(host) => host.send_batch(batch).map(drop),
            Inner::Smol(host) => host.sender().send_batch_blocking(batch).map(drop),
            Inner::Tokio(host, _) => host.sender().send_batch_blocking(batch).map(drop),
        };
        sent.unwrap_or_else(|e| panic!("{}: send: {e}", self.kind.name()));
    }

    pub(crate) fn stats(&self, id: PluginId) -> Stats {
        match &self.inner {
            Inner::Std(host) => host.stats(id),
            Inner::Smol(host) => host.stats(id),
            Inner::Tokio(host, _) => host.stats(id),
        }
        .unwrap_or_else(|| panic!("{}: no plugin {id}", self.kind.name()))
    }

    pub(crate) fn shutdown(self) -> Vec<Report> {
        match self.inner {
            Inner::Std(host) => host.shutdown(),
            Inner::Smol(host) => host.shutdown_blocking(),
            Inner::Tokio(host, runtime) => {
                let reports = host.shutdown_blocking();
                runtime.shutdown_timeout(Duration::from_secs(5));
                reports
            }
        }
    }
}

/// What a [`Tally`] plugin saw.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    pub(crate) local: u64,
    /// Per origin: the values in the order they came.
    pub(crate) remote: BTreeMap<Origin, Vec<u64>>,
    /// Per origin, when only counting (large runs): count, next expected
    /// value, values out of order.
    pub(crate) counted: BTreeMap<Origin, (u64, u64, u64)>,
}

impl Seen {
    /// The values of `origin` are exactly `expected`, in order, once.
    pub(crate) fn assert_exactly(
        &self,
        what: &str,
        origin: Origin,
        expected: impl Iterator<Item = u64>,
    ) {
        let got = self.remote.get(&origin).cloned().unwrap_or_default();
        let expected: Vec<u64> = expected.collect();
        assert_eq!(got.len(), expected.len(), "{what}: count from {origin}");
        assert_eq!(got, expected, "{what}: values from {origin}");
    }

    /// The values of `origin` are exactly `expected`, once each, in any order.
    pub(crate) fn assert_once_each(
        &self,
        what: &str,
        origin: Origin,
        expected: impl Iterator<Item = u64>,
    ) {
        let got = self.remote.get(&origin).cloned().unwrap_or_default();
        let unique: HashSet<u64> = got.iter().copied().collect();
        assert_eq!(unique.len(), got.len(), "{what}: repeats from {origin}");
        let expected: HashSet<u64> = expected.collect();
        assert_eq!(unique, expected, "{what}: values from {origin}");
    }
}

/// Tallies every message it handles into a shared [`Seen`].
pub(crate) struct Tally {
    seen: Arc<Mutex<Seen>>,
    keep_values: bool,
}

impl Tally {
    /// Keeps every remote value (small runs).
    pub(crate) fn keeping() -> (Tally, Arc<Mutex<Seen>>) {
        let seen = Arc::new(Mutex::new(Seen::default()));
        (
            Tally {
                seen: Arc::clone(&seen),
                keep_values: true,
            },
            seen,
        )
    }

    /// Counts and checks order, keeps no values (large runs).
    pub(crate) fn counting() -> (Tally, Arc<Mutex<Seen>>) {
        let seen = Arc::new(Mutex::new(Seen::default()));
        (
            Tally {
                seen: Arc::clone(&seen),
                keep_values: false,
            },
            seen,
        )
    }
}

impl Plugin<Net<u64>> for Tally {
    fn handle_message(&mut self, message: &Message<Net<u64>>) -> Flow {
        let mut seen = self.seen.lock().expect("tally lock");
        match message.header() {
            None => seen.local += 1,
            Some(header) if self.keep_values => seen
                .remote
                .entry(header.origin)
                .or_default()
                .push(***message),
            Some(header) => {
                let entry = seen
                    .counted
                    .entry(header.origin)
                    .or_insert((0, ***message, 0));
                if ***message != entry.1 {
                    entry.2 += 1;
                }
                entry.0 += 1;
                entry.1 = ***message + 1;
            }
        }
        Flow::Continue
    }

    fn name(&self) -> &str {
        "tally"
    }
}

/// Waits until `done()` or `limit`, then panics naming `what`.
pub(crate) fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until the source's stats satisfy `done`, or panics with them.
pub(crate) fn wait_source<T>(
    what: &str,
    source: &Source<T>,
    limit: Duration,
    done: impl FnMut(&plugbus_zenoh::SourceStats) -> bool,
) -> plugbus_zenoh::SourceStats {
    source
        .wait_until(limit, done)
        .unwrap_or_else(|stats| panic!("timed out after {limit:?} waiting for {what}: {stats:?}"))
}

/// The environment variable that tells a test binary it runs as a child.
pub(crate) const CHILD_ROLE: &str = "PLUGBUS_ZENOH_CHILD";

/// Starts this test binary again running only `test` (the caller), with
/// `role` in [`CHILD_ROLE`]; its stdout is piped for the parent to read.
pub(crate) fn spawn_child(test: &str, role: &str) -> Child {
    let exe = std::env::current_exe().expect("the test binary's path");
    Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ROLE, role)
        .env(PORT_SLOT, port_slot().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("a child process")
}

/// The role this process runs, when it is a child.
pub(crate) fn child_role() -> Option<String> {
    std::env::var(CHILD_ROLE).ok()
}

/// Reads the child's stdout until a line holding `prefix`, within
/// `limit`; returns the rest of that line.
pub(crate) fn read_line_from(child: &mut Child, prefix: &str, limit: Duration) -> String {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("the child's stdout");
    let wanted = prefix.to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = std::io::BufReader::new(stdout).lines();
        while let Some(Ok(line)) = lines.next() {
            // libtest may have begun the line ("test name ... ").
            if let Some(at) = line.find(&wanted) {
                let _ = tx.send(line[at + wanted.len()..].trim().to_owned());
                // Keep reading so the child never blocks on a full pipe.
                for _ in lines.by_ref() {}
                return;
            }
        }
    });
    rx.recv_timeout(limit).unwrap_or_else(|_| {
        panic!("timed out after {limit:?} waiting for the child's {prefix:?} line")
    })
}

/// Waits for the child to exit within `limit` (killing it if not) and
/// asserts it succeeded.
pub(crate) fn wait_child(what: &str, child: &mut Child, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("the child's status") {
            assert!(status.success(), "{what}: child exited with {status}");
            return;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: child still running after {limit:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A loopback TCP endpoint.
///
/// The tests name ports in 17,500..17,600; each test process moves them to
/// a block of 100 of its own (a "slot", passed to its children in
/// [`PORT_SLOT`]), so two runs of this binary at once (two worktrees, two
/// users on one machine) do not take each other's ports.
pub(crate) fn tcp(port: u16) -> String {
    assert!(
        (FIRST_NAMED_PORT..FIRST_NAMED_PORT + 100).contains(&port),
        "test ports are named in {FIRST_NAMED_PORT}..{}",
        FIRST_NAMED_PORT + 100
    );
    let port = FIRST_PORT + port_slot() * 100 + (port - FIRST_NAMED_PORT);
    format!("tcp/127.0.0.1:{port}")
}

/// The environment variable that hands a child its parent's port slot.
const PORT_SLOT: &str = "PLUGBUS_ZENOH_PORT_SLOT";
/// The first port the tests name, and the first port they use.
const FIRST_NAMED_PORT: u16 = 17_500;
const FIRST_PORT: u16 = 20_000;
/// Slots of 100 ports from 20,000 up to 32,000 (below Linux's ephemeral
/// ports, 32,768 and up, so a connection's local port never takes one).
const SLOTS: u16 = 120;

/// This process's slot: its parent's, or the first from one picked by the
/// process id whose ports are all free now.
fn port_slot() -> u16 {
    static SLOT: std::sync::OnceLock<u16> = std::sync::OnceLock::new();
    *SLOT.get_or_init(|| {
        if let Some(slot) = std::env::var(PORT_SLOT).ok().and_then(|s| s.parse().ok()) {
            return slot;
        }
        let start = (std::process::id() % u32::from(SLOTS)) as u16;
        (0..SLOTS)
            .map(|i| (start + i) % SLOTS)
            .find(|slot| {
                let first = FIRST_PORT + slot * 100;
                (first..first + 100)
                    .all(|port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok())
            })
            .unwrap_or(start)
    })
}

/// Ends the whole test process if the test is still running after
/// `limit`: a test fails, it never hangs (a stuck drop would otherwise keep
/// the harness waiting forever). Dropping the guard disarms it.
pub(crate) fn watchdog(test: &'static str, limit: Duration) -> Watchdog {
    let (disarm, disarmed) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = disarmed.recv_timeout(limit) {
            eprintln!("{test}: still running after {limit:?}; ending the test process");
            std::process::exit(101);
        }
    });
    Watchdog { _disarm: disarm }
}

/// Disarms its [`watchdog`] when dropped.
pub(crate) struct Watchdog {
    _disarm: std::sync::mpsc::Sender<()>,
}
