//! No signal ever reaches a process that merely has the PID of one of the
//! test's processes: daemons are adopted by pidfd after their start time is
//! checked, and everything is signalled through its pidfd. Fake `qemu-nbd
//! --fork` programs (shell scripts) stand in for the daemon.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use iotests::TestContext;
use iotests::env::{TestEnv, Vars};

/// A context whose `qemu-nbd` is the shell script `script`.
fn context(name: &str, dir: &Path, script: &str) -> TestContext {
    let prog = dir.join("fake-qemu-nbd");
    std::fs::write(&prog, format!("#!/bin/sh\n{script}")).unwrap();
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut vars: Vars = std::env::vars().collect();
    vars.insert("QEMU_NBD_PROG".into(), prog.to_string_lossy().into_owned());
    vars.remove("QEMU_NBD_OPTIONS");
    TestContext::new(name, TestEnv::from_vars(&vars, "raw")).unwrap()
}

/// `sh` code that sets `$pidfile` from the `--pid-file` argument.
const PIDFILE_ARG: &str = r#"pidfile=
while [ $# -gt 0 ]; do [ "$1" = --pid-file ] && pidfile="$2"; shift; done
"#;

fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

/// A pid file naming a process that was already running before `qemu-nbd
/// --fork` was called (a recycled or stale PID) is not the daemon: the
/// test must never register, let alone kill, that process.
#[test]
fn a_pid_file_naming_an_older_process_is_not_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let mut victim = Command::new("sleep").arg("60").spawn().unwrap();
    let vpid = victim.id();
    // Let the clock tick past the victim's start (ticks are 10 ms).
    std::thread::sleep(Duration::from_millis(100));
    let t = context("pid-stale", dir.path(), &format!("{PIDFILE_ARG}echo {vpid} > \"$pidfile\"\nexit 0\n"));
    let pid_file = t.file_path("nbd.pid");
    assert_eq!(t.qemu_nbd(&["--pid-file", &pid_file, "-k", "/nonexistent"]).unwrap(), 0);
    assert!(t.processes().pids().is_empty(), "adopted an unrelated process: {:?}", t.processes().pids());
    t.processes().kill_all();
    drop(t);
    std::thread::sleep(Duration::from_millis(100));
    assert!(victim.try_wait().unwrap().is_none(), "the unrelated process {vpid} was killed");
    victim.kill().unwrap();
    victim.wait().unwrap();
}

/// Force the next PID the kernel hands out to be `pid` (root only, through
/// `ns_last_pid`); `None` when that is not possible here.
fn spawn_with_pid(pid: i32) -> Option<std::process::Child> {
    for _ in 0..200 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", format!("{}", pid - 1)).ok()?;
        let child = Command::new("sleep").arg("60").spawn().ok()?;
        if child.id() as i32 == pid {
            return Some(child);
        }
        // Another process took it first: try again.
        let mut child = child;
        let _ = child.kill();
        let _ = child.wait();
    }
    None
}

/// A daemon that the test tracks dies (not by the test's hand) and its PID
/// goes to a new, unrelated process at once: killing the test's processes
/// must not touch the newcomer. (Three rounds, each as fast as possible:
/// a PID-based registry that polls for dead daemons may notice one in
/// time, hardly all three.)
#[test]
fn a_recycled_daemon_pid_gets_no_signal() {
    // Orphans become our children, so that we can reap the daemon (and
    // free its PID) ourselves, at once.
    // SAFETY: prctl with integer arguments.
    assert_eq!(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }, 0);
    let dir = tempfile::tempdir().unwrap();
    let script =
        format!("{PIDFILE_ARG}setsid sleep 1000 </dev/null >/dev/null 2>&1 &\necho $! > \"$pidfile\"\nexit 0\n");
    let t = context("pid-recycled", dir.path(), &script);
    for round in 0..3 {
        let pid_file = t.file_path(&format!("nbd{round}.pid"));
        assert_eq!(t.qemu_nbd(&["--pid-file", &pid_file, "-k", "/nonexistent"]).unwrap(), 0);
        let daemon: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
        assert_eq!(t.processes().pids(), [(daemon, "qemu-nbd".to_string())]);

        // The daemon dies (someone else kills it) and is reaped: its PID is
        // free, and the next process may get it.
        let pid = nix::unistd::Pid::from_raw(daemon);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
        nix::sys::wait::waitpid(pid, None).unwrap();
        let Some(mut newcomer) = spawn_with_pid(daemon) else {
            println!("not run: cannot choose the next PID here (needs root and a quiet machine)");
            return;
        };
        t.processes().kill_all();
        std::thread::sleep(Duration::from_millis(100));
        assert!(alive(daemon), "round {round}: the process that got PID {daemon} after the daemon died was killed");
        assert!(newcomer.try_wait().unwrap().is_none());
        newcomer.kill().unwrap();
        newcomer.wait().unwrap();
        assert!(t.processes().pids().is_empty(), "{:?}", t.processes().pids());
    }
}
