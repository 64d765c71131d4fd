//! QMP through the VM: python/qemu's `qmp`, `cmd`, event getters and waits,
//! delegated to the VM's [`QmpClient`].

use std::os::fd::BorrowedFd;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::{Vm, VmError};
use crate::error::Result;
use crate::qmp::{Args, QmpClient, Wait};

/// python/qemu's default `event_wait` / `events_wait` timeout (60 s).
pub const DEFAULT_EVENT_TIMEOUT: Duration = Duration::from_secs(60);

impl Vm {
    /// The QMP connection, for what the VM does not wrap.
    pub fn qmp_client(&mut self) -> Result<&mut QmpClient> {
        Ok(self.qmp.as_mut().ok_or(VmError::NoQmp)?)
    }

    /// python/qemu's `qmp(cmd, args_dict)`: run a command and return the raw
    /// response, `{"return": …}` or `{"error": …}`. Arguments are sent as
    /// given (`json!({...})` keeps its order), with no key conversion.
    ///
    /// ```no_run
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
    /// # let mut vm = t.vm(); vm.launch()?;
    /// use serde_json::json;
    /// let r = vm.qmp("block_resize", json!({"node-name": "nope", "size": 512}))?;
    /// assert_eq!(r["error"]["class"], "GenericError");
    /// # Ok::<(), iotests::Error>(())
    /// ```
    pub fn qmp(&mut self, cmd: &str, args: impl Into<Args>) -> Result<Value> {
        let ret = self.qmp_client()?.qmp(cmd, args)?;
        if cmd == "quit" && ret.get("error").is_none() && ret.get("return").is_some() {
            self.quit_issued = true;
        }
        Ok(ret)
    }

    /// python/qemu's `cmd(cmd, args_dict)`: run a command and return its
    /// return value; an error response is
    /// [`QmpError::Command`](crate::qmp::QmpError::Command).
    pub fn cmd(&mut self, cmd: &str, args: impl Into<Args>) -> Result<Value> {
        let ret = self.qmp_client()?.cmd(cmd, args)?;
        if cmd == "quit" {
            self.quit_issued = true;
        }
        Ok(ret)
    }

    /// python/qemu's `get_qmp_event(wait)`: one queued event, or the next
    /// to arrive (per `wait`: `false`, `true`, seconds, a `Duration`).
    pub fn get_qmp_event(&mut self, wait: impl Into<Wait>) -> Result<Option<Value>> {
        Ok(self.qmp_client()?.get_event(wait)?)
    }

    /// python/qemu's `get_qmp_events(wait)`: all queued events, waiting (per
    /// `wait`) for one if there are none.
    pub fn get_qmp_events(&mut self, wait: impl Into<Wait>) -> Result<Vec<Value>> {
        Ok(self.qmp_client()?.get_events(wait)?)
    }

    /// python/qemu's `event_wait(name, timeout, match)`: the first event
    /// `name` that matches `pattern` (see [`event_match`](crate::qmp::event_match)),
    /// setting aside the others. No such event in time is a
    /// [`QmpError::Timeout`](crate::qmp::QmpError::Timeout).
    ///
    /// ```no_run
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
    /// # let mut vm = t.vm(); vm.launch()?;
    /// use iotests::vm::DEFAULT_EVENT_TIMEOUT;
    /// vm.cmd("stop", ())?;
    /// let ev = vm.event_wait("STOP", DEFAULT_EVENT_TIMEOUT, None)?;
    /// assert_eq!(ev["event"], "STOP");
    /// # Ok::<(), iotests::Error>(())
    /// ```
    pub fn event_wait(&mut self, name: &str, timeout: Duration, pattern: Option<&Value>) -> Result<Value> {
        Ok(self.qmp_client()?.event_wait(name, timeout, pattern)?)
    }

    /// python/qemu's `events_wait([(name, match), …], timeout)`.
    pub fn events_wait(&mut self, events: &[(&str, Option<&Value>)], timeout: Duration) -> Result<Value> {
        Ok(self.qmp_client()?.events_wait(events, timeout)?)
    }

    /// python/qemu's `event_wait(name, timeout=0, match)`: a matching event
    /// if one is at hand, else `None`.
    pub fn event_poll(&mut self, name: &str, pattern: Option<&Value>) -> Result<Option<Value>> {
        Ok(self.qmp_client()?.event_poll(name, pattern)?)
    }

    /// The legacy client's `clear_events()`: forget all queued events.
    pub fn clear_events(&mut self) -> Result<()> {
        self.qmp_client()?.clear_events();
        Ok(())
    }

    /// python/qemu's `send_fd_scm(fd=…)`: pass a descriptor to QEMU for the
    /// next `getfd` / `add-fd`.
    ///
    /// ```no_run
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
    /// # let mut vm = t.vm(); vm.launch()?;
    /// use std::os::fd::AsFd;
    /// use serde_json::json;
    /// let file = std::fs::File::open("/dev/null").unwrap();
    /// vm.send_fd_scm(file.as_fd())?;
    /// vm.cmd("getfd", json!({"fdname": "null"}))?;
    /// # Ok::<(), iotests::Error>(())
    /// ```
    pub fn send_fd_scm(&mut self, fd: BorrowedFd<'_>) -> Result<()> {
        Ok(self.qmp_client()?.send_fd_scm(fd)?)
    }

    /// python/qemu's `send_fd_scm(file_path=…)`: open the file read-only
    /// and pass it.
    pub fn send_file_scm(&mut self, path: impl AsRef<Path>) -> Result<()> {
        Ok(self.qmp_client()?.send_file_scm(path)?)
    }

    /// Pass `fd` and name it `fdname` (`send_fd_scm` + `getfd`).
    pub fn getfd(&mut self, fd: BorrowedFd<'_>, fdname: &str) -> Result<()> {
        Ok(self.qmp_client()?.getfd(fd, fdname)?)
    }

    /// Pass `fd` and put it in a descriptor set (`send_fd_scm` + `add-fd`);
    /// returns QEMU's `{"fdset-id": N, "fd": M}`. For the command-line
    /// `-add-fd`, see [`Vm::add_fd`].
    pub fn qmp_add_fd(&mut self, fd: BorrowedFd<'_>, fdset_id: Option<i64>, opaque: Option<&str>) -> Result<Value> {
        Ok(self.qmp_client()?.add_fd(fd, fdset_id, opaque)?)
    }
}
