//! Nothing survives a signal: scratch directories and processes are
//! cleaned up when the test process is told to stop.
//!
//! SIGTERM (`iotests check` stopping a test, `kill`), SIGINT (Ctrl-C) and
//! SIGHUP (the terminal went away) would end the test process at once,
//! leaving its scratch and socket directories behind and its daemons
//! running. [`install_signal_cleanup`] — called by the harness and by
//! [`TestContext::new`](crate::TestContext::new), once per process —
//! replaces the default action of these signals with:
//!
//! 1. SIGKILL every process a test of this process tracks (children and
//!    adopted daemons, through their pidfds — see [`crate::process`]), and
//!    wait briefly for them to be gone;
//! 2. remove every registered scratch directory (each test's `TEST_DIR`
//!    and `SOCK_DIR`, the probes' `iotests-probe-*`), except those kept by
//!    `IOTESTS_KEEP_SCRATCH`;
//! 3. die of the same signal (its default action), so that whoever waits
//!    for the process sees what happened — also when a test that failed
//!    because its processes were killed makes the harness exit first: an
//!    `atexit` handler waits for the cleanup and dies of the signal.
//!
//! The signal handler itself only writes the signal number into a pipe
//! (async-signal-safe, no allocation); a thread of its own reads the pipe
//! and does the work. A signal that is ignored when the first test starts
//! (`nohup`, a shell's background job) stays ignored, and a handler someone
//! else installed (a program using the library) is left alone.
//!
//! The one signal that cannot be caught, SIGKILL, is covered elsewhere: the
//! children die with the process (their death signal), daemons are killed
//! by the reaper (see [`crate::process`]), and `iotests check` removes the
//! directories it handed to a test that died.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::process;

/// The signals that end the process in an orderly way.
pub const CLEANUP_SIGNALS: [i32; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

/// How long killed processes get to disappear before the directories go.
const KILL_WAIT: Duration = Duration::from_secs(2);

/// The write end of the signal pipe (`-1` before installation).
static PIPE_WR: AtomicI32 = AtomicI32::new(-1);

/// The signal being handled (0: none), set by the handler itself.
static PENDING: AtomicI32 = AtomicI32::new(0);

/// The cleanup for [`PENDING`] is done.
static DONE: AtomicBool = AtomicBool::new(false);

/// How long an `exit` during the cleanup waits for it.
const EXIT_WAIT: Duration = Duration::from_secs(10);

/// The scratch directories to remove on a signal.
static SCRATCH: Mutex<Vec<(u64, PathBuf)>> = Mutex::new(Vec::new());

fn scratch() -> MutexGuard<'static, Vec<(u64, PathBuf)>> {
    SCRATCH.lock().unwrap_or_else(|e| e.into_inner())
}

/// A scratch directory that a signal must not leave behind: registered
/// while this lives (drop it once the directory is gone, or kept).
#[derive(Debug)]
pub(crate) struct Registered {
    id: u64,
}

/// Register `path` for removal on SIGTERM, SIGINT or SIGHUP.
pub(crate) fn register_scratch(path: &Path) -> Registered {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    scratch().push((id, path.to_path_buf()));
    Registered { id }
}

impl Drop for Registered {
    fn drop(&mut self) {
        scratch().retain(|(id, _)| *id != self.id);
    }
}

/// A temporary directory (in `TMPDIR`) that is removed when dropped, and
/// also on SIGTERM, SIGINT or SIGHUP.
#[derive(Debug)]
pub(crate) struct ScratchDir {
    // Declared first: dropped (unregistered) after the directory is gone.
    dir: tempfile::TempDir,
    _registered: Registered,
}

impl ScratchDir {
    /// A new directory named `<prefix>XXXXXX` in `TMPDIR` (else `/tmp`).
    pub(crate) fn new(prefix: &str) -> Result<ScratchDir> {
        install_signal_cleanup();
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .map_err(|e| Error::io(format!("creating a {prefix}* directory"), e))?;
        let registered = register_scratch(dir.path());
        Ok(ScratchDir { dir, _registered: registered })
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    // SAFETY: only errno access and write(2), both async-signal-safe.
    unsafe {
        let errno = *libc::__errno_location();
        let _ = PENDING.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
        let fd = PIPE_WR.load(Ordering::Relaxed);
        if fd >= 0 {
            let byte = sig as u8;
            libc::write(fd, (&raw const byte).cast(), 1);
        }
        *libc::__errno_location() = errno;
    }
}

/// Clean up on SIGTERM, SIGINT and SIGHUP, as the [module](self) says.
/// Idempotent; the harness and [`TestContext::new`](crate::TestContext::new)
/// call it, so tests need not.
///
/// ```
/// iotests::cleanup::install_signal_cleanup();
/// iotests::cleanup::install_signal_cleanup(); // once is enough
/// ```
pub fn install_signal_cleanup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Err(e) = install() {
            eprintln!("iotests: no cleanup on signals: {e}");
        }
    });
}

fn install() -> std::io::Result<()> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills two descriptors on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh descriptors, owned here.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    std::thread::Builder::new().name("iotests-signals".into()).spawn(move || cleanup_thread(rd))?;
    // The write end lives as long as the process.
    PIPE_WR.store(wr.as_raw_fd(), Ordering::Relaxed);
    std::mem::forget(wr);
    // SAFETY: registering a function without preconditions.
    unsafe { libc::atexit(at_exit) };
    for sig in CLEANUP_SIGNALS {
        // SAFETY: sigaction with a zeroed struct to read the current action,
        // then an async-signal-safe handler.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 || old.sa_sigaction != libc::SIG_DFL {
                // Ignored on purpose, or someone else's: leave it.
                continue;
            }
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
    Ok(())
}

fn cleanup_thread(rd: OwnedFd) {
    loop {
        let mut pfd = libc::pollfd { fd: rd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd; then a one-byte read into a local.
        let sig = unsafe {
            if libc::poll(&mut pfd, 1, -1) <= 0 {
                continue;
            }
            let mut byte = 0u8;
            if libc::read(rd.as_raw_fd(), (&raw mut byte).cast(), 1) != 1 {
                continue;
            }
            libc::c_int::from(byte)
        };
        clean_up_and_die(sig);
    }
}

/// When the process exits while a signal is being handled — the killed
/// processes made the running test fail, and the harness exits with its
/// verdict — it waits for the cleanup and dies of the signal instead, so
/// that whoever waits for it sees what happened (not "exit status 101",
/// nor a pass).
extern "C" fn at_exit() {
    let sig = PENDING.load(Ordering::SeqCst);
    if sig == 0 {
        return;
    }
    let deadline = crate::deadline::Deadline::within(EXIT_WAIT);
    while !DONE.load(Ordering::SeqCst) && !deadline.expired() {
        std::thread::sleep(Duration::from_millis(10));
    }
    die_of(sig);
}

/// Die of `sig` (its default action); if it is blocked on every thread,
/// exit as a shell would report it.
fn die_of(sig: libc::c_int) -> ! {
    // SAFETY: restoring the default action and signalling ourselves.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
        std::thread::sleep(Duration::from_millis(200));
        libc::_exit(128 + sig)
    }
}

/// Kill, remove, and die of `sig`.
fn clean_up_and_die(sig: libc::c_int) -> ! {
    let killed = process::kill_everything(KILL_WAIT);
    let removed = remove_registered_scratch();
    let name = process::signal_name(sig);
    let mut said = format!("iotests: {name}: ");
    said.push_str(&if killed.is_empty() {
        "no process to kill".to_string()
    } else {
        format!("killed {}", killed.join(", "))
    });
    if removed > 0 {
        said.push_str(&format!("; removed {removed} scratch director{}", if removed == 1 { "y" } else { "ies" }));
    }
    eprintln!("{said}");
    DONE.store(true, Ordering::SeqCst);
    die_of(sig)
}

/// Remove every registered scratch directory; how many there were. A test
/// thread may still be writing into one (its processes are dead, it is
/// not): look again a few times.
fn remove_registered_scratch() -> usize {
    let dirs: Vec<PathBuf> = scratch().iter().map(|(_, p)| p.clone()).collect();
    for attempt in 0..4 {
        for d in &dirs {
            let _ = std::fs::remove_dir_all(d);
        }
        if dirs.iter().all(|d| !d.exists()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20 << attempt));
    }
    dirs.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_dirs_are_registered_while_they_live() {
        let d = ScratchDir::new("iotests-cleanup-test-").unwrap();
        let path = d.path().to_path_buf();
        assert!(path.is_dir());
        assert!(scratch().iter().any(|(_, p)| *p == path));
        drop(d);
        assert!(!path.exists());
        assert!(!scratch().iter().any(|(_, p)| *p == path));
    }
}
