//! End to end: the subcommands that work on snapshots (review, accept,
//! reject, out, conformance) and regen's CI refusal.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Ws, snap};

fn ws_with_pending() -> Ws {
    let ws = Ws::new(&[]);
    ws.write_snap("001", "line one\nline two\n");
    ws.write_pending("001", "line one\nline 2\n");
    ws.write_pending("new-test", "fresh\n");
    ws.write_snap("002", "stays\n");
    ws
}

#[test]
fn review_without_a_terminal_lists_diffs() {
    let ws = ws_with_pending();
    let o = ws.run(&["review"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("001: changed (+1 -1)"), "{o:?}");
    assert!(o.stdout.contains("-line two\n+line 2\n"), "{o:?}");
    assert!(o.stdout.contains("new-test: new (+1) [tests/iotests/main.rs]\n"), "{o:?}");
    assert!(o.stdout.contains("2 pending: 0 accepted, 0 rejected, 2 left pending"), "{o:?}");
    assert!(o.stdout.contains("001: changed (+1 -1) [tests/iotests/main.rs]\n"), "{o:?}");
    // Nothing was touched.
    assert!(ws.snapshots().join("001.snap.new").exists());
    assert_eq!(ws.read("snapshots/001.snap"), snap("line one\nline two\n"));
}

#[test]
fn accept_writes_the_pending_snapshot() {
    let ws = ws_with_pending();
    let o = ws.run(&["accept", "001"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("accepted 001"), "{o:?}");
    // The review-only assertion_line is not persisted, like cargo insta accept.
    assert_eq!(ws.read("snapshots/001.snap"), snap("line one\nline 2\n"));
    assert!(!ws.snapshots().join("001.snap.new").exists());
    assert!(ws.snapshots().join("new-test.snap.new").exists());

    let o = ws.run(&["accept"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(ws.read("snapshots/new-test.snap"), snap("fresh\n"));
}

#[test]
fn reject_drops_the_pending_snapshot() {
    let ws = ws_with_pending();
    let o = ws.run(&["reject", "new-*"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(!ws.snapshots().join("new-test.snap.new").exists());
    assert!(!ws.snapshots().join("new-test.snap").exists());
    assert!(ws.snapshots().join("001.snap.new").exists());

    let o = ws.run(&["reject", "nosuch"]);
    assert_ne!(o.code, 0, "{o:?}");
    assert!(o.stderr.contains("no pending snapshot for nosuch"), "{o:?}");
}

#[test]
fn snapshots_option_and_env_select_the_directory() {
    let ws = ws_with_pending();
    let elsewhere = tempfile::tempdir().unwrap();
    let o = ws.run(&["review", "--snapshots", elsewhere.path().to_str().unwrap()]);
    assert!(o.stdout.contains("no pending snapshots"), "{o:?}");
    let o =
        common::Out::from(ws.cmd().env("IOTESTS_SNAPSHOT_DIR", elsewhere.path()).args(["accept"]).output().unwrap());
    assert!(o.stdout.contains("no pending snapshots"), "{o:?}");
}

#[test]
fn regen_refuses_in_ci() {
    let ws = Ws::new(&[("001", "pass001", "rw")]);
    let o = common::Out::from(ws.cmd().env("CI", "true").args(["regen", "--all"]).output().unwrap());
    assert!(o.stdout.is_empty(), "{o:?}");
    assert_ne!(o.code, 0, "{o:?}");
    assert!(o.stderr.contains("regen refuses to run in CI"), "{o:?}");
}

#[test]
fn out_export_import_export_is_byte_identical() {
    let ws = Ws::new(&[("001", "pass001", ""), ("iothreads-stream", "pass_s", ""), ("003", "pass3", "")]);
    ws.write_snap("001", "a\nb  \n\n\n");
    ws.write_snap("001.raw", "raw\n");
    ws.write_snap("iothreads-stream", "{\"return\": {}}\n");
    ws.write_snap("harness-selftest-x", "not the suite's\n");
    std::fs::write(
        ws.snapshots().join("003.snap"),
        "---\nsource: tests/iotests/main.rs\nexpression: log\n---\nno final newline",
    )
    .unwrap();
    let (e1, e2) = (ws.root().join("e1"), ws.root().join("e2"));
    let o = ws.run_bin(&["out", "export", e1.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(std::fs::read_to_string(e1.join("001.out")).unwrap(), "a\nb\n");
    assert_eq!(std::fs::read_to_string(e1.join("001.out.raw")).unwrap(), "raw\n");
    assert_eq!(std::fs::read_to_string(e1.join("003.out")).unwrap(), "no final newline\n");
    // Snapshots of no declared test (the library's self-tests) are not exported.
    assert!(!e1.join("harness-selftest-x.out").exists());

    // Import into a fresh directory: pending snapshots, each named.
    let fresh = ws.root().join("fresh");
    let o = ws.run_bin(&["--snapshots", fresh.to_str().unwrap(), "out", "import", e1.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("4 created"), "{o:?}");
    assert!(o.stdout.contains(&format!("001.out.raw -> {}: new", fresh.join("001.raw.snap.new").display())), "{o:?}");
    assert_eq!(
        std::fs::read_to_string(fresh.join("003.snap.new")).unwrap(),
        "---\nsource: tests/iotests/main.rs\n---\nno final newline\n"
    );
    assert!(!fresh.join("003.snap").exists());
    let o = ws.run(&["--snapshots", fresh.to_str().unwrap(), "accept"]);
    assert_eq!(o.code, 0, "{o:?}");
    // Over the old directory nothing changes: everything is unchanged.
    let o = ws.run_bin(&["out", "import", "--accept", e1.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("0 created, 0 updated, 4 unchanged"), "{o:?}");
    // The existing front matter (with its expression) is kept.
    assert!(ws.read("snapshots/003.snap").starts_with("---\nsource: tests/iotests/main.rs\nexpression: log\n---\n"));

    let o = ws.run_bin(&["out", "export", e2.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{o:?}");
    for f in ["001.out", "001.out.raw", "iothreads-stream.out", "003.out"] {
        assert_eq!(std::fs::read(e1.join(f)).unwrap(), std::fs::read(e2.join(f)).unwrap(), "{f}");
    }
    let e3 = ws.root().join("e3");
    let o = ws.run_bin(&["--snapshots", fresh.to_str().unwrap(), "out", "export", e3.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(std::fs::read(e1.join("001.out")).unwrap(), std::fs::read(e3.join("001.out")).unwrap());

    // A .out of a test that does not exist is refused, and nothing is written.
    std::fs::write(e1.join("999.out"), "orphan\n").unwrap();
    let o = ws.run_bin(&["out", "import", e1.to_str().unwrap()]);
    assert_eq!(o.code, 2, "{o:?}");
    assert!(o.stderr.contains("no test declares 999.out"), "{o:?}");
    assert!(!ws.snapshots().join("999.snap.new").exists() && !ws.snapshots().join("999.snap").exists());
}

#[test]
fn written_files_respect_the_umask() {
    let ws = Ws::new(&[("001", "pass001", ""), ("002", "crash2", "")]);
    ws.write_snap("001", "old\n");
    ws.write_pending("001", "new\n");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let run_masked = |args: &[&str]| {
        let mut c = ws.cmd();
        c.args(args);
        // SAFETY: umask only changes the child's file creation mask.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut c, || {
                libc::umask(0o022);
                Ok(())
            });
        }
        common::Out::from(c.output().unwrap())
    };
    std::fs::set_permissions(ws.snapshots().join("001.snap"), std::fs::Permissions::from_mode(0o664)).unwrap();
    let o = run_masked(&["accept", "001"]);
    assert_eq!(o.code, 0, "{o:?}");
    // An existing snapshot keeps its mode.
    assert_eq!(mode(&ws.snapshots().join("001.snap")), 0o664);
    let outs = ws.root().join("outs");
    std::fs::create_dir(&outs).unwrap();
    std::fs::write(outs.join("002.out"), "x\n").unwrap();
    let bin = ws.fake_binary();
    let o = run_masked(&["out", "import", "--accept", outs.to_str().unwrap(), "--test-binary", bin.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(mode(&ws.snapshots().join("002.snap")), 0o644);
    let junit = ws.root().join("j.xml");
    let o = run_masked(&["check", "--test-binary", bin.to_str().unwrap(), "--junit", junit.to_str().unwrap(), "001"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(mode(&junit), 0o644);
}

#[test]
fn conformance_against_a_fake_qemu_tree() {
    let ws = Ws::new(&[]);
    let qemu = ws.root().join("qemu");
    let io = qemu.join("tests/qemu-iotests");
    std::fs::create_dir_all(io.join("tests")).unwrap();
    // Trailing whitespace and trailing empty lines do not matter.
    std::fs::write(io.join("001.out"), "QA output created by 001\nok   \n\n").unwrap();
    ws.write_snap("001", "QA output created by 001\nok\n");
    std::fs::write(io.join("tests/named-test.out"), "one\ntwo\nthree\n").unwrap();
    ws.write_snap("named-test", "one\n2\nthree\n");
    ws.write_snap("not-upstream", "x\n");

    let o = ws.run(&["conformance", qemu.to_str().unwrap()]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.contains("named-test: differs\n"), "{o:?}");
    assert!(o.stdout.contains("    -two\n    +2\n"), "{o:?}");
    assert!(!o.stdout.contains("001: differs"), "{o:?}");
    assert!(o.stdout.ends_with("identical: 1 / 2\n"), "{o:?}");

    let o = ws.run(&["conformance", qemu.to_str().unwrap(), "001"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, "identical: 1 / 1\n");

    // Named tests must exist on both sides.
    let o = ws.run(&["conformance", qemu.to_str().unwrap(), "001", "002"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.contains("002: no upstream reference (002.out)"), "{o:?}");

    // Per-format references compare with QEMU's per-format files.
    std::fs::write(io.join("150.out.raw"), "raw\n").unwrap();
    std::fs::write(io.join("150.out.qcow2"), "qcow2\n").unwrap();
    ws.write_snap("150.raw", "raw\n");
    let o = ws.run(&["conformance", qemu.to_str().unwrap(), "150"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.contains("150.qcow2: no snapshot"), "{o:?}");
    assert!(o.stdout.ends_with("identical: 1 / 2\n"), "{o:?}");

    // Not a QEMU tree: said so, not "identical: 0 / 0".
    let o = ws.run(&["conformance", ws.root().join("snapshots").to_str().unwrap()]);
    assert_eq!(o.code, 2, "{o:?}");
    assert!(o.stderr.contains("is not a QEMU source tree"), "{o:?}");
}

#[test]
fn a_corrupt_snapshot_is_named_as_such() {
    let ws = Ws::new(&[("002", "out_new2", "")]);
    std::fs::write(ws.snapshots().join("002.snap"), b"---\n\xff\xfe\x00garbage").unwrap();
    let o = ws.run_bin(&["check", "002"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.line("002").contains("002.snap is corrupt: not UTF-8 text"), "{o:?}");
}

/// check on a read-only snapshot directory (CI images mount the tree so):
/// a matching snapshot passes, and a mismatch is a failure with its diff
/// and a note that the pending snapshot could not be written — not an I/O
/// error of the run. Needs a read-only bind mount (root); else not run.
#[test]
fn check_on_a_read_only_snapshot_directory() {
    let ws = Ws::new(&[("001", "out_one", ""), ("002", "out_two", "")]);
    ws.write_snap("001", "one output\n");
    ws.write_snap("002", "something else\n");
    let dir = ws.snapshots();
    let d = dir.to_string_lossy().into_owned();
    let mount = |args: &[&str]| std::process::Command::new("mount").args(args).status().is_ok_and(|s| s.success());
    if !mount(&["--bind", &d, &d]) {
        println!("not run: cannot bind-mount here");
        return;
    }
    struct Unmount(String);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(d.clone());
    if !mount(&["-o", "remount,bind,ro", &d]) || std::fs::write(dir.join("probe"), "").is_ok() {
        println!("not run: cannot make a read-only mount here");
        return;
    }
    let o = ws.run_bin(&["check", "001"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.line("001").contains("pass"), "{o:?}");

    let o = ws.run_bin(&["check", "002"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.contains("-something else\n+two output\n"), "{o:?}");
    assert!(o.stdout.contains("could not write the pending snapshot"), "{o:?}");
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(left.len(), 2, "{left:?}");
}
