//! Running a tool to completion: `process::run`.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{DEFAULT_TOOL_TIMEOUT, ProcessRegistry, cmdline, returncode, spawn};
use crate::error::{Error, Result};

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
        // Fed from a thread of its own, so that the timed wait below starts
        // at once: a tool that does not read its input (and a pipe that
        // fills up) must not block us before the time limit is armed. The
        // write ends when the tool has read everything or is gone (EPIPE).
        let bytes = text.clone().into_bytes();
        let fed = std::thread::Builder::new().name(format!("{tool}-stdin")).spawn(move || {
            use std::io::Write;
            // A tool that exits without reading its input is not an error.
            let _ = stdin.write_all(&bytes);
        });
        if let Err(e) = fed {
            let _ = child.kill();
            return Err(Error::io(format!("starting the thread that feeds {tool}"), e));
        }
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
