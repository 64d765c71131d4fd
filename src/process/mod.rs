//! Child processes that never outlive their test.
//!
//! Every process the toolkit starts goes through [`spawn`]:
//!
//! * it is forked by one process-wide spawner thread and gets
//!   `PR_SET_PDEATHSIG(SIGKILL)`, so it dies with the test process even when
//!   that is SIGKILLed — and *only* then: the handles that own children may
//!   move between threads freely (the death signal is bound to the thread
//!   that forks, and the spawner thread never ends);
//! * it is held by a pidfd from the moment it exists, and recorded in its
//!   test's [`ProcessRegistry`] so that a test that times out or panics can
//!   have all its processes killed (which also unblocks whatever was waiting
//!   on them) — never a process that merely got the same PID later;
//! * a [`Child`] kills and reaps its process when dropped.
//!
//! Daemons that a child forks (`qemu-nbd --fork`) are not our children and
//! have no death signal; they are adopted by pidfd (see
//! [`ProcessRegistry`]) and also handed to a small reaper process that kills
//! them if the test process dies without doing so itself (SIGKILL).
//!
//! Arguments never go through a shell.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::deadline::Deadline;
use crate::error::{Error, Result};

mod capture;
mod idle;
pub(crate) mod pidfd;
pub(crate) mod procfs;
mod reaper;
mod registry;
mod run;
mod spawner;

pub(crate) use capture::{Capture, PIPE_DRAIN, pipe_err, wait_tool};
pub use idle::{IdlePoll, idle_poll};
pub use pidfd::PidFd;
pub use registry::ProcessRegistry;
pub(crate) use registry::{Tracked, kill_everything, signal_name};
pub use run::{Output, RunOptions, run};

/// How long a tool may run before it is killed, unless the caller says
/// otherwise. Generous: the per-test timeout is the real bound.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(300);

/// Python's view of an exit status: the exit code, or `-N` for signal `N`.
///
/// ```
/// use std::os::unix::process::ExitStatusExt;
/// let st = std::process::ExitStatus::from_raw(9); // killed by SIGKILL
/// assert_eq!(iotests::process::returncode(st), -9);
/// ```
pub fn returncode(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => -s,
        (None, None) => -1,
    }
}

/// Space-joined command line, as iotests prints it in messages.
///
/// ```
/// assert_eq!(iotests::process::cmdline(&["qemu-img".into(), "info".into()]), "qemu-img info");
/// ```
pub fn cmdline(argv: &[String]) -> String {
    argv.join(" ")
}

/// Prepare `cmd` so the child dies with us: `PR_SET_PDEATHSIG(SIGKILL)`,
/// and, if we died between fork and `prctl`, the child exits at once.
///
/// The death signal fires when the *thread* that forks the child exits, not
/// only the process: [`spawn`] forks on a thread that lives as long as the
/// process. The `iotests` command uses this for its test processes too.
///
/// ```
/// let mut cmd = std::process::Command::new("true");
/// iotests::process::die_with_parent(&mut cmd);
/// assert!(cmd.status().unwrap().success());
/// ```
pub fn die_with_parent(cmd: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure only calls async-signal-safe functions (prctl,
    // getppid, _exit) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// A running child process, killed and reaped when dropped.
#[derive(Debug)]
pub struct Child {
    inner: std::process::Child,
    tracked: Arc<Tracked>,
    registry: Arc<ProcessRegistry>,
    status: Option<ExitStatus>,
}

/// Start `cmd` as a child of this test: forked by the spawner thread, death
/// signal set, held by a pidfd and recorded in `registry`. `name` is used
/// in messages (`qemu-img`, `qemu`, …).
///
/// ```
/// use std::{process::Command, sync::Arc, time::Duration};
/// let reg = Arc::new(iotests::process::ProcessRegistry::default());
/// let mut child = iotests::process::spawn("true", Command::new("true"), &reg).unwrap();
/// let status = child.wait_timeout(Duration::from_secs(5)).unwrap();
/// assert_eq!(status.map(iotests::process::returncode), Some(0));
/// assert!(reg.pids().is_empty());
/// ```
pub fn spawn(name: &str, mut cmd: Command, registry: &Arc<ProcessRegistry>) -> Result<Child> {
    die_with_parent(&mut cmd);
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut argv = vec![program.clone()];
    argv.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    // `cmd` is consumed on the spawner thread, dropping our copies of the
    // descriptors it was given (pipe write ends) before we continue.
    let spawned = spawner::on_spawner(move || {
        let child = cmd.spawn()?;
        drop(cmd);
        // Not reaped yet, so the PID is still this child's.
        match PidFd::open(child.id() as i32) {
            Ok(fd) => Ok((child, fd)),
            Err(e) => {
                let mut child = child;
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    });
    let (inner, pidfd) = spawned.and_then(|r| r).map_err(|source| Error::Spawn { program, source })?;
    let tracked = Tracked::new(pidfd, name, cmdline(&argv), false);
    registry.register(&tracked);
    Ok(Child { inner, tracked, registry: Arc::clone(registry), status: None })
}

impl Child {
    /// The process ID.
    pub fn pid(&self) -> i32 {
        self.tracked.pid()
    }

    /// The name given at spawn.
    pub fn name(&self) -> &str {
        &self.tracked.name
    }

    /// Access to the standard library handle (to take pipes).
    pub fn std(&mut self) -> &mut std::process::Child {
        &mut self.inner
    }

    /// The exit status if the process has ended (reaping it), else `None`.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        if let Some(st) = self.status {
            return Ok(Some(st));
        }
        match self.inner.try_wait() {
            Ok(Some(st)) => Ok(Some(self.reaped(st))),
            Ok(None) => Ok(None),
            Err(e) => Err(Error::io(format!("waiting for {}", self.tracked.label()), e)),
        }
    }

    fn reaped(&mut self, st: ExitStatus) -> ExitStatus {
        self.status = Some(st);
        self.registry.unregister(&self.tracked, Some(st));
        st
    }

    /// Wait up to `timeout` for the process to end (a `poll` on its pidfd);
    /// `None` if it is still running then.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        if let Some(st) = self.status {
            return Ok(Some(st));
        }
        let deadline = Deadline::within(timeout);
        loop {
            if let Some(st) = self.try_wait()? {
                return Ok(Some(st));
            }
            let left = deadline.remaining();
            if left.is_zero() {
                return Ok(None);
            }
            if self.tracked.pidfd.wait_exit(left) {
                // Ended: reaped on the next round. Should the status lag
                // behind the pidfd for a moment, do not spin on it.
                if let Some(st) = self.try_wait()? {
                    return Ok(Some(st));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    /// Send a signal (if the process has not been reaped yet), through its
    /// pidfd.
    pub fn signal(&self, sig: Signal) -> Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        match self.tracked.signal(sig) {
            Ok(_) => Ok(()),
            Err(e) => Err(Error::io(format!("sending {sig} to {}", self.tracked.label()), e)),
        }
    }

    /// SIGKILL and reap. Never blocks for long: a SIGKILLed process that is
    /// not gone within 10 s is reported as an error.
    pub fn kill(&mut self) -> Result<ExitStatus> {
        if let Some(st) = self.status {
            return Ok(st);
        }
        self.signal(Signal::SIGKILL)?;
        self.wait_timeout(Duration::from_secs(10))?.ok_or_else(|| Error::Timeout {
            what: format!("{} did not die after SIGKILL", self.tracked.label()),
            log: String::new(),
        })
    }

    /// The status, once reaped.
    pub fn status(&self) -> Option<ExitStatus> {
        self.status
    }

    /// Mark the process as a server the test is using (a VM, a storage
    /// daemon, an NBD server), so that an exit nobody asked for shows in a
    /// failure ([`ProcessRegistry::deaths`]); `false` once the test has
    /// asked it to exit (QMP `quit`, or it waits for the exit).
    pub(crate) fn set_serving(&self, serving: bool) {
        self.tracked.set_serving(serving);
    }

    /// The status if the process has ended, without reaping it (so that
    /// whoever waits for it later still gets it).
    pub(crate) fn peek_status(&self) -> Option<ExitStatus> {
        self.status.or_else(|| self.tracked.pidfd.peek_status())
    }

    /// How the process ended, for error messages — `qemu (pid N) exited
    /// with code 1`, `… was killed by signal 9 (SIGKILL)`, `… is still
    /// running` — after waiting up to `wait` for it to end (it is not
    /// reaped: its owner still collects the status).
    pub(crate) fn describe_end_within(&self, wait: Duration) -> String {
        if self.status.is_none() {
            self.tracked.pidfd.wait_exit(wait);
        }
        let Some(rc) = self.peek_status().map(returncode) else {
            return format!("{} is still running", self.tracked.label());
        };
        if rc < 0 {
            format!("{} was killed by signal {} ({})", self.tracked.label(), -rc, signal_name(-rc))
        } else {
            format!("{} exited with code {rc}", self.tracked.label())
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// Adopt a daemon that a child of ours forked (`qemu-nbd --fork`), named by
/// `pid`: open a pidfd on it, *then* check in `/proc` that the process is
/// alive and started at or after `since` (clock ticks since boot) — so a
/// stale PID that now names an older, unrelated process is refused — and
/// record it in `registry` and with the reaper. `None`: not adopted.
pub(crate) fn adopt_daemon(registry: &ProcessRegistry, pid: i32, name: &str, since: Option<u64>) -> Option<i32> {
    let pidfd = PidFd::open(pid).ok()?;
    let (start, state) = procfs::stat(pid)?;
    if procfs::is_dead(state) || since.is_some_and(|since| start < since) {
        return None;
    }
    let argv = procfs::cmdline(pid).unwrap_or_default();
    // Still alive now, so `/proc/<pid>` above was this very process.
    if pidfd.exited() {
        return None;
    }
    reaper::watch(&pidfd);
    let tracked = Tracked::new(pidfd, name, cmdline(&argv), true);
    registry.register(&tracked);
    Some(pid)
}

#[cfg(test)]
mod tests;
