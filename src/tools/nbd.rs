//! qemu-nbd: iotests' `qemu_nbd`, `qemu_nbd_early_pipe`, `qemu_nbd_list_log`
//! and `qemu_nbd_popen`.
//!
//! `qemu-nbd --fork` leaves a daemon behind that is not our child: it does
//! not die with the test by itself. [`TestContext::qemu_nbd`] finds it —
//! from the `--pid-file` argument when there is one, else by looking in
//! `/proc` for a process started after the call whose command line is
//! exactly ours — and adopts it by pidfd into the test's process registry,
//! so that it is killed when the test ends, never a process that got its
//! PID later. The pidfd is opened *before* the daemon's start time is
//! checked, so a pid file naming an unrelated older process is refused.
//! Should the test process die without killing it (SIGKILL), the reaper
//! of [`crate::process`] does; on SIGTERM, SIGINT or SIGHUP the signal
//! cleanup of [`crate::cleanup`] does.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::pipe::{self, ErrTo, LogPipe, Out};
use super::strings;
use crate::context::{TestContext, try_remove};
use crate::deadline::Deadline;
use crate::error::{Error, Result};
use crate::filters::Filter;
use crate::log::Log;
use crate::process::{self, Child, DEFAULT_TOOL_TIMEOUT, ProcessRegistry, procfs, returncode};

/// How long [`TestContext::qemu_nbd_popen`] waits for the pid file.
pub const NBD_STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// How long to wait for a forked daemon's pid file after its parent exited.
const PID_FILE_GRACE: Duration = Duration::from_secs(5);

impl TestContext {
    /// iotests' `qemu_nbd(*args)`: run `qemu-nbd --fork` and return the
    /// parent's exit status. Its output goes to the log (inherited in
    /// Python); the daemon is killed when the test ends.
    ///
    /// ```no_run
    /// # fn main() -> iotests::Result<()> {
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
    /// let [img, pid] = t.file_paths(["disk", "nbd.pid"]);
    /// let sock = t.sock_path("nbd.sock");
    /// assert_eq!(t.qemu_nbd(&["-k", &sock, "--pid-file", &pid, "-f", "raw", &img])?, 0);
    /// # Ok(()) }
    /// ```
    pub fn qemu_nbd<S: AsRef<str>>(&self, args: &[S]) -> Result<i32> {
        let argv = self.nbd_fork_args(args)?;
        let since = procfs::boot_ticks();
        let (rc, _) = pipe::run_plumbed(
            self.logger(),
            self.processes(),
            "qemu-nbd",
            &argv,
            Out::Log,
            ErrTo::Log,
            DEFAULT_TOOL_TIMEOUT,
        )?;
        if rc == 0 {
            track_daemon(self.processes(), &argv, since);
        }
        Ok(rc)
    }

    /// iotests' `qemu_nbd_early_pipe(*args)`: run `qemu-nbd --fork`; the
    /// parent's exit status and, only when it failed, its stdout (stderr
    /// goes to the log).
    pub fn qemu_nbd_early_pipe<S: AsRef<str>>(&self, args: &[S]) -> Result<(i32, String)> {
        let argv = self.nbd_fork_args(args)?;
        let since = procfs::boot_ticks();
        let (rc, out) = pipe::run_plumbed(
            self.logger(),
            self.processes(),
            "qemu-nbd",
            &argv,
            Out::Capture,
            ErrTo::Log,
            DEFAULT_TOOL_TIMEOUT,
        )?;
        if rc == 0 {
            track_daemon(self.processes(), &argv, since);
        }
        Ok((rc, if rc != 0 { out } else { String::new() }))
    }

    /// iotests' `qemu_nbd_list_log(*args)`: `qemu-nbd -L …` (without
    /// `QEMU_NBD_OPTIONS`, like the original), logged through
    /// `filter_testfiles` and `filter_nbd_exports`; the raw output.
    pub fn qemu_nbd_list_log<S: AsRef<str>>(&self, args: &[S]) -> Result<String> {
        let mut argv = vec![self.env().qemu_nbd.get()?.to_string(), "-L".to_string()];
        argv.extend(strings(args));
        let (output, _) = self.qemu_tool_pipe_and_status("qemu-nbd", &argv, true)?;
        self.log_with(&output, &[Filter::Testfiles, Filter::NbdExports]);
        Ok(output)
    }

    /// iotests' `with qemu_nbd_popen(*args):` — a `qemu-nbd --persistent`
    /// server for as long as the returned guard lives.
    ///
    /// Logs `Start NBD server`, starts qemu-nbd with the pid file
    /// `file_path('qemu_nbd_popen-nbd-pid-file')` and waits (at most
    /// [`NBD_STARTUP_TIMEOUT`]) for that file. If qemu-nbd exits first, the
    /// result is [`Error::Terminated`] (`qemu-nbd terminated with exit code
    /// N: <cmd>`) — after `Kill NBD server` has been logged, as Python's
    /// `finally` does. qemu-nbd's own output goes to the log.
    ///
    /// ```no_run
    /// # fn main() -> iotests::Result<()> {
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
    /// # let img = t.file_path("disk");
    /// let sock = t.sock_path("nbd.sock");
    /// {
    ///     let _nbd = t.qemu_nbd_popen(&["-k", &sock, "-f", "raw", &img])?;
    ///     t.qemu_io_log(&["-f", "raw", "-c", "read 0 512", &format!("nbd+unix:///?socket={sock}")])?;
    /// } // logs "Kill NBD server" and kills qemu-nbd
    /// # Ok(()) }
    /// ```
    pub fn qemu_nbd_popen<S: AsRef<str>>(&self, args: &[S]) -> Result<NbdServer> {
        let pid_file = self.file_path("qemu_nbd_popen-nbd-pid-file");
        if Path::new(&pid_file).exists() {
            return Err(Error::fail(format!("qemu_nbd_popen: {pid_file} already exists")));
        }
        let mut cmd = self.env().qemu_nbd_args()?;
        cmd.extend(["--persistent".to_string(), "--pid-file".to_string(), pid_file.clone()]);
        cmd.extend(strings(args));

        self.log("Start NBD server");
        let sp = pipe::spawn_with(self.logger(), self.processes(), "qemu-nbd", &cmd, None, Out::Log, ErrTo::Stdout)?;
        sp.child.set_serving(true);
        let mut server =
            NbdServer { child: sp.child, log: self.logger().clone(), pid_file, out: sp.log_pipe, stopped: false };
        let deadline =
            Deadline::after(NBD_STARTUP_TIMEOUT, format!("qemu-nbd did not write its pid file: {}", sp.cmdline));
        loop {
            if Path::new(&server.pid_file).exists() {
                return Ok(server);
            }
            let exited = server.child.try_wait();
            let err = match exited {
                Ok(Some(st)) => Some(Error::Terminated {
                    tool: "qemu-nbd".into(),
                    status: returncode(st),
                    cmdline: sp.cmdline.clone(),
                    output: server.output_tail(),
                }),
                Ok(None) => deadline.check().err().map(Error::from),
                Err(e) => Some(e),
            };
            if let Some(e) = err {
                server.stop();
                return Err(e);
            }
            deadline.sleep(Duration::from_millis(10));
        }
    }

    fn nbd_fork_args<S: AsRef<str>>(&self, args: &[S]) -> Result<Vec<String>> {
        let mut argv = self.env().qemu_nbd_args()?;
        argv.push("--fork".to_string());
        argv.extend(strings(args));
        Ok(argv)
    }
}

/// A running `qemu-nbd --persistent` from
/// [`TestContext::qemu_nbd_popen`]; dropping it (also while unwinding from a
/// panic) ends the `with` block: the pid file is removed, `Kill NBD server`
/// logged, qemu-nbd killed and reaped.
pub struct NbdServer {
    child: Child,
    log: Log,
    pid_file: String,
    out: Option<LogPipe>,
    stopped: bool,
}

impl std::fmt::Debug for NbdServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NbdServer").field("pid", &self.child.pid()).field("pid_file", &self.pid_file).finish()
    }
}

impl NbdServer {
    /// The server's process ID.
    pub fn pid(&self) -> i32 {
        self.child.pid()
    }

    /// The pid file.
    pub fn pid_file(&self) -> &str {
        &self.pid_file
    }

    /// Leave the `with` block now (what dropping does).
    pub fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        // What qemu-nbd printed so far comes before our next line.
        if let Some(p) = &self.out {
            p.sync();
        }
        if Path::new(&self.pid_file).exists() {
            try_remove(&self.pid_file);
        }
        self.log.log("Kill NBD server");
        let _ = self.child.kill();
        if let Some(p) = self.out.take() {
            p.finish(Duration::from_secs(1));
        }
    }

    fn output_tail(&self) -> String {
        self.out
            .as_ref()
            .map(|p| {
                p.sync();
                p.tail()
            })
            .unwrap_or_default()
    }
}

impl Drop for NbdServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The argument of `--pid-file` in a qemu-nbd command line.
fn pid_file_arg(argv: &[String]) -> Option<&str> {
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        if a == "--pid-file" {
            return it.next().map(String::as_str);
        }
        if let Some(v) = a.strip_prefix("--pid-file=") {
            return Some(v);
        }
    }
    None
}

/// Find the daemon a successful `qemu-nbd --fork <argv>` left and adopt
/// it into `registry` (by pidfd, checking that it started after `since`:
/// a stale pid file naming an older process is ignored).
fn track_daemon(registry: &Arc<ProcessRegistry>, argv: &[String], since: Option<u64>) {
    let pids = match pid_file_arg(argv) {
        Some(f) => pid_from_file(f).into_iter().collect(),
        None => find_by_cmdline(registry, argv, since),
    };
    for pid in pids {
        process::adopt_daemon(registry, pid, "qemu-nbd", since);
    }
}

/// The PID in a pid file, waiting a little for qemu-nbd to write it.
fn pid_from_file(path: &str) -> Option<i32> {
    let deadline = Deadline::within(PID_FILE_GRACE);
    loop {
        if let Some(pid) = std::fs::read_to_string(path).ok().and_then(|s| s.trim().parse::<i32>().ok()) {
            return Some(pid);
        }
        if deadline.expired() {
            return None;
        }
        deadline.sleep(Duration::from_millis(10));
    }
}

/// Processes started since `since` whose command line is exactly `argv`
/// and that are not ours already.
fn find_by_cmdline(registry: &ProcessRegistry, argv: &[String], since: Option<u64>) -> Vec<i32> {
    let known: Vec<i32> = registry.pids().into_iter().map(|(p, _)| p).collect();
    let me = std::process::id() as i32;
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me && !known.contains(&pid))
        .filter(|&pid| procfs::cmdline(pid).as_deref() == Some(argv))
        .filter(|&pid| match (since, procfs::stat(pid)) {
            (Some(since), Some((start, _))) => start >= since,
            (None, Some(_)) => true,
            (_, None) => false,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_file_forms() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(pid_file_arg(&v(&["x", "--pid-file", "/p"])), Some("/p"));
        assert_eq!(pid_file_arg(&v(&["x", "--pid-file=/q", "y"])), Some("/q"));
        assert_eq!(pid_file_arg(&v(&["x", "-k", "s"])), None);
    }
}
