//! Python's `subprocess.run(cmd)` in a test: any program, its output in
//! the test's output; and `subprocess.check_output(cmd)`, its standard
//! output returned to the test.
//!
//! A Python iotest that runs a helper with plain `subprocess.run(cmd)`
//! lets it inherit stdout and stderr, and `check` runs the test with
//! stderr merged into stdout; so whatever the program prints lands in the
//! reference output, in order. Here the program runs through
//! [`process::run`](crate::process::run) — registered with the test's
//! processes, killed at its timeout — with stderr merged into stdout, and
//! the text goes into the log verbatim once it has exited.

use std::time::Duration;

use crate::context::TestContext;
use crate::error::{Error, Result};
use crate::process::{self, DEFAULT_TOOL_TIMEOUT, Output, RunOptions};

use super::{strings, tool_failed};

impl TestContext {
    /// `subprocess.run(args)`: run `args[0]` with the rest as arguments
    /// (no shell), stdin from `/dev/null`, and write everything it prints
    /// (stdout and stderr, as they interleave) into the log, unfiltered.
    /// A non-zero exit status is not an error (`check=False`): it is in
    /// the returned [`Output::returncode`]; [`Output::stdout`] holds the
    /// text that was logged. Killed after [`DEFAULT_TOOL_TIMEOUT`]
    /// ([`Error::Timeout`], with what it printed until then in the log as
    /// well); a program that cannot be started is [`Error::Spawn`].
    ///
    /// ```
    /// # fn main() -> iotests::Result<()> {
    /// let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
    /// let out = t.subprocess_run(&["sh", "-c", "echo out; echo err >&2; exit 3"])?;
    /// assert_eq!(out.returncode, 3);
    /// assert_eq!(t.contents(), "out\nerr\n");
    /// # Ok(()) }
    /// ```
    pub fn subprocess_run<S: AsRef<str>>(&self, args: &[S]) -> Result<Output> {
        self.subprocess_run_timeout(args, DEFAULT_TOOL_TIMEOUT)
    }

    /// [`subprocess_run`](Self::subprocess_run) with `timeout` instead of
    /// the default.
    ///
    /// ```
    /// # fn main() -> iotests::Result<()> {
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
    /// use std::time::Duration;
    /// let err = t.subprocess_run_timeout(&["sleep", "10"], Duration::from_millis(100)).unwrap_err();
    /// assert!(matches!(err, iotests::Error::Timeout { .. }));
    /// # Ok(()) }
    /// ```
    pub fn subprocess_run_timeout<S: AsRef<str>>(&self, args: &[S], timeout: Duration) -> Result<Output> {
        let argv = strings(args);
        let name = argv.first().map(|p| p.rsplit('/').next().unwrap_or(p).to_string()).unwrap_or_default();
        let opts = RunOptions { combine_stdio: true, stdin: None, timeout };
        match process::run(&name, &argv, &opts, self.processes()) {
            Ok(out) => {
                self.logger().write(&out.stdout);
                Ok(out)
            }
            Err(e) => {
                // What it printed before it was killed was in the output too.
                if let Error::Timeout { log, .. } = &e {
                    self.logger().write(log);
                }
                Err(e)
            }
        }
    }

    /// `subprocess.check_output(args)`: run `args[0]` with the rest as
    /// arguments (no shell: for Python's `shell=True`, pass `["sh", "-c",
    /// cmd]`), stdin from `/dev/null`, and return its standard output. Its
    /// standard error is not captured in Python — under `check` it lands in
    /// the test's output — so it goes into the log, unfiltered. A non-zero
    /// exit status is `CalledProcessError`: [`Error::ToolFailed`] (with the
    /// output, stderr included). Killed after [`DEFAULT_TOOL_TIMEOUT`]
    /// ([`Error::Timeout`]); a program that cannot be started is
    /// [`Error::Spawn`].
    ///
    /// ```
    /// # fn main() -> iotests::Result<()> {
    /// let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
    /// let out = t.subprocess_check_output(&["sh", "-c", "echo out; echo err >&2"])?;
    /// assert_eq!(out, "out\n");
    /// assert_eq!(t.contents(), "err\n");
    /// let err = t.subprocess_check_output(&["sh", "-c", "echo partial; exit 2"]).unwrap_err();
    /// assert!(matches!(err, iotests::Error::ToolFailed { status: 2, .. }), "{err}");
    /// # Ok(()) }
    /// ```
    pub fn subprocess_check_output<S: AsRef<str>>(&self, args: &[S]) -> Result<String> {
        let argv = strings(args);
        let name = argv.first().map(|p| p.rsplit('/').next().unwrap_or(p).to_string()).unwrap_or_default();
        let opts = RunOptions { combine_stdio: false, stdin: None, timeout: DEFAULT_TOOL_TIMEOUT };
        let out = process::run(&name, &argv, &opts, self.processes())?;
        self.logger().write(&out.stderr);
        if out.returncode != 0 {
            return Err(tool_failed(&name, &out));
        }
        Ok(out.stdout)
    }
}
