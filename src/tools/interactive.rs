//! iotests' `QemuIoInteractive`: one qemu-io process driven command by
//! command through its `qemu-io> ` prompt.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::process::{ChildStdin, Stdio};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, poll};

use crate::context::TestContext;
use crate::deadline::Deadline;
use crate::error::{Error, Result};
use crate::process::{Child, cmdline, returncode, spawn};

const PROMPT: &[u8] = b"qemu-io> ";

/// The default limit for one command (and for start-up).
pub const DEFAULT_CMD_TIMEOUT: Duration = Duration::from_secs(60);

/// An interactive qemu-io (stdin and stdout piped, stderr with stdout).
///
/// Reads never hang: each waits at most [`timeout`](Self::set_timeout)
/// (60 s by default); a timeout kills qemu-io, since its state is then
/// unknown. If qemu-io dies mid-command the command fails with what it
/// printed. Dropping it kills qemu-io; [`close`](Self::close) quits it
/// politely.
///
/// ```no_run
/// # fn main() -> iotests::Result<()> {
/// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("qcow2"))?;
/// # let img = t.file_path("test.img");
/// let mut qio = t.qemu_io_interactive(&[&img])?;       // QemuIoInteractive(img)
/// let out = qio.cmd("write -P 0x11 0 4k")?;
/// t.log_with(out, &[iotests::Filter::QemuIo]);
/// qio.close()?;
/// # Ok(()) }
/// ```
pub struct QemuIoInteractive {
    args: Vec<String>,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: File,
    /// Bytes read past the last prompt.
    buf: VecDeque<u8>,
    timeout: Duration,
}

impl std::fmt::Debug for QemuIoInteractive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QemuIoInteractive").field("pid", &self.child.pid()).field("args", &self.args).finish()
    }
}

/// How a read up to the prompt ended.
enum ReadEnd {
    Prompt(String),
    Eof(String),
    Timeout(String),
}

impl TestContext {
    /// iotests' `QemuIoInteractive(*args)`: start qemu-io on `args` (wrapped
    /// like [`qemu_io_wrap_args`](super::qemu_io_wrap_args)) and wait for
    /// its first prompt. If something else comes first (qemu-io failed to
    /// open the image), the error carries all it printed.
    pub fn qemu_io_interactive<S: AsRef<str>>(&self, args: &[S]) -> Result<QemuIoInteractive> {
        QemuIoInteractive::start(self, args, DEFAULT_CMD_TIMEOUT)
    }
}

impl QemuIoInteractive {
    /// Start qemu-io, allowing `timeout` for its first prompt and, later,
    /// for each command (see [`set_timeout`](Self::set_timeout)).
    pub(crate) fn start<S: AsRef<str>>(t: &TestContext, args: &[S], timeout: Duration) -> Result<QemuIoInteractive> {
        let args = t.qemu_io_wrap_args(args)?;
        let (prog, rest) = args.split_first().ok_or_else(|| Error::Usage("qemu-io: empty command line".into()))?;
        let (reader, writer) = std::io::pipe().map_err(|e| Error::io("creating a pipe for qemu-io", e))?;
        let writer = OwnedFd::from(writer);
        let err_writer = writer.try_clone().map_err(|e| Error::io("creating a pipe for qemu-io", e))?;
        let mut cmd = std::process::Command::new(prog);
        cmd.args(rest).stdin(Stdio::piped()).stdout(Stdio::from(writer)).stderr(Stdio::from(err_writer));
        let mut child = spawn("qemu-io", cmd, t.processes())?;
        let stdin = child.std().stdin.take();
        let mut qio = QemuIoInteractive {
            args,
            child,
            stdin,
            stdout: File::from(OwnedFd::from(reader)),
            buf: VecDeque::new(),
            timeout,
        };
        let deadline = Deadline::within(timeout);
        let first = qio.read_exact_until(PROMPT.len(), &deadline);
        if first.as_slice() != PROMPT {
            // Most probably qemu-io failed to start: collect everything.
            let mut out = first;
            let rest = match qio.read_to(None, &deadline) {
                ReadEnd::Prompt(s) | ReadEnd::Eof(s) | ReadEnd::Timeout(s) => s,
            };
            out.extend_from_slice(rest.as_bytes());
            return Err(qio.failed(String::from_utf8_lossy(&out).into_owned()));
        }
        Ok(qio)
    }

    /// The command line.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// The process ID.
    pub fn pid(&self) -> i32 {
        self.child.pid()
    }

    /// Change the limit for each following command.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// `QemuIoInteractive.cmd(cmd)`: run one command and return its output
    /// (everything up to the next prompt). `cmd` must be one line and not
    /// `q` / `quit` (use [`close`](Self::close)).
    pub fn cmd(&mut self, cmd: &str) -> Result<String> {
        if cmd.contains('\n') {
            return Err(Error::Usage(format!("QemuIoInteractive.cmd: newline in command {cmd:?}")));
        }
        let cmd = cmd.trim();
        if cmd == "q" || cmd == "quit" {
            return Err(Error::Usage("QemuIoInteractive.cmd: use close() to quit".into()));
        }
        let deadline = Deadline::within(self.timeout);
        // A failed write means qemu-io is gone; the read reports it with its
        // output.
        if let Some(stdin) = &mut self.stdin {
            let _ = stdin.write_all(format!("{cmd}\n").as_bytes()).and_then(|()| stdin.flush());
        }
        match self.read_to(Some(PROMPT), &deadline) {
            ReadEnd::Prompt(out) => Ok(out),
            ReadEnd::Eof(out) => Err(self.failed(out)),
            ReadEnd::Timeout(out) => {
                let _ = self.child.kill();
                Err(Error::Timeout {
                    what: format!("qemu-io did not answer {cmd:?} within {:?}: {}", self.timeout, cmdline(&self.args)),
                    log: out,
                })
            }
        }
    }

    /// `QemuIoInteractive.close()`: send `q`, wait for qemu-io to exit (at
    /// most the command timeout, then it is killed) and return its exit
    /// status.
    pub fn close(mut self) -> Result<i32> {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"q\n");
        }
        let deadline = Deadline::within(self.timeout);
        let _ = self.read_to(None, &deadline);
        match self.child.wait_timeout(deadline.remaining())? {
            Some(st) => Ok(returncode(st)),
            None => {
                let _ = self.child.kill();
                Err(Error::Timeout {
                    what: format!("qemu-io did not quit within {:?}: {}", self.timeout, cmdline(&self.args)),
                    log: String::new(),
                })
            }
        }
    }

    /// The error for a qemu-io that stopped talking: its status once it
    /// has exited (killed if it does not within a second).
    fn failed(&mut self, output: String) -> Error {
        let status = match self.child.wait_timeout(Duration::from_secs(1)) {
            Ok(Some(st)) => returncode(st),
            _ => self.child.kill().map(returncode).unwrap_or(-9),
        };
        Error::ToolFailed {
            tool: "qemu-io".into(),
            cmdline: cmdline(&self.args),
            status,
            signal: (status < 0).then_some(-status),
            output,
        }
    }

    /// Fill `buf` with more bytes, waiting until `deadline`. `Ok(false)` at
    /// EOF, `Err(())` on timeout.
    fn fill(&mut self, deadline: &Deadline) -> std::result::Result<bool, ()> {
        loop {
            let left = deadline.remaining();
            if left.is_zero() {
                return Err(());
            }
            let ms = u16::try_from(left.as_millis().clamp(1, 1000)).unwrap_or(1000);
            let mut fds = [PollFd::new(self.stdout.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, ms) {
                Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
                Ok(_) => {}
                Err(_) => return Ok(false),
            }
            let mut chunk = [0u8; 4096];
            match self.stdout.read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.buf.extend(&chunk[..n]);
                    return Ok(true);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Ok(false),
            }
        }
    }

    /// Python's `stdout.read(n)`: `n` bytes, fewer at EOF or timeout.
    fn read_exact_until(&mut self, n: usize, deadline: &Deadline) -> Vec<u8> {
        while self.buf.len() < n {
            if !matches!(self.fill(deadline), Ok(true)) {
                break;
            }
        }
        let n = n.min(self.buf.len());
        self.buf.drain(..n).collect()
    }

    /// Read up to and including `pattern`, returning what came before it
    /// (`None`: read to EOF).
    ///
    /// The matching is `_read_output`'s, character by character with no
    /// backtracking: a mismatch restarts the pattern at the *next*
    /// character, so `qqemu-io> ` is not taken as a prompt — exactly as in
    /// Python.
    fn read_to(&mut self, pattern: Option<&[u8]>, deadline: &Deadline) -> ReadEnd {
        let mut out = Vec::new();
        let mut pos = 0;
        loop {
            if self.buf.is_empty() {
                match self.fill(deadline) {
                    Ok(true) => {}
                    Ok(false) => return ReadEnd::Eof(String::from_utf8_lossy(&out).into_owned()),
                    Err(()) => return ReadEnd::Timeout(String::from_utf8_lossy(&out).into_owned()),
                }
            }
            let Some(c) = self.buf.pop_front() else { continue };
            out.push(c);
            if let Some(p) = pattern {
                if c == p[pos] {
                    pos += 1;
                    if pos == p.len() {
                        out.truncate(out.len() - p.len());
                        return ReadEnd::Prompt(String::from_utf8_lossy(&out).into_owned());
                    }
                } else {
                    pos = 0;
                }
            }
        }
    }
}
