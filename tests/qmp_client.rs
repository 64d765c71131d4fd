//! The QMP client against real QEMU and qemu-storage-daemon.
//!
//! Each test skips itself (printing `not run: …`) when its binary is
//! missing, and kills and reaps its child even when an assertion fails.

use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use iotests::qmp::{QmpClient, QmpError, QmpListener};
use serde_json::json;

const T: Duration = Duration::from_secs(30);

/// The binary named by `var`, or `name` from PATH.
fn find(var: &str, name: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var) {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}

macro_rules! require {
    ($var:literal, $name:literal) => {
        match find($var, $name) {
            Some(p) => p,
            None => {
                println!("not run: {} not found", $name);
                return;
            }
        }
    };
}

/// Kills and reaps the child on drop, so that a failed assertion does not
/// leave a QEMU behind.
struct Reaper(Option<Child>);

impl Reaper {
    /// Waits for the child to exit by itself.
    fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let child = self.0.as_mut().expect("child already reaped");
        loop {
            if let Some(status) = child.try_wait().expect("waitpid") {
                self.0 = None;
                return status;
            }
            assert!(Instant::now() < deadline, "child did not exit within {timeout:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// QEMU with its monitor on one end of a socketpair, as python's
/// QEMUMachine runs it; returns the negotiated client.
fn launch_qemu(qemu: &Path) -> (Reaper, QmpClient) {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let fd = theirs.as_raw_fd();
    let mut cmd = Command::new(qemu);
    cmd.args(["-nodefaults", "-display", "none", "-accel", "tcg", "-M", "none"])
        .args(["-chardev", &format!("socket,id=mon,fd={fd}"), "-mon", "chardev=mon,mode=control"])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    // SAFETY: only an async-signal-safe fcntl runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // Let QEMU inherit its end of the socketpair.
            if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = Reaper(Some(cmd.spawn().unwrap()));
    drop(theirs);
    let mut qmp = QmpClient::from_stream(ours);
    let greeting = qmp.negotiate(T).unwrap();
    assert!(greeting["QMP"]["version"]["qemu"]["major"].is_number(), "{greeting}");
    (child, qmp)
}

fn quit(child: &mut Reaper, qmp: &mut QmpClient) {
    assert_eq!(qmp.qmp("quit", ()).unwrap(), json!({"return": {}}));
    let ev = qmp.event_wait("SHUTDOWN", T, Some(&json!({"data": {"reason": "host-qmp-quit"}}))).unwrap();
    assert_eq!(ev["data"]["guest"], false);
    assert!(child.wait(T).success());
}

#[test]
fn qemu_commands_and_events() {
    let qemu = require!("QEMU_PROG", "qemu-system-x86_64");
    let (mut child, mut qmp) = launch_qemu(&qemu);

    assert_eq!(qmp.cmd("query-status", ()).unwrap()["status"], "running");

    assert_eq!(qmp.qmp("stop", ()).unwrap(), json!({"return": {}}));
    let ev = qmp.event_wait("STOP", T, Some(&json!({"timestamp": {"seconds": null}}))).unwrap();
    assert_eq!(ev["event"], "STOP");
    assert_eq!(qmp.cmd("query-status", ()).unwrap()["status"], "paused");

    qmp.cmd("cont", ()).unwrap();
    qmp.events_wait(&[("STOP", None), ("RESUME", None)], T).map(|e| assert_eq!(e["event"], "RESUME")).unwrap();
    assert!(qmp.get_events(false).unwrap().is_empty());

    // Errors: as an error value (cmd) and as a raw response (qmp).
    match qmp.cmd("no-such-command", ()) {
        Err(QmpError::Command { class, desc, response, .. }) => {
            assert_eq!(class, "CommandNotFound");
            assert_eq!(desc, "The command no-such-command has not been found");
            assert_eq!(response["error"]["class"], "CommandNotFound");
        }
        other => panic!("{other:?}"),
    }
    let r = qmp.qmp("query-status", json!({"bogus": 1})).unwrap();
    assert_eq!(r["error"]["class"], "GenericError", "{r}");

    // A nothing-to-wait poll is quick and empty.
    assert_eq!(qmp.event_poll("STOP", None).unwrap(), None);

    quit(&mut child, &mut qmp);
}

#[test]
fn qemu_fd_passing() {
    let qemu = require!("QEMU_PROG", "qemu-system-x86_64");
    let (mut child, mut qmp) = launch_qemu(&qemu);
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("image0");
    std::fs::write(&image, [0u8; 4096]).unwrap();

    // add-fd without a descriptor (iotest 045).
    let r = qmp.qmp("add-fd", json!({"fdset-id": 2})).unwrap();
    assert_eq!(r["error"]["desc"], "No file descriptor supplied via SCM_RIGHTS", "{r}");

    // getfd / closefd.
    let file = std::fs::File::open(&image).unwrap();
    qmp.getfd(file.as_fd(), "image0:r").unwrap();
    qmp.cmd("closefd", json!({"fdname": "image0:r"})).unwrap();
    let r = qmp.qmp("closefd", json!({"fdname": "image0:r"})).unwrap();
    assert_eq!(r["error"]["desc"], "File descriptor named 'image0:r' not found", "{r}");

    // add-fd into set 2, visible in query-fdsets.
    let r = qmp.add_fd(file.as_fd(), Some(2), Some("image0:r")).unwrap();
    assert_eq!(r["fdset-id"], 2, "{r}");
    let fd = r["fd"].clone();
    let sets = qmp.cmd("query-fdsets", ()).unwrap();
    assert_eq!(sets, json!([{"fdset-id": 2, "fds": [{"fd": fd, "opaque": "image0:r"}]}]));

    // python's send_fd_scm(file_path=…) followed by add-fd (iotest 045).
    qmp.send_file_scm(&image).unwrap();
    let r = qmp.qmp("add-fd", json!({"fdset-id": 3, "opaque": "image0:r"})).unwrap();
    assert_eq!(r["return"]["fdset-id"], 3, "{r}");

    quit(&mut child, &mut qmp);
}

#[test]
fn qemu_qmp_unix_socket_connect() {
    let qemu = require!("QEMU_PROG", "qemu-system-x86_64");
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("qmp.sock");
    let mut cmd = Command::new(&qemu);
    cmd.args(["-nodefaults", "-display", "none", "-accel", "tcg", "-M", "none", "-S"])
        .args(["-qmp", &format!("unix:{},server=on,wait=off", sock.display())])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let mut child = Reaper(Some(cmd.spawn().unwrap()));
    // connect() retries until QEMU has created the socket.
    let mut qmp = QmpClient::connect(&sock, T).unwrap();
    qmp.negotiate(T).unwrap();
    assert_eq!(qmp.cmd("query-status", ()).unwrap()["status"], "prelaunch");
    quit(&mut child, &mut qmp);
}

#[test]
fn storage_daemon_connects_to_listener() {
    let qsd = require!("QSD_PROG", "qemu-storage-daemon");
    let dir = tempfile::tempdir().unwrap();
    let listener = QmpListener::bind(dir.path().join("qsd-a.sock")).unwrap();
    let mut cmd = Command::new(&qsd);
    cmd.args(["--blockdev", "null-co,node-name=null0"])
        .args(["--chardev", &format!("socket,id=qmp-sock,path={}", listener.path().display())])
        .args(["--monitor", "qmp-sock"])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let mut child = Reaper(Some(cmd.spawn().unwrap()));

    let mut qmp = listener.accept(T).unwrap();
    qmp.negotiate(T).unwrap();
    assert_eq!(qmp.cmd("query-block-exports", ()).unwrap(), json!([]));
    let nodes = qmp.cmd("query-named-block-nodes", json!({"flat": true})).unwrap();
    let names: Vec<_> = nodes.as_array().unwrap().iter().map(|n| n["node-name"].clone()).collect();
    assert_eq!(names, [json!("null0")]);

    assert_eq!(qmp.qmp("quit", ()).unwrap(), json!({"return": {}}));
    assert!(child.wait(T).success());
}
