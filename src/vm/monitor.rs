//! QMP through the VM: python/qemu's `qmp`, `cmd`, event getters and waits,
//! delegated to the VM's [`QmpClient`].

use std::os::fd::BorrowedFd;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::opts::EventWait;
use super::{Vm, VmError};
use crate::error::Result;
use crate::qmp::{Args, QmpClient, QmpError, Wait};

/// How long to wait for QEMU to end after it hung up on QMP, to say how it
/// ended.
pub(super) const PEER_END_WAIT: Duration = Duration::from_secs(1);

/// python/qemu's default `event_wait` / `events_wait` timeout (60 s).
pub const DEFAULT_EVENT_TIMEOUT: Duration = Duration::from_secs(60);

impl Vm {
    /// Under `IOTESTS_DEBUG` (check -d), QMP traffic on stderr, as
    /// python/qemu logs it at DEBUG level.
    fn debug_qmp(&self, what: &str, cmd: &str, args: &Args) {
        if self.env.debug {
            let args = args.to_value();
            eprintln!(
                "DEBUG:qemu.qmp.qmp_client.{}:{what}: {cmd} {}",
                self.name,
                crate::json::dumps(&args, false, None)
            );
        }
    }

    fn debug_reply(&self, reply: &Value) {
        if self.env.debug {
            eprintln!("DEBUG:qemu.qmp.qmp_client.{}:Response: {}", self.name, crate::json::dumps(reply, false, None));
        }
    }

    /// The QMP connection, for what the VM does not wrap.
    pub fn qmp_client(&mut self) -> Result<&mut QmpClient> {
        Ok(self.state.running().and_then(|r| r.qmp.as_mut()).ok_or(VmError::NoQmp)?)
    }

    /// `quit` was sent: a shutdown only waits for QEMU to exit.
    fn note_quit(&mut self) {
        if let Some(run) = self.state.running() {
            run.quit_issued = true;
            run.child.set_serving(false);
        }
    }

    /// Run `f` on the QMP connection. Should QEMU hang up, the error says
    /// how QEMU ended (`qemu (pid N) was killed by signal 9 (SIGKILL)`),
    /// not only that the connection closed.
    fn with_qmp<T>(&mut self, f: impl FnOnce(&mut QmpClient) -> Result<T, QmpError>) -> Result<T> {
        let r = f(self.qmp_client()?);
        r.map_err(|e| match self.state.child() {
            Some(child) if e.is_eof() => e.with_peer_note(&child.describe_end_within(PEER_END_WAIT)).into(),
            _ => e.into(),
        })
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
        let args = args.into();
        self.debug_qmp("Request", cmd, &args);
        let ret = self.with_qmp(|q| q.qmp(cmd, args))?;
        self.debug_reply(&ret);
        if cmd == "quit" && ret.get("error").is_none() && ret.get("return").is_some() {
            self.note_quit();
        }
        Ok(ret)
    }

    /// python/qemu's `cmd(cmd, args_dict)`: run a command and return its
    /// return value; an error response is
    /// [`QmpError::Command`].
    pub fn cmd(&mut self, cmd: &str, args: impl Into<Args>) -> Result<Value> {
        let args = args.into();
        self.debug_qmp("Request", cmd, &args);
        let ret = self.with_qmp(|q| q.cmd(cmd, args));
        if self.env.debug {
            match &ret {
                Ok(v) => self.debug_reply(&serde_json::json!({ "return": v })),
                Err(e) => eprintln!("DEBUG:qemu.qmp.qmp_client.{}:Response: {e}", self.name),
            }
        }
        let ret = ret?;
        if cmd == "quit" {
            self.note_quit();
        }
        Ok(ret)
    }

    /// python/qemu's `get_qmp_event()`: one queued event, if any (no
    /// waiting).
    pub fn get_qmp_event(&mut self) -> Result<Option<Value>> {
        self.get_qmp_event_with(false)
    }

    /// python/qemu's `get_qmp_event(wait)`: one queued event, or the next
    /// to arrive (per `wait`: `false`, `true`, seconds, a `Duration`).
    pub fn get_qmp_event_with(&mut self, wait: impl Into<Wait>) -> Result<Option<Value>> {
        self.with_qmp(|q| q.get_event(wait))
    }

    /// python/qemu's `get_qmp_events()`: all queued events (no waiting).
    pub fn get_qmp_events(&mut self) -> Result<Vec<Value>> {
        self.get_qmp_events_with(false)
    }

    /// python/qemu's `get_qmp_events(wait)`: all queued events, waiting (per
    /// `wait`: `false`, `true`, seconds, a `Duration`) for one if there are
    /// none.
    ///
    /// ```no_run
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
    /// # let mut vm = t.vm(); vm.launch()?;
    /// let events = vm.get_qmp_events_with(true)?;   // get_qmp_events(wait=True)
    /// let events = vm.get_qmp_events_with(0.5)?;    // get_qmp_events(wait=0.5)
    /// # Ok::<(), iotests::Error>(())
    /// ```
    pub fn get_qmp_events_with(&mut self, wait: impl Into<Wait>) -> Result<Vec<Value>> {
        self.with_qmp(|q| q.get_events(wait))
    }

    /// python/qemu's `event_wait(name)`: the first event `name` (at most
    /// 60 s), setting aside the others. No such event in time is a
    /// [`QmpError::Timeout`].
    ///
    /// ```no_run
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
    /// # let mut vm = t.vm(); vm.launch()?;
    /// vm.cmd("stop", ())?;
    /// let ev = vm.event_wait("STOP")?;
    /// assert_eq!(ev["event"], "STOP");
    /// # Ok::<(), iotests::Error>(())
    /// ```
    pub fn event_wait(&mut self, name: &str) -> Result<Value> {
        self.event_wait_with(name, EventWait::default())
    }

    /// python/qemu's `event_wait(name, timeout, match)`: the first event
    /// `name` that matches `match` (see [`event_match`](crate::qmp::event_match)).
    ///
    /// ```no_run
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
    /// # let mut vm = t.vm(); vm.launch()?;
    /// use iotests::vm::EventWait;
    /// use serde_json::json;
    /// let ev = vm.event_wait_with("BLOCK_JOB_READY", json!({"data": {"device": "drive0"}}))?;
    /// let ev = vm.event_wait_with("STOP", 5.0)?;
    /// let ev = vm.event_wait_with("STOP", EventWait { timeout: 5.0.into(), match_: Some(json!({})) })?;
    /// # Ok::<(), iotests::Error>(())
    /// ```
    pub fn event_wait_with(&mut self, name: &str, opts: impl Into<EventWait>) -> Result<Value> {
        let EventWait { timeout, match_ } = opts.into();
        self.with_qmp(|q| q.event_wait(name, timeout.as_timeout(), match_.as_ref()))
    }

    /// python/qemu's `events_wait([(name, match), …])`: the first event that
    /// matches any of `events` (at most 60 s).
    pub fn events_wait(&mut self, events: &[(&str, Option<&Value>)]) -> Result<Value> {
        self.events_wait_with(events, DEFAULT_EVENT_TIMEOUT)
    }

    /// python/qemu's `events_wait(events, timeout)`.
    pub fn events_wait_with(&mut self, events: &[(&str, Option<&Value>)], timeout: impl Into<Wait>) -> Result<Value> {
        let timeout = timeout.into().as_timeout();
        self.with_qmp(|q| q.events_wait(events, timeout))
    }

    /// python/qemu's `event_wait(name, timeout=0, match)`: a matching event
    /// if one is at hand, else `None`.
    pub fn event_poll(&mut self, name: &str, pattern: Option<&Value>) -> Result<Option<Value>> {
        self.with_qmp(|q| q.event_poll(name, pattern))
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
        self.with_qmp(|q| q.send_fd_scm(fd))
    }

    /// python/qemu's `send_fd_scm(file_path=…)`: open the file read-only
    /// and pass it.
    pub fn send_file_scm(&mut self, path: impl AsRef<Path>) -> Result<()> {
        self.with_qmp(|q| q.send_file_scm(path))
    }

    /// Pass `fd` and name it `fdname` (`send_fd_scm` + `getfd`).
    pub fn getfd(&mut self, fd: BorrowedFd<'_>, fdname: &str) -> Result<()> {
        self.with_qmp(|q| q.getfd(fd, fdname))
    }

    /// Pass `fd` and put it in a descriptor set (`send_fd_scm` + `add-fd`);
    /// returns QEMU's `{"fdset-id": N, "fd": M}`. For the command-line
    /// `-add-fd`, see [`Vm::add_fd`].
    pub fn qmp_add_fd(&mut self, fd: BorrowedFd<'_>, fdset_id: Option<i64>, opaque: Option<&str>) -> Result<Value> {
        self.with_qmp(|q| q.add_fd(fd, fdset_id, opaque))
    }
}
