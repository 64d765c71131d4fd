//! qemu-io, one-shot: iotests' `qemu_io*`.

use super::pipe::{self, ErrTo, Out};
use super::{ToolPopen, strings};
use crate::context::TestContext;
use crate::env::TestEnv;
use crate::error::Result;
use crate::process::{DEFAULT_TOOL_TIMEOUT, Output};

/// iotests' `qemu_io_wrap_args(args)`: the qemu-io command line for
/// `args` — `QEMU_IO_OPTIONS_NO_FMT` when `args` name a format (`-f`) or
/// use `--image-opts`, else `QEMU_IO_OPTIONS` (which has `-f IMGFMT`).
///
/// ```
/// use iotests::env::{TestEnv, Vars};
/// let vars: Vars = [("IMGFMT", "qcow2"), ("QEMU_IO_PROG", "/bin/true")]
///     .map(|(k, v)| (k.to_string(), v.to_string())).into();
/// let env = TestEnv::from_vars(&vars, "raw");
/// let a = iotests::tools::qemu_io_wrap_args(&env, &["-c", "read 0 1", "x.img"]).unwrap();
/// assert_eq!(a[1..], ["--cache", "writeback", "--aio", "threads", "-f", "qcow2", "-c", "read 0 1", "x.img"]);
/// let a = iotests::tools::qemu_io_wrap_args(&env, &["-f", "raw", "x.img"]).unwrap();
/// assert_eq!(a[1..], ["--cache", "writeback", "--aio", "threads", "-f", "raw", "x.img"]);
/// ```
pub fn qemu_io_wrap_args<S: AsRef<str>>(env: &TestEnv, args: &[S]) -> Result<Vec<String>> {
    let args = strings(args);
    let mut argv = if args.iter().any(|a| a == "-f" || a == "--image-opts") {
        env.qemu_io_args_no_fmt()?
    } else {
        env.qemu_io_args()?
    };
    argv.extend(args);
    Ok(argv)
}

impl TestContext {
    /// iotests' `qemu_io_wrap_args(args)` with this test's environment.
    pub fn qemu_io_wrap_args<S: AsRef<str>>(&self, args: &[S]) -> Result<Vec<String>> {
        qemu_io_wrap_args(self.env(), args)
    }

    /// iotests' `qemu_io(*args)`: run qemu-io; a non-zero exit status is an
    /// [`Error::ToolFailed`](crate::Error::ToolFailed).
    ///
    /// ```no_run
    /// # fn main() -> iotests::Result<()> {
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("qcow2"))?;
    /// let img = t.file_path("test.img");
    /// t.qemu_io(&["-c", "write -P 1 0 64k", &img])?;
    /// # Ok(()) }
    /// ```
    pub fn qemu_io<S: AsRef<str>>(&self, args: &[S]) -> Result<Output> {
        self.qemu_io_cmd(args).run()
    }

    /// iotests' `qemu_io_log(*args)`: run qemu-io and log its output through
    /// `filter_testfiles` and `filter_qemu_io`.
    ///
    /// ```no_run
    /// # fn main() -> iotests::Result<()> {
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("qcow2"))?;
    /// # let img = t.file_path("test.img");
    /// t.qemu_io_log(&["-c", "read -P 0 0 64k", &img])?;
    /// # Ok(()) }
    /// ```
    pub fn qemu_io_log<S: AsRef<str>>(&self, args: &[S]) -> Result<Output> {
        self.qemu_io_cmd(args).log()
    }

    /// iotests' (pre-8.0) `qemu_io_silent(*args)`: the exit status, stdout
    /// thrown away, stderr where the test's goes (the log).
    pub fn qemu_io_silent<S: AsRef<str>>(&self, args: &[S]) -> Result<i32> {
        let argv = self.qemu_io_wrap_args(args)?;
        let (rc, _) = pipe::run_plumbed(
            self.logger(),
            self.processes(),
            "qemu-io",
            &argv,
            Out::Null,
            ErrTo::Log,
            DEFAULT_TOOL_TIMEOUT,
        )?;
        Ok(rc)
    }

    /// iotests' (pre-8.0) `qemu_io_silent_check(*args)`: whether qemu-io
    /// exits with 0, all output thrown away. Like the original it always
    /// uses `QEMU_IO_OPTIONS` (with `-f IMGFMT`).
    pub fn qemu_io_silent_check<S: AsRef<str>>(&self, args: &[S]) -> Result<bool> {
        let mut argv = self.env().qemu_io_args()?;
        argv.extend(strings(args));
        let (rc, _) = pipe::run_plumbed(
            self.logger(),
            self.processes(),
            "qemu-io",
            &argv,
            Out::Null,
            ErrTo::Stdout,
            DEFAULT_TOOL_TIMEOUT,
        )?;
        Ok(rc == 0)
    }

    /// iotests' `qemu_io_popen(*args)`: qemu-io in the background, stdout
    /// and stderr captured together.
    pub fn qemu_io_popen<S: AsRef<str>>(&self, args: &[S]) -> Result<ToolPopen> {
        let argv = self.qemu_io_wrap_args(args)?;
        self.qemu_tool_popen("qemu-io", &argv, true)
    }
}
