//! The snapshot glue end to end on a tiny log: file name, front matter, body.

use iotests::{TestContext, env::TestEnv};

#[test]
fn log_becomes_named_snapshot() {
    let t = TestContext::new("iotests-selftest-snapshot", TestEnv::from_process_env("raw")).unwrap();
    let img = t.file_path("disk.img");
    t.log_with(format!("Creating {img}"), &[iotests::Filter::Testfiles]);
    t.log(serde_json::json!({"return": {}, "a": [1.0, 1e16, "é"]}));
    t.log(iotests::Msg::ordered(serde_json::json!({"execute": "quit", "arguments": {}})));
    iotests::assert_log_snapshot!(in Some("tests/selftest-snapshots"); "iotests-selftest-snapshot", t.contents(), None);
}

/// QEMU's testrunner.py, when the QEMU sources are around (CI sets
/// IOTESTS_QEMU_SRC; the preamble's tree is the fallback).
fn testrunner_dir() -> Option<std::path::PathBuf> {
    let candidates = [
        std::env::var_os(iotests::env::QEMU_SRC_VAR).map(std::path::PathBuf::from),
        Some("/work/qemu-src/qemu-10.0.2".into()),
    ];
    candidates.into_iter().flatten().map(|p| p.join("tests/qemu-iotests")).find(|p| p.join("testrunner.py").is_file())
}

/// The snapshot variant chosen for every combination of present files,
/// cache mode, format and machine equals what upstream's
/// `TestRunner.find_reference` picks among the corresponding `.out` files.
#[test]
fn reference_choice_equals_upstream_find_reference() {
    let Some(dir) = testrunner_dir() else {
        println!("not run: no QEMU source tree with tests/qemu-iotests/testrunner.py (set IOTESTS_QEMU_SRC)");
        return;
    };
    if std::process::Command::new("python3").arg("--version").output().is_err() {
        println!("not run: python3 is missing");
        return;
    }
    // (snapshot variant, upstream file) for test "150".
    let variants =
        [("nocache", "150.out.nocache"), ("raw", "150.out.raw"), ("qcow2", "150.out.qcow2"), ("pc", "150.pc.out")];
    let mut cases = Vec::new();
    for mask in 0..(1 << variants.len()) {
        for cache in ["none", "writeback"] {
            for fmt in ["raw", "qcow2", "luks"] {
                for machine in ["pc", "q35"] {
                    cases.push((mask, cache, fmt, machine));
                }
            }
        }
    }
    let script = r#"
import os, sys
sys.path.insert(0, sys.argv[1])
from testrunner import TestRunner
class Env: pass
class Runner: pass
for line in sys.stdin:
    d, cache, fmt, machine = line.split()
    r = Runner(); r.env = Env()
    r.env.cachemode, r.env.imgfmt, r.env.qemu_default_machine = cache, fmt, machine
    os.chdir(d)
    print(TestRunner.find_reference(r, '150'))
"#;
    let root = tempfile::tempdir().unwrap();
    let mut input = String::new();
    let mut want = Vec::new();
    for (i, (mask, cache, fmt, machine)) in cases.iter().enumerate() {
        let d = root.path().join(i.to_string());
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("150.out"), "").unwrap();
        std::fs::write(d.join("150.snap"), "").unwrap();
        for (bit, (variant, file)) in variants.iter().enumerate() {
            if mask & (1 << bit) != 0 {
                std::fs::write(d.join(file), "").unwrap();
                std::fs::write(d.join(format!("150.{variant}.snap")), "").unwrap();
            }
        }
        input.push_str(&format!("{} {cache} {fmt} {machine}\n", d.display()));
        let ours = iotests::snapshot::reference_name(&d, "150", fmt, cache, || machine.to_string());
        want.push(ours);
    }
    let mut py = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut py.stdin.take().unwrap(), input.as_bytes()).unwrap();
    let out = py.wait_with_output().unwrap();
    assert!(out.status.success());
    let upstream: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(String::from).collect();
    assert_eq!(upstream.len(), want.len());
    for ((ours, theirs), case) in want.iter().zip(&upstream).zip(&cases) {
        let mapped = match ours.strip_prefix("150.") {
            None => "150.out".to_string(),
            Some("pc") => "150.pc.out".to_string(),
            Some(v) => format!("150.out.{v}"),
        };
        assert_eq!(&mapped, theirs, "case {case:?}");
    }
}

/// The snapshot assertion itself compares with the cell's variant, and
/// records the actual output where the CLI asks for it. Runs this test
/// binary again with the cell's environment.
#[test]
fn the_assertion_uses_the_cells_variant_and_records_the_actual_output() {
    if std::env::var_os("IOTESTS_SMOKE_CHILD").is_some() {
        iotests::assert_log_snapshot!("smoke-variant", "raw output\n");
        return;
    }
    let snaps = tempfile::tempdir().unwrap();
    let actual = tempfile::tempdir().unwrap();
    std::fs::write(snaps.path().join("smoke-variant.snap"), "---\nsource: x\n---\nqcow2 output\n").unwrap();
    std::fs::write(snaps.path().join("smoke-variant.raw.snap"), "---\nsource: x\n---\nraw output\n").unwrap();
    let run = |fmt: &str| {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "the_assertion_uses_the_cells_variant_and_records_the_actual_output", "--nocapture"])
            .env("IOTESTS_SMOKE_CHILD", "1")
            .env("IOTESTS_SNAPSHOT_DIR", snaps.path())
            .env("IOTESTS_ACTUAL_DIR", actual.path())
            .env("IMGFMT", fmt)
            .env("QEMU_DEFAULT_MACHINE", "pc")
            .env("INSTA_UPDATE", "no")
            .env_remove("INSTA_FORCE_PASS")
            .env_remove("CI")
            .output()
            .unwrap()
    };
    let raw = run("raw");
    assert!(raw.status.success(), "{}", String::from_utf8_lossy(&raw.stdout));
    assert_eq!(std::fs::read_to_string(actual.path().join("smoke-variant.out.bad")).unwrap(), "raw output\n");
    let qcow2 = run("qcow2");
    assert!(!qcow2.status.success(), "qcow2 must compare with smoke-variant.snap");
    let stderr = String::from_utf8_lossy(&qcow2.stderr);
    assert!(stderr.contains("snapshot assertion for 'smoke-variant' failed"), "{stderr}");
}
