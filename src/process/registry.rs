//! Which processes each test owns, held by pidfd, and what became of them.
//!
//! A test's [`ProcessRegistry`] lists its children and the daemons they
//! left (`qemu-nbd --fork`), each by a [`PidFd`], so that killing them all
//! — at a timeout, at the end of the test, on SIGTERM — can never hit a
//! process that merely inherited a PID. Every tracked process is also in a
//! process-wide list, which the signal cleanup ([`crate::cleanup`]) kills
//! without knowing about tests.
//!
//! The registry also remembers deaths the test did not cause (a child
//! killed by a signal it did not send, a daemon that vanished), so that a
//! failure can say which process died, not only what broke next.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use nix::sys::signal::Signal;

use super::pidfd::PidFd;
use super::returncode;

/// One process, as the registry and its owner share it.
#[derive(Debug)]
pub(crate) struct Tracked {
    id: u64,
    pub(crate) pidfd: PidFd,
    pub(crate) name: String,
    pub(crate) cmdline: String,
    /// A daemon (not our child): no exit status, reaped by someone else.
    daemon: bool,
    /// The last signal the toolkit sent it (0: none), so that its death by
    /// that signal is not reported as a surprise.
    sent: AtomicI32,
    /// Its death has been recorded (once is enough).
    reported: AtomicBool,
    /// A server the test is using (a VM, a storage daemon, an NBD server):
    /// should it exit by itself, whatever its status, that is news.
    serving: AtomicBool,
}

impl Tracked {
    pub(crate) fn new(pidfd: PidFd, name: &str, cmdline: String, daemon: bool) -> Arc<Tracked> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Arc::new(Tracked {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            pidfd,
            name: name.to_string(),
            cmdline,
            daemon,
            sent: AtomicI32::new(0),
            reported: AtomicBool::new(false),
            serving: AtomicBool::new(false),
        })
    }

    pub(crate) fn pid(&self) -> i32 {
        self.pidfd.pid()
    }

    /// Send `sig`, remembering that we did. `Ok(false)`: already gone —
    /// ended before (so that its death by another hand is still reported
    /// as such), or reaped.
    pub(crate) fn signal(&self, sig: Signal) -> std::io::Result<bool> {
        if self.pidfd.exited() {
            return Ok(false);
        }
        self.sent.store(sig as i32, Ordering::SeqCst);
        self.pidfd.send_signal(sig)
    }

    /// Mark it as a server the test is using (or no longer: it was asked
    /// to exit).
    pub(crate) fn set_serving(&self, serving: bool) {
        self.serving.store(serving, Ordering::SeqCst);
    }

    /// `name (pid N)`.
    pub(crate) fn label(&self) -> String {
        format!("{} (pid {})", self.name, self.pid())
    }

    /// How a death with `status` (a child's) reads, if it is news: a signal
    /// the toolkit did not send, or a server's exit nobody asked for (QEMU
    /// handles SIGTERM and SIGINT itself and exits with status 0).
    fn death_note(&self, status: Option<std::process::ExitStatus>) -> Option<String> {
        let sent = self.sent.load(Ordering::SeqCst);
        let serving = self.serving.load(Ordering::SeqCst);
        let what = match status.map(returncode) {
            Some(rc) if rc < 0 && -rc != sent => format!("was killed by signal {} ({})", -rc, signal_name(-rc)),
            Some(rc) if rc >= 0 && serving && sent == 0 => {
                format!("exited with code {rc} while the test was still using it")
            }
            Some(_) => return None,
            None if self.daemon && sent == 0 => "(a forked daemon) ended without the test stopping it".to_string(),
            None => return None,
        };
        Some(format!("{} {what}: {}", self.label(), self.cmdline))
    }
}

/// `SIGKILL`, `SIGTERM`, … for a signal number.
pub(crate) fn signal_name(sig: i32) -> String {
    Signal::try_from(sig).map(|s| s.as_str().to_string()).unwrap_or_else(|_| format!("signal {sig}"))
}

/// Every tracked process of this process, for the signal cleanup.
static ALL: Mutex<Vec<Arc<Tracked>>> = Mutex::new(Vec::new());

fn all() -> MutexGuard<'static, Vec<Arc<Tracked>>> {
    ALL.lock().unwrap_or_else(|e| e.into_inner())
}

/// SIGKILL every process any test of this process still tracks and wait
/// (up to `wait`) for them to end; their labels. For the signal cleanup.
pub(crate) fn kill_everything(wait: Duration) -> Vec<String> {
    let victims: Vec<Arc<Tracked>> = all().clone();
    let mut killed = Vec::new();
    for t in &victims {
        if matches!(t.signal(Signal::SIGKILL), Ok(true)) {
            killed.push(t.label());
        }
    }
    let deadline = crate::deadline::Deadline::within(wait);
    for t in &victims {
        t.pidfd.wait_exit(deadline.remaining());
    }
    killed
}

/// The processes of one test, so that they can all be killed at once.
///
/// ```
/// let reg = iotests::process::ProcessRegistry::default();
/// assert!(reg.pids().is_empty());
/// assert!(reg.deaths().is_empty());
/// ```
#[derive(Debug, Default)]
pub struct ProcessRegistry {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    entries: Vec<Arc<Tracked>>,
    deaths: Vec<String>,
    /// Stop flags of servers that run on threads of the test (the NBD
    /// fault injector): set by [`ProcessRegistry::kill_all`] as processes
    /// are killed.
    stoppers: Vec<Weak<AtomicBool>>,
}

impl ProcessRegistry {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record a process (a child, or a daemon that a child forked).
    pub(crate) fn register(&self, t: &Arc<Tracked>) {
        self.lock().entries.push(Arc::clone(t));
        all().push(Arc::clone(t));
    }

    /// Record the stop flag of a server that runs on a thread of the test
    /// instead of in a process of its own: [`kill_all`](Self::kill_all)
    /// (a timeout, the end of the test) sets it.
    pub(crate) fn register_stopper(&self, flag: &Arc<AtomicBool>) {
        let mut st = self.lock();
        st.stoppers.retain(|w| w.strong_count() > 0);
        st.stoppers.push(Arc::downgrade(flag));
    }

    /// Forget a process that has been reaped; `status` is how it ended.
    pub(crate) fn unregister(&self, t: &Tracked, status: Option<std::process::ExitStatus>) {
        let note = (!t.reported.swap(true, Ordering::SeqCst)).then(|| t.death_note(status)).flatten();
        let mut st = self.lock();
        st.entries.retain(|e| e.id != t.id);
        if let Some(note) = note {
            st.deaths.push(note);
        }
        drop(st);
        all().retain(|e| e.id != t.id);
    }

    /// Forget daemons that have ended (our children are forgotten by their
    /// owners, when reaped).
    fn prune(&self) {
        let gone: Vec<Arc<Tracked>> =
            self.lock().entries.iter().filter(|e| e.daemon && e.pidfd.exited()).cloned().collect();
        for t in gone {
            self.unregister(&t, None);
        }
    }

    /// The processes recorded that are still there, with their names.
    pub fn pids(&self) -> Vec<(i32, String)> {
        self.prune();
        self.lock().entries.iter().map(|e| (e.pid(), e.name.clone())).collect()
    }

    /// SIGKILL every recorded process that still exists, through its pidfd:
    /// a process that has ended (and whose PID another process may have
    /// by now) gets nothing. Children are reaped by their
    /// [`Child`](super::Child) owners; daemons by their parent (init).
    pub fn kill_all(&self) {
        let (entries, stoppers) = {
            let st = self.lock();
            (st.entries.clone(), st.stoppers.clone())
        };
        for t in &entries {
            let _ = t.signal(Signal::SIGKILL);
        }
        for flag in stoppers.iter().filter_map(Weak::upgrade) {
            flag.store(true, Ordering::SeqCst);
        }
        self.prune();
    }

    /// The processes that died in a way the test did not ask for — killed
    /// by a signal it did not send, or a daemon gone on its own — each as
    /// `name (pid N) was killed by signal 9 (SIGKILL): <command line>`; also
    /// those that have died but are not reaped yet.
    pub fn deaths(&self) -> Vec<String> {
        self.prune();
        let st = self.lock();
        let mut deaths = st.deaths.clone();
        for t in st.entries.iter().filter(|e| !e.daemon) {
            if let Some(note) = t.pidfd.peek_status().and_then(|s| t.death_note(Some(s))) {
                deaths.push(note);
            }
        }
        deaths
    }
}

impl Drop for ProcessRegistry {
    /// Only daemons can be left (a [`Child`](super::Child) keeps its
    /// registry alive): nothing outlives the registry that owns it.
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        for t in &st.entries {
            let _ = t.signal(Signal::SIGKILL);
        }
        for flag in st.stoppers.iter().filter_map(Weak::upgrade) {
            flag.store(true, Ordering::SeqCst);
        }
        let ids: Vec<u64> = st.entries.iter().map(|e| e.id).collect();
        all().retain(|e| !ids.contains(&e.id));
    }
}
