//! How an isolated plugin's child process is started and watched.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use plugbus_core::AttachOptions;
use plugbus_core::lifecycle::{Backoff, Intensity, Restart};

/// Options of [`Isolated::spawn`](super::Isolated::spawn).
///
/// ```
/// use std::time::Duration;
/// use plugbus_core::lifecycle::{Backoff, Intensity};
/// use plugbus_host_std::isolated::IsolateOptions;
///
/// let options = IsolateOptions::new()
///     .runner("target/debug/my-runner")
///     .hang_deadline(Duration::from_secs(2))
///     .intensity(Intensity::new(10, Duration::from_secs(60)))
///     .backoff(Backoff::exponential(Duration::from_millis(10), Duration::from_secs(1)))
///     .memory_limit(512 << 20)
///     .cpu_time_limit(Duration::from_secs(3600));
/// assert_eq!(options.get_hang_deadline(), Duration::from_secs(2));
/// ```
#[derive(Debug, Clone)]
pub struct IsolateOptions {
    pub(super) runner: Option<PathBuf>,
    pub(super) runner_args: Vec<OsString>,
    pub(super) hang_deadline: Duration,
    pub(super) start_timeout: Duration,
    pub(super) restart: Restart,
    pub(super) standby: bool,
    pub(super) intensity: Intensity,
    pub(super) backoff: Backoff,
    pub(super) ring_bytes: usize,
    pub(super) memory_limit: Option<u64>,
    pub(super) cpu_time_limit: Option<Duration>,
    pub(super) crate_name: Option<String>,
    pub(super) lane: AttachOptions,
}

impl Default for IsolateOptions {
    fn default() -> Self {
        IsolateOptions {
            runner: None,
            runner_args: Vec::new(),
            hang_deadline: Duration::from_secs(5),
            start_timeout: Duration::from_secs(10),
            restart: Restart::OnPanic,
            standby: true,
            intensity: Intensity::default(),
            backoff: Backoff::None,
            ring_bytes: 1 << 20,
            memory_limit: None,
            cpu_time_limit: None,
            crate_name: None,
            lane: AttachOptions::new(),
        }
    }
}

impl IsolateOptions {
    /// The defaults: this program as the runner, a hang deadline of 5 s,
    /// restarts after a death at most 5 times in 5 s (the lanes' default
    /// intensity), at once, with a standby child ready, a 1 MiB
    /// ring, no resource limits.
    pub fn new() -> Self {
        IsolateOptions::default()
    }

    /// The program to start as the child: one whose `main` calls
    /// [`run_child`](super::run_child) for the host's message type. By
    /// default the host's own executable (`std::env::current_exe`), which
    /// then must call `run_child` first thing in `main`.
    #[must_use]
    pub fn runner(mut self, program: impl Into<PathBuf>) -> Self {
        self.runner = Some(program.into());
        self
    }

    /// Arguments given to the runner before the ones the host adds.
    #[must_use]
    pub fn runner_arg(mut self, arg: impl Into<OsString>) -> Self {
        self.runner_args.push(arg.into());
        self
    }

    /// How long the plugin may spend on one message before it counts as
    /// hung: the child is killed (`SIGKILL`), the message is dead-lettered,
    /// and the restart policy applies. Default 5 s.
    #[must_use]
    pub fn hang_deadline(mut self, deadline: Duration) -> Self {
        self.hang_deadline = deadline.max(Duration::from_millis(1));
        self
    }

    /// The hang deadline.
    pub fn get_hang_deadline(&self) -> Duration {
        self.hang_deadline
    }

    /// How long a child may take to load the plugin and say it is ready.
    /// Default 10 s.
    #[must_use]
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// When a child that died is replaced, with the lanes' policy type
    /// ([`AttachOptions::restart`] for a supervised in-process plugin): a
    /// child's death (a signal, an abort, an exit, or killed as hung)
    /// counts as a panic, so [`Restart::OnPanic`] (the default here) and
    /// [`Restart::Always`] replace it, and with [`Restart::Never`] the first
    /// death ends the plugin's lane as a panic would. A plugin that detaches
    /// itself ends its lane under any policy.
    #[must_use]
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// Whether a second child is kept started ahead, its plugin loaded and
    /// constructed, so that a restart hands it the next message at once
    /// instead of waiting for a process and a library to load (default
    /// `true`). It costs one more process per isolated plugin; the
    /// standby's plugin sees `on_attach` only when it takes over.
    #[must_use]
    pub fn standby(mut self, standby: bool) -> Self {
        self.standby = standby;
        self
    }

    /// At most so many restarts within any period, as for a lane
    /// ([`AttachOptions::intensity`]); one more death ends the plugin's
    /// lane as a panic would. Default 5 in 5 s, the lanes' default.
    #[must_use]
    pub fn intensity(mut self, intensity: Intensity) -> Self {
        self.intensity = intensity;
        self
    }

    /// How long to wait before each restart, as for a lane
    /// ([`AttachOptions::backoff`]; the nth restart within the intensity
    /// period waits `backoff.delay(n)`). Messages sent meanwhile wait in the
    /// plugin's lane; the host's shutdown or a detach ends the wait at once.
    /// Default: no wait.
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Bytes of shared memory for messages not yet acknowledged (rounded up
    /// to a power of two, at least a page). A message that does not fit,
    /// encoded, is not sent and is counted in
    /// [`IsolatedStats::oversized`](super::IsolatedStats::oversized).
    /// Default 1 MiB.
    #[must_use]
    pub fn ring_bytes(mut self, bytes: usize) -> Self {
        self.ring_bytes = bytes;
        self
    }

    /// Limits the child's address space (`setrlimit(RLIMIT_AS)`): an
    /// allocation past it fails, which in Rust aborts the child; the host
    /// sees it die and applies the restart policy. Mind that the runner,
    /// the plugin's library and thread stacks count too (some tens of MiB).
    #[must_use]
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// Limits the child's CPU time (`setrlimit(RLIMIT_CPU)`, whole
    /// seconds, at least 1): past it the kernel kills the child
    /// (`SIGXCPU`, then `SIGKILL`). The total over the child's life, so a
    /// long-running plugin needs a generous limit; a hung plugin is better
    /// caught by [`hang_deadline`](Self::hang_deadline).
    #[must_use]
    pub fn cpu_time_limit(mut self, limit: Duration) -> Self {
        self.cpu_time_limit = Some(limit);
        self
    }

    /// The options of the plugin's lane in the host (capacity, overflow
    /// policy, name), for `attach_isolated`: they apply to the proxy as to
    /// any plugin. Their restart policy is not used: the child is restarted
    /// per [`restart`](Self::restart), [`intensity`](Self::intensity) and
    /// [`backoff`](Self::backoff), not the proxy.
    #[must_use]
    pub fn lane(mut self, options: AttachOptions) -> Self {
        self.lane = options;
        self
    }

    /// The lane options given to [`lane`](Self::lane).
    pub fn lane_options(&self) -> AttachOptions {
        self.lane.clone()
    }

    /// The crate name the library exports its plugin under, for a renamed
    /// file (as [`LoadOptions::crate_name`](crate::LoadOptions::crate_name)).
    #[must_use]
    pub fn crate_name(mut self, name: impl Into<String>) -> Self {
        self.crate_name = Some(name.into());
        self
    }
}
