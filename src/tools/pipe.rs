//! Where a tool's output goes.
//!
//! iotests.py starts tools in three ways: with their output captured
//! (`stdout=PIPE`), thrown away (`/dev/null`), or *inherited* — the tool
//! writes straight into the test's stdout, which `check` compares with the
//! reference output. Inherited output is what a [`LogPipe`] reproduces: a
//! pipe whose read end a background thread copies into the test's [`Log`]
//! as the bytes arrive, so the tool's text interleaves with what the test
//! logs, in order.
//!
//! Order is kept with [`LogPipe::sync`]: after a tool has exited (or before
//! the test logs its next line about a running server), `sync` copies
//! whatever the pipe still holds, under the same lock the thread uses, so
//! everything the tool wrote before the call is in the log when it returns.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, poll};

use crate::deadline::Deadline;
use crate::error::{Error, Result};
use crate::log::Log;
pub(crate) use crate::process::{Capture, PIPE_DRAIN};
use crate::process::{Child, ProcessRegistry, cmdline, pipe_err, spawn, wait_tool};

/// How long the copying thread sleeps in `poll` before it looks at its stop
/// flag again.
const POLL_SLICE_MS: u16 = 100;

/// How much of a tool's output a [`LogPipe`] remembers for error messages.
const TAIL_LIMIT: usize = 64 * 1024;

struct Shared {
    file: File,
    state: Mutex<State>,
    stop: AtomicBool,
    log: Log,
}

#[derive(Default)]
struct State {
    /// Bytes of an incomplete UTF-8 sequence, waiting for the rest.
    pending: Vec<u8>,
    eof: bool,
    /// The last [`TAIL_LIMIT`] bytes written to the log, for error messages.
    tail: String,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Copy everything the pipe holds right now into the log. Returns true
    /// at EOF.
    fn drain(&self, st: &mut State) -> bool {
        let mut buf = [0u8; 8192];
        while !st.eof {
            match (&self.file).read(&mut buf) {
                Ok(0) => {
                    st.eof = true;
                    self.emit(st, true);
                }
                Ok(n) => {
                    st.pending.extend_from_slice(&buf[..n]);
                    self.emit(st, false);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                // Any other read error ends the stream like EOF would.
                Err(_) => {
                    st.eof = true;
                    self.emit(st, true);
                }
            }
        }
        true
    }

    /// Write the complete UTF-8 text of `pending` to the log (everything,
    /// lossily, when `last`).
    fn emit(&self, st: &mut State, last: bool) {
        let text = match std::str::from_utf8(&st.pending) {
            Ok(s) => s.to_string(),
            Err(e) if e.error_len().is_none() && !last => {
                let valid = e.valid_up_to();
                let s = String::from_utf8_lossy(&st.pending[..valid]).into_owned();
                st.pending.drain(..valid);
                self.log.write(&s);
                push_tail(&mut st.tail, &s);
                return;
            }
            Err(_) => String::from_utf8_lossy(&st.pending).into_owned(),
        };
        st.pending.clear();
        self.log.write(&text);
        push_tail(&mut st.tail, &text);
    }
}

fn push_tail(tail: &mut String, text: &str) {
    tail.push_str(text);
    if tail.len() > TAIL_LIMIT {
        let mut cut = tail.len() - TAIL_LIMIT;
        while !tail.is_char_boundary(cut) {
            cut += 1;
        }
        tail.drain(..cut);
    }
}

/// A pipe whose contents are copied into a test's log as they arrive: the
/// stand-in for a child's inherited stdout / stderr.
pub(crate) struct LogPipe {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl LogPipe {
    /// A new pipe copying into `log`; the returned write end goes to the
    /// child (as stdout, stderr or both).
    pub(crate) fn new(log: &Log, tool: &str) -> Result<(LogPipe, OwnedFd)> {
        let (reader, writer) = std::io::pipe().map_err(pipe_err(tool))?;
        let fd = OwnedFd::from(reader);
        fcntl(&fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
            .map_err(|e| Error::io(format!("setting up the output pipe of {tool}"), e.into()))?;
        let shared = Arc::new(Shared {
            file: File::from(fd),
            state: Mutex::new(State::default()),
            stop: AtomicBool::new(false),
            log: log.clone(),
        });
        let bg = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("{tool}-output"))
            .spawn(move || copy_loop(&bg))
            .map_err(|e| Error::io(format!("starting the output thread of {tool}"), e))?;
        Ok((LogPipe { shared, thread: Some(thread) }, OwnedFd::from(writer)))
    }

    /// Copy everything written to the pipe so far into the log.
    pub(crate) fn sync(&self) {
        let mut st = self.shared.lock();
        self.shared.drain(&mut st);
    }

    /// The last 64 KiB of what was copied, for error messages.
    pub(crate) fn tail(&self) -> String {
        self.shared.lock().tail.clone()
    }

    /// Wait up to `timeout` for EOF (every writer gone), copying as it
    /// comes; then stop the thread.
    pub(crate) fn finish(mut self, timeout: Duration) {
        let deadline = Deadline::within(timeout);
        while !self.sync_eof() && !deadline.expired() {
            deadline.sleep(Duration::from_millis(5));
        }
        self.stop();
    }

    fn sync_eof(&self) -> bool {
        let mut st = self.shared.lock();
        self.shared.drain(&mut st)
    }

    /// Leave the thread running until EOF: the output of a daemon that
    /// outlives its parent keeps landing in the log, as inherited output
    /// does. The thread ends when the last writer (the daemon) is gone.
    pub(crate) fn detach(mut self) {
        self.sync();
        self.thread = None;
    }

    fn stop(&mut self) {
        self.sync();
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            // Exits within one poll slice.
            let _ = t.join();
        }
    }
}

impl Drop for LogPipe {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop();
        }
    }
}

fn copy_loop(shared: &Shared) {
    while !shared.stop.load(Ordering::Relaxed) {
        let mut fds = [PollFd::new(shared.file.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, POLL_SLICE_MS) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        }
        let mut st = shared.lock();
        if shared.drain(&mut st) {
            return;
        }
    }
}

/// Where a child's stdout goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Out {
    /// `/dev/null`.
    Null,
    /// Inherited: into the test's log.
    Log,
    /// `stdout=PIPE`: captured and returned.
    Capture,
}

/// Where a child's stderr goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrTo {
    /// Inherited: into the test's log.
    Log,
    /// `stderr=STDOUT`: wherever stdout goes.
    Stdout,
}

/// A started child with its output plumbing.
pub(crate) struct Spawned {
    pub(crate) child: Child,
    pub(crate) capture: Option<Capture>,
    pub(crate) log_pipe: Option<LogPipe>,
    pub(crate) cmdline: String,
}

/// Start `argv` with stdin from `/dev/null` (or `stdin`) and the given
/// output plumbing.
pub(crate) fn spawn_with(
    log: &Log,
    registry: &Arc<ProcessRegistry>,
    tool: &str,
    argv: &[String],
    stdin: Option<Stdio>,
    out: Out,
    err: ErrTo,
) -> Result<Spawned> {
    let Some((prog, args)) = argv.split_first() else {
        return Err(Error::Usage(format!("{tool}: empty command line")));
    };
    let mut cmd = Command::new(prog);
    cmd.args(args).stdin(stdin.unwrap_or_else(Stdio::null));
    let mut capture = None;
    let mut log_pipe = None;
    let log_fd = |log_pipe: &mut Option<LogPipe>| -> Result<OwnedFd> {
        let (p, fd) = LogPipe::new(log, tool)?;
        *log_pipe = Some(p);
        Ok(fd)
    };
    let dup = |fd: &OwnedFd| fd.try_clone().map_err(pipe_err(tool));
    let stdout_fd: Option<OwnedFd> = match out {
        Out::Null => None,
        Out::Log => Some(log_fd(&mut log_pipe)?),
        Out::Capture => {
            let (c, fd) = Capture::new(tool)?;
            capture = Some(c);
            Some(fd)
        }
    };
    let stderr: Stdio = match (err, &stdout_fd) {
        (ErrTo::Stdout, None) => Stdio::null(),
        (ErrTo::Stdout, Some(fd)) => dup(fd)?.into(),
        (ErrTo::Log, _) => match (&log_pipe, &stdout_fd) {
            (Some(_), Some(fd)) => dup(fd)?.into(),
            _ => log_fd(&mut log_pipe)?.into(),
        },
    };
    cmd.stderr(stderr);
    cmd.stdout(match stdout_fd {
        Some(fd) => Stdio::from(fd),
        None => Stdio::null(),
    });
    // `spawn` consumes `cmd` and with it our copies of the write ends, so
    // the readers see EOF once the child (and anything it forked) is gone.
    let child = spawn(tool, cmd, registry)?;
    Ok(Spawned { child, capture, log_pipe, cmdline: cmdline(argv) })
}

/// Run a tool to completion with the given plumbing; returns its
/// returncode and captured stdout. A tool killed by a signal is reported on
/// stderr as iotests reports it.
pub(crate) fn run_plumbed(
    log: &Log,
    registry: &Arc<ProcessRegistry>,
    tool: &str,
    argv: &[String],
    out: Out,
    err: ErrTo,
    timeout: Duration,
) -> Result<(i32, String)> {
    let mut sp = spawn_with(log, registry, tool, argv, None, out, err)?;
    let so_far = || {
        let shown = sp.log_pipe.as_ref().map(LogPipe::tail).unwrap_or_default();
        let captured = sp.capture.as_ref().map(Capture::snapshot).unwrap_or_default();
        format!("{shown}{captured}")
    };
    let rc = wait_tool(&mut sp.child, tool, &sp.cmdline, timeout, so_far)?;
    if let Some(p) = sp.log_pipe.take() {
        p.detach();
    }
    let stdout = sp.capture.as_ref().map(|c| c.finish(PIPE_DRAIN)).unwrap_or_default();
    Ok((rc, stdout))
}
