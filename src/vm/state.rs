//! A VM's run state: configured, running or stopped — one enum, so that
//! what belongs to a running QEMU (its process, its connections, its log
//! directory, whether `quit` was sent) exists exactly while it runs, and
//! what a stopped one leaves (its exit status, its output) only after.

use std::path::{Path, PathBuf};

use super::machine::Qtest;
use crate::process::Child;
use crate::qmp::QmpClient;

/// Where a [`Vm`](super::Vm) is in its life.
#[derive(Debug)]
pub(super) enum State {
    /// Built (and being configured); never launched.
    Configured,
    /// Launched: QEMU runs, or has died and not been shut down yet.
    Running(Box<Running>),
    /// Shut down (or failed to launch): how it ended, what it printed. It
    /// may be launched again.
    Stopped(Stopped),
}

/// What a launched VM holds.
#[derive(Debug)]
pub(super) struct Running {
    /// QEMU.
    pub(super) child: Child,
    /// The QMP connection (none for a VM without monitor, or once a soft
    /// shutdown has taken it).
    pub(super) qmp: Option<QmpClient>,
    /// The qtest channel, for iotests' `VM`.
    pub(super) qtest: Option<Qtest>,
    /// Holds the log file (and the halting firmware); removed at shutdown.
    pub(super) temp_dir: tempfile::TempDir,
    /// QEMU's stdout and stderr.
    pub(super) log_path: PathBuf,
    /// `quit` was sent, or the test waits for QEMU to exit by itself: a
    /// soft shutdown only waits.
    pub(super) quit_issued: bool,
    /// Killed by a hard shutdown: its death by SIGKILL is no news.
    pub(super) user_killed: bool,
}

/// What a stopped VM leaves.
#[derive(Debug)]
pub(super) struct Stopped {
    /// QEMU, reaped (for its exit code); `None` if it never started.
    pub(super) child: Option<Child>,
    /// Everything QEMU printed (python's `_iolog`), if it could be read.
    pub(super) iolog: Option<String>,
}

impl State {
    /// The running VM's parts.
    pub(super) fn running(&mut self) -> Option<&mut Running> {
        match self {
            State::Running(r) => Some(&mut **r),
            _ => None,
        }
    }

    /// Whether QEMU was launched and not shut down yet.
    pub(super) fn is_launched(&self) -> bool {
        matches!(self, State::Running(_))
    }

    /// The QEMU process of the last launch, running or reaped.
    pub(super) fn child(&self) -> Option<&Child> {
        match self {
            State::Running(r) => Some(&r.child),
            State::Stopped(s) => s.child.as_ref(),
            State::Configured => None,
        }
    }

    /// [`child`](Self::child), to reap it.
    pub(super) fn child_mut(&mut self) -> Option<&mut Child> {
        match self {
            State::Running(r) => Some(&mut r.child),
            State::Stopped(s) => s.child.as_mut(),
            State::Configured => None,
        }
    }

    /// A launch that failed before QEMU started: what its log file (if
    /// one was made) holds.
    pub(super) fn not_started(log_path: Option<&Path>) -> State {
        State::Stopped(Stopped { child: None, iolog: log_path.and_then(read_log) })
    }
}

/// A log file's contents, lossily decoded.
pub(super) fn read_log(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|b| String::from_utf8_lossy(&b).into_owned())
}
