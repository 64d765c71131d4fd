//! Launching and stopping QEMU: python/qemu's `QEMUMachine` and
//! `QEMUQtestMachine` life cycle.
//!
//! The command line is python's: the program, then the base arguments
//! (`-display none -vga none`, the QMP monitor on a socketpair, `-machine`,
//! the qtest chardev on another socketpair), then the VM's arguments
//! (`QEMU_OPTIONS` and what the builder methods added). QEMU's ends of the
//! socketpairs and the descriptors of [`Vm::add_fd`] are inherited by
//! clearing close-on-exec in the child only, so that no other process a
//! parallel test starts can inherit them.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;

use std::path::Path;

use super::state::{Running, State, Stopped, read_log};
use super::{Vm, VmError, firmware};
use crate::deadline::Deadline;
use crate::error::{Error, Result};
use crate::process::{self, returncode};
use crate::qmp::QmpClient;

/// python/qemu's default time allowed for a soft shutdown (30 s).
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long dropping a running VM waits for it to quit before killing it.
pub(super) const DROP_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a failed launch waits for QEMU to exit before killing it.
const LAUNCH_FAILURE_WAIT: Duration = Duration::from_secs(10);

/// How a qtest error caused by QEMU hanging up starts.
const QTEST_CLOSED: &str = "connection closed by QEMU";

/// How long a qtest command may take to answer.
const QTEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The qtest channel: python/qemu's `QEMUQtestProtocol` on a socketpair.
#[derive(Debug)]
pub(crate) struct Qtest {
    reader: BufReader<UnixStream>,
}

impl Qtest {
    fn new(sock: UnixStream) -> Result<Qtest> {
        sock.set_read_timeout(Some(QTEST_TIMEOUT))
            .and_then(|()| sock.set_write_timeout(Some(QTEST_TIMEOUT)))
            .map_err(|e| Error::io("setting timeouts on the qtest socket", e))?;
        Ok(Qtest { reader: BufReader::new(sock) })
    }

    fn cmd(&mut self, cmd: &str) -> Result<String> {
        let err = |what: &str, e: std::io::Error| match e.kind() {
            // QEMU went away, whether or not it had read our command.
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => {
                VmError::Qtest(format!("{QTEST_CLOSED} while {what} {cmd:?} ({e})"))
            }
            _ => VmError::Qtest(format!("{what} {cmd:?}: {e}")),
        };
        self.reader.get_mut().write_all(format!("{cmd}\n").as_bytes()).map_err(|e| err("sending", e))?;
        let mut resp = String::new();
        match self.reader.read_line(&mut resp) {
            Ok(0) => Err(VmError::Qtest(format!("{QTEST_CLOSED} while waiting for the answer to {cmd:?}"))),
            Ok(_) => Ok(resp),
            Err(e) => Err(err("waiting for the answer to", e)),
        }
        .map_err(Error::from)
    }
}

impl Vm {
    /// python/qemu's `launch()`: start QEMU and connect to its QMP monitor
    /// and qtest channel.
    ///
    /// A QEMU that exits (bad arguments, …) or does not greet on QMP within
    /// 15 s is a [`VmError::LaunchFailure`] with its exit code, command line
    /// and output. A missing QEMU binary is [`Error::MissingBinary`].
    ///
    /// ```no_run
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
    /// let mut vm = t.vm();
    /// vm.add_args(["-no-such-option"]);
    /// let err = vm.launch().unwrap_err();
    /// assert!(err.to_string().contains("Exit code: 1"), "{err}");
    /// # Ok::<(), iotests::Error>(())
    /// ```
    pub fn launch(&mut self) -> Result<()> {
        if self.state.is_launched() {
            return Err(VmError::AlreadyLaunched.into());
        }
        let binary = self.env.qemu.get()?.to_string();
        match self.launch_inner(&binary) {
            Ok(()) => Ok(()),
            Err(cause) => {
                // QEMU may have started and be on its way out: reap it so
                // that the exit code and its output are known.
                if self.state.is_launched() {
                    let _ = self.wait(LAUNCH_FAILURE_WAIT);
                }
                Err(VmError::LaunchFailure {
                    cause: cause.to_string(),
                    exitcode: self.exitcode(),
                    command: self.full_args.join(" "),
                    output: self.get_log().map(str::to_string),
                }
                .into())
            }
        }
    }

    /// Start QEMU and connect. Leaves the VM running once QEMU has started
    /// (also when connecting then fails), else stopped.
    fn launch_inner(&mut self, binary: &str) -> Result<()> {
        // _pre_launch: socketpairs (QEMUQtestMachine's first), log file.
        let pair = || UnixStream::pair().map_err(|e| Error::io("creating a socketpair", e));
        let log = (|| {
            let qtest_pair = if self.qtest_set { Some(pair()?) } else { None };
            let mon_pair = if self.qmp_set { Some(pair()?) } else { None };
            let temp_dir = tempfile::Builder::new()
                .prefix("qemu-machine-")
                .tempdir_in(&self.test_dir)
                .map_err(|e| Error::io(format!("creating a directory in {}", self.test_dir), e))?;
            let log_path = temp_dir.path().join(format!("{}.log", self.name));
            let log_file =
                File::create(&log_path).map_err(|e| Error::io(format!("creating {}", log_path.display()), e))?;
            Ok::<_, Error>((qtest_pair, mon_pair, temp_dir, log_path, log_file))
        })();
        let (qtest_pair, mon_pair, temp_dir, log_path, log_file) = match log {
            Ok(parts) => parts,
            Err(e) => {
                self.state = State::not_started(None);
                return Err(e);
            }
        };
        let mon_fd = mon_pair.as_ref().map(|(theirs, _)| theirs.as_raw_fd());
        let qtest_fd = qtest_pair.as_ref().map(|(theirs, _)| theirs.as_raw_fd());
        let started = self
            .command(binary, mon_fd, qtest_fd, temp_dir.path(), log_file)
            .and_then(|cmd| process::spawn("qemu", cmd, &self.registry));
        let child = match started {
            Ok(child) => {
                child.set_serving(true);
                child
            }
            Err(e) => {
                self.state = State::not_started(Some(&log_path));
                return Err(e);
            }
        };
        self.state = State::Running(Box::new(Running {
            child,
            qmp: None,
            qtest: None,
            temp_dir,
            log_path,
            quit_issued: false,
            user_killed: false,
        }));

        // _post_launch: close QEMU's ends so that its exit is EOF here.
        let qtest_ours = qtest_pair.map(|(qtest_theirs, qtest_ours)| {
            drop(qtest_theirs);
            qtest_ours
        });
        let qmp = match mon_pair {
            Some((mon_theirs, mon_ours)) => {
                drop(mon_theirs);
                let mut qmp = QmpClient::from_stream(mon_ours);
                qmp.negotiate(self.qmp_timer)?;
                Some(qmp)
            }
            None => None,
        };
        let qtest = qtest_ours.map(Qtest::new).transpose()?;
        if let Some(run) = self.state.running() {
            run.qmp = qmp;
            run.qtest = qtest;
        }
        Ok(())
    }

    /// QEMU's command line (also kept as [`full_args`](Vm::full_args)),
    /// its output into `log_file` and the descriptors it inherits.
    fn command(
        &mut self,
        binary: &str,
        mon_fd: Option<RawFd>,
        qtest_fd: Option<RawFd>,
        dir: &Path,
        log_file: File,
    ) -> Result<Command> {
        let accel_qtest =
            self.qtest_set && crate::env::qemu_accels(std::path::Path::new(binary)).iter().any(|a| a == "qtest");
        let mut full = vec![binary.to_string()];
        full.extend(self.base_args_prefix.iter().cloned());
        full.extend(self.base_args(mon_fd, qtest_fd, accel_qtest));
        let own_args: Vec<String> = self.base_args_prefix.iter().chain(&self.args).cloned().collect();
        if self.qtest_set && !accel_qtest && self.env.halt_firmware && firmware::applies(binary, &own_args) {
            let bios = firmware::write_halt_bios(dir)?;
            full.extend(["-bios".to_string(), bios.to_string_lossy().into_owned()]);
        }
        full.extend(self.args.iter().cloned());
        self.full_args = full;
        if self.env.debug {
            // What python/qemu logs at DEBUG level (check -d).
            eprintln!("DEBUG:qemu.machine.machine:VM launch command: '{}'", self.full_args.join(" "));
        }

        let mut inherit: Vec<RawFd> = qtest_fd.into_iter().collect();
        inherit.extend(mon_fd);
        inherit.extend(self.pass_fds.iter().map(AsRawFd::as_raw_fd));

        let stderr = log_file.try_clone().map_err(|e| Error::io("duplicating the log file of QEMU", e))?;
        let mut cmd = Command::new(&self.full_args[0]);
        cmd.args(&self.full_args[1..]).stdin(Stdio::null()).stdout(log_file).stderr(stderr);
        // SAFETY: only fcntl, which is async-signal-safe, runs between fork
        // and exec; `inherit` was allocated before the fork.
        unsafe {
            cmd.pre_exec(move || {
                for &fd in &inherit {
                    let flags = libc::fcntl(fd, libc::F_GETFD);
                    if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        Ok(cmd)
    }

    /// `QEMUQtestMachine._base_args` (`QEMUMachine._base_args` without a
    /// qtest channel). `-accel qtest` is left out when the
    /// binary has no qtest accelerator (Debian's), where QEMU would only
    /// complain about it and fall back to the next `-accel`.
    fn base_args(&self, mon_fd: Option<RawFd>, qtest_fd: Option<RawFd>, accel_qtest: bool) -> Vec<String> {
        let mut args: Vec<String> = ["-display", "none", "-vga", "none"].map(String::from).to_vec();
        if let Some(fd) = mon_fd {
            args.extend(["-chardev".into(), format!("socket,id=mon,fd={fd}")]);
            args.extend(["-mon".into(), "chardev=mon,mode=control".into()]);
        }
        if let Some(m) = &self.machine {
            args.extend(["-machine".into(), m.clone()]);
        }
        if let Some(qtest_fd) = qtest_fd {
            args.extend(["-chardev".into(), format!("socket,id=qtest,fd={qtest_fd}")]);
            args.extend(["-qtest".into(), "chardev:qtest".into()]);
            if accel_qtest {
                args.extend(["-accel".into(), "qtest".into()]);
            }
        }
        args
    }

    /// python/qemu's `is_running()`.
    pub fn is_running(&mut self) -> bool {
        self.state.child_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// python/qemu's `exitcode()`: the exit code once QEMU has exited (`-N`
    /// for signal `N`), else `None`.
    pub fn exitcode(&mut self) -> Option<i32> {
        self.state.child_mut().and_then(|c| c.try_wait().ok().flatten()).map(returncode)
    }

    /// python/qemu's `get_pid()`: QEMU's PID while it runs.
    pub fn get_pid(&mut self) -> Option<i32> {
        if self.is_running() { self.state.child().map(|c| c.pid()) } else { None }
    }

    /// python/qemu's `get_log()`: everything QEMU printed, once it has been
    /// shut down (`None` before).
    pub fn get_log(&self) -> Option<&str> {
        match &self.state {
            State::Stopped(s) => s.iolog.as_deref(),
            _ => None,
        }
    }

    /// What QEMU has printed so far, also while it runs (for diagnostics;
    /// python has no equivalent).
    pub fn read_log(&self) -> Option<String> {
        match &self.state {
            State::Running(r) => read_log(&r.log_path),
            State::Stopped(s) => s.iolog.clone(),
            State::Configured => None,
        }
    }

    /// `QEMUQtestMachine.qtest(cmd)`: send a qtest command and return the
    /// answer line (with its newline).
    ///
    /// ```no_run
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
    /// let mut vm = t.vm();
    /// vm.launch()?;
    /// assert_eq!(vm.qtest("readb 0x0")?, "OK 0x0000000000000000\n");
    /// # Ok::<(), iotests::Error>(())
    /// ```
    pub fn qtest(&mut self, cmd: &str) -> Result<String> {
        let qtest = self.state.running().and_then(|r| r.qtest.as_mut()).ok_or(VmError::NoQtest)?;
        match qtest.cmd(cmd) {
            // Say how QEMU ended, not only that it hung up.
            Err(Error::Vm(VmError::Qtest(msg))) if msg.starts_with(QTEST_CLOSED) => {
                let note = self.state.child().map(|c| c.describe_end_within(Duration::from_secs(1)));
                Err(VmError::Qtest(format!("{msg}; {}", note.unwrap_or_default())).into())
            }
            other => other,
        }
    }

    /// python/qemu's `shutdown()`: ask QEMU to `quit` and wait up to 30 s,
    /// killing it if that fails ([`VmError::AbnormalShutdown`]). Does
    /// nothing when the VM is not running.
    pub fn shutdown(&mut self) -> Result<()> {
        self.shutdown_with(false, DEFAULT_SHUTDOWN_TIMEOUT)
    }

    /// python/qemu's `shutdown(hard, timeout)`. A soft shutdown sends
    /// `quit` (unless already sent) and waits for QEMU to exit, all within
    /// `timeout`; if anything fails QEMU is killed and the result is
    /// [`VmError::AbnormalShutdown`]. A hard one kills QEMU at once.
    ///
    /// Either way the VM is cleaned up: its output is read
    /// ([`get_log`](Vm::get_log)) and, if QEMU died of a signal other than
    /// the SIGKILL of a hard shutdown, python/qemu's warning
    /// `qemu received signal N; command: "…"` goes to stderr.
    pub fn shutdown_with(&mut self, hard: bool, timeout: Duration) -> Result<()> {
        let Some(run) = self.state.running() else { return Ok(()) };
        if hard {
            run.user_killed = true;
            let killed = run.child.kill().map(|_| ());
            self.post_shutdown();
            return killed;
        }
        let cause = match self.soft_shutdown(timeout) {
            Ok(()) => None,
            Err(soft) => match self.hard_shutdown() {
                Ok(()) => Some(soft.to_string()),
                Err(hard) => Some(format!("{soft}; then: {hard}")),
            },
        };
        self.post_shutdown();
        match cause {
            None => Ok(()),
            Some(cause) => {
                Err(VmError::AbnormalShutdown { cause, log: self.get_log().unwrap_or_default().to_string() }.into())
            }
        }
    }

    /// python/qemu's `kill()`: SIGKILL QEMU, wait for it, clean up.
    pub fn kill(&mut self) -> Result<()> {
        self.shutdown_with(true, DEFAULT_SHUTDOWN_TIMEOUT)
    }

    /// python/qemu's `wait(timeout)`: wait for QEMU to exit by itself (after
    /// a `quit` the test sent, a guest shutdown, …) and clean up. If it does
    /// not exit in time it is killed ([`VmError::AbnormalShutdown`]).
    pub fn wait(&mut self, timeout: Duration) -> Result<()> {
        // Python sets the flag even when not launched, where it would then
        // stop the next shutdown from sending `quit`; we do not.
        let Some(run) = self.state.running() else { return Ok(()) };
        run.quit_issued = true;
        run.child.set_serving(false);
        self.shutdown_with(false, timeout)
    }

    fn soft_shutdown(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Deadline::within(timeout);
        let Some(run) = self.state.running() else { return Ok(()) };
        if let Some(mut qmp) = run.qmp.take() {
            // The connection is closed (dropped) whatever happens.
            if !run.quit_issued {
                qmp.set_default_timeout(timeout);
                // Should QEMU hang up instead of answering, say how it
                // ended (a signal, an exit status), as every QMP call does.
                qmp.qmp("quit", ()).map_err(|e| match e.is_eof() {
                    true => e.with_peer_note(&run.child.describe_end_within(super::monitor::PEER_END_WAIT)),
                    false => e,
                })?;
                run.child.set_serving(false);
            }
        } else if !run.quit_issued {
            run.child.signal(Signal::SIGTERM)?;
        }
        match run.child.wait_timeout(deadline.remaining())? {
            Some(_) => Ok(()),
            None => Err(Error::Timeout {
                what: format!("QEMU (pid {}) did not exit within {timeout:?}", run.child.pid()),
                log: String::new(),
            }),
        }
    }

    fn hard_shutdown(&mut self) -> Result<()> {
        if let Some(run) = self.state.running() {
            run.child.kill()?;
        }
        Ok(())
    }

    /// python/qemu's `_post_shutdown`: drop the connections, collect the
    /// output, remove the temporary directory, report death by signal.
    fn post_shutdown(&mut self) {
        let State::Running(run) = std::mem::replace(&mut self.state, State::Configured) else { return };
        let Running { mut child, qmp, qtest, temp_dir, log_path, user_killed, .. } = *run;
        drop((qmp, qtest));
        let iolog = read_log(&log_path);
        drop(temp_dir);
        if let Some(code) = child.try_wait().ok().flatten().map(returncode)
            && code < 0
            && !(user_killed && code == -libc::SIGKILL)
        {
            // python/qemu's LOG.warning, as logging.basicConfig formats it.
            eprintln!(
                "WARNING:qemu.machine.machine:qemu received signal {}; command: \"{}\"",
                -code,
                self.full_args.join(" ")
            );
        }
        self.state = State::Stopped(Stopped { child: Some(child), iolog });
    }
}
