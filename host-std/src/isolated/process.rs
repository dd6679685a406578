//! Starting a child: its arguments, the one descriptor it inherits, its
//! parent-death signal and resource limits, and a `pidfd` to watch it by.

use std::ffi::OsString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use super::child::{CHILD_FLAG, EXIT_ORPHAN};

/// What a child is started with.
pub(super) struct Start<'a> {
    pub(super) program: &'a Path,
    pub(super) runner_args: &'a [OsString],
    pub(super) segment: RawFd,
    pub(super) token: u32,
    pub(super) encoding: &'static str,
    pub(super) library: &'a Path,
    pub(super) config: &'a str,
    pub(super) crate_name: Option<&'a str>,
    pub(super) memory_limit: Option<u64>,
    pub(super) cpu_time_limit: Option<Duration>,
}

/// A running child and the descriptor that becomes readable when it ends.
pub(super) struct Running {
    pub(super) child: Child,
    pub(super) pidfd: OwnedFd,
    pub(super) token: u32,
}

/// Starts a child. Call it from the thread that will watch the child: on
/// Linux the parent-death signal follows the thread that forked, not the
/// process, so the starting thread must outlive the child.
pub(super) fn start(start: &Start<'_>) -> io::Result<Running> {
    let host = std::process::id();
    let mut command = Command::new(start.program);
    command
        .args(start.runner_args)
        .arg(CHILD_FLAG)
        .arg(start.segment.to_string())
        .arg(host.to_string())
        .arg(start.token.to_string())
        .arg(start.encoding)
        .arg(start.library)
        .arg(start.config)
        .args(start.crate_name)
        .stdin(Stdio::null());
    let segment = start.segment;
    let memory = start.memory_limit;
    let cpu = start.cpu_time_limit.map(|limit| limit.as_secs().max(1));
    // SAFETY: the closure runs in the forked child before exec and calls
    // only async-signal-safe functions (prctl, getppid, fcntl, setrlimit),
    // touching no lock and allocating nothing.
    unsafe {
        command.pre_exec(move || {
            // The child dies with the thread that started it (and so with
            // the host), even if the host is killed with SIGKILL.
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // The host may have died before the prctl: then nobody would
            // send the signal.
            if u32::try_from(libc::getppid()).ok() != Some(host) {
                libc::_exit(EXIT_ORPHAN);
            }
            // The segment's descriptor is close-on-exec in the host; this
            // child alone inherits it.
            if libc::fcntl(segment, libc::F_SETFD, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            if let Some(bytes) = memory {
                limit(libc::RLIMIT_AS, bytes, bytes)?;
            }
            if let Some(seconds) = cpu {
                // SIGXCPU at the limit (the soft one), SIGKILL a second
                // later if the child survives it: with both equal the
                // kernel sends SIGKILL alone.
                limit(libc::RLIMIT_CPU, seconds, seconds.saturating_add(1))?;
            }
            Ok(())
        });
    }
    let child = command.spawn()?;
    let pid = child.id() as libc::pid_t;
    // SAFETY: pidfd_open with a pid of our own unreaped child (it cannot
    // be recycled before we wait for it) and no flags; the result is
    // checked.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        let error = io::Error::last_os_error();
        let mut child = child;
        let _ = child.kill();
        let _ = child.wait();
        return Err(error);
    }
    // SAFETY: a fresh descriptor owned by nothing else.
    let pidfd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    Ok(Running {
        child,
        pidfd,
        token: start.token,
    })
}

/// Sets a resource limit to `soft`, and its hard limit to `hard` or the
/// current hard limit, whichever is lower (raising it needs privileges).
/// Runs in the child between fork and exec: system calls only.
fn limit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> io::Result<()> {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid resource and a valid pointer to writable memory.
    if unsafe { libc::getrlimit(resource, &mut current) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let hard = (hard as libc::rlim_t).min(current.rlim_max);
    let limit = libc::rlimit {
        rlim_cur: (soft as libc::rlim_t).min(hard),
        rlim_max: hard,
    };
    // SAFETY: a valid resource and a valid pointer.
    if unsafe { libc::setrlimit(resource, &limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Waits at most `timeout` for the child to end; true if it has.
pub(super) fn wait_readable(pidfd: &OwnedFd, timeout: Duration) -> bool {
    wait_either(pidfd, None, timeout).0
}

/// Waits at most `timeout` for either child to end; says which did.
pub(super) fn wait_either(
    first: &OwnedFd,
    second: Option<&OwnedFd>,
    timeout: Duration,
) -> (bool, bool) {
    use std::os::fd::AsRawFd;
    let entry = |fd: &OwnedFd| libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let mut polls = [entry(first), entry(second.unwrap_or(first))];
    let count = if second.is_some() { 2 } else { 1 };
    let millis = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: `count` valid pollfds in a live array.
    let ready = unsafe { libc::poll(polls.as_mut_ptr(), count, millis) };
    if ready <= 0 {
        return (false, false);
    }
    (polls[0].revents != 0, count == 2 && polls[1].revents != 0)
}

/// The signal or the status a child ended with.
pub(super) fn ending(status: ExitStatus) -> (Option<i32>, Option<i32>) {
    (status.code(), status.signal())
}
