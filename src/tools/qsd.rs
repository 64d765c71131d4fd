//! iotests' `QemuStorageDaemon`.

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;

use super::pipe::{self, ErrTo, LogPipe, Out};
use super::strings;
use crate::context::{TestContext, try_remove};
use crate::deadline::Deadline;
use crate::error::{Error, Result};
use crate::process::{Child, cmdline, returncode};
use crate::qmp::{Args, QmpClient, QmpError, QmpListener};

/// How long [`TestContext::qemu_storage_daemon`](crate::TestContext::qemu_storage_daemon) waits for the pid file, and
/// [`QemuStorageDaemon::stop`] for the daemon to exit.
pub const QSD_TIMEOUT: Duration = Duration::from_secs(60);

/// The keyword arguments of `QemuStorageDaemon(*args, instance_id='a',
/// qmp=False)`.
///
/// ```
/// let o = iotests::tools::QsdOptions { qmp: true, ..Default::default() };
/// assert_eq!(o.instance_id, "a");
/// ```
#[derive(Debug, Clone)]
pub struct QsdOptions {
    /// Names the pid file (`qsd-<id>-pid`) and QMP socket (`qsd-<id>.sock`).
    pub instance_id: String,
    /// Give the daemon a QMP monitor and connect to it.
    pub qmp: bool,
    /// How long to wait for start-up (pid file, QMP connection).
    pub timeout: Duration,
}

impl Default for QsdOptions {
    fn default() -> Self {
        QsdOptions { instance_id: "a".into(), qmp: false, timeout: QSD_TIMEOUT }
    }
}

/// A running qemu-storage-daemon. Its stdout and stderr go to the log
/// (inherited in Python). Dropping it does `stop(SIGKILL)`.
///
/// ```no_run
/// # fn main() -> iotests::Result<()> {
/// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("qcow2"))?;
/// use iotests::tools::{QemuStorageDaemon, QsdOptions};
/// let img = t.file_path("img");
/// let blockdev = format!("file,node-name=file0,filename={img}");
/// let mut qsd = t.qemu_storage_daemon_with(&["--blockdev", &blockdev], QsdOptions { qmp: true, ..Default::default() })?;
/// let r = qsd.qmp("query-named-block-nodes", ())?;
/// t.log(r);
/// qsd.stop()?;
/// # Ok(()) }
/// ```
pub struct QemuStorageDaemon {
    child: Child,
    out: Option<LogPipe>,
    pidfile: String,
    qmpsock: Option<String>,
    // Kept until `stop`, so the socket file lives as long as the daemon.
    listener: Option<QmpListener>,
    qmp: Option<QmpClient>,
    args: Vec<String>,
    stopped: bool,
}

impl std::fmt::Debug for QemuStorageDaemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QemuStorageDaemon").field("pid", &self.child.pid()).field("args", &self.args).finish()
    }
}

impl TestContext {
    /// iotests' `QemuStorageDaemon(*args)`: start qemu-storage-daemon
    /// (instance `a`, no QMP monitor); see
    /// [`qemu_storage_daemon_with`](Self::qemu_storage_daemon_with).
    pub fn qemu_storage_daemon<S: AsRef<str>>(&self, args: &[S]) -> Result<QemuStorageDaemon> {
        QemuStorageDaemon::start(self, args, &QsdOptions::default())
    }

    /// iotests' `QemuStorageDaemon(*args, instance_id=…, qmp=…)`.
    ///
    /// ```no_run
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
    /// use iotests::tools::QsdOptions;
    /// let mut qsd = t.qemu_storage_daemon_with(&["--blockdev", "null-co,node-name=n"],
    ///                                          QsdOptions { qmp: true, ..Default::default() })?;
    /// qsd.cmd("query-block-exports", ())?;
    /// qsd.stop()?;
    /// # Ok::<(), iotests::Error>(())
    /// ```
    pub fn qemu_storage_daemon_with<S: AsRef<str>>(&self, args: &[S], opts: QsdOptions) -> Result<QemuStorageDaemon> {
        QemuStorageDaemon::start(self, args, &opts)
    }
}

impl QemuStorageDaemon {
    /// Start the daemon with `args` plus `--pidfile` (and a QMP monitor
    /// when asked for), wait for its pid file and check the PID in it. If
    /// it exits first: [`Error::Terminated`] (`qemu-storage-daemon
    /// terminated with exit code N: <cmd>`).
    pub(crate) fn start<S: AsRef<str>>(t: &TestContext, args: &[S], opts: &QsdOptions) -> Result<QemuStorageDaemon> {
        let args = strings(args);
        if args.iter().any(|a| a == "--pidfile") {
            return Err(Error::Usage("QemuStorageDaemon: --pidfile is added by the wrapper".into()));
        }
        let id = &opts.instance_id;
        let pidfile = format!("{}/qsd-{id}-pid", t.test_dir());
        let mut all_args = vec![t.env().qsd.get()?.to_string()];
        all_args.extend(args);
        all_args.extend(["--pidfile".to_string(), pidfile.clone()]);
        let qmpsock = opts.qmp.then(|| format!("{}/qsd-{id}.sock", t.sock_dir()));
        if let Some(sock) = &qmpsock {
            all_args.extend([
                "--chardev".to_string(),
                format!("socket,id=qmp-sock,path={sock}"),
                "--monitor".to_string(),
                "qmp-sock".to_string(),
            ]);
        }
        // Python's QEMUMonitorProtocol(server=True) listens before the
        // daemon starts, so that it can connect at once.
        let listener = qmpsock.as_ref().map(QmpListener::bind).transpose()?;

        let sp = pipe::spawn_with(
            t.logger(),
            t.processes(),
            "qemu-storage-daemon",
            &all_args,
            None,
            Out::Log,
            ErrTo::Stdout,
        )?;
        sp.child.set_serving(true);
        let mut qsd = QemuStorageDaemon {
            child: sp.child,
            out: sp.log_pipe,
            pidfile,
            qmpsock,
            listener,
            qmp: None,
            args: all_args,
            stopped: false,
        };
        let cmd = sp.cmdline;
        let deadline = Deadline::after(opts.timeout, format!("qemu-storage-daemon did not start: {cmd}"));
        if let Some(listener) = qsd.listener.take() {
            // Accept in slices, watching for a daemon that exits instead.
            let mut client = loop {
                if let Some(e) = qsd.exited(&cmd)? {
                    return Err(e);
                }
                deadline.check()?;
                match listener.accept(Duration::from_millis(100)) {
                    Ok(c) => break c,
                    Err(e) if e.is_timeout() => {}
                    Err(e) => return Err(e.into()),
                }
            };
            client.negotiate(deadline.remaining())?;
            qsd.qmp = Some(client);
            qsd.listener = Some(listener);
        }
        while !Path::new(&qsd.pidfile).exists() {
            if let Some(e) = qsd.exited(&cmd)? {
                return Err(e);
            }
            deadline.check()?;
            deadline.sleep(Duration::from_millis(10));
        }
        // The file exists but may still be empty for a moment.
        let pid = deadline.poll_until(Duration::from_millis(10), || {
            Ok::<_, Error>(std::fs::read_to_string(&qsd.pidfile).ok().and_then(|s| s.trim().parse::<i32>().ok()))
        })?;
        if pid != qsd.child.pid() {
            return Err(Error::Usage(format!(
                "qemu-storage-daemon pid file {} says {pid}, but we started {}",
                qsd.pidfile,
                qsd.child.pid()
            )));
        }
        Ok(qsd)
    }

    /// The [`Error::Terminated`] to report if the daemon has exited.
    fn exited(&mut self, cmd: &str) -> Result<Option<Error>> {
        let Some(st) = self.child.try_wait()? else { return Ok(None) };
        if let Some(p) = &self.out {
            p.sync();
        }
        let output = self.out.as_ref().map(LogPipe::tail).unwrap_or_default();
        Ok(Some(Error::Terminated {
            tool: "qemu-storage-daemon".into(),
            status: returncode(st),
            cmdline: cmd.into(),
            output,
        }))
    }

    /// The daemon's process ID.
    pub fn pid(&self) -> i32 {
        self.child.pid()
    }

    /// The pid file (`TEST_DIR/qsd-<id>-pid`).
    pub fn pidfile(&self) -> &str {
        &self.pidfile
    }

    /// The QMP socket, when started with `qmp`.
    pub fn qmp_socket(&self) -> Option<&str> {
        self.qmpsock.as_deref()
    }

    /// The full command line.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// `qsd.qmp(cmd, args)`: the raw QMP response (`{"return": …}` or
    /// `{"error": …}`). Arguments: `()`, `None`, or a JSON object.
    pub fn qmp(&mut self, cmd: &str, args: impl Into<Args>) -> Result<Value> {
        self.with_qmp(|q| q.qmp(cmd, args))
    }

    /// `qsd.cmd(cmd, args)`: the command's return value; a QMP error
    /// response is an [`Error::Qmp`].
    pub fn cmd(&mut self, cmd: &str, args: impl Into<Args>) -> Result<Value> {
        self.with_qmp(|q| q.cmd(cmd, args))
    }

    /// Run `f` on the QMP connection; should the daemon hang up, the error
    /// says how it ended.
    fn with_qmp<T>(&mut self, f: impl FnOnce(&mut QmpClient) -> Result<T, QmpError>) -> Result<T> {
        let r = f(self.get_qmp()?);
        r.map_err(|e| {
            if e.is_eof() { e.with_peer_note(&self.child.describe_end_within(Duration::from_secs(1))) } else { e }
                .into()
        })
    }

    /// `qsd.get_qmp()`: the QMP client (for events and the like).
    pub fn get_qmp(&mut self) -> Result<&mut QmpClient> {
        self.qmp.as_mut().ok_or_else(|| Error::Usage("QemuStorageDaemon was started without qmp".into()))
    }

    /// `qsd.stop()`: SIGTERM, wait for the exit, remove the QMP socket and
    /// pid file; the exit status.
    pub fn stop(&mut self) -> Result<i32> {
        self.stop_with(Signal::SIGTERM)
    }

    /// `qsd.stop(kill_signal)`: send `signal`, wait (at most
    /// [`QSD_TIMEOUT`], then SIGKILL and fail) and clean up. Stopping a
    /// stopped daemon returns its status again.
    pub fn stop_with(&mut self, signal: Signal) -> Result<i32> {
        if self.stopped {
            return Ok(self.child.status().map(returncode).unwrap_or(-9));
        }
        self.stopped = true;
        self.child.signal(signal)?;
        let status = self.child.wait_timeout(QSD_TIMEOUT)?;
        let result = match status {
            Some(st) => Ok(returncode(st)),
            None => {
                let _ = self.child.kill();
                Err(Error::Timeout {
                    what: format!("qemu-storage-daemon did not exit on {signal}: {}", cmdline(&self.args)),
                    log: String::new(),
                })
            }
        };
        if let Some(p) = self.out.take() {
            p.finish(Duration::from_secs(1));
        }
        self.qmp = None;
        self.listener = None;
        if let Some(sock) = &self.qmpsock {
            try_remove(sock);
        }
        try_remove(&self.pidfile);
        result
    }
}

impl Drop for QemuStorageDaemon {
    fn drop(&mut self) {
        let _ = self.stop_with(Signal::SIGKILL);
    }
}
