//! [`QmpListener`]: the server side of the socket, for peers that connect to
//! us (`qemu-storage-daemon --chardev socket,path=…`), like python's
//! `QEMUMonitorProtocol(path, server=True)`.

use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, poll};

use super::QmpClient;
use super::error::QmpError;
use crate::deadline::Deadline;

/// A listening Unix socket that accepts one QMP peer at a time.
///
/// The socket file is removed when the listener is dropped.
///
/// ```
/// use std::time::Duration;
/// use iotests::qmp::QmpListener;
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("qmp.sock");
/// let listener = QmpListener::bind(&path)?;
/// // Nobody connects: accept gives up in time.
/// assert!(listener.accept(Duration::from_millis(20)).unwrap_err().is_timeout());
/// // Somebody does.
/// let _peer = std::os::unix::net::UnixStream::connect(&path).unwrap();
/// let _client = listener.accept(Duration::from_secs(5))?;
/// drop(listener);
/// assert!(!path.exists());
/// # Ok::<(), iotests::qmp::QmpError>(())
/// ```
#[derive(Debug)]
pub struct QmpListener {
    listener: UnixListener,
    path: PathBuf,
}

impl QmpListener {
    /// Listens on `path`. A stale socket file there (left by an earlier
    /// run) is replaced; any other file is an error.
    pub fn bind(path: impl AsRef<Path>) -> Result<Self, QmpError> {
        let path = path.as_ref();
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
            std::fs::remove_file(path)
                .map_err(|e| QmpError::io(format!("removing the stale socket {}", path.display()), e))?;
        }
        let listener = UnixListener::bind(path).map_err(|e| QmpError::io(format!("binding {}", path.display()), e))?;
        // Non-blocking, so that a peer that gives up between poll and accept
        // cannot leave accept() blocked.
        listener.set_nonblocking(true).map_err(|e| QmpError::io(format!("setting up {}", path.display()), e))?;
        Ok(QmpListener { listener, path: path.to_owned() })
    }

    /// The socket's path, to give to the peer.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits up to `timeout` for a peer to connect. Does not negotiate; call
    /// [`QmpClient::negotiate`] on the result.
    pub fn accept(&self, timeout: Duration) -> Result<QmpClient, QmpError> {
        let deadline = Deadline::within(timeout);
        let what = || format!("waiting for a connection on {}", self.path.display());
        loop {
            let mut fds = [PollFd::new(self.listener.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, deadline.poll_timeout()) {
                Ok(0) | Err(Errno::EINTR) => {
                    if deadline.expired() {
                        return Err(QmpError::Timeout { what: what(), after: timeout });
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => return Err(QmpError::io(what(), e.into())),
            }
            match self.listener.accept() {
                Ok((stream, _)) => return Ok(QmpClient::from_stream(stream)),
                // The peer gave up between poll and accept.
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
                Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => {}
                Err(e) => return Err(QmpError::io(what(), e)),
            }
        }
    }
}

impl Drop for QmpListener {
    fn drop(&mut self) {
        // Best effort: the directory may be gone already.
        let _ = std::fs::remove_file(&self.path);
    }
}
