//! Which Python exception an [`Error`] stands for, so that
//! `assertRaises(E)` catches what Python's would and lets everything else
//! through as an error (unittest's `E`).

use super::Error;
use crate::qmp::QmpError;
use crate::vm::VmError;

/// Python's built-in `OSError` subclasses by errno, as `OSError(errno, …)`
/// picks them.
fn os_error_class(errno: Option<i32>) -> &'static str {
    match errno {
        Some(libc::ENOENT) => "FileNotFoundError",
        Some(libc::EEXIST) => "FileExistsError",
        Some(libc::EACCES | libc::EPERM) => "PermissionError",
        Some(libc::EISDIR) => "IsADirectoryError",
        Some(libc::ENOTDIR) => "NotADirectoryError",
        Some(libc::ECHILD) => "ChildProcessError",
        Some(libc::ESRCH) => "ProcessLookupError",
        Some(libc::ETIMEDOUT) => "TimeoutError",
        Some(libc::EINTR) => "InterruptedError",
        Some(libc::EPIPE | libc::ESHUTDOWN) => "BrokenPipeError",
        Some(libc::ECONNREFUSED) => "ConnectionRefusedError",
        Some(libc::ECONNRESET) => "ConnectionResetError",
        Some(libc::ECONNABORTED) => "ConnectionAbortedError",
        Some(libc::EAGAIN | libc::EALREADY | libc::EINPROGRESS) => "BlockingIOError",
        _ => "OSError",
    }
}

/// The base class of a Python exception class the toolkit raises, or
/// `None` for `BaseException`.
fn base_of(class: &str) -> Option<&'static str> {
    Some(match class {
        "BaseException" => return None,
        "Exception" | "SystemExit" | "KeyboardInterrupt" => "BaseException",
        "FileNotFoundError" | "FileExistsError" | "PermissionError" | "IsADirectoryError" | "NotADirectoryError"
        | "ChildProcessError" | "ProcessLookupError" | "TimeoutError" | "InterruptedError" | "BlockingIOError"
        | "ConnectionError" => "OSError",
        "BrokenPipeError" | "ConnectionRefusedError" | "ConnectionResetError" | "ConnectionAbortedError" => {
            "ConnectionError"
        }
        "KeyError" | "IndexError" => "LookupError",
        "JSONDecodeError" | "UnicodeError" => "ValueError",
        "CalledProcessError" | "TimeoutExpired" => "SubprocessError",
        "ExecuteError" | "ConnectError" | "ProtocolError" | "StateError" => "QMPError",
        "VMLaunchFailure" | "AbnormalShutdown" => "QEMUMachineError",
        // OSError, ValueError, TypeError, AssertionError, SkipTest, QMPError…
        _ => "Exception",
    })
}

/// The leading `Name:` of a Python-style message, if it is one.
fn leading_class(text: &str) -> Option<&str> {
    let (name, _) = text.split_once(':')?;
    let ident = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (ident && name.starts_with(|c: char| c.is_ascii_uppercase())).then_some(name)
}

impl Error {
    /// The Python exception class this error stands for: what iotests.py
    /// and python/qemu raise for the same event (`ExecuteError` for a QMP
    /// error response, `CalledProcessError` for a tool's non-zero exit,
    /// `FileNotFoundError` for `os.remove` of a missing file,
    /// `AssertionError` for a failed assertion…).
    ///
    /// ```
    /// use iotests::Error;
    /// assert_eq!(Error::fail("x").python_class(), "AssertionError");
    /// assert_eq!(Error::python("KeyError", "'x'").python_class(), "KeyError");
    /// assert_eq!(iotests::os::remove("/nonexistent").unwrap_err().python_class(), "FileNotFoundError");
    /// ```
    pub fn python_class(&self) -> &str {
        match self {
            Error::Assertion { .. } => "AssertionError",
            Error::Unexpected(text) => leading_class(text).unwrap_or("Exception"),
            Error::Os { errno, message } => leading_class(message).unwrap_or_else(|| os_error_class(*errno)),
            Error::Io { source, .. } | Error::Spawn { source, .. } => os_error_class(source.raw_os_error()),
            Error::MissingBinary { .. } => "FileNotFoundError",
            Error::ToolFailed { .. } => "CalledProcessError",
            Error::Timeout { .. } => "TimeoutError",
            Error::Json { .. } => "JSONDecodeError",
            Error::Regex(_) => "error",
            Error::Usage(_) => "TypeError",
            Error::NotRun(_) | Error::Skip(_) | Error::StopTest => "SkipTest",
            Error::Qmp(e) => match **e {
                QmpError::Command { .. } => "ExecuteError",
                QmpError::Timeout { .. } => "TimeoutError",
                QmpError::Eof { .. } | QmpError::Io { .. } => "ConnectionResetError",
                QmpError::Negotiation { .. } => "ConnectError",
                _ => "ProtocolError",
            },
            Error::Vm(e) => match e {
                VmError::LaunchFailure { .. } => "VMLaunchFailure",
                VmError::AbnormalShutdown { .. } => "AbnormalShutdown",
                _ => "QEMUMachineError",
            },
            Error::Env(_) | Error::Terminated { .. } => "Exception",
        }
    }

    /// Python's `isinstance(exception, class)` for [`Error::python_class`]
    /// and the classes above it (`OSError` catches `FileNotFoundError`,
    /// `Exception` catches everything but `SkipTest`'s kin…). `class` may be
    /// dotted (`qemu.qmp.ExecuteError`); its last part counts.
    ///
    /// ```
    /// let e = iotests::os::remove("/nonexistent").unwrap_err();
    /// assert!(e.is_instance("OSError") && e.is_instance("FileNotFoundError") && e.is_instance("Exception"));
    /// assert!(!e.is_instance("KeyError"));
    /// ```
    pub fn is_instance(&self, class: &str) -> bool {
        let class = class.rsplit('.').next().unwrap_or(class);
        let class = match class {
            "IOError" | "EnvironmentError" => "OSError",
            "QMPCommandError" | "QMPResponseError" => "ExecuteError",
            other => other,
        };
        let mut cur = Some(self.python_class());
        while let Some(c) = cur {
            if c == class {
                return true;
            }
            cur = base_of(c);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchy_follows_python() {
        let py = |class: &str| Error::python(class, "x");
        assert!(py("KeyError").is_instance("LookupError"));
        assert!(py("KeyError").is_instance("BaseException"));
        assert!(!py("KeyError").is_instance("ValueError"));
        assert!(Error::fail("x").is_instance("AssertionError"));
        assert!(!Error::fail("x").is_instance("OSError"));
        assert!(Error::Usage("x".into()).is_instance("TypeError"));
        let cmd = Error::from(QmpError::Command {
            command: "x".into(),
            arguments: "".into(),
            class: "GenericError".into(),
            desc: "no".into(),
            response: Box::new(serde_json::Value::Null),
        });
        assert!(cmd.is_instance("ExecuteError") && cmd.is_instance("qemu.qmp.QMPError"));
        let e = Error::Os { errno: Some(libc::EEXIST), message: "[Errno 17] File exists: '/x'".into() };
        assert_eq!(e.python_class(), "FileExistsError");
        assert!(e.is_instance("IOError"));
        assert!(!Error::Skip("x".into()).is_instance("AssertionError"));
    }
}
