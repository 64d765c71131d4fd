//! The byte level of QMP: newline-delimited JSON objects over a Unix socket,
//! read and written with deadlines.
//!
//! Every wait goes through `poll(2)` with a timeout computed from a deadline,
//! so no read or write can block longer than its caller allowed, and writes
//! use `MSG_NOSIGNAL` so that a vanished peer is an error, not a `SIGPIPE`.

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{ControlMessage, MsgFlags, recv, sendmsg};
use serde_json::{Map, Value};
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;

use super::error::{QmpError, snippet};
use crate::deadline::Deadline;

/// The default limit on one incoming message: generous, since
/// `query-named-block-nodes` on a big graph is large, but bounded so that a
/// peer spewing bytes without a newline cannot eat all memory.
pub const DEFAULT_MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// How much one `recv` asks for.
const CHUNK: usize = 64 * 1024;

/// How long a read may wait.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Until<'a> {
    /// Only complete messages already buffered: do not even read.
    Buffered,
    /// Do not block: use only what is already readable.
    Now,
    /// Block until this deadline at the latest.
    By(&'a Deadline),
}

impl Until<'_> {
    /// The `poll` timeout: zero once the deadline has passed (a passed
    /// deadline still looks at what is readable).
    fn poll_timeout(self) -> PollTimeout {
        match self {
            Until::Buffered | Until::Now => PollTimeout::ZERO,
            Until::By(d) => d.poll_timeout(),
        }
    }

    fn passed(self) -> bool {
        match self {
            Until::Buffered | Until::Now => true,
            Until::By(d) => d.expired(),
        }
    }
}

/// One QMP connection at the byte level.
#[derive(Debug)]
pub(crate) struct Wire {
    stream: UnixStream,
    /// Received bytes not yet returned as messages.
    buf: Vec<u8>,
    /// Where each read lands before its bytes join `buf`: zeroed once per
    /// connection, not once per read (zero-filling a 64 KiB tail of `buf`
    /// for every QMP message was most of the reader's time in debug builds).
    landing: Box<[u8]>,
    /// `buf[..scanned]` is known to hold no newline, so a huge message is
    /// scanned once, not once per chunk.
    scanned: usize,
    /// The peer has closed its end.
    eof: bool,
    /// After an oversized message, bytes up to the next newline are its
    /// remainder and are dropped, so the stream stays in sync.
    skipping: bool,
    pub(crate) max_message: usize,
    /// Bytes received in all, to bound a drain of "what is readable now".
    received: u64,
    /// The size of the last message returned, as received.
    pub(crate) last_len: usize,
}

impl Wire {
    pub(crate) fn new(stream: UnixStream) -> Self {
        Wire {
            stream,
            buf: Vec::new(),
            landing: vec![0; CHUNK].into_boxed_slice(),
            scanned: 0,
            eof: false,
            skipping: false,
            max_message: DEFAULT_MAX_MESSAGE,
            received: 0,
            last_len: 0,
        }
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }

    pub(crate) fn stream(&self) -> &UnixStream {
        &self.stream
    }

    /// How many bytes have been received in all.
    pub(crate) fn received(&self) -> u64 {
        self.received
    }

    /// How many bytes the socket holds, ready to be read, right now.
    pub(crate) fn readable(&self) -> u64 {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD stores an int through the pointer.
        if unsafe { libc::ioctl(self.stream.as_raw_fd(), libc::FIONREAD, &mut n) } == 0 { n.max(0) as u64 } else { 0 }
    }

    /// The next message (a JSON object).
    ///
    /// `Ok(None)` means the deadline passed (or, with [`Until::Now`],
    /// nothing complete was readable); a partially received message stays
    /// buffered for the next call.
    pub(crate) fn recv(&mut self, until: Until<'_>, what: &str) -> Result<Option<Map<String, Value>>, QmpError> {
        let mut polled = false;
        loop {
            if let Some(line) = self.take_line(what)? {
                if line.iter().all(u8::is_ascii_whitespace) {
                    // QEMU never sends blank lines; tolerate them rather
                    // than fail a test over whitespace.
                    continue;
                }
                self.last_len = line.len();
                return parse_message(&line, what).map(Some);
            }
            if self.eof {
                return self.at_eof(what);
            }
            if matches!(until, Until::Buffered) {
                return Ok(None);
            }
            // Past a deadline, stop even if a slow peer keeps trickling
            // in bytes; but look at least once. `Now` reads on while data
            // is readable: a message may span several chunks.
            if polled && matches!(until, Until::By(_)) && until.passed() {
                return Ok(None);
            }
            polled = true;
            if !self.wait_for(PollFlags::POLLIN, until.poll_timeout(), what)? {
                // An early wakeup (EINTR) polls again.
                if until.passed() {
                    return Ok(None);
                }
                continue;
            }
            self.fill(what)?;
        }
    }

    /// At EOF: a last message without newline is still a message (as in
    /// python's `readline()`), anything else is reported with the partial
    /// bytes.
    fn at_eof(&mut self, what: &str) -> Result<Option<Map<String, Value>>, QmpError> {
        let rest = std::mem::take(&mut self.buf);
        self.scanned = 0;
        if self.skipping || rest.iter().all(u8::is_ascii_whitespace) {
            self.skipping = false;
            return Err(QmpError::Eof { what: what.to_owned(), partial: String::new() });
        }
        match serde_json::from_slice::<Value>(&rest) {
            Ok(Value::Object(m)) => {
                self.last_len = rest.len();
                Ok(Some(m))
            }
            _ => Err(QmpError::Eof { what: what.to_owned(), partial: snippet(&rest) }),
        }
    }

    /// Removes and returns the first complete line from the buffer.
    fn take_line(&mut self, what: &str) -> Result<Option<Vec<u8>>, QmpError> {
        loop {
            let found = self.buf[self.scanned..].iter().position(|&b| b == b'\n');
            let Some(pos) = found.map(|p| p + self.scanned) else {
                self.scanned = self.buf.len();
                if self.skipping {
                    // Still inside an oversized message: drop as we go.
                    self.buf.clear();
                    self.scanned = 0;
                } else if self.buf.len() > self.max_message {
                    let err = oversize(what, self.max_message, &self.buf);
                    self.buf.clear();
                    self.scanned = 0;
                    self.skipping = true;
                    return Err(err);
                }
                return Ok(None);
            };
            let line: Vec<u8> = self.buf.drain(..=pos).collect();
            self.scanned = 0;
            if self.skipping {
                self.skipping = false;
                continue;
            }
            // The limit is on the message, not on its "\r\n".
            if line.len() > self.max_message.saturating_add(2) {
                return Err(oversize(what, self.max_message, &line));
            }
            return Ok(Some(line));
        }
    }

    /// Waits until the socket is ready for `flags`. `Ok(false)`: not ready
    /// within `timeout`.
    fn wait_for(&self, flags: PollFlags, timeout: PollTimeout, what: &str) -> Result<bool, QmpError> {
        let mut fds = [PollFd::new(self.stream.as_fd(), flags)];
        match poll(&mut fds, timeout) {
            Ok(0) => Ok(false),
            Ok(_) => Ok(true),
            // A signal is not readiness; the caller's loop polls again.
            Err(Errno::EINTR) => Ok(false),
            Err(e) => Err(QmpError::io(format!("polling the socket while {what}"), e.into())),
        }
    }

    /// Reads what is available into the buffer (the socket is readable).
    fn fill(&mut self, what: &str) -> Result<(), QmpError> {
        let res = recv(self.stream.as_raw_fd(), &mut self.landing, MsgFlags::MSG_DONTWAIT);
        match res {
            Ok(n) => {
                self.buf.extend_from_slice(&self.landing[..n]);
                self.received += n as u64;
                if n == 0 {
                    self.eof = true;
                }
                Ok(())
            }
            Err(Errno::EINTR | Errno::EAGAIN) => Ok(()),
            // A reset is the peer going away, like EOF.
            Err(Errno::ECONNRESET) => {
                self.eof = true;
                Ok(())
            }
            Err(e) => Err(QmpError::io(format!("reading from the socket while {what}"), e.into())),
        }
    }

    /// Sends one message (compact JSON plus newline) before `deadline`.
    pub(crate) fn send(&mut self, msg: &Value, deadline: &Deadline, what: &str) -> Result<(), QmpError> {
        let mut bytes = serde_json::to_vec(msg).map_err(|e| QmpError::Protocol {
            what: what.to_owned(),
            reason: format!("cannot serialize the message: {e}"),
            message: String::new(),
        })?;
        // Python's client sends no newline, QEMU's streaming parser needs
        // none; one makes the stream readable in strace and for test peers.
        bytes.push(b'\n');
        self.send_bytes(&bytes, None, deadline, what)
    }

    /// Sends `bytes`, with `fd` attached to the first byte via SCM_RIGHTS.
    pub(crate) fn send_bytes(
        &mut self,
        mut bytes: &[u8],
        mut fd: Option<BorrowedFd<'_>>,
        deadline: &Deadline,
        what: &str,
    ) -> Result<(), QmpError> {
        let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
        while !bytes.is_empty() {
            if !self.wait_for(PollFlags::POLLOUT, deadline.poll_timeout(), what)? {
                if deadline.expired() {
                    return Err(QmpError::Timeout {
                        what: format!("{what} (the peer is not reading)"),
                        after: deadline.length(),
                    });
                }
                continue;
            }
            let raw = fd.map(|f| [f.as_raw_fd()]);
            let cmsgs: Vec<ControlMessage<'_>> =
                raw.as_ref().map(|r| ControlMessage::ScmRights(r)).into_iter().collect();
            let res = sendmsg::<()>(self.stream.as_raw_fd(), &[IoSlice::new(bytes)], &cmsgs, flags, None);
            match res {
                Ok(n) => {
                    bytes = &bytes[n..];
                    fd = None;
                }
                Err(Errno::EINTR | Errno::EAGAIN) => {}
                Err(Errno::EPIPE | Errno::ECONNRESET) => {
                    return Err(QmpError::Eof { what: what.to_owned(), partial: String::new() });
                }
                Err(e) => return Err(QmpError::io(format!("writing to the socket while {what}"), io::Error::from(e))),
            }
        }
        Ok(())
    }
}

/// The error for an oversized message starting with `bytes`.
fn oversize(what: &str, limit: usize, bytes: &[u8]) -> QmpError {
    QmpError::Oversize { what: what.to_owned(), limit, head: snippet(&bytes[..bytes.len().min(200)]) }
}

/// Parses one line as a QMP message.
fn parse_message(line: &[u8], what: &str) -> Result<Map<String, Value>, QmpError> {
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(QmpError::Protocol {
            what: what.to_owned(),
            reason: "the message is not a JSON object".into(),
            message: snippet(line),
        }),
        Err(e) => Err(QmpError::Garbage { what: what.to_owned(), line: snippet(line), reason: e.to_string() }),
    }
}
