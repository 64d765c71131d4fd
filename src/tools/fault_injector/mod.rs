//! `nbd-fault-injector.py`: the NBD server of qemu-iotests that drops the
//! connection at a chosen point of the protocol.
//!
//! Upstream tests start it as a subprocess
//! (`subprocess.Popen(['./nbd-fault-injector.py', …], stdout=PIPE,
//! stderr=STDOUT)`), read its `Listening on …` line, and later collect the
//! rest of its output and its exit status. Here the same server runs on a
//! thread of the test, behind the same interface ([`NbdFaultInjector`]:
//! [`readline`](NbdFaultInjector::readline),
//! [`communicate`](NbdFaultInjector::communicate),
//! [`kill`](NbdFaultInjector::kill)), so no Python is needed. It prints
//! what the script prints, and "exits" where it exits: with status 0 after
//! `Closing connection on rule match <name>`, with status 1 (and the error
//! on its output) on a bad command line, configuration or protocol error.
//!
//! Command line: `[--classic-negotiation] <tcp-host:port>|<unix-path>
//! <config-file>`. The configuration holds `[inject-error…]` sections with
//! `event` (`neg-classic`, `neg1`, `export`, `neg2`, `request`, `reply`,
//! `data`), `io` (`read`, `write`, `readwrite`; default `readwrite`) and
//! `when` (`before` = 0, `after` = -1, or a number of bytes; default
//! `before`).
//!
//! Unlike the script, the server does not take any length a client sends
//! at its word: a request (or export name) longer than NBD allows
//! ([`MAX_REQUEST_LENGTH`], [`MAX_EXPORT_NAME`]) ends it with status 1 and
//! a message, instead of allocating gigabytes.
//!
//! ```no_run
//! # fn main() -> iotests::Result<()> {
//! # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
//! use std::time::Duration;
//! let conf = t.file_path("nbd-fault-injector.conf");
//! let sock = t.sock_path("nbd-sock");
//! std::fs::write(&conf, "[inject-error]\nevent=data\nwhen=after").unwrap();
//! let mut srv = t.nbd_fault_injector(&["--classic-negotiation", &sock, &conf]);
//! assert!(srv.readline(Duration::from_secs(10))?.starts_with("Listening on "));
//! // … a client writes …
//! let out = srv.communicate(Duration::from_secs(10))?;
//! assert_eq!(out, "Closing connection on rule match inject-error\n");
//! assert_eq!(srv.poll(), Some(0));
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::context::TestContext;
use crate::deadline::Deadline;
use crate::error::{Error, Result};

/// The longest read or write request the server serves: QEMU's
/// `NBD_MAX_BUFFER_SIZE` (32 MiB), which no QEMU client exceeds.
pub const MAX_REQUEST_LENGTH: u32 = 32 * 1024 * 1024;

/// The longest export name the server reads (NBD's limit, 4 KiB).
pub const MAX_EXPORT_NAME: u32 = 4096;

/// The size of the fake disk the server exports (8 GiB).
pub const FAKE_DISK_SIZE: u64 = 8 * 1024 * 1024 * 1024;

// Protocol constants.
pub(super) const NBD_CMD_READ: u32 = 0;
pub(super) const NBD_CMD_WRITE: u32 = 1;
pub(super) const NBD_CMD_DISC: u32 = 2;
pub(super) const NBD_REQUEST_MAGIC: u32 = 0x25609513;
pub(super) const NBD_SIMPLE_REPLY_MAGIC: u32 = 0x67446698;
pub(super) const NBD_PASSWD: u64 = 0x4e42444d41474943;
pub(super) const NBD_OPTS_MAGIC: u64 = 0x49484156454F5054;
pub(super) const NBD_CLIENT_MAGIC: u64 = 0x0000420281861253;
pub(super) const NBD_OPT_EXPORT_NAME: u32 = 1 << 0;

/// The events a rule may name.
pub(super) const EVENTS: &[&str] = &["neg-classic", "neg1", "export", "neg2", "request", "reply", "data"];

/// The return code [`NbdFaultInjector::kill`] reports, as `Popen.kill()`
/// would (`-SIGKILL`).
pub(super) const KILLED: i32 = -9;

/// How often a blocked server thread looks whether it was killed.
pub(super) const TICK: Duration = Duration::from_millis(20);

/// An `[inject-error…]` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The section name.
    pub name: String,
    /// The trigger event.
    pub event: String,
    /// `read`, `write` or `readwrite`.
    pub io: String,
    /// After how many bytes to inject the fault: 0 before the I/O, -1
    /// after it.
    pub when: i64,
}

impl Rule {
    fn matches(&self, event: &str, io: &str) -> bool {
        event == self.event && (io == self.io || self.io == "readwrite")
    }
}

/// How the server stopped (Python's `sys.exit(code)`, or an exception:
/// status 1 with the message).
#[derive(Debug)]
pub(super) enum Exit {
    Code(i32),
    Error(String),
}

pub(super) type Flow<T> = std::result::Result<T, Exit>;

pub(super) fn exc(msg: impl Into<String>) -> Exit {
    Exit::Error(msg.into())
}

/// What the server printed and its status, shared with the test.
#[derive(Debug, Default)]
pub(super) struct State {
    out: String,
    read: usize,
    returncode: Option<i32>,
}

#[derive(Debug, Default)]
pub(super) struct Shared {
    state: Mutex<State>,
    cond: Condvar,
    /// Set to stop the server: by [`NbdFaultInjector::kill`], or by the
    /// test's process registry when the test times out or ends.
    killed: Arc<AtomicBool>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Python's `print(text)` followed by `sys.stdout.flush()`.
    fn print(&self, text: &str) {
        let mut st = self.lock();
        st.out.push_str(text);
        st.out.push('\n');
        self.cond.notify_all();
    }

    fn killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }
}

/// A running fault-injecting NBD server (the `Popen` of
/// `nbd-fault-injector.py`). Dropping it kills it.
#[derive(Debug)]
pub struct NbdFaultInjector {
    args: Vec<String>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl TestContext {
    /// Start `nbd-fault-injector.py` with `args` (its command line without
    /// the program name). See [the module](crate::tools::fault_injector).
    /// It belongs to the test like a process does: a timeout, or the end of
    /// the test, stops it.
    pub fn nbd_fault_injector<S: AsRef<str>>(&self, args: &[S]) -> NbdFaultInjector {
        let server = NbdFaultInjector::start(args);
        self.processes().register_stopper(&server.shared.killed);
        server
    }
}

impl NbdFaultInjector {
    /// Start the server on its own thread.
    pub fn start<S: AsRef<str>>(args: &[S]) -> NbdFaultInjector {
        let args: Vec<String> = args.iter().map(|a| a.as_ref().to_string()).collect();
        let shared = Arc::new(Shared::default());
        let (sh, argv) = (Arc::clone(&shared), args.clone());
        let thread = std::thread::Builder::new()
            .name("nbd-fault-injector".into())
            .spawn(move || {
                let rc = match main(&sh, &argv) {
                    Ok(()) => 0,
                    Err(Exit::Code(c)) => c,
                    Err(Exit::Error(msg)) => {
                        sh.print(&msg);
                        1
                    }
                };
                let mut st = sh.lock();
                st.returncode = Some(if sh.killed() { KILLED } else { rc });
                sh.cond.notify_all();
            })
            .ok();
        if thread.is_none() {
            let mut st = shared.lock();
            st.out.push_str("could not start the nbd-fault-injector thread\n");
            st.returncode = Some(1);
        }
        NbdFaultInjector { args, shared, thread }
    }

    /// The command line it was started with.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// `Popen.stdout.readline()`: the next line of output with its `\n`,
    /// what is left without one once the server has exited, `""` at the
    /// end. Waiting longer than `timeout` is an [`Error::Timeout`].
    pub fn readline(&mut self, timeout: Duration) -> Result<String> {
        let deadline = Deadline::within(timeout);
        let mut st = self.shared.lock();
        loop {
            if let Some(nl) = st.out[st.read..].find('\n') {
                let end = st.read + nl + 1;
                let line = st.out[st.read..end].to_string();
                st.read = end;
                return Ok(line);
            }
            if st.returncode.is_some() {
                let line = st.out[st.read..].to_string();
                st.read = st.out.len();
                return Ok(line);
            }
            st = self.wait_until(st, &deadline, "a line from nbd-fault-injector")?;
        }
    }

    /// `Popen.poll()`: the exit status once the server has stopped.
    pub fn poll(&mut self) -> Option<i32> {
        let rc = self.shared.lock().returncode;
        if rc.is_some()
            && let Some(t) = self.thread.take()
        {
            let _ = t.join();
        }
        rc
    }

    /// `Popen.wait(timeout)`: the exit status, or [`Error::Timeout`] (the
    /// server keeps running).
    pub fn wait(&mut self, timeout: Duration) -> Result<i32> {
        let deadline = Deadline::within(timeout);
        let mut st = self.shared.lock();
        while st.returncode.is_none() {
            st = self.wait_until(st, &deadline, "nbd-fault-injector to exit")?;
        }
        drop(st);
        Ok(self.poll().unwrap_or(KILLED))
    }

    /// `Popen.communicate(timeout=…)[0]`: wait for the server to exit and
    /// return the output not read yet. On timeout ([`Error::Timeout`]) the
    /// server keeps running, as in Python.
    pub fn communicate(&mut self, timeout: Duration) -> Result<String> {
        self.wait(timeout)?;
        let mut st = self.shared.lock();
        let rest = st.out[st.read..].to_string();
        st.read = st.out.len();
        Ok(rest)
    }

    /// `Popen.kill(); Popen.wait()`: stop the server (its sockets are
    /// closed) and return its status, `-9` unless it had exited already.
    pub fn kill(&mut self) -> i32 {
        self.shared.killed.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.shared.lock().returncode.unwrap_or(KILLED)
    }

    fn wait_until<'a>(
        &self,
        st: std::sync::MutexGuard<'a, State>,
        deadline: &Deadline,
        what: &str,
    ) -> Result<std::sync::MutexGuard<'a, State>> {
        let left = deadline.remaining();
        if left.is_zero() {
            return Err(Error::Timeout {
                what: format!("waiting for {what}: nbd-fault-injector {}", self.args.join(" ")),
                log: st.out.clone(),
            });
        }
        let (st, _) = self.shared.cond.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner());
        Ok(st)
    }
}

impl Drop for NbdFaultInjector {
    fn drop(&mut self) {
        self.kill();
    }
}

mod config;
mod server;
#[cfg(test)]
mod tests;

pub use config::parse_rules;
use config::*;
use server::*;
