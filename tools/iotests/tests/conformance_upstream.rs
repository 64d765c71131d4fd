//! The project's own snapshots against QEMU's reference outputs.
//!
//! Runs `iotests conformance $IOTESTS_QEMU_SRC` over the real `snapshots/`
//! directory: every snapshot named after an upstream test must equal its
//! `.out` file as QEMU's `check` compares them. CI points
//! `IOTESTS_QEMU_SRC` at the QEMU sources matching the installed QEMU
//! (`../shared/tools/qemu-src`); without it this test is not run.

use std::path::Path;
use std::process::Command;

#[test]
fn snapshots_equal_upstream_references() {
    let Some(src) = std::env::var_os("IOTESTS_QEMU_SRC").filter(|s| !s.is_empty()) else {
        println!("not run: IOTESTS_QEMU_SRC is not set (a QEMU source tree with tests/qemu-iotests)");
        return;
    };
    if !Path::new(&src).join("tests/qemu-iotests").is_dir() {
        panic!("IOTESTS_QEMU_SRC={} has no tests/qemu-iotests", Path::new(&src).display());
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(env!("CARGO_BIN_EXE_iotests"))
        .arg("--snapshots")
        .arg(root.join("snapshots"))
        .arg("conformance")
        .arg(&src)
        .env_remove("IOTESTS_SNAPSHOT_DIR")
        .output()
        .expect("run iotests conformance");
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    let last = stdout.lines().last().unwrap_or_default();
    let counts: Vec<&str> = last.trim_start_matches("identical: ").split(" / ").collect();
    assert!(last.starts_with("identical: ") && counts.len() == 2, "unexpected output: {last}");
    let total: usize = counts[1].parse().expect("a count");
    assert!(total > 0, "no snapshot is named after an upstream test");
    assert!(out.status.success() && counts[0] == counts[1], "snapshots differ from upstream:\n{stdout}");
}
