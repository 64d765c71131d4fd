//! The crate's error type.
//!
//! Every failure is a value that names what happened: which program, which
//! command line, which exit status, and — where there is one — the output of
//! the QEMU process involved, so that a failing test explains itself.

use std::io;

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while running an iotest.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A QEMU binary could not be found.
    #[error("{program}: not found in PATH; set {var} to the binary to use")]
    MissingBinary {
        /// The environment variable that selects the binary.
        var: &'static str,
        /// The program name that was looked up.
        program: String,
    },

    /// The environment is malformed (a variable has a value we cannot use).
    #[error("environment: {0}")]
    Env(String),

    /// A program could not be started at all.
    #[error("could not start {program}: {source}")]
    Spawn {
        /// The program that failed to start.
        program: String,
        /// Why.
        #[source]
        source: io::Error,
    },

    /// A tool ran and failed (non-zero exit status, or killed by a signal).
    #[error(
        "{tool} {}: {cmdline}\n--- output ---\n{output}",
        match signal { Some(s) => format!("received signal {s}"), None => format!("exited with status {status}") }
    )]
    ToolFailed {
        /// Short tool name (`qemu-img`, `qemu-io`, …).
        tool: String,
        /// The whole command line, space-joined as iotests prints it.
        cmdline: String,
        /// Exit status (`-N` when killed by signal `N`, as Python reports it).
        status: i32,
        /// The signal that killed it, if any.
        signal: Option<i32>,
        /// Everything it printed.
        output: String,
    },

    /// A server process exited while it was being started: iotests'
    /// `RuntimeError('qemu-nbd terminated with exit code N: <cmd>')` from
    /// `qemu_nbd_popen` and `QemuStorageDaemon`.
    #[error(
        "{tool} terminated with exit code {status}: {cmdline}{}",
        if output.is_empty() { String::new() } else { format!("\n--- output ---\n{output}") }
    )]
    Terminated {
        /// Short tool name (`qemu-nbd`, `qemu-storage-daemon`).
        tool: String,
        /// Exit status (`-N` when killed by signal `N`, as Python reports it).
        status: i32,
        /// The whole command line, space-joined.
        cmdline: String,
        /// What it printed before it exited.
        output: String,
    },

    /// Something took longer than it was allowed to.
    #[error("timeout: {what}{}", if log.is_empty() { String::new() } else { format!("\n--- log ---\n{log}") })]
    Timeout {
        /// What was being waited for (the caller's message).
        what: String,
        /// Output of the process involved, if any.
        log: String,
    },

    /// A QMP conversation failed.
    #[error(transparent)]
    Qmp(#[from] crate::qmp::QmpError),

    /// A QEMU VM failed.
    #[error(transparent)]
    Vm(#[from] crate::vm::VmError),

    /// An I/O operation on a file or socket failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with which path.
        context: String,
        /// Why it failed.
        #[source]
        source: io::Error,
    },

    /// Output that should have been JSON was not.
    #[error("{context}: invalid JSON: {source}\n--- text ---\n{text}")]
    Json {
        /// Where the text came from.
        context: String,
        /// The text that failed to parse.
        text: String,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },

    /// A Python regex that cannot be used (invalid in Python, or not
    /// translatable).
    #[error(transparent)]
    Regex(#[from] crate::filters::PyReError),

    /// A test assertion failed (QMPTestCase's `assert_*`, `fail()`).
    #[error("{0}")]
    Assertion(String),

    /// The test (or test case) is not run, with iotests' reason.
    #[error("not run: {0}")]
    NotRun(String),

    /// A unittest-style case skipped itself.
    #[error("skipped: {0}")]
    Skip(String),
}

impl Error {
    /// An [`Error::Io`] with a description of what was being done.
    ///
    /// ```
    /// let e = iotests::Error::io("reading /nonexistent",
    ///     std::io::Error::from(std::io::ErrorKind::NotFound));
    /// assert!(e.to_string().starts_with("reading /nonexistent: "));
    /// ```
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }

    /// An [`Error::Assertion`], like unittest's `self.fail(msg)`.
    ///
    /// ```
    /// assert_eq!(iotests::Error::fail("boom").to_string(), "boom");
    /// ```
    pub fn fail(msg: impl Into<String>) -> Self {
        Error::Assertion(msg.into())
    }
}
