//! `QemuStorageDaemon` against the real qemu-storage-daemon.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use iotests::tools::QsdOptions;
use iotests::{Error, TestContext, args};
use serde_json::json;

fn ctx(name: &str, fmt: &str) -> Option<TestContext> {
    common::context(name, fmt, &[("IMGFMT", fmt)], &["QEMU_IMG_PROG", "QEMU_IO_PROG", "QSD_PROG"])
}

fn image(t: &TestContext, name: &str) -> String {
    let img = t.file_path(name);
    t.qemu_img_create(&args!["-f", t.imgfmt(), &img, "1M"]).unwrap();
    img
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
}

#[test]
fn start_stop_without_qmp() {
    let Some(t) = ctx("qsd-plain", "raw") else { return };
    let img = image(&t, "disk");
    let blockdev = format!("file,node-name=file0,filename={img}");
    let mut qsd = t.qemu_storage_daemon(&["--blockdev", &blockdev]).unwrap();
    assert_eq!(qsd.pidfile(), format!("{}/qsd-a-pid", t.test_dir()));
    let pid: i32 = std::fs::read_to_string(qsd.pidfile()).unwrap().trim().parse().unwrap();
    assert_eq!(pid, qsd.pid());
    assert!(qsd.qmp_socket().is_none());
    assert!(matches!(qsd.qmp("query-version", ()), Err(Error::Usage(_))));
    assert_eq!(qsd.stop().unwrap(), 0);
    assert!(!Path::new(qsd.pidfile()).exists());
    assert!(!alive(pid));
    // Stopping again is harmless.
    assert_eq!(qsd.stop().unwrap(), 0);
    assert!(matches!(t.qemu_storage_daemon(&["--pidfile", "x"]), Err(Error::Usage(_))));
}

#[test]
fn qmp_monitor_and_nbd_export() {
    for fmt in ["qcow2", "raw"] {
        let Some(t) = ctx(&format!("qsd-qmp-{fmt}"), fmt) else { return };
        let img = image(&t, "disk");
        let sock = t.sock_path("nbd.sock");
        let opts = QsdOptions { instance_id: "b".into(), qmp: true, ..Default::default() };
        let mut qsd = t
            .qemu_storage_daemon_with(
                &[
                    "--blockdev",
                    &format!("file,node-name=file0,filename={img}"),
                    "--blockdev",
                    &format!("{fmt},node-name=fmt0,file=file0"),
                    "--nbd-server",
                    &format!("addr.type=unix,addr.path={sock}"),
                    "--export",
                    "nbd,id=exp0,node-name=fmt0,name=exp0,writable=on",
                ],
                opts,
            )
            .unwrap();
        let qmp_sock = qsd.qmp_socket().unwrap().to_string();
        assert_eq!(qmp_sock, format!("{}/qsd-b.sock", t.sock_dir()));
        assert!(Path::new(&qmp_sock).exists());

        let r = qsd.qmp("query-named-block-nodes", ()).unwrap();
        let names: Vec<&str> = r["return"].as_array().unwrap().iter().filter_map(|n| n["node-name"].as_str()).collect();
        assert!(names.contains(&"fmt0") && names.contains(&"file0"), "{r}");
        let r = qsd.qmp("no-such-command", ()).unwrap();
        assert_eq!(r["error"]["class"], "CommandNotFound", "{r}");
        assert!(matches!(qsd.cmd("no-such-command", ()), Err(Error::Qmp(_))));
        let r = qsd.cmd("query-block-exports", ()).unwrap();
        assert_eq!(r[0]["id"], "exp0", "{r}");

        let url = format!("nbd+unix:///exp0?socket={sock}");
        t.qemu_io(&["-f", "raw", "-c", "write -P 0x42 0 4k", &url]).unwrap();
        qsd.cmd("block-export-del", json!({"id": "exp0"})).unwrap();
        assert_eq!(qsd.stop().unwrap(), 0);
        assert!(!Path::new(&qmp_sock).exists());
        t.qemu_io(&["-c", "read -P 0x42 0 4k", &img]).unwrap();
    }
}

#[test]
fn daemon_that_exits_during_startup() {
    let Some(t) = ctx("qsd-fail", "raw") else { return };
    for qmp in [false, true] {
        let start = Instant::now();
        let opts = QsdOptions { qmp, ..Default::default() };
        let err =
            t.qemu_storage_daemon_with(&["--blockdev", "file,node-name=x,filename=/nonexistent/x"], opts).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(10));
        match &err {
            Error::Terminated { tool, status, cmdline, output } => {
                assert_eq!((tool.as_str(), *status), ("qemu-storage-daemon", 1));
                assert!(cmdline.contains("--pidfile"), "{cmdline}");
                assert!(output.contains("/nonexistent/x"), "{output}");
            }
            e => panic!("unexpected {e}"),
        }
        assert!(err.to_string().starts_with("qemu-storage-daemon terminated with exit code 1: "));
        // Its message is part of the test output, as in Python.
        assert!(t.contents().contains("/nonexistent/x"));
        assert!(t.processes().pids().is_empty());
        assert!(!Path::new(&format!("{}/qsd-a.sock", t.sock_dir())).exists());
    }
}

#[test]
fn drop_kills() {
    let Some(t) = ctx("qsd-drop", "raw") else { return };
    let img = image(&t, "disk");
    let blockdev = format!("file,node-name=file0,filename={img}");
    let opts = QsdOptions { qmp: true, ..Default::default() };
    let qsd = t.qemu_storage_daemon_with(&["--blockdev", &blockdev], opts).unwrap();
    let (pid, pidfile) = (qsd.pid(), qsd.pidfile().to_string());
    drop(qsd);
    assert!(!alive(pid));
    assert!(!Path::new(&pidfile).exists());
    assert!(t.processes().pids().is_empty());
}
