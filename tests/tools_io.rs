//! qemu-io wrappers, one-shot and interactive, against the real binary.

mod common;

use std::time::{Duration, Instant};

use iotests::{Error, TestContext, args};

fn ctx(name: &str, fmt: &str) -> Option<TestContext> {
    common::context(name, fmt, &[("IMGFMT", fmt)], &["QEMU_IMG_PROG", "QEMU_IO_PROG"])
}

fn image(t: &TestContext, name: &str) -> String {
    let img = t.file_path(name);
    t.qemu_img_create(&args!["-f", t.imgfmt(), &img, "1M"]).unwrap();
    img
}

#[test]
fn write_read_log_qcow2_and_raw() {
    for fmt in ["qcow2", "raw"] {
        let Some(t) = ctx(&format!("io-basic-{fmt}"), fmt) else { return };
        let img = image(&t, "test.img");
        // No -f: QEMU_IO_OPTIONS supplies the format.
        let out = t.qemu_io(&["-c", "write -P 0x11 0 64k", &img]).unwrap();
        assert!(out.args.windows(2).any(|w| w == ["-f", fmt]), "{:?}", out.args);
        assert!(out.stdout.contains("wrote 65536/65536 bytes at offset 0"), "{}", out.stdout);
        // With -f: QEMU_IO_OPTIONS_NO_FMT, so -f appears once.
        let out = t.qemu_io(&["-f", fmt, "-c", "read -P 0x11 0 64k", &img]).unwrap();
        assert_eq!(out.args.iter().filter(|a| *a == "-f").count(), 1, "{:?}", out.args);
        t.qemu_io_log(&["-c", "read -P 0x11 0 4k", &img]).unwrap();
        assert!(t.contents().contains("read 4096/4096 bytes at offset 0"));

        // Pattern mismatch: exit status 1, with the message.
        let out = t.qemu_io_cmd(&["-c", "read -P 0x22 0 4k", &img]).check(false).run().unwrap();
        assert_eq!(out.returncode, 1);
        assert!(out.stdout.contains("Pattern verification failed"), "{}", out.stdout);

        assert_eq!(t.qemu_io_silent(&["-c", "read -P 0x11 0 4k", &img]).unwrap(), 0);
        assert!(t.qemu_io_silent_check(&["-c", "read 0 4k", &img]).unwrap());
    }
}

#[test]
fn failures() {
    let Some(t) = ctx("io-fail", "qcow2") else { return };
    let missing = t.file_path("missing.img");
    match t.qemu_io(&["-c", "read 0 1", &missing]).unwrap_err() {
        Error::ToolFailed { tool, status, output, .. } => {
            assert_eq!((tool.as_str(), status), ("qemu-io", 1));
            assert!(output.contains("Could not open"), "{output}");
        }
        e => panic!("unexpected {e}"),
    }
    assert_eq!(t.qemu_io_cmd(&["-c", "read 0 1", &missing]).check(false).run().unwrap().returncode, 1);
    t.qemu_io_cmd(&["-c", "read 0 1", &missing]).check(false).log().unwrap();
    // qemu_io_silent: stdout dropped, stderr into the log.
    let before = t.contents().len();
    assert_eq!(t.qemu_io_silent(&["-c", "read 0 1", &missing]).unwrap(), 1);
    assert!(t.contents()[before..].contains("Could not open"), "{}", t.contents());
    let before = t.contents().len();
    assert!(!t.qemu_io_silent_check(&["-c", "read 0 1", &missing]).unwrap());
    assert_eq!(t.contents().len(), before);
}

#[test]
fn popen_communicate() {
    let Some(t) = ctx("io-popen", "raw") else { return };
    let img = image(&t, "p.img");
    let mut p = t.qemu_io_popen(&["-f", "raw", "-c", "read 0 512", &img]).unwrap();
    let out = p.communicate(Duration::from_secs(30)).unwrap();
    assert!(out.contains("read 512/512 bytes"), "{out}");
    assert_eq!(p.poll().unwrap(), Some(0));
    // One that has to be killed.
    let mut p = t.qemu_tool_popen("sleep", &["sleep", "30"], true).unwrap();
    assert!(matches!(p.wait(Duration::from_millis(100)), Err(Error::Timeout { .. })));
    assert_eq!(p.kill().unwrap(), -9);
}

#[test]
fn interactive_session() {
    let Some(t) = ctx("io-interactive", "qcow2") else { return };
    let img = image(&t, "i.img");
    let mut qio = t.qemu_io_interactive(&[&img]).unwrap();
    let out = qio.cmd("write -P 0x33 0 4k").unwrap();
    assert!(out.starts_with("wrote 4096/4096 bytes at offset 0\n"), "{out:?}");
    let out = qio.cmd("  read -P 0x33 0 4k  ").unwrap();
    assert!(out.starts_with("read 4096/4096 bytes"), "{out:?}");
    assert_eq!(qio.cmd("").unwrap(), "");
    assert!(qio.cmd("help").unwrap().contains("alloc"));
    assert!(matches!(qio.cmd("q"), Err(Error::Usage(_))));
    assert!(matches!(qio.cmd(" quit "), Err(Error::Usage(_))));
    assert!(matches!(qio.cmd("read 0 1\nread 0 1"), Err(Error::Usage(_))));
    // Still in sync after the rejected commands.
    assert!(qio.cmd("read 0 1").unwrap().starts_with("read 1/1 bytes"));
    assert_eq!(qio.close().unwrap(), 0);
    t.qemu_io(&["-c", "read -P 0x33 0 4k", &img]).unwrap();
}

#[test]
fn interactive_fails_to_start() {
    let Some(t) = ctx("io-interactive-nostart", "qcow2") else { return };
    let missing = t.file_path("missing.img");
    let start = Instant::now();
    match t.qemu_io_interactive(&[&missing]).unwrap_err() {
        Error::ToolFailed { tool, status, output, .. } => {
            assert_eq!((tool.as_str(), status), ("qemu-io", 1));
            assert!(output.contains("Could not open") && output.contains(&missing), "{output}");
        }
        e => panic!("unexpected {e}"),
    }
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(t.processes().pids().is_empty());
}

#[test]
fn interactive_process_dies() {
    let Some(t) = ctx("io-interactive-dies", "raw") else { return };
    let img = image(&t, "d.img");
    let mut qio = t.qemu_io_interactive(&["-f", "raw", &img]).unwrap();
    qio.cmd("read 0 512").unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(qio.pid()), nix::sys::signal::Signal::SIGKILL).unwrap();
    let start = Instant::now();
    match qio.cmd("read 0 512").unwrap_err() {
        Error::ToolFailed { status, signal, .. } => assert_eq!((status, signal), (-9, Some(9))),
        e => panic!("unexpected {e}"),
    }
    assert!(start.elapsed() < Duration::from_secs(10));
    // Later commands fail too, without hanging.
    assert!(qio.cmd("read 0 512").is_err());
    drop(qio);
    assert!(t.processes().pids().is_empty());
}

#[test]
fn interactive_timeout_kills() {
    let Some(t) = ctx("io-interactive-timeout", "raw") else { return };
    let img = image(&t, "s.img");
    let mut qio = t.qemu_io_interactive(&["-f", "raw", &img]).unwrap();
    qio.set_timeout(Duration::from_millis(300));
    // `sleep` in qemu-io takes milliseconds.
    let start = Instant::now();
    match qio.cmd("sleep 5000").unwrap_err() {
        Error::Timeout { what, .. } => assert!(what.contains("sleep 5000"), "{what}"),
        e => panic!("unexpected {e}"),
    }
    assert!(start.elapsed() < Duration::from_secs(3));
    drop(qio);
    assert!(t.processes().pids().is_empty());
}
