//! Child processes with deadlines: each runs in a process group of its own so
//! that a timeout or Ctrl-C takes down everything it started, and no wait is
//! unbounded.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How often waits poll their child.
pub const POLL: Duration = Duration::from_millis(20);

/// How long a process group gets between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(3);

/// How long to wait for a process after SIGKILL, and for output pipes to
/// drain after it exits.
const REAP_LIMIT: Duration = Duration::from_secs(5);

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only async-signal-safe work here: record it; the wait loops act on it.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Catch SIGINT, SIGTERM and SIGHUP: children run in their own process
/// groups, so the terminal's Ctrl-C does not reach them and the command must
/// stop them itself (see [`interrupted`]).
pub fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction with a handler that only stores to an
        // atomic is a valid, async-signal-safe disposition.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Whether the user asked the command to stop.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Put the command's child in a new process group and, on Linux, have it
/// killed if this command dies without cleaning up (SIGKILL, crash).
pub fn isolate(cmd: &mut Command) -> &mut Command {
    cmd.process_group(0);
    #[cfg(target_os = "linux")]
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

/// Send `sig` to the process group led by `pid`; a vanished group is fine.
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

/// Wait for `child` until `deadline`; `None` if it is still running then.
/// Returns early with `None` when the user interrupts.
pub fn wait_until(child: &mut Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    loop {
        if let Some(st) = child.try_wait()? {
            return Ok(Some(st));
        }
        if Instant::now() >= deadline || interrupted() {
            return Ok(None);
        }
        std::thread::sleep(POLL);
    }
}

/// Stop a child's whole process group: SIGTERM, a grace period, SIGKILL.
/// Returns its status if it could be reaped within the limits.
pub fn terminate(child: &mut Child) -> Option<ExitStatus> {
    let pid = child.id();
    signal_group(pid, libc::SIGTERM);
    let grace = Instant::now() + TERM_GRACE;
    while Instant::now() < grace {
        if let Ok(Some(st)) = child.try_wait() {
            // Stragglers of the group that ignored SIGTERM go too.
            signal_group(pid, libc::SIGKILL);
            return Some(st);
        }
        std::thread::sleep(POLL);
    }
    signal_group(pid, libc::SIGKILL);
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
}

/// Run `cmd` (in its own process group) with stdout captured and stderr
/// passed through, killing it after `timeout`.
pub fn run_captured(mut cmd: Command, what: &str, timeout: Duration) -> Result<Captured> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).process_group(0);
    let mut child = cmd.spawn().map_err(|source| Error::Spawn { cmd: what.to_string(), source })?;
    let (tx, rx) = mpsc::channel();
    if let Some(mut out) = child.stdout.take() {
        // A thread, so a chatty child never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = out.read_to_end(&mut buf);
            let _ = tx.send(buf);
        });
    }
    let deadline = Instant::now() + timeout;
    let waited = wait_until(&mut child, deadline).map_err(|source| Error::Spawn { cmd: what.to_string(), source })?;
    let Some(status) = waited else {
        terminate(&mut child);
        if interrupted() {
            return Err(Error::Interrupted);
        }
        return Err(Error::Timeout { cmd: what.to_string(), secs: timeout.as_secs() });
    };
    // A grandchild may still hold the pipe open; don't wait for it forever.
    let stdout = rx.recv_timeout(REAP_LIMIT).unwrap_or_default();
    Ok(Captured { status, stdout })
}

/// A timeout in seconds from an environment variable, or `default`.
pub fn timeout_from_env(var: &'static str, default: Duration) -> Result<Duration> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => match v.trim().parse::<f64>() {
            Ok(s) if s > 0.0 && s.is_finite() => Ok(Duration::from_secs_f64(s)),
            _ => Err(Error::BadEnv { var, value: v, why: "expected a positive number of seconds" }),
        },
        _ => Ok(default),
    }
}

/// Describe an exit status like Python's subprocess would: `exit status N`
/// or `killed by signal N`.
pub fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => "unknown exit status".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_output_and_timeouts() {
        let mut c = Command::new("sh");
        c.args(["-c", "echo hi"]);
        let r = run_captured(c, "sh", Duration::from_secs(10)).unwrap();
        assert!(r.status.success());
        assert_eq!(r.stdout, b"hi\n");

        let mut c = Command::new("sh");
        c.args(["-c", "sleep 30"]);
        let t0 = Instant::now();
        let e = run_captured(c, "sleeper", Duration::from_millis(200)).unwrap_err();
        assert!(matches!(e, Error::Timeout { .. }), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn terminate_kills_the_group() {
        let mut c = Command::new("sh");
        // The grandchild shares the group and must die with it.
        c.args(["-c", "sleep 30 & wait"]);
        isolate(&mut c);
        let mut child = c.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let st = terminate(&mut child).expect("reaped");
        assert!(!st.success());
    }

    #[test]
    fn env_timeouts_are_validated() {
        assert_eq!(
            timeout_from_env("IOTESTS_TEST_UNSET_VAR_X", Duration::from_secs(3)).unwrap(),
            Duration::from_secs(3)
        );
    }
}
