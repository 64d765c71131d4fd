//! The log sink: iotests' `log()`.
//!
//! Everything a test logs lands in one buffer per test, in order, and that
//! buffer becomes the test's snapshot. A message is text or JSON; it passes
//! through a list of [`Filter`]s in order and is then written as
//! `json.dumps(msg, sort_keys=…, indent=…)` or as plain text, followed by a
//! newline — exactly what Python's logging `StreamHandler` writes to stdout.
//!
//! The [`Log`] handle is cheap to clone and shared by the test's context, its
//! VMs and tool wrappers, so output from all of them interleaves in the order
//! it happened, as it does on a Python test's stdout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::filters::{Filter, Prepared, Scope};

/// The message type lives below both the log and the filters (so that the
/// filters do not depend on the log); it is re-exported here, where it is
/// used.
pub use crate::msg::Msg;

#[derive(Debug)]
struct Inner {
    buf: Mutex<Buffer>,
    echo: bool,
    scope: Scope,
    /// What the filters derive from `scope`, built once for the test.
    prepared: Prepared,
    /// Whether `log()` output is kept: iotests only attaches its stdout
    /// handler in script-style tests (`activate_logging()`), so in a
    /// unittest-style test `log()` prints nothing unless the test asks.
    active: AtomicBool,
}

/// One test's log buffer. Clones share the buffer.
///
/// ```
/// use iotests::{Log, Filter, filters::Scope};
/// let log = Log::new(Scope::default(), false);
/// log.log("hello");
/// log.log_with(serde_json::json!({"b": 2, "a": 1}), &[], Some(2));
/// assert_eq!(log.contents(), "hello\n{\n  \"a\": 1,\n  \"b\": 2\n}\n");
/// ```
#[derive(Debug, Clone)]
pub struct Log {
    inner: Arc<Inner>,
}

impl Log {
    /// A new, empty log. `scope` is what context-dependent filters need
    /// (scratch paths, PID, image format); `echo` also prints every line to
    /// stdout as it is written (iotests' `-d`).
    pub fn new(scope: Scope, echo: bool) -> Log {
        Log {
            inner: Arc::new(Inner {
                buf: Mutex::new(Buffer::default()),
                echo,
                scope,
                prepared: Prepared::default(),
                active: AtomicBool::new(true),
            }),
        }
    }

    fn buf(&self) -> MutexGuard<'_, Buffer> {
        // Nothing panics while holding the lock; recover anyway.
        self.inner.buf.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The filter scope of this log's test.
    pub fn scope(&self) -> &Scope {
        &self.inner.scope
    }

    /// iotests' `log(msg)`: no filters, no indent.
    pub fn log(&self, msg: impl Into<Msg>) {
        self.log_with(msg, &[], None)
    }

    /// iotests' `log(msg, filters, indent)`: apply `filters` in order, then
    /// write the message as text or as `json.dumps` would.
    pub fn log_with(&self, msg: impl Into<Msg>, filters: &[Filter], indent: Option<usize>) {
        if !self.is_active() {
            if self.inner.echo {
                // What Python's root logger (basicConfig at DEBUG under `-d`)
                // prints for a message nobody else handles.
                let msg = self.apply(msg.into(), filters);
                eprintln!("INFO:qemu.iotests.diff_io:{}", msg.render(indent));
            }
            return;
        }
        let msg = self.apply(msg.into(), filters);
        if self.inner.echo {
            let mut text = msg.render(indent);
            text.push('\n');
            self.write(&text);
            return;
        }
        // Render straight into the buffer: no intermediate string.
        let mut buf = self.buf();
        let piece = buf.open();
        msg.render_into(piece, indent);
        piece.push('\n');
    }

    /// Apply `filters` in order to a message, as `log()` does before printing.
    pub fn apply(&self, mut msg: Msg, filters: &[Filter]) -> Msg {
        for f in filters {
            msg = f.apply_prepared(&self.inner.scope, &self.inner.prepared, msg);
        }
        msg
    }

    /// Write text as it is, with no newline added: what a child process with
    /// inherited stdout, or Python's `print(…, end='')`, puts into the output.
    pub fn write(&self, text: &str) {
        if text.is_empty() {
            return;
        }
        self.buf().open().push_str(text);
        if self.inner.echo {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    }

    /// Append text to the buffer only, never echoing it: for output that has
    /// a different live form (the unittest runner's progress under `-d`).
    ///
    /// ```
    /// let log = iotests::Log::new(Default::default(), true);
    /// log.record("..");
    /// assert_eq!(log.contents(), "..");
    /// ```
    pub fn record(&self, text: &str) {
        self.buf().open().push_str(text);
    }

    /// Whether [`log`](Self::log) output is kept (iotests'
    /// `activate_logging()` has been called). True for a new log.
    pub fn is_active(&self) -> bool {
        self.inner.active.load(Ordering::Relaxed)
    }

    /// Keep or drop [`log`](Self::log) output. The unittest-style runner
    /// deactivates it, as iotests.py only attaches its stdout handler for
    /// script-style tests; [`write`](Self::write) and
    /// [`print`](Self::print) are not affected (Python's `print()`).
    ///
    /// ```
    /// let log = iotests::Log::new(Default::default(), false);
    /// log.set_active(false);
    /// log.log("dropped");
    /// log.print("kept");
    /// assert_eq!(log.contents(), "kept\n");
    /// ```
    pub fn set_active(&self, active: bool) {
        self.inner.active.store(active, Ordering::Relaxed)
    }

    /// Python's `print(text)`: the text and a newline, unfiltered.
    pub fn print(&self, text: impl AsRef<str>) {
        let mut s = text.as_ref().to_string();
        s.push('\n');
        self.write(&s);
    }

    /// Everything logged so far.
    pub fn contents(&self) -> String {
        self.buf().text()
    }

    /// The last `n` lines logged, for failure reports.
    ///
    /// ```
    /// let log = iotests::Log::new(Default::default(), false);
    /// for i in 0..5 { log.log(i.to_string()); }
    /// assert_eq!(log.tail(2), "3\n4\n");
    /// ```
    pub fn tail(&self, n: usize) -> String {
        let text = self.buf().last_lines(n + 1);
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        lines[lines.len().saturating_sub(n)..].concat()
    }
}

/// The log text, kept in pieces of about [`Buffer::PIECE`] bytes. One
/// growing string would be copied whole each time it doubles, which is what
/// long logs (hundreds of MB in the benchmark) spend most on.
#[derive(Debug, Default)]
struct Buffer {
    full: Vec<String>,
    cur: String,
}

impl Buffer {
    const PIECE: usize = 1 << 20;

    /// The piece to append to: a new one once the current is full.
    fn open(&mut self) -> &mut String {
        if self.cur.len() >= Self::PIECE {
            let next = String::with_capacity(Self::PIECE + Self::PIECE / 8);
            self.full.push(std::mem::replace(&mut self.cur, next));
        }
        &mut self.cur
    }

    fn pieces(&self) -> impl Iterator<Item = &String> {
        self.full.iter().chain(std::iter::once(&self.cur))
    }

    /// All the text.
    fn text(&self) -> String {
        let mut out = String::with_capacity(self.pieces().map(String::len).sum());
        self.pieces().for_each(|p| out.push_str(p));
        out
    }

    /// At least the last `n` lines (more when they are at hand).
    fn last_lines(&self, n: usize) -> String {
        let pieces: Vec<&String> = self.pieces().collect();
        let mut newlines = 0;
        let mut from = pieces.len();
        while from > 0 && newlines < n {
            from -= 1;
            newlines += pieces[from].bytes().filter(|&b| b == b'\n').count();
        }
        pieces[from..].iter().map(|p| p.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_logs_span_pieces_and_read_back_whole() {
        let log = Log::new(Scope::default(), false);
        let line = "x".repeat(999);
        let mut expected = String::new();
        for i in 0..3000 {
            let text = format!("{i:04} {line}");
            log.log(text.as_str());
            expected.push_str(&text);
            expected.push('\n');
        }
        assert!(log.buf().full.len() >= 2, "the test must cross pieces");
        assert_eq!(log.contents(), expected);
        let tail = log.tail(1500);
        assert_eq!(tail.lines().count(), 1500);
        assert!(tail.starts_with("1500 ") && expected.ends_with(&tail));
        assert_eq!(log.tail(0), "");
        assert_eq!(Log::new(Scope::default(), false).tail(3), "");
    }
}

/// iotests' `log()` keyword arguments (`filters=(), indent=None`), for
/// [`TestContext::log_with`](crate::TestContext::log_with) and
/// [`Vm::qmp_log_with`](crate::vm::Vm::qmp_log_with). Converts from the
/// filters alone, the common case.
///
/// ```
/// use iotests::{Filter, log::LogOpts};
/// let filters = [Filter::QmpTestfiles];
/// let o: LogOpts = (&filters).into();
/// assert_eq!((o.filters.len(), o.indent), (1, None));
/// let o = LogOpts { indent: Some(2), ..Default::default() };
/// assert!(o.filters.is_empty());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct LogOpts<'a> {
    /// Applied in order (`filters=[...]`).
    pub filters: &'a [Filter],
    /// JSON indentation (`indent=2`).
    pub indent: Option<usize>,
}

impl<'a> From<&'a [Filter]> for LogOpts<'a> {
    fn from(filters: &'a [Filter]) -> Self {
        LogOpts { filters, indent: None }
    }
}

impl<'a, const N: usize> From<&'a [Filter; N]> for LogOpts<'a> {
    fn from(filters: &'a [Filter; N]) -> Self {
        LogOpts { filters, indent: None }
    }
}

impl<'a> From<&'a Vec<Filter>> for LogOpts<'a> {
    fn from(filters: &'a Vec<Filter>) -> Self {
        LogOpts { filters, indent: None }
    }
}
