//! End to end: the subcommands that work on a snapshot directory alone
//! (review, accept, reject, out, conformance) and regen's CI refusal.

mod common;

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
    assert!(o.stdout.contains("new-test: new (+1)\n"), "{o:?}");
    assert!(o.stdout.contains("2 pending: 0 accepted, 0 rejected, 2 left pending"), "{o:?}");
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
    assert_ne!(o.code, 0, "{o:?}");
    assert!(o.stderr.contains("regen refuses to run in CI"), "{o:?}");
}

#[test]
fn out_export_import_export_is_byte_identical() {
    let ws = Ws::new(&[]);
    ws.write_snap("001", "a\nb  \n\n\n");
    ws.write_snap("iothreads-stream", "{\"return\": {}}\n");
    std::fs::write(
        ws.snapshots().join("003.snap"),
        "---\nsource: tests/iotests/main.rs\nexpression: log\n---\nno final newline",
    )
    .unwrap();
    let (e1, e2) = (ws.root().join("e1"), ws.root().join("e2"));
    let o = ws.run(&["out", "export", e1.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(std::fs::read_to_string(e1.join("001.out")).unwrap(), "a\nb\n");
    assert_eq!(std::fs::read_to_string(e1.join("003.out")).unwrap(), "no final newline\n");

    // Import into a fresh directory (new snapshots) and over the old one.
    let fresh = ws.root().join("fresh");
    let o = ws.run(&["--snapshots", fresh.to_str().unwrap(), "out", "import", e1.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("3 created"), "{o:?}");
    assert_eq!(
        std::fs::read_to_string(fresh.join("003.snap")).unwrap(),
        "---\nsource: tests/iotests/main.rs\n---\nno final newline\n"
    );
    let o = ws.run(&["out", "import", e1.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{o:?}");
    // The existing front matter (with its expression) is kept.
    assert!(ws.read("snapshots/003.snap").starts_with("---\nsource: tests/iotests/main.rs\nexpression: log\n---\n"));

    let o = ws.run(&["out", "export", e2.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{o:?}");
    for name in ["001", "iothreads-stream", "003"] {
        let f = format!("{name}.out");
        assert_eq!(std::fs::read(e1.join(&f)).unwrap(), std::fs::read(e2.join(&f)).unwrap(), "{name}");
    }
    let o = ws.run(&["--snapshots", fresh.to_str().unwrap(), "out", "export", ws.root().join("e3").to_str().unwrap()]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(std::fs::read(e1.join("001.out")).unwrap(), std::fs::read(ws.root().join("e3/001.out")).unwrap());
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
    assert!(o.stdout.contains("002: no upstream reference"), "{o:?}");
}
