//! qemu-nbd wrappers against the real binary.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use iotests::{Error, TestContext, args};

fn ctx(name: &str, fmt: &str) -> Option<TestContext> {
    common::context(name, fmt, &[("IMGFMT", fmt)], &["QEMU_IMG_PROG", "QEMU_IO_PROG", "QEMU_NBD_PROG"])
}

fn image(t: &TestContext, name: &str) -> String {
    let img = t.file_path(name);
    t.qemu_img_create(&args!["-f", t.imgfmt(), &img, "1M"]).unwrap();
    img
}

fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

fn wait_gone(pid: i32) -> bool {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn fork_with_pid_file_is_tracked_and_killed() {
    for fmt in ["qcow2", "raw"] {
        let Some(t) = ctx(&format!("nbd-fork-{fmt}"), fmt) else { return };
        let img = image(&t, "disk");
        let pid_file = t.file_path("nbd.pid");
        let sock = t.sock_path("nbd.sock");
        let rc = t.qemu_nbd(&["-k", &sock, "--pid-file", &pid_file, "-f", fmt, "-x", "exp0", &img]).unwrap();
        assert_eq!(rc, 0);
        let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
        assert!(t.processes().pids().iter().any(|(p, n)| *p == pid && n == "qemu-nbd"), "{:?}", t.processes().pids());

        let out = t.qemu_nbd_list_log(&["-k", &sock]).unwrap();
        assert!(out.contains("export: 'exp0'"), "{out}");
        assert!(t.contents().contains("export: 'exp0'"));

        let url = format!("nbd+unix:///exp0?socket={sock}");
        let io = t.qemu_io(&["-f", "raw", "-c", "read 0 512", &url]).unwrap();
        assert!(io.stdout.contains("read 512/512"), "{}", io.stdout);
        drop(t);
        assert!(wait_gone(pid), "qemu-nbd daemon {pid} survived its test");
    }
}

#[test]
fn fork_without_pid_file_is_found_by_cmdline() {
    let Some(t) = ctx("nbd-fork-nopid", "raw") else { return };
    let img = image(&t, "disk");
    let sock = t.sock_path("nbd.sock");
    assert_eq!(t.qemu_nbd(&["-k", &sock, "--persistent", "-f", "raw", &img]).unwrap(), 0);
    let pids = t.processes().pids();
    assert_eq!(pids.len(), 1, "{pids:?}");
    let pid = pids[0].0;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(String::from_utf8_lossy(&cmdline).contains(&sock));
    drop(t);
    assert!(wait_gone(pid));
}

#[test]
fn daemon_that_exits_is_forgotten() {
    let Some(t) = ctx("nbd-fork-exits", "raw") else { return };
    let img = image(&t, "disk");
    let pid_file = t.file_path("nbd.pid");
    let sock = t.sock_path("nbd.sock");
    // Without --persistent, qemu-nbd exits after its first client.
    assert_eq!(t.qemu_nbd(&["-k", &sock, "--pid-file", &pid_file, "-f", "raw", &img]).unwrap(), 0);
    assert_eq!(t.processes().pids().len(), 1);
    t.qemu_io(&["-f", "raw", "-c", "read 0 512", &format!("nbd+unix:///?socket={sock}")]).unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    while !t.processes().pids().is_empty() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(t.processes().pids().is_empty(), "{:?}", t.processes().pids());
}

#[test]
fn early_pipe() {
    let Some(t) = ctx("nbd-early-pipe", "raw") else { return };
    let img = image(&t, "disk");
    let missing = t.file_path("missing");
    let sock = t.sock_path("nbd.sock");
    let (rc, out) = t.qemu_nbd_early_pipe(&["-k", &sock, "-f", "raw", &missing]).unwrap();
    assert_eq!(rc, 1);
    // Errors go to stderr, which is inherited: the log has them.
    assert!(!out.contains("Could not open"), "{out}");
    assert!(t.contents().contains("Could not open"), "{}", t.contents());
    let (rc, out) = t.qemu_nbd_early_pipe(&["--no-such-option"]).unwrap();
    assert_eq!((rc, out.as_str()), (1, ""));

    let (rc, out) = t.qemu_nbd_early_pipe(&["-k", &sock, "--persistent", "-f", "raw", &img]).unwrap();
    assert_eq!((rc, out.as_str()), (0, ""));
    assert_eq!(t.processes().pids().len(), 1);
    // A second daemon (qemu-nbd takes the socket over) is tracked as well.
    let (rc, _) = t.qemu_nbd_early_pipe(&["-k", &sock, "-f", "raw", &img]).unwrap();
    assert_eq!(rc, 0);
    assert_eq!(t.processes().pids().len(), 2);
    assert_eq!(t.qemu_nbd(&["--no-such-option"]).unwrap(), 1);
}

#[test]
fn popen_server_logs_start_and_kill() {
    let Some(t) = ctx("nbd-popen", "qcow2") else { return };
    let img = image(&t, "disk");
    let sock = t.sock_path("nbd.sock");
    let pid_file;
    let pid;
    {
        let nbd = t.qemu_nbd_popen(&["-k", &sock, "-f", "qcow2", &img]).unwrap();
        pid = nbd.pid();
        pid_file = nbd.pid_file().to_string();
        assert!(pid_file.ends_with("-qemu_nbd_popen-nbd-pid-file"), "{pid_file}");
        assert!(Path::new(&pid_file).exists());
        t.log("inside");
        t.qemu_io_log(&["-f", "raw", "-c", "read 0 512", &format!("nbd+unix:///?socket={sock}")]).unwrap();
    }
    assert!(!Path::new(&pid_file).exists());
    assert!(!alive(pid));
    let log = t.contents();
    let start = log.find("Start NBD server\n").unwrap();
    let inside = log.find("inside\n").unwrap();
    let kill = log.find("Kill NBD server\n").unwrap();
    assert!(start < inside && inside < kill, "{log}");
    // The pid file name can be used again.
    let nbd = t.qemu_nbd_popen(&["-k", &sock, "-f", "qcow2", &img]).unwrap();
    drop(nbd);
    assert!(t.processes().pids().is_empty());
}

#[test]
fn popen_server_that_exits_is_an_error() {
    let Some(t) = ctx("nbd-popen-fail", "raw") else { return };
    let missing = t.file_path("missing");
    let sock = t.sock_path("nbd.sock");
    let start = Instant::now();
    let err = t.qemu_nbd_popen(&["-k", &sock, "-f", "raw", &missing]).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(10));
    match &err {
        Error::Terminated { tool, status, cmdline, output } => {
            assert_eq!((tool.as_str(), *status), ("qemu-nbd", 1));
            assert!(cmdline.contains("--persistent --pid-file") && cmdline.ends_with(&missing), "{cmdline}");
            assert!(output.contains("Could not open"), "{output}");
        }
        e => panic!("unexpected {e}"),
    }
    assert!(err.to_string().starts_with("qemu-nbd terminated with exit code 1: "), "{err}");
    // Python's `finally` runs: the Kill line comes after qemu-nbd's message.
    let log = t.contents();
    let s = log.find("Start NBD server\n").unwrap();
    let m = log.find("Could not open").unwrap();
    let k = log.find("Kill NBD server\n").unwrap();
    assert!(s < m && m < k, "{log}");
    assert!(t.processes().pids().is_empty());
}

#[test]
fn popen_server_is_killed_on_panic() {
    let Some(t) = ctx("nbd-popen-panic", "raw") else { return };
    let img = image(&t, "disk");
    let sock = t.sock_path("nbd.sock");
    let mut pid = 0;
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let nbd = t.qemu_nbd_popen(&["-k", &sock, "-f", "raw", &img]).unwrap();
        pid = nbd.pid();
        panic!("test body failed");
    }));
    assert!(r.is_err());
    assert!(pid > 0 && !alive(pid));
    assert!(t.contents().ends_with("Kill NBD server\n"), "{}", t.contents());
}
