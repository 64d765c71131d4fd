//! The crate's error type.
//!
//! Every failure is a value that names what happened: which program, which
//! command line, which exit status, and — where there is one — the output of
//! the QEMU process involved, so that a failing test explains itself.

use std::io;

mod pyclass;

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while running an iotest.
///
/// Three variants are outcomes rather than failures, because a test reaches
/// them the way Python reaches them — by raising through its callers:
/// [`NotRun`](Error::NotRun) (`notrun()`), [`Skip`](Error::Skip)
/// (`skipTest()`) and [`Assertion`](Error::Assertion) (`assert`,
/// `self.fail()`, the `assert*` methods: unittest's `F`). Every other
/// variant is an error (unittest's `E`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A QEMU binary could not be found.
    #[error(
        "{program}: {}; set {var} to the binary to use",
        if program.contains('/') { "no such executable file" } else { "not found in PATH" }
    )]
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

    /// A QMP conversation failed (boxed: it carries the command and its
    /// arguments).
    #[error(transparent)]
    Qmp(Box<crate::qmp::QmpError>),

    /// A QEMU VM failed.
    #[error(transparent)]
    Vm(#[from] crate::vm::VmError),

    /// An I/O operation on a file or socket failed.
    #[error("{}{source}", if context.is_empty() { String::new() } else { format!("{context}: ") })]
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

    /// A test assertion failed: Python's `AssertionError` from `assert`,
    /// `self.fail()`, unittest's `assert*` or QMPTestCase's `assert_qmp`…
    /// (unittest's `F`). `location` is where it was raised, when known.
    #[error("{message}")]
    Assertion {
        /// The `AssertionError` text, as Python's.
        message: String,
        /// The line that raised it (`#[track_caller]`).
        location: Option<&'static std::panic::Location<'static>>,
    },

    /// Something other code returned was not what the test or the toolkit
    /// expected, where Python would raise `KeyError`, `TypeError`,
    /// `ValueError`, `Exception`… (unittest's `E`). The text starts with
    /// Python's exception name where there is one (`KeyError: 'return'`).
    #[error("{0}")]
    Unexpected(String),

    /// An operating-system call of [`crate::os`] failed: Python's `OSError`
    /// (or the subclass errno selects). The text reads as Python's
    /// exception does (`FileExistsError: [Errno 17] File exists: '/x'`);
    /// [`Error::errno`] is Python's `exception.errno` (unittest's `E`).
    #[error("{message}")]
    Os {
        /// The errno, when the system gave one.
        errno: Option<i32>,
        /// Python's text: exception class, `[Errno N] strerror: 'path'`.
        message: String,
    },

    /// The toolkit was called in a way it cannot serve (an empty command
    /// line, a wrapper-owned option, a method on an object in the wrong
    /// state): a bug in the test, Python's `TypeError`/`ValueError` from the
    /// library.
    #[error("usage: {0}")]
    Usage(String),

    /// The test (or test case) is not run, with iotests' reason.
    #[error("not run: {0}")]
    NotRun(String),

    /// A unittest-style case skipped itself.
    #[error("skipped: {0}")]
    Skip(String),

    /// unittest's internal `_ShouldStop`: ends a method quietly after an
    /// expected failure in a sub-test.
    #[doc(hidden)]
    #[error("stop")]
    StopTest,
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

    /// An [`Error::Assertion`] raised here, like unittest's `self.fail(msg)`
    /// or Python's `assert cond, msg`.
    ///
    /// ```
    /// let e = iotests::Error::fail("boom");
    /// assert_eq!(e.to_string(), "boom");
    /// assert!(e.is_assertion());
    /// ```
    #[track_caller]
    pub fn fail(msg: impl Into<String>) -> Self {
        Error::Assertion { message: msg.into(), location: Some(std::panic::Location::caller()) }
    }

    /// Python's `raise Exception(msg)` in a test: an [`Error::Unexpected`]
    /// reading `Exception: msg` (unittest's `E`, not `F`).
    ///
    /// ```
    /// assert_eq!(iotests::Error::exception("no job").to_string(), "Exception: no job");
    /// ```
    pub fn exception(msg: impl std::fmt::Display) -> Self {
        Error::Unexpected(format!("Exception: {msg}"))
    }

    /// An [`Error::Unexpected`] with Python's exception name:
    /// `Error::python("KeyError", "'return'")` reads `KeyError: 'return'`.
    ///
    /// ```
    /// assert_eq!(iotests::Error::python("KeyError", "'x'").to_string(), "KeyError: 'x'");
    /// ```
    pub fn python(exception: &str, msg: impl std::fmt::Display) -> Self {
        Error::Unexpected(format!("{exception}: {msg}"))
    }

    /// Whether this is a failed assertion (unittest's `F`).
    pub fn is_assertion(&self) -> bool {
        matches!(self, Error::Assertion { .. })
    }

    /// The assertion's text, if this is one.
    ///
    /// ```
    /// assert_eq!(iotests::Error::fail("x").assertion_message(), Some("x"));
    /// ```
    pub fn assertion_message(&self) -> Option<&str> {
        match self {
            Error::Assertion { message, .. } => Some(message),
            _ => None,
        }
    }

    /// Python's `exception.errno`: the errno of a failed operating-system
    /// call ([`crate::os`] functions, I/O and spawn errors), else `None`.
    ///
    /// ```
    /// let e = iotests::os::rmdir("/nonexistent/dir").unwrap_err();
    /// assert_eq!(e.errno(), Some(libc::ENOENT));
    /// assert_eq!(iotests::Error::fail("x").errno(), None);
    /// ```
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Os { errno, .. } => *errno,
            Error::Io { source, .. } | Error::Spawn { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// Where the error was raised, when known (assertions).
    pub fn location(&self) -> Option<&'static std::panic::Location<'static>> {
        match self {
            Error::Assertion { location, .. } => *location,
            _ => None,
        }
    }
}

impl From<crate::qmp::QmpError> for Error {
    fn from(e: crate::qmp::QmpError) -> Self {
        Error::Qmp(Box::new(e))
    }
}

impl From<crate::deadline::Expired> for Error {
    fn from(e: crate::deadline::Expired) -> Self {
        Error::Timeout { what: e.what, log: String::new() }
    }
}

impl From<io::Error> for Error {
    /// An I/O error without context; prefer [`Context::context`] to say
    /// what was being done.
    fn from(source: io::Error) -> Self {
        Error::Io { context: String::new(), source }
    }
}

/// `.context("…")` on an I/O result, in the style of anyhow: the error
/// becomes an [`Error::Io`] that says what was being done.
///
/// ```
/// use iotests::error::Context;
/// let e = std::fs::read("/nonexistent").context("reading /nonexistent").unwrap_err();
/// assert!(e.to_string().starts_with("reading /nonexistent: "));
/// ```
pub trait Context<T> {
    /// Attach a description of what was being done.
    fn context(self, what: impl Into<String>) -> Result<T>;
    /// Attach a description computed only on error.
    fn with_context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, io::Error> {
    fn context(self, what: impl Into<String>) -> Result<T> {
        self.map_err(|source| Error::Io { context: what.into(), source })
    }

    fn with_context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|source| Error::Io { context: what().into(), source })
    }
}
