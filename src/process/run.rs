//! Running a tool to completion: `process::run`.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use super::capture::{Capture, PIPE_DRAIN, feed_stdin, pipe_err, wait_tool};
use super::{DEFAULT_TOOL_TIMEOUT, ProcessRegistry, cmdline, spawn};
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
    let (stdout, out_fd) = Capture::new(tool)?;
    let stderr = if opts.combine_stdio {
        cmd.stderr(out_fd.try_clone().map_err(pipe_err(tool))?);
        None
    } else {
        let (c, fd) = Capture::new(tool)?;
        cmd.stderr(fd);
        Some(c)
    };
    cmd.stdout(out_fd);
    // `spawn` consumes `cmd`, dropping our copies of the pipe write ends, so
    // the readers see EOF when the child (and any fork of it) exits.
    let mut child = spawn(tool, cmd, registry)?;
    let cmd_text = cmdline(argv);
    if let (Some(text), Some(stdin)) = (&opts.stdin, child.std().stdin.take())
        && let Err(e) = feed_stdin(tool, stdin, text)
    {
        let _ = child.kill();
        return Err(e);
    }
    let returncode = wait_tool(&mut child, tool, &cmd_text, opts.timeout, || stdout.finish(PIPE_DRAIN))?;
    let stdout = stdout.finish(PIPE_DRAIN);
    let stderr = stderr.map(|c| c.finish(PIPE_DRAIN)).unwrap_or_default();
    Ok(Output { args: argv.to_vec(), returncode, stdout, stderr })
}
