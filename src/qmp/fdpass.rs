//! Passing file descriptors to QEMU with SCM_RIGHTS.
//!
//! Python's `send_fd_scm` sends a single space with the descriptor attached;
//! QEMU's JSON parser skips the whitespace and keeps the descriptor for the
//! next command that wants one (`getfd`, `add-fd`).

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use serde_json::{Map, Value, json};

use super::QmpClient;
use super::error::QmpError;
use crate::deadline::Deadline;

impl QmpClient {
    /// Sends `fd` to the peer via SCM_RIGHTS, attached to one byte of
    /// whitespace: python's `send_fd_scm(fd=…)`. QEMU keeps it for the next
    /// `getfd` or `add-fd`; see [`QmpClient::getfd`] and
    /// [`QmpClient::add_fd`] for the usual pairs.
    ///
    /// ```
    /// use std::io::{Read, Seek, Write};
    /// use std::os::fd::AsFd;
    /// use std::os::unix::net::UnixStream;
    /// use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    ///
    /// let (ours, theirs) = UnixStream::pair().unwrap();
    /// let mut qmp = iotests::qmp::QmpClient::from_stream(ours);
    /// let mut file = tempfile::tempfile().unwrap();
    /// file.write_all(b"hello").unwrap();
    /// qmp.send_fd_scm(file.as_fd())?;
    ///
    /// // The peer gets one space and a descriptor of the same file.
    /// let mut byte = [0u8; 1];
    /// let mut iov = [std::io::IoSliceMut::new(&mut byte)];
    /// let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    /// let msg = recvmsg::<()>(std::os::fd::AsRawFd::as_raw_fd(&theirs), &mut iov, Some(&mut space), MsgFlags::empty()).unwrap();
    /// let Some(ControlMessageOwned::ScmRights(fds)) = msg.cmsgs().unwrap().next() else { panic!() };
    /// assert_eq!(byte, *b" ");
    /// let mut got = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[0]) };
    /// let mut text = String::new();
    /// got.rewind().unwrap();
    /// got.read_to_string(&mut text).unwrap();
    /// assert_eq!(text, "hello");
    /// # Ok::<(), iotests::qmp::QmpError>(())
    /// ```
    pub fn send_fd_scm(&mut self, fd: BorrowedFd<'_>) -> Result<(), QmpError> {
        let deadline = Deadline::within(self.default_timeout);
        self.wire.send_bytes(b" ", Some(fd), &deadline, "sending a file descriptor")
    }

    /// Opens `path` read-only and sends the descriptor: python's
    /// `send_fd_scm(file_path=…)`. Our copy is closed afterwards; QEMU's
    /// stays open.
    pub fn send_file_scm(&mut self, path: impl AsRef<Path>) -> Result<(), QmpError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| QmpError::io(format!("opening {} to pass it", path.display()), e))?;
        self.send_fd_scm(file.as_fd())
    }

    /// Sends `fd` and names it `fdname` with `getfd`, for options that take
    /// a descriptor name (e.g. an NBD `fd` socket address).
    ///
    /// ```no_run
    /// # fn f(qmp: &mut iotests::qmp::QmpClient, sock: &std::os::unix::net::UnixStream) -> Result<(), iotests::qmp::QmpError> {
    /// use std::os::fd::AsFd;
    /// qmp.getfd(sock.as_fd(), "nbd-fifo")?;
    /// # Ok(()) }
    /// ```
    pub fn getfd(&mut self, fd: BorrowedFd<'_>, fdname: &str) -> Result<(), QmpError> {
        self.send_fd_scm(fd)?;
        self.cmd("getfd", json!({ "fdname": fdname })).map(drop)
    }

    /// Sends `fd` and adds it to a descriptor set with `add-fd`; returns
    /// QEMU's answer, `{"fdset-id": N, "fd": M}`. With `fdset_id` `None`,
    /// QEMU picks a new set. The descriptor is then usable as
    /// `/dev/fdset/N` in file names.
    ///
    /// ```no_run
    /// # fn f(qmp: &mut iotests::qmp::QmpClient) -> Result<(), iotests::qmp::QmpError> {
    /// use std::os::fd::AsFd;
    /// let file = std::fs::File::open("/tmp/test.img").unwrap();
    /// let r = qmp.add_fd(file.as_fd(), Some(2), Some("image0:r"))?;
    /// assert_eq!(r["fdset-id"], 2);
    /// # Ok(()) }
    /// ```
    pub fn add_fd(
        &mut self,
        fd: BorrowedFd<'_>,
        fdset_id: Option<i64>,
        opaque: Option<&str>,
    ) -> Result<Value, QmpError> {
        self.send_fd_scm(fd)?;
        let mut args = Map::new();
        if let Some(id) = fdset_id {
            args.insert("fdset-id".into(), id.into());
        }
        if let Some(o) = opaque {
            args.insert("opaque".into(), o.into());
        }
        self.cmd("add-fd", args)
    }
}
