//! Process file descriptors (Linux ≥ 5.4): a handle on one process that
//! stays bound to it, unlike its PID, which the kernel hands to a new
//! process once the old one has been reaped.
//!
//! Everything the toolkit signals, it signals through a [`PidFd`]: a
//! process that is gone makes `pidfd_send_signal` fail with `ESRCH`
//! instead of hitting whatever process got the number next. Waiting is a
//! `poll` on the descriptor, which becomes readable when the process ends.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::deadline::Deadline;

/// A pidfd and the PID it was opened for: a handle on one process that a
/// recycled PID cannot redirect, readable (`poll`) once the process ended.
///
/// ```
/// let child = std::process::Command::new("true").spawn()?;
/// let fd = iotests::process::PidFd::open(child.id() as i32)?;
/// assert!(fd.wait_exit(std::time::Duration::from_secs(10)));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct PidFd {
    fd: OwnedFd,
    pid: i32,
}

impl PidFd {
    /// `pidfd_open(pid)`. For a child of ours that has not been reaped, the
    /// PID cannot have been reused, so the descriptor is certainly the
    /// child's; for any other process the caller must check afterwards that
    /// it got the process it meant (see [`super::procfs`]).
    pub fn open(pid: i32) -> io::Result<PidFd> {
        if pid <= 0 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        // SAFETY: pidfd_open takes a PID and flags and returns a new fd.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel returned a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        Ok(PidFd { fd, pid })
    }

    /// The PID the descriptor was opened for.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Send `sig` to the process. `Ok(false)`: it had already exited (the
    /// signal went nowhere).
    pub fn send_signal(&self, sig: Signal) -> io::Result<bool> {
        // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                sig as libc::c_int,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if r == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ESRCH) { Ok(false) } else { Err(e) }
    }

    /// Whether the process has ended (it may not be reaped yet).
    pub fn exited(&self) -> bool {
        self.wait_exit(Duration::ZERO)
    }

    /// Wait up to `timeout` for the process to end; true if it has. Time
    /// spent in signal handlers does not shorten the wait.
    pub fn wait_exit(&self, timeout: Duration) -> bool {
        let deadline = Deadline::within(timeout);
        loop {
            let ms = libc::c_int::from(deadline.poll_timeout());
            let mut pfd = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, ms) };
            if r > 0 {
                return true;
            }
            if r < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                // A pidfd that cannot be polled: treat the process as gone
                // rather than wait forever on it.
                return true;
            }
            if deadline.expired() {
                return false;
            }
        }
    }

    /// For a child of ours: its wait status if it has ended, *without*
    /// reaping it (`waitid(P_PIDFD, WNOWAIT)`), so that its owner still
    /// collects it. `None` while it runs, or for a process that is not our
    /// child.
    pub fn peek_status(&self) -> Option<std::process::ExitStatus> {
        use std::os::unix::process::ExitStatusExt;
        // SAFETY: siginfo_t is plain data; zeroed is a valid value.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: a valid pidfd and a siginfo_t to fill.
        let r = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                self.fd.as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: waitid filled `info` (si_pid is 0 when nothing has ended).
        let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
        if r != 0 || pid == 0 {
            return None;
        }
        Some(match info.si_code {
            libc::CLD_EXITED => std::process::ExitStatus::from_raw((status & 0xff) << 8),
            libc::CLD_DUMPED => std::process::ExitStatus::from_raw((status & 0x7f) | 0x80),
            _ => std::process::ExitStatus::from_raw(status & 0x7f),
        })
    }
}

impl AsFd for PidFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn signals_and_waits_through_the_descriptor() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let fd = PidFd::open(child.id() as i32).unwrap();
        assert!(!fd.exited());
        assert_eq!(fd.peek_status(), None);
        assert!(fd.send_signal(Signal::SIGTERM).unwrap());
        assert!(fd.wait_exit(Duration::from_secs(10)));
        // Not reaped by peeking: the owner still gets the status.
        let peeked = fd.peek_status().unwrap();
        assert_eq!(crate::process::returncode(peeked), -15);
        assert_eq!(crate::process::returncode(child.wait().unwrap()), -15);
        // Reaped: the signal goes nowhere, whatever now has that PID.
        assert!(!fd.send_signal(Signal::SIGKILL).unwrap());
    }

    #[test]
    fn exit_codes_are_peeked_as_wait_statuses() {
        let mut child = Command::new("sh").args(["-c", "exit 7"]).spawn().unwrap();
        let fd = PidFd::open(child.id() as i32).unwrap();
        assert!(fd.wait_exit(Duration::from_secs(10)));
        assert_eq!(fd.peek_status().map(crate::process::returncode), Some(7));
        child.wait().unwrap();
        assert!(PidFd::open(0).is_err());
    }
}
