//! Capturing a tool's output, and the end of a tool run: the one stack
//! both [`run`](super::run) and the tools' plumbing (`tools::pipe`, which
//! adds output copied into the test's log) are built on.
//!
//! * [`Capture`]: a pipe whose read end a thread of its own reads to EOF, so
//!   that a tool never blocks on a full pipe while we wait for it;
//! * [`feed_stdin`]: a tool's input written from a thread of its own, so
//!   that the timed wait starts at once;
//! * [`wait_tool`]: the timed wait, the kill at the limit, and iotests'
//!   report of a tool killed by a signal.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::OwnedFd;
use std::process::ChildStdin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Child, returncode};
use crate::error::{Error, Result};

/// How long to wait for a captured pipe's EOF once the tool has exited. A
/// daemon the tool forked (`qemu-nbd --fork`) may keep the pipe open; we
/// take what arrived by then rather than wait for the daemon.
pub(crate) const PIPE_DRAIN: Duration = Duration::from_secs(2);

/// The error for a pipe that could not be made.
pub(crate) fn pipe_err(tool: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::io(format!("creating a pipe for {tool}"), e)
}

/// A pipe read to the end by a background thread.
pub(crate) struct Capture {
    buf: Arc<Mutex<Vec<u8>>>,
    done: std::sync::mpsc::Receiver<()>,
}

impl Capture {
    /// A new capture; the returned write end goes to the child (as stdout,
    /// stderr or both).
    pub(crate) fn new(tool: &str) -> Result<(Capture, OwnedFd)> {
        let (mut reader, writer) = std::io::pipe().map_err(pipe_err(tool))?;
        let buf = Arc::new(Mutex::new(Vec::new()));
        let (tx, done) = std::sync::mpsc::channel();
        let sink = Arc::clone(&buf);
        std::thread::Builder::new()
            .name(format!("{tool}-capture"))
            .spawn(move || {
                let mut chunk = [0u8; 8192];
                loop {
                    match reader.read(&mut chunk) {
                        Ok(0) => break,
                        Ok(n) => sink.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(&chunk[..n]),
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
                let _ = tx.send(());
            })
            .map_err(|e| Error::io(format!("starting the capture thread of {tool}"), e))?;
        Ok((Capture { buf, done }, OwnedFd::from(writer)))
    }

    /// Everything read once EOF is seen, or after `drain` at most.
    pub(crate) fn finish(&self, drain: Duration) -> String {
        let _ = self.done.recv_timeout(drain);
        self.snapshot()
    }

    /// What has been read so far, lossily decoded.
    pub(crate) fn snapshot(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

/// Write `text` to a tool's stdin from a thread of its own, so that the
/// timed wait starts at once: a tool that does not read its input (and a
/// pipe that fills up) must not block us before the time limit is armed.
/// The write ends when the tool has read everything or is gone (EPIPE).
pub(crate) fn feed_stdin(tool: &str, mut stdin: ChildStdin, text: &str) -> Result<()> {
    let bytes = text.as_bytes().to_vec();
    std::thread::Builder::new()
        .name(format!("{tool}-stdin"))
        .spawn(move || {
            // A tool that exits without reading its input is not an error.
            let _ = stdin.write_all(&bytes);
        })
        .map(drop)
        .map_err(|e| Error::io(format!("starting the thread that feeds {tool}"), e))
}

/// Wait up to `timeout` for a tool to finish and return its returncode. At
/// the limit the tool is killed and the result is [`Error::Timeout`] with
/// `so_far()` (what it printed) as the log. A tool killed by a signal is
/// reported on stderr as iotests reports it (`<tool> received signal N:
/// <cmdline>`).
pub(crate) fn wait_tool(
    child: &mut Child,
    tool: &str,
    cmdline: &str,
    timeout: Duration,
    so_far: impl FnOnce() -> String,
) -> Result<i32> {
    let Some(status) = child.wait_timeout(timeout)? else {
        let _ = child.kill();
        return Err(Error::Timeout {
            what: format!("{tool} did not finish within {timeout:?}: {cmdline}"),
            log: so_far(),
        });
    };
    let rc = returncode(status);
    if rc < 0 {
        eprintln!("{tool} received signal {}: {cmdline}", -rc);
    }
    Ok(rc)
}
