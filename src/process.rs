//! Child processes that never outlive their test.
//!
//! Every process the toolkit starts goes through [`spawn`]: it gets
//! `PR_SET_PDEATHSIG(SIGKILL)` so that it dies with the test process even
//! when that is SIGKILLed, and it is recorded in its test's
//! [`ProcessRegistry`] so that a test that times out or panics can have all
//! its processes killed (which also unblocks whatever was waiting on them).
//! A [`Child`] kills and reaps its process when dropped.
//!
//! Arguments never go through a shell.

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use crate::error::{Error, Result};

/// How long a tool may run before it is killed, unless the caller says
/// otherwise. Generous: the per-test timeout is the real bound.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(300);

/// The processes of one test, so that they can all be killed at once.
///
/// ```
/// let reg = iotests::process::ProcessRegistry::default();
/// assert!(reg.pids().is_empty());
/// ```
#[derive(Debug, Default)]
pub struct ProcessRegistry {
    pids: Mutex<Vec<(i32, String)>>,
}

impl ProcessRegistry {
    /// Record a process (a child, or a daemon that a child forked).
    pub fn register(&self, pid: i32, name: &str) {
        self.lock().push((pid, name.to_string()));
    }

    /// Forget a process that has been reaped.
    pub fn unregister(&self, pid: i32) {
        self.lock().retain(|(p, _)| *p != pid);
    }

    /// The processes recorded and not yet reaped, with their names.
    pub fn pids(&self) -> Vec<(i32, String)> {
        self.lock().clone()
    }

    /// SIGKILL every recorded process that still exists. Children are reaped
    /// by their [`Child`] owners; daemons (reparented to init) are reaped by
    /// init.
    pub fn kill_all(&self) {
        for (pid, _) in self.pids() {
            let _ = signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(i32, String)>> {
        self.pids.lock().unwrap_or_else(|e| e.into_inner())
    }
}

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
pub fn cmdline(argv: &[String]) -> String {
    argv.join(" ")
}

/// Prepare `cmd` so the child dies with us: `PR_SET_PDEATHSIG(SIGKILL)`,
/// and, if we died between fork and `prctl`, the child exits at once.
///
/// The death signal fires when the *thread* that forked the child exits, not
/// only the process; tests own their children for their thread's lifetime,
/// which is exactly the scope we want. The `iotests` command uses it for its
/// test processes too.
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
    name: String,
    registry: Arc<ProcessRegistry>,
    status: Option<ExitStatus>,
}

/// Start `cmd` as a child of this test: death signal set, recorded in
/// `registry`. `name` is used in messages (`qemu-img`, `qemu`, …).
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
    let inner = cmd.spawn().map_err(|source| Error::Spawn { program, source })?;
    registry.register(inner.id() as i32, name);
    Ok(Child { inner, name: name.to_string(), registry: Arc::clone(registry), status: None })
}

impl Child {
    /// The process ID.
    pub fn pid(&self) -> i32 {
        self.inner.id() as i32
    }

    /// The name given at spawn.
    pub fn name(&self) -> &str {
        &self.name
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
            Err(e) => Err(Error::io(format!("waiting for {} (pid {})", self.name, self.pid()), e)),
        }
    }

    fn reaped(&mut self, st: ExitStatus) -> ExitStatus {
        self.status = Some(st);
        self.registry.unregister(self.pid());
        st
    }

    /// Wait up to `timeout` for the process to end; `None` if it is still
    /// running then.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_micros(200);
        loop {
            if let Some(st) = self.try_wait()? {
                return Ok(Some(st));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            std::thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// Send a signal (if the process has not been reaped yet).
    pub fn signal(&self, sig: Signal) -> Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        match signal::kill(Pid::from_raw(self.pid()), sig) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
            Err(e) => Err(Error::io(format!("sending {sig} to {} (pid {})", self.name, self.pid()), e.into())),
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
            what: format!("{} (pid {}) did not die after SIGKILL", self.name, self.pid()),
            log: String::new(),
        })
    }

    /// The status, once reaped.
    pub fn status(&self) -> Option<ExitStatus> {
        self.status
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// How [`run`] runs a tool.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// stderr into the same pipe as stdout (Python's `stderr=STDOUT`);
    /// otherwise it is captured separately.
    pub combine_stdio: bool,
    /// Text for standard input (else stdin is `/dev/null`).
    pub stdin: Option<String>,
    /// Kill the tool after this long.
    pub timeout: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { combine_stdio: true, stdin: None, timeout: DEFAULT_TOOL_TIMEOUT }
    }
}

/// What a finished tool left behind, like Python's `CompletedProcess`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The command line that ran.
    pub args: Vec<String>,
    /// Exit code, or `-N` when killed by signal `N`.
    pub returncode: i32,
    /// Standard output (with stderr when combined), lossily decoded.
    pub stdout: String,
    /// Standard error when not combined.
    pub stderr: String,
}

/// Run a tool to completion and collect its output — iotests'
/// `qemu_tool_pipe_and_status`. A tool killed by a signal is reported on
/// stderr as iotests reports it (`<tool> received signal N: <cmdline>`).
/// Running over `opts.timeout` kills it and returns [`Error::Timeout`] with
/// what it printed so far.
///
/// ```
/// use std::sync::Arc;
/// use iotests::process::{run, ProcessRegistry, RunOptions};
/// let reg = Arc::new(ProcessRegistry::default());
/// let argv = ["sh", "-c", "echo out; echo err >&2; exit 3"].map(String::from);
/// let out = run("sh", &argv, &RunOptions::default(), &reg).unwrap();
/// assert_eq!((out.returncode, out.stdout.as_str()), (3, "out\nerr\n"));
/// ```
pub fn run(tool: &str, argv: &[String], opts: &RunOptions, registry: &Arc<ProcessRegistry>) -> Result<Output> {
    let Some((prog, args)) = argv.split_first() else {
        return Err(Error::Usage(format!("{tool}: empty command line")));
    };
    let mut cmd = Command::new(prog);
    cmd.args(args).stdin(if opts.stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let pipe_err = |e| Error::io(format!("creating a pipe for {tool}"), e);
    let (out_reader, out_writer) = std::io::pipe().map_err(pipe_err)?;
    let err_pipe = if opts.combine_stdio {
        cmd.stderr(out_writer.try_clone().map_err(pipe_err)?);
        None
    } else {
        let (r, w) = std::io::pipe().map_err(pipe_err)?;
        cmd.stderr(w);
        Some(r)
    };
    cmd.stdout(out_writer);
    // `spawn` consumes `cmd`, dropping our copies of the pipe write ends, so
    // the readers see EOF when the child (and any fork of it) exits.
    let mut child = spawn(tool, cmd, registry)?;
    let cmd_text = cmdline(argv);

    let stdout_pipe = PipeText::read(out_reader);
    let stderr_pipe = err_pipe.map(PipeText::read);
    if let (Some(text), Some(mut stdin)) = (&opts.stdin, child.std().stdin.take()) {
        use std::io::Write;
        // A tool that exits without reading its input is not an error here.
        let _ = stdin.write_all(text.as_bytes());
    }
    let Some(status) = child.wait_timeout(opts.timeout)? else {
        let _ = child.kill();
        return Err(Error::Timeout {
            what: format!("{tool} did not finish within {:?}: {cmd_text}", opts.timeout),
            log: stdout_pipe.finish(PIPE_DRAIN),
        });
    };
    let stdout = stdout_pipe.finish(PIPE_DRAIN);
    let stderr = stderr_pipe.map(|p| p.finish(PIPE_DRAIN)).unwrap_or_default();
    let rc = returncode(status);
    if rc < 0 {
        eprintln!("{tool} received signal {}: {cmd_text}", -rc);
    }
    Ok(Output { args: argv.to_vec(), returncode: rc, stdout, stderr })
}

/// How long to wait for a pipe's EOF after the tool exited. A daemon forked
/// by the tool (`qemu-nbd --fork`) may keep the pipe open; we take what
/// arrived by then rather than wait for the daemon.
const PIPE_DRAIN: Duration = Duration::from_secs(2);

/// Text read from a pipe by a background thread.
struct PipeText {
    buf: Arc<Mutex<Vec<u8>>>,
    done: std::sync::mpsc::Receiver<()>,
}

impl PipeText {
    fn read(mut r: std::io::PipeReader) -> PipeText {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let (tx, done) = std::sync::mpsc::channel();
        let sink = Arc::clone(&buf);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            while let Ok(n @ 1..) = r.read(&mut chunk) {
                sink.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(&chunk[..n]);
            }
            let _ = tx.send(());
        });
        PipeText { buf, done }
    }

    /// Everything read once EOF is seen, or after `drain` at most.
    fn finish(self, drain: Duration) -> String {
        let _ = self.done.recv_timeout(drain);
        let buf = self.buf.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&buf).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn separate_stdio() {
        let reg = Arc::new(ProcessRegistry::default());
        let opts = RunOptions { combine_stdio: false, ..Default::default() };
        let out = run("sh", &argv(&["sh", "-c", "echo a; echo b >&2"]), &opts, &reg).unwrap();
        assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("a\n", "b\n"));
    }

    #[test]
    fn stdin_is_fed() {
        let reg = Arc::new(ProcessRegistry::default());
        let opts = RunOptions { stdin: Some("hello\n".into()), ..Default::default() };
        let out = run("cat", &argv(&["cat"]), &opts, &reg).unwrap();
        assert_eq!(out.stdout, "hello\n");
    }

    #[test]
    fn signal_is_negative_returncode() {
        let reg = Arc::new(ProcessRegistry::default());
        let out = run("sh", &argv(&["sh", "-c", "kill -SEGV $$"]), &RunOptions::default(), &reg).unwrap();
        assert_eq!(out.returncode, -11);
    }

    #[test]
    fn timeout_kills_and_reports() {
        let reg = Arc::new(ProcessRegistry::default());
        let opts = RunOptions { timeout: Duration::from_millis(200), ..Default::default() };
        let start = Instant::now();
        let err = run("sh", &argv(&["sh", "-c", "echo started; exec sleep 30"]), &opts, &reg).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(5));
        match err {
            Error::Timeout { what, log } => {
                assert!(what.contains("sleep 30"), "{what}");
                assert_eq!(log, "started\n");
            }
            e => panic!("unexpected {e}"),
        }
        assert!(reg.pids().is_empty());
    }

    #[test]
    fn missing_program_is_spawn_error() {
        let reg = Arc::new(ProcessRegistry::default());
        let err = run("x", &argv(&["/no/such/binary"]), &RunOptions::default(), &reg).unwrap_err();
        assert!(matches!(err, Error::Spawn { .. }), "{err}");
    }

    #[test]
    fn registry_kill_all_stops_children() {
        let reg = Arc::new(ProcessRegistry::default());
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let mut child = spawn("sleep", cmd, &reg).unwrap();
        assert_eq!(reg.pids().len(), 1);
        reg.kill_all();
        let st = child.wait_timeout(Duration::from_secs(5)).unwrap().unwrap();
        assert_eq!(returncode(st), -9);
        assert!(reg.pids().is_empty());
    }
}
