//! The reaper: a small helper process that kills the daemons a test
//! process leaves behind when it dies without cleaning up (SIGKILL).
//!
//! Our own children die with us (`PR_SET_PDEATHSIG`), but a daemon that a
//! child forked — `qemu-nbd --fork` — is nobody's child of ours and has no
//! death signal. So each adopted daemon's pidfd is passed (`SCM_RIGHTS`)
//! to the reaper, a process forked from this one (no exec) that waits on
//! its end of a socket pair. When the test process is gone — however it
//! died — the kernel closes our end, the reaper sees end-of-file, sends
//! SIGKILL through every pidfd it holds (a daemon already gone gets
//! nothing: a pidfd never names another process) and exits.
//!
//! The reaper runs between `fork` and `_exit` only: it may call nothing
//! but async-signal-safe system calls, and never allocates. It leaves the
//! test's process group and ignores terminal and termination signals, so
//! that a Ctrl-C or a `kill` of the group does not take it down before it
//! has done its work; it holds no descriptor but its socket and the
//! daemons' pidfds (no pipe of the test stays open because of it).

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, MutexGuard};

use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};

use super::pidfd::PidFd;

/// How many daemons one reaper watches at most (more are not sent).
const MAX_WATCHED: usize = 1000;

/// The descriptor the reaper keeps its socket on.
const SOCK_FD: RawFd = 3;

/// The running reaper: our end of its socket, and its PID (to reap it if it
/// dies before us).
struct Reaper {
    sock: OwnedFd,
    pid: libc::pid_t,
}

static REAPER: Mutex<Option<Reaper>> = Mutex::new(None);

fn lock() -> MutexGuard<'static, Option<Reaper>> {
    REAPER.lock().unwrap_or_else(|e| e.into_inner())
}

/// Hand `pidfd` to the reaper (started on first use), so that its process
/// is killed if this process dies first. Best effort: without a reaper the
/// daemon is still killed by the test and by the signal cleanup.
pub(crate) fn watch(pidfd: &PidFd) {
    let mut reaper = lock();
    for _attempt in 0..2 {
        if reaper.is_none() {
            *reaper = start().ok();
        }
        let Some(r) = reaper.as_ref() else { return };
        match send_fd(&r.sock, pidfd.as_fd().as_raw_fd()) {
            Ok(()) => return,
            // The reaper is gone (someone killed it): reap it, start anew.
            Err(_) => {
                if let Some(dead) = reaper.take() {
                    // SAFETY: waitpid on our own child, not blocking.
                    unsafe { libc::waitpid(dead.pid, std::ptr::null_mut(), libc::WNOHANG) };
                }
            }
        }
    }
}

fn send_fd(sock: &OwnedFd, fd: RawFd) -> io::Result<()> {
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(sock.as_raw_fd(), &[IoSlice::new(b"d")], &cmsg, MsgFlags::MSG_NOSIGNAL, None)?;
    Ok(())
}

/// Start a reaper; our end of its socket.
fn start() -> io::Result<Reaper> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: socketpair fills two descriptors on success.
    if unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptors, owned here.
    let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let theirs_raw = theirs.as_raw_fd();
    // Forked by the spawner thread like every child (the reaper has no
    // death signal, but one place forks).
    // SAFETY: the child runs `reaper_main`, which is async-signal-safe and
    // never returns.
    let pid = super::spawner::on_spawner(move || unsafe {
        let pid = libc::fork();
        if pid == 0 {
            reaper_main(theirs_raw);
        }
        pid
    })?;
    drop(theirs);
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Reaper { sock: ours, pid })
}

/// The reaper itself, in the forked child. Only async-signal-safe calls,
/// no allocation, never returns.
unsafe fn reaper_main(sock: RawFd) -> ! {
    // SAFETY (whole function): plain system calls on descriptors and
    // stack buffers this function owns.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, c"iotests-reaper".as_ptr() as libc::c_ulong, 0, 0, 0);
        libc::prctl(libc::PR_SET_PDEATHSIG, 0, 0, 0, 0);
        libc::setpgid(0, 0);
        for sig in [
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGTSTP,
            libc::SIGTTIN,
            libc::SIGTTOU,
            libc::SIGPIPE,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGALRM,
        ] {
            libc::signal(sig, libc::SIG_IGN);
        }
        let _ = libc::chdir(c"/".as_ptr());
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
        }
        if sock != SOCK_FD && libc::dup2(sock, SOCK_FD) < 0 {
            libc::_exit(1);
        }
        close_from(SOCK_FD + 1);
        let mut watched = [-1 as RawFd; MAX_WATCHED];
        let mut n = 0usize;
        let mut pfds = [libc::pollfd { fd: -1, events: 0, revents: 0 }; MAX_WATCHED + 1];
        loop {
            pfds[0] = libc::pollfd { fd: SOCK_FD, events: libc::POLLIN, revents: 0 };
            for i in 0..n {
                pfds[i + 1] = libc::pollfd { fd: watched[i], events: libc::POLLIN, revents: 0 };
            }
            if libc::poll(pfds.as_mut_ptr(), (n + 1) as libc::nfds_t, -1) < 0 {
                if *libc::__errno_location() == libc::EINTR {
                    continue;
                }
                break;
            }
            // Daemons that ended: let go of their pidfds.
            let mut kept = 0;
            for i in 0..n {
                if pfds[i + 1].revents != 0 {
                    libc::close(watched[i]);
                } else {
                    watched[kept] = watched[i];
                    kept += 1;
                }
            }
            n = kept;
            if pfds[0].revents != 0 {
                match recv_fd() {
                    Received::Fd(fd) if n < MAX_WATCHED => {
                        watched[n] = fd;
                        n += 1;
                    }
                    Received::Fd(fd) => {
                        libc::close(fd);
                    }
                    Received::Nothing => {}
                    Received::Eof => break,
                }
            }
        }
        // The test process is gone: nothing it watched may outlive it.
        for &fd in &watched[..n] {
            libc::syscall(libc::SYS_pidfd_send_signal, fd, libc::SIGKILL, std::ptr::null::<libc::siginfo_t>(), 0);
        }
        libc::_exit(0)
    }
}

enum Received {
    Fd(RawFd),
    Nothing,
    Eof,
}

/// One message from the test process: a pidfd, or end-of-file.
unsafe fn recv_fd() -> Received {
    // SAFETY: recvmsg into stack buffers sized for one SCM_RIGHTS fd.
    unsafe {
        let mut byte = 0u8;
        let mut iov = libc::iovec { iov_base: (&raw mut byte).cast(), iov_len: 1 };
        // Room for a few descriptors, aligned for cmsghdr.
        let mut control = [0u64; 16];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        let r = libc::recvmsg(SOCK_FD, &mut msg, 0);
        if r == 0 {
            return Received::Eof;
        }
        if r < 0 {
            let e = *libc::__errno_location();
            return if e == libc::EINTR || e == libc::EAGAIN { Received::Nothing } else { Received::Eof };
        }
        let mut got = Received::Nothing;
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                let count = ((*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / std::mem::size_of::<RawFd>();
                for i in 0..count {
                    let fd = std::ptr::read_unaligned(data.add(i));
                    match got {
                        Received::Nothing => got = Received::Fd(fd),
                        // One per message is all we send; drop extras.
                        _ => {
                            libc::close(fd);
                        }
                    }
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
        got
    }
}

/// Close every descriptor from `first` up.
unsafe fn close_from(first: RawFd) {
    // SAFETY: closing descriptors this (forked) process does not use.
    unsafe {
        if libc::syscall(libc::SYS_close_range, first as libc::c_uint, libc::c_uint::MAX, 0) == 0 {
            return;
        }
        let mut lim: libc::rlimit = std::mem::zeroed();
        let max =
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 { lim.rlim_cur.min(65536) as RawFd } else { 1024 };
        for fd in first..max {
            libc::close(fd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn alive(pid: i32) -> bool {
        crate::process::procfs::stat(pid).is_some_and(|(_, s)| !crate::process::procfs::is_dead(s))
    }

    #[test]
    fn a_reaper_kills_what_it_watches_when_its_owner_goes() {
        // A reaper of our own (not the process-wide one): dropping our end
        // of its socket is what the test process dying does.
        let reaper = start().unwrap();
        let mut victim = std::process::Command::new("sleep").arg("60").spawn().unwrap();
        let mut bystander = std::process::Command::new("sleep").arg("60").spawn().unwrap();
        let fd = PidFd::open(victim.id() as i32).unwrap();
        send_fd(&reaper.sock, fd.as_fd().as_raw_fd()).unwrap();
        // It does not act while we are there.
        std::thread::sleep(Duration::from_millis(200));
        assert!(alive(victim.id() as i32));
        assert!(alive(reaper.pid));
        drop(reaper.sock);
        assert!(fd.wait_exit(Duration::from_secs(10)), "the reaper did not kill its daemon");
        assert_eq!(crate::process::returncode(victim.wait().unwrap()), -9);
        assert!(bystander.try_wait().unwrap().is_none());
        bystander.kill().unwrap();
        bystander.wait().unwrap();
        // And it exits.
        let mut status = 0;
        // SAFETY: waiting for our own child.
        assert_eq!(unsafe { libc::waitpid(reaper.pid, &mut status, 0) }, reaper.pid);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{status:#x}");
    }
}
