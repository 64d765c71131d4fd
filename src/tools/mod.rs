//! QEMU tool wrappers: iotests' `qemu_img*`, `qemu_io*`, `QemuIoInteractive`,
//! `qemu_nbd*`, `QemuStorageDaemon`, `create_image`, `Timeout` and friends.
//! Also the helpers upstream tests use besides iotests.py: QEMU's qcow2.py
//! ([`qcow2`], [`TestContext::qcow2_py`]), QEMU's fat16.py ([`fat16`]),
//! Python's `tarfile` for OVA files ([`TarWriter`], [`tar_members`]), a plain
//! `subprocess.run(cmd)` ([`TestContext::subprocess_run`]) and libnbd's Python
//! binding for talking NBD directly ([`Nbd`], in [`nbd_client`]).
//!
//! Each function of iotests.py that runs a tool is a method of
//! [`TestContext`] with the Python name, taking the arguments as a slice of
//! anything string-like, so a ported test reads almost line for line:
//!
//! ```no_run
//! # fn main() -> iotests::Result<()> {
//! use iotests::{TestContext, args, env::TestEnv};
//! let t = TestContext::new("example", TestEnv::from_process_env("qcow2"))?;
//! let img = t.file_path("test.img");
//! t.qemu_img_create(&args!["-f", t.imgfmt(), &img, "1M"])?; // iotests.qemu_img_create(...)
//! t.qemu_io_log(&["-c", "write -P 0x11 0 64k", &img])?;      // iotests.qemu_io_log(...)
//! t.img_info_log(&img)?;                                      // iotests.img_info_log(img)
//! # Ok(()) }
//! ```
//!
//! Python's keyword arguments become option structs ([`ToolOpts`],
//! [`ImgInfoOpts`], [`QsdOptions`]) or `_unchecked` variants.
//!
//! ## Where output goes
//!
//! What a tool prints to an *inherited* stdout / stderr in Python (qemu-nbd
//! servers, the storage daemon, `qemu_img_verbose`, the stderr of
//! `qemu_io_silent`) lands in the test's log here, in order with what the
//! test logs. Captured output is returned, as in Python. A tool killed by a
//! signal is reported on the test's stderr (`qemu-img received signal 11:
//! <cmdline>`), like iotests does.
//!
//! ## Nothing waits forever
//!
//! Every run has a timeout ([`ToolOpts::timeout`], by default
//! [`DEFAULT_TOOL_TIMEOUT`]); servers
//! wait a bounded time for their pid file; interactive qemu-io reads have a
//! per-command timeout. Every process is registered with the test's
//! [`ProcessRegistry`](crate::process::ProcessRegistry) — also the daemon
//! that `qemu-nbd --fork` leaves behind — and killed when the test ends.

use std::time::Duration;

use crate::context::TestContext;
use crate::error::{Error, Result};
use crate::process::{self, Child, DEFAULT_TOOL_TIMEOUT, Output, RunOptions};

mod cmd;
pub mod fat16;
pub mod fault_injector;
mod img;
mod interactive;
mod io;
mod nbd;
pub mod nbd_client;
mod pipe;
pub mod qcow2;
mod qsd;
mod scratch;
mod subprocess;
mod tar;
mod timeout;

pub use cmd::ToolCmd;
pub use fault_injector::NbdFaultInjector;
pub use img::{ImgInfoOpts, qemu_img_create_prepare_args};
pub use interactive::DEFAULT_CMD_TIMEOUT;
pub use interactive::QemuIoInteractive;
pub use io::qemu_io_wrap_args;
pub use nbd::NBD_STARTUP_TIMEOUT;
pub use nbd::NbdServer;
pub use nbd_client::{NBD_CLIENT_TIMEOUT, Nbd};
pub use qcow2::{QCOW2_PY_ARGV0, Qcow2PyOutput, QcowHeader, qcow2_py};
pub use qsd::QSD_TIMEOUT;
pub use qsd::{QemuStorageDaemon, QsdOptions};
pub use scratch::{create_image, mkfifo, unarchive_bz2};
pub use tar::{TAR_BLOCK, TAR_RECORD, TarMember, TarWriter, tar_members};
pub use timeout::{Deadline, with_timeout};

use pipe::{Capture, ErrTo, LogPipe, Out};

/// iotests' `check=` and `combine_stdio=` keyword arguments, plus the time
/// a tool may run.
///
/// ```
/// use iotests::tools::ToolOpts;
/// let o = ToolOpts { combine_stdio: false, ..ToolOpts::default() };
/// assert!(o.check && !o.combine_stdio);
/// assert!(!ToolOpts::unchecked().check);
/// ```
#[derive(Debug, Clone)]
pub struct ToolOpts {
    /// Fail with [`Error::ToolFailed`] on a non-zero exit status (a tool
    /// killed by a signal is always an error).
    pub check: bool,
    /// stderr into stdout (`stderr=STDOUT`); otherwise into
    /// [`Output::stderr`].
    pub combine_stdio: bool,
    /// Kill the tool and fail with [`Error::Timeout`] after this long.
    pub timeout: Duration,
}

impl Default for ToolOpts {
    fn default() -> Self {
        ToolOpts { check: true, combine_stdio: true, timeout: DEFAULT_TOOL_TIMEOUT }
    }
}

impl ToolOpts {
    /// `check=False`.
    pub fn unchecked() -> Self {
        ToolOpts { check: false, ..ToolOpts::default() }
    }
}

/// Arguments as owned strings.
pub(crate) fn strings<S: AsRef<str>>(args: &[S]) -> Vec<String> {
    args.iter().map(|a| a.as_ref().to_string()).collect()
}

/// The [`Error::ToolFailed`] for a finished tool.
pub(crate) fn tool_failed(tool: &str, out: &Output) -> Error {
    let signal = (out.returncode < 0).then_some(-out.returncode);
    let mut output = out.stdout.clone();
    output.push_str(&out.stderr);
    Error::ToolFailed {
        tool: tool.to_string(),
        cmdline: process::cmdline(&out.args),
        status: out.returncode,
        signal,
        output,
    }
}

/// iotests' `qemu_tool_popen`: a tool running in the background with its
/// stdout captured. Killed when dropped.
///
/// ```no_run
/// # fn main() -> iotests::Result<()> {
/// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
/// let mut client = t.qemu_io_popen(&["-f", "raw", "-c", "read 0 4k", "/tmp/x.img"])?;
/// let out = client.communicate(std::time::Duration::from_secs(30))?;
/// t.log_with(out, &[iotests::Filter::QemuIo]);
/// # Ok(()) }
/// ```
pub struct ToolPopen {
    tool: String,
    args: Vec<String>,
    child: Child,
    capture: Option<Capture>,
    log_pipe: Option<LogPipe>,
}

impl std::fmt::Debug for ToolPopen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolPopen").field("tool", &self.tool).field("pid", &self.child.pid()).finish()
    }
}

impl ToolPopen {
    /// The process ID.
    pub fn pid(&self) -> i32 {
        self.child.pid()
    }

    /// The command line.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// `Popen.poll()`: the returncode if the tool has exited.
    pub fn poll(&mut self) -> Result<Option<i32>> {
        Ok(self.child.try_wait()?.map(process::returncode))
    }

    /// `Popen.wait(timeout)`: the returncode, or [`Error::Timeout`].
    pub fn wait(&mut self, timeout: Duration) -> Result<i32> {
        match self.child.wait_timeout(timeout)? {
            Some(st) => {
                if let Some(p) = self.log_pipe.take() {
                    p.detach();
                }
                Ok(process::returncode(st))
            }
            None => Err(Error::Timeout {
                what: format!("{} did not finish within {timeout:?}: {}", self.tool, process::cmdline(&self.args)),
                log: self.capture.as_ref().map(Capture::snapshot).unwrap_or_default(),
            }),
        }
    }

    /// `Popen.communicate()[0]`: wait for the tool to exit (at most
    /// `timeout`; the tool is left running on timeout) and return its
    /// stdout.
    pub fn communicate(&mut self, timeout: Duration) -> Result<String> {
        self.wait(timeout)?;
        Ok(self.capture.as_ref().map(|c| c.finish(pipe::PIPE_DRAIN)).unwrap_or_default())
    }

    /// `Popen.kill(); Popen.wait()`: SIGKILL and reap; the returncode.
    pub fn kill(&mut self) -> Result<i32> {
        Ok(process::returncode(self.child.kill()?))
    }
}

impl TestContext {
    /// iotests' `qemu_tool(*args, check=…, combine_stdio=…)`: run a full
    /// command line; `tool` names it in messages.
    ///
    /// ```no_run
    /// # fn main() -> iotests::Result<()> {
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
    /// let mut argv = t.env().qemu_img_args()?;
    /// argv.push("--version".into());
    /// let out = t.qemu_tool("qemu-img", &argv, &Default::default())?;
    /// assert!(out.stdout.starts_with("qemu-img version"));
    /// # Ok(()) }
    /// ```
    pub fn qemu_tool<S: AsRef<str>>(&self, tool: &str, argv: &[S], opts: &ToolOpts) -> Result<Output> {
        let argv = strings(argv);
        let run_opts = RunOptions { combine_stdio: opts.combine_stdio, stdin: None, timeout: opts.timeout };
        let out = process::run(tool, &argv, &run_opts, self.processes())?;
        if out.returncode < 0 || (opts.check && out.returncode != 0) {
            return Err(tool_failed(tool, &out));
        }
        Ok(out)
    }

    /// iotests' `qemu_tool_pipe_and_status(tool, args, connect_stderr)`:
    /// the output and the returncode, never an error for a failing tool.
    /// With `connect_stderr` false, stderr is inherited (into the log).
    pub fn qemu_tool_pipe_and_status<S: AsRef<str>>(
        &self,
        tool: &str,
        argv: &[S],
        connect_stderr: bool,
    ) -> Result<(String, i32)> {
        let err = if connect_stderr { ErrTo::Stdout } else { ErrTo::Log };
        let (rc, out) = pipe::run_plumbed(
            self.logger(),
            self.processes(),
            tool,
            &strings(argv),
            Out::Capture,
            err,
            DEFAULT_TOOL_TIMEOUT,
        )?;
        Ok((out, rc))
    }

    /// iotests' `qemu_tool_popen(args, connect_stderr)`: start a tool in
    /// the background with stdout captured; stderr goes with stdout, or is
    /// inherited (into the log).
    pub fn qemu_tool_popen<S: AsRef<str>>(&self, tool: &str, argv: &[S], connect_stderr: bool) -> Result<ToolPopen> {
        let args = strings(argv);
        let err = if connect_stderr { ErrTo::Stdout } else { ErrTo::Log };
        let sp = pipe::spawn_with(self.logger(), self.processes(), tool, &args, None, Out::Capture, err)?;
        Ok(ToolPopen { tool: tool.to_string(), args, child: sp.child, capture: sp.capture, log_pipe: sp.log_pipe })
    }
}
