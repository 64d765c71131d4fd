//! [`ToolCmd`]: one qemu-img or qemu-io run with iotests' keyword
//! arguments (`check=`, `combine_stdio=`) as builder calls.
//!
//! The Python names stay as the short forms: `t.qemu_io(&args)?` is
//! `t.qemu_io_cmd(&args).run()?`, `t.qemu_io_log(&args)?` is
//! `t.qemu_io_cmd(&args).log()?`. A call with a keyword reads
//! `t.qemu_io_cmd(&args).check(false).log()?` for Python's
//! `qemu_io_log(*args, check=False)`.

use std::time::Duration;

use serde_json::Value;

use super::{ToolOpts, strings, tool_failed};
use crate::context::TestContext;
use crate::error::{Error, Result};
use crate::filters::Filter;
use crate::process::Output;

/// Which tool a [`ToolCmd`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tool {
    /// qemu-img, with `QEMU_IMG_OPTIONS` and `create` preparation.
    Img,
    /// qemu-io, with `qemu_io_wrap_args`.
    Io,
}

/// A qemu-img or qemu-io command to run: made by
/// [`TestContext::qemu_img_cmd`] / [`TestContext::qemu_io_cmd`], set up with
/// the keyword arguments, run by [`run`](ToolCmd::run), [`log`](ToolCmd::log)
/// or [`json`](ToolCmd::json).
///
/// ```no_run
/// # fn main() -> iotests::Result<()> {
/// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("qcow2"))?;
/// let img = t.file_path("img");
/// // qemu_io_log('-c', 'read 0 512', img, check=False)
/// let out = t.qemu_io_cmd(&["-c", "read 0 512", &img]).check(false).log()?;
/// println!("exit status {}", out.returncode);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a ToolCmd does nothing until run(), log() or json()"]
pub struct ToolCmd<'t> {
    t: &'t TestContext,
    tool: Tool,
    args: Vec<String>,
    opts: ToolOpts,
}

impl<'t> ToolCmd<'t> {
    pub(crate) fn new<S: AsRef<str>>(t: &'t TestContext, tool: Tool, args: &[S]) -> Self {
        ToolCmd { t, tool, args: strings(args), opts: ToolOpts::default() }
    }

    /// `check=`: whether a non-zero exit status is an
    /// [`Error::ToolFailed`] (default `true`). A tool killed by a signal is
    /// always an error.
    pub fn check(mut self, check: bool) -> Self {
        self.opts.check = check;
        self
    }

    /// `combine_stdio=`: stderr into stdout (default `true`); otherwise
    /// into [`Output::stderr`].
    pub fn combine_stdio(mut self, combine: bool) -> Self {
        self.opts.combine_stdio = combine;
        self
    }

    /// Kill the tool and fail with [`Error::Timeout`] after this long
    /// (default [`DEFAULT_TOOL_TIMEOUT`](crate::process::DEFAULT_TOOL_TIMEOUT)).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.opts.timeout = timeout;
        self
    }

    fn name(&self) -> &'static str {
        match self.tool {
            Tool::Img => "qemu-img",
            Tool::Io => "qemu-io",
        }
    }

    fn argv(&self) -> Result<Vec<String>> {
        let env = self.t.env();
        match self.tool {
            Tool::Img => {
                let mut argv = env.qemu_img_args()?;
                argv.extend(super::img::qemu_img_create_prepare_args(env, &self.args)?);
                Ok(argv)
            }
            Tool::Io => super::io::qemu_io_wrap_args(env, &self.args),
        }
    }

    /// Run it: iotests' `qemu_img(*args, …)` / `qemu_io(*args, …)`.
    pub fn run(self) -> Result<Output> {
        let argv = self.argv()?;
        self.t.qemu_tool(self.name(), &argv, &self.opts)
    }

    /// Run it and log its output: iotests' `qemu_img_log` (through
    /// `filter_testfiles`) / `qemu_io_log` (through `filter_testfiles` and
    /// `filter_qemu_io`).
    pub fn log(self) -> Result<Output> {
        let t = self.t;
        let filters: &[Filter] = match self.tool {
            Tool::Img => &[Filter::Testfiles],
            Tool::Io => &[Filter::Testfiles, Filter::QemuIo],
        };
        let out = self.run()?;
        t.log_with(&out.stdout, filters);
        Ok(out)
    }

    /// Run it with stdout and stderr apart and parse stdout as JSON:
    /// iotests' `qemu_img_json(*args)`. A non-zero exit status is accepted
    /// when stdout still parses (`check` reports corruption that way); a
    /// signal never is.
    pub fn json(self) -> Result<Value> {
        let out = self.check(false).combine_stdio(false).run()?;
        match serde_json::from_str::<Value>(&out.stdout) {
            Ok(v) => Ok(v),
            Err(_) if out.returncode != 0 => {
                Err(tool_failed(out.args.first().map_or("qemu-img", |_| "qemu-img"), &out))
            }
            Err(source) => Err(Error::Json {
                context: format!("qemu-img output of: {}", out.args.join(" ")),
                text: out.stdout,
                source,
            }),
        }
    }
}

impl TestContext {
    /// A qemu-img run to set up: see [`ToolCmd`].
    ///
    /// ```no_run
    /// # fn main() -> iotests::Result<()> {
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("qcow2"))?;
    /// let out = t.qemu_img_cmd(&["info", "/nonexistent"]).check(false).run()?;
    /// assert_eq!(out.returncode, 1);
    /// # Ok(()) }
    /// ```
    pub fn qemu_img_cmd<S: AsRef<str>>(&self, args: &[S]) -> ToolCmd<'_> {
        ToolCmd::new(self, Tool::Img, args)
    }

    /// A qemu-io run to set up: see [`ToolCmd`].
    pub fn qemu_io_cmd<S: AsRef<str>>(&self, args: &[S]) -> ToolCmd<'_> {
        ToolCmd::new(self, Tool::Io, args)
    }
}
