//! Child processes and the command's own signals.
//!
//! Every child runs in a process group of its own, so that a timeout or
//! Ctrl-C takes down everything it started, and dies with the command (the
//! library's [`die_with_parent`](iotests::process::die_with_parent)). The
//! command catches SIGINT, SIGTERM and SIGHUP (counted: the second one
//! escalates to SIGKILL) and SIGTSTP (Ctrl-Z: the runner stops its tests,
//! then itself, and resumes both on `fg`). Handlers only record; the wait
//! loops act.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How often waits poll their child.
pub const POLL: Duration = Duration::from_millis(20);

/// How long a process group gets between SIGTERM and SIGKILL.
pub const TERM_GRACE: Duration = Duration::from_secs(3);

/// How long to wait for a process after SIGKILL, and for output pipes to
/// drain after it exits.
const REAP_LIMIT: Duration = Duration::from_secs(5);

static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);
static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    // Only async-signal-safe work here: count it; the wait loops act on it.
    INTERRUPTS.fetch_add(1, Ordering::SeqCst);
}

extern "C" fn on_stop(_: libc::c_int) {
    STOP_REQUESTED.store(true, Ordering::SeqCst);
}

fn set_handler(sig: libc::c_int, handler: extern "C" fn(libc::c_int)) {
    // SAFETY: a zeroed sigaction with a handler that only stores to an
    // atomic is a valid, async-signal-safe disposition.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as *const () as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}

/// Catch SIGINT, SIGTERM and SIGHUP (see [`interrupts`]) and SIGTSTP (see
/// [`take_stop_request`]): children run in their own process groups, so the
/// terminal's Ctrl-C and Ctrl-Z do not reach them and the command must
/// forward them itself.
pub fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        set_handler(sig, on_interrupt);
    }
    set_handler(libc::SIGTSTP, on_stop);
}

/// How many times the user asked the command to stop (Ctrl-C, SIGTERM,
/// SIGHUP): 1 terminates the tests gracefully, 2 or more kills them.
pub fn interrupts() -> usize {
    INTERRUPTS.load(Ordering::SeqCst)
}

/// Whether the user asked the command to stop.
pub fn interrupted() -> bool {
    interrupts() > 0
}

/// Whether Ctrl-Z was pressed since the last call.
pub fn take_stop_request() -> bool {
    STOP_REQUESTED.swap(false, Ordering::SeqCst)
}

/// Stop this process (as Ctrl-Z would) until it is continued. SIGSTOP, not
/// SIGTSTP: the kernel discards a terminal stop signal for an orphaned
/// process group, and cannot for SIGSTOP.
pub fn stop_self() {
    // SAFETY: raise only sends a signal to the calling thread.
    unsafe {
        libc::raise(libc::SIGSTOP);
    }
}

/// Put the command's child in a new process group and have it killed if
/// this command dies without cleaning up (SIGKILL, crash).
pub fn isolate(cmd: &mut Command) -> &mut Command {
    cmd.process_group(0);
    iotests::process::die_with_parent(cmd);
    cmd
}

/// Send `sig` to the process group led by `pid`; a vanished group is fine.
/// The group is our child's, which we have not reaped yet, so its id cannot
/// have been reused.
pub fn signal_group(pid: u32, sig: libc::c_int) {
    if let Ok(pgid) = libc::pid_t::try_from(pid)
        && pgid > 0
    {
        // SAFETY: kill with a negative pid signals that process group only.
        unsafe {
            libc::kill(-pgid, sig);
        }
    }
}

/// Whether our child `pid` has exited, without reaping it: while it is a
/// zombie its process group id cannot be reused, so the group can still be
/// signalled safely (to take down stragglers) before the child is reaped.
pub fn has_exited(pid: u32) -> bool {
    let pid: libc::id_t = pid;
    // SAFETY: waitid writes only into the siginfo we pass; WNOWAIT leaves
    // the child waitable.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT);
        r != 0 || info.si_pid() != 0
    }
}

/// A stopwatch that can be paused, so that time spent suspended (Ctrl-Z)
/// counts neither as a test's elapsed time nor against its deadline.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch {
    running_since: Option<Instant>,
    banked: Duration,
}

impl Stopwatch {
    /// A running stopwatch at zero.
    pub fn start() -> Stopwatch {
        Stopwatch { running_since: Some(Instant::now()), banked: Duration::ZERO }
    }

    /// Stop counting (idempotent).
    pub fn pause(&mut self) {
        if let Some(t) = self.running_since.take() {
            self.banked += t.elapsed();
        }
    }

    /// Count again (idempotent).
    pub fn resume(&mut self) {
        if self.running_since.is_none() {
            self.running_since = Some(Instant::now());
        }
    }

    /// Running time so far.
    pub fn elapsed(&self) -> Duration {
        self.banked + self.running_since.map(|t| t.elapsed()).unwrap_or_default()
    }
}

/// Wait for `child` until `deadline` (not counting time spent suspended);
/// `None` if it is still running then. Returns early with `None` when the
/// user interrupts; forwards Ctrl-Z to the child's process group.
pub fn wait_until(child: &mut Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    let mut deadline = deadline;
    loop {
        if let Some(st) = child.try_wait()? {
            return Ok(Some(st));
        }
        if take_stop_request() {
            let t0 = Instant::now();
            signal_group(child.id(), libc::SIGSTOP);
            stop_self();
            signal_group(child.id(), libc::SIGCONT);
            deadline += t0.elapsed();
        }
        if Instant::now() >= deadline || interrupted() {
            return Ok(None);
        }
        std::thread::sleep(POLL);
    }
}

/// Sleep up to `timeout`, returning as soon as one of `pidfds` says its
/// process exited (or a signal arrives), so that a finished test is seen at
/// once rather than at the next tick. Without pidfds it sleeps `timeout`.
pub fn nap(pidfds: &[std::os::fd::BorrowedFd<'_>], timeout: Duration) {
    use std::os::fd::AsRawFd;
    if pidfds.is_empty() {
        std::thread::sleep(timeout);
        return;
    }
    let mut fds: Vec<libc::pollfd> =
        pidfds.iter().map(|fd| libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 }).collect();
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `fds` is a valid array of `fds.len()` pollfd structures.
    unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
}

/// Stop a child's whole process group at once (SIGKILL) and reap it within
/// a bounded time. For helper commands, not for tests (the runner
/// terminates those as a state of its loop).
pub fn kill_and_reap(child: &mut Child) -> Option<ExitStatus> {
    signal_group(child.id(), libc::SIGKILL);
    let limit = Instant::now() + REAP_LIMIT;
    while Instant::now() < limit {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        std::thread::sleep(POLL);
    }
    None
}

/// What a captured command printed and how it ended.
#[derive(Debug)]
pub struct Captured {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its standard output.
    pub stdout: Vec<u8>,
    /// Its standard error, if it was captured.
    pub stderr: Vec<u8>,
}

/// Run `cmd` (in its own process group, dying with us) with stdout captured
/// — and stderr too when `capture_stderr`, else passed through — killing it
/// after `timeout`.
pub fn run_captured(mut cmd: Command, what: &str, timeout: Duration, capture_stderr: bool) -> Result<Captured> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    if capture_stderr {
        cmd.stderr(Stdio::piped());
    }
    isolate(&mut cmd);
    let mut child = cmd.spawn().map_err(|source| Error::Spawn { cmd: what.to_string(), source })?;
    // Threads, so a chatty child never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        let (tx, rx) = mpsc::channel();
        if let Some(mut p) = pipe {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = p.read_to_end(&mut buf);
                let _ = tx.send(buf);
            });
        }
        rx
    };
    let out_rx = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let err_rx = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let deadline = Instant::now() + timeout;
    let waited = wait_until(&mut child, deadline).map_err(|source| Error::Spawn { cmd: what.to_string(), source })?;
    let Some(status) = waited else {
        kill_and_reap(&mut child);
        if interrupted() {
            return Err(Error::Interrupted);
        }
        return Err(Error::Timeout { cmd: what.to_string(), secs: timeout.as_secs() });
    };
    // A grandchild may still hold a pipe open; don't wait for it forever.
    let stdout = out_rx.recv_timeout(REAP_LIMIT).unwrap_or_default();
    let stderr = if capture_stderr { err_rx.recv_timeout(REAP_LIMIT).unwrap_or_default() } else { Vec::new() };
    Ok(Captured { status, stdout, stderr })
}

/// A time limit in seconds from an environment variable (parsed by the
/// library's [`parse_timeout`](iotests::harness::timeout::parse_timeout):
/// `0` is no limit), or `default` when unset.
pub fn limit_from_env(var: &'static str, default: Option<Duration>) -> Result<Option<Duration>> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => {
            iotests::harness::timeout::parse_timeout(&v).map_err(|e| Error::BadValue { what: var, why: e.to_string() })
        }
        _ => Ok(default),
    }
}

/// A signal's name (`SIGKILL`), or its number.
pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        _ => return format!("signal {sig}"),
    };
    format!("{name} ({sig})")
}

/// Describe an exit status: `exit status N` or `killed by signal SIGX (N)`.
pub fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => format!("killed by signal {}", signal_name(s)),
        _ => "unknown exit status".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_output_and_timeouts() {
        let mut c = Command::new("sh");
        c.args(["-c", "echo hi; echo oops >&2"]);
        let r = run_captured(c, "sh", Duration::from_secs(10), true).unwrap();
        assert!(r.status.success());
        assert_eq!((r.stdout.as_slice(), r.stderr.as_slice()), (&b"hi\n"[..], &b"oops\n"[..]));

        let mut c = Command::new("sh");
        c.args(["-c", "sleep 30"]);
        let t0 = Instant::now();
        let e = run_captured(c, "sleeper", Duration::from_millis(200), false).unwrap_err();
        assert!(matches!(e, Error::Timeout { .. }), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn kill_and_reap_takes_the_group() {
        let mut c = Command::new("sh");
        // The grandchild shares the group and must die with it.
        c.args(["-c", "sleep 30 & wait"]);
        isolate(&mut c);
        let mut child = c.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let st = kill_and_reap(&mut child).expect("reaped");
        assert_eq!(describe(st), "killed by signal SIGKILL (9)");
    }

    #[test]
    fn stopwatch_pauses() {
        let mut w = Stopwatch::start();
        w.pause();
        let t = w.elapsed();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(w.elapsed(), t);
        w.resume();
        std::thread::sleep(Duration::from_millis(20));
        assert!(w.elapsed() >= t + Duration::from_millis(20));
    }

    #[test]
    fn env_limits_use_the_library_parser() {
        assert_eq!(
            limit_from_env("IOTESTS_TEST_UNSET_VAR_X", Some(Duration::from_secs(3))).unwrap(),
            Some(Duration::from_secs(3))
        );
    }
}
