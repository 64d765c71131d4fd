//! [`QmpError`]: everything that can go wrong in a QMP conversation.

use std::fmt::Write as _;
use std::io;
use std::time::Duration;

use serde_json::Value;

/// How much of an offending message an error keeps. Enough to recognise it,
/// short enough that a 64 MiB blob does not end up in a test's output.
pub(crate) const SNIPPET_LIMIT: usize = 1024;

/// A failed QMP conversation.
///
/// Every variant says what the client was doing (`what`, phrased so that it
/// reads after "while") and carries the offending data, truncated to a sane
/// length, so that the Display text explains the failure on its own.
///
/// ```
/// use std::time::Duration;
/// use iotests::qmp::QmpError;
///
/// let e = QmpError::Timeout {
///     what: "waiting for event STOP".into(),
///     after: Duration::from_millis(200),
/// };
/// assert_eq!(e.to_string(), "QMP: timed out after 200ms while waiting for event STOP");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    /// The peer closed the connection.
    #[error("QMP: connection closed by the peer while {what}{}", partial_note(partial))]
    Eof {
        /// What the client was doing.
        what: String,
        /// The bytes of an incomplete message received before the close
        /// (lossily decoded, truncated), empty if there were none.
        partial: String,
    },

    /// A line that is not JSON at all.
    #[error("QMP: received a line that is not JSON while {what} ({reason}): {line}")]
    Garbage {
        /// What the client was doing.
        what: String,
        /// The line (lossily decoded, truncated).
        line: String,
        /// The JSON parser's complaint.
        reason: String,
    },

    /// JSON that is not a valid QMP message here: not an object, a reply
    /// without `return` or `error`, an error reply nobody asked for, …
    #[error("QMP: protocol error while {what}: {reason}: {message}")]
    Protocol {
        /// What the client was doing.
        what: String,
        /// What is wrong with the message.
        reason: String,
        /// The message (truncated).
        message: String,
    },

    /// The peer sent more than the message size limit without a newline.
    #[error("QMP: message longer than {limit} bytes while {what}; it starts with: {head}")]
    Oversize {
        /// What the client was doing.
        what: String,
        /// The limit that was exceeded, in bytes.
        limit: usize,
        /// The start of the message (truncated).
        head: String,
    },

    /// Something did not happen in time.
    #[error("QMP: timed out after {after:?} while {what}")]
    Timeout {
        /// What the client was waiting for.
        what: String,
        /// How long it waited.
        after: Duration,
    },

    /// More events arrived than the client keeps queued (see
    /// [`QmpClient::set_max_queued_events`](super::QmpClient::set_max_queued_events)):
    /// the peer sends events faster than the test takes them.
    #[error(
        "QMP: {queued} events ({bytes} bytes) queued and not taken while {what}, more than the client keeps: \
         the peer floods the connection with events; the last one: {last}"
    )]
    Flooded {
        /// What the client was doing.
        what: String,
        /// How many events were queued.
        queued: usize,
        /// Their size, as received.
        bytes: usize,
        /// The last event (truncated).
        last: String,
    },

    /// A socket operation failed.
    #[error("QMP: {context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Why it failed.
        #[source]
        source: io::Error,
    },

    /// The server answered a command with an error response.
    #[error("QMP command {command} failed: {class}: {desc}{}", args_note(arguments))]
    Command {
        /// The command (`blockdev-add`).
        command: Box<str>,
        /// Its arguments, as sent (truncated).
        arguments: Box<str>,
        /// The error class (`GenericError`, `CommandNotFound`, …).
        class: String,
        /// The human-readable description.
        desc: String,
        /// The whole response object.
        response: Box<Value>,
    },

    /// The greeting was not understood or `qmp_capabilities` failed.
    #[error("QMP: capabilities negotiation failed: {reason}: {message}")]
    Negotiation {
        /// What went wrong.
        reason: String,
        /// The offending message (truncated), or a description of its absence.
        message: String,
    },
}

impl QmpError {
    /// An [`QmpError::Io`] with context.
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        QmpError::Io { context: context.into(), source }
    }

    /// Whether this is a [`QmpError::Timeout`].
    ///
    /// ```
    /// # use iotests::qmp::QmpError;
    /// # use std::time::Duration;
    /// assert!(QmpError::Timeout { what: "x".into(), after: Duration::ZERO }.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, QmpError::Timeout { .. })
    }

    /// The error with `note` on what became of the peer (how the process
    /// behind the connection ended) added to a [`QmpError::Eof`]; other
    /// errors are returned as they are.
    ///
    /// ```
    /// # use iotests::qmp::QmpError;
    /// let e = QmpError::Eof { what: "waiting for an event".into(), partial: String::new() };
    /// let e = e.with_peer_note("qemu (pid 7) was killed by signal 9 (SIGKILL)");
    /// assert_eq!(
    ///     e.to_string(),
    ///     "QMP: connection closed by the peer while waiting for an event; qemu (pid 7) was killed by signal 9 (SIGKILL)"
    /// );
    /// ```
    pub fn with_peer_note(self, note: &str) -> Self {
        match self {
            QmpError::Eof { what, partial } => QmpError::Eof { what: format!("{what}; {note}"), partial },
            other => other,
        }
    }

    /// Whether this is a [`QmpError::Eof`] (the peer hung up).
    ///
    /// ```
    /// # use iotests::qmp::QmpError;
    /// assert!(QmpError::Eof { what: "x".into(), partial: String::new() }.is_eof());
    /// ```
    pub fn is_eof(&self) -> bool {
        matches!(self, QmpError::Eof { .. })
    }
}

fn args_note(arguments: &str) -> String {
    if arguments.is_empty() || arguments == "{}" { String::new() } else { format!("\n  arguments: {arguments}") }
}

fn partial_note(partial: &str) -> String {
    if partial.is_empty() { String::new() } else { format!(" (after an incomplete message: {partial})") }
}

/// Bytes as text for an error message: lossy UTF-8, at most
/// [`SNIPPET_LIMIT`] bytes, with a note on how much was cut.
pub(crate) fn snippet(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    if bytes.len() <= SNIPPET_LIMIT {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let mut s = String::from_utf8_lossy(&bytes[..SNIPPET_LIMIT]).into_owned();
    // Writing to a String cannot fail.
    let _ = write!(s, "… ({} bytes in total)", bytes.len());
    s
}

/// A JSON value as text for an error message, truncated like [`snippet`].
pub(crate) fn value_snippet(value: &Value) -> String {
    snippet(value.to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_truncates_and_strips_line_end() {
        assert_eq!(snippet(b"abc\r\n"), "abc");
        let long = vec![b'x'; SNIPPET_LIMIT + 10];
        let s = snippet(&long);
        assert!(s.ends_with(&format!("… ({} bytes in total)", SNIPPET_LIMIT + 10)));
        assert!(s.len() < SNIPPET_LIMIT + 40);
    }

    #[test]
    fn eof_display_mentions_partial() {
        let e = QmpError::Eof { what: "reading".into(), partial: "{\"ret".into() };
        assert_eq!(
            e.to_string(),
            "QMP: connection closed by the peer while reading (after an incomplete message: {\"ret)"
        );
    }
}
