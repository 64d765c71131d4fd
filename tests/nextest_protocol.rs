//! The iotests test binary speaks libtest's protocol the way cargo-nextest
//! drives it: `--list --format terse` (and `--ignored`) to learn the tests,
//! then one process per test with `--exact NAME --nocapture`. Verified once
//! with nextest itself (`cargo nextest run --test iotests --partition
//! count:1/4`); this keeps it true.

use std::path::PathBuf;
use std::process::Command;

/// The newest `iotests-<hash>` binary next to this one that lists the
/// ported tests (cargo builds every test target before running any; the
/// library's unit tests have the same file name prefix).
fn iotests_binary() -> Option<PathBuf> {
    let deps = std::env::current_exe().ok()?.parent()?.to_path_buf();
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(deps)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.strip_prefix("iotests-").is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            })
        })
        .filter(|p| p.metadata().is_ok_and(|m| m.is_file()))
        .collect();
    candidates.sort_by_key(|p| std::cmp::Reverse(p.metadata().and_then(|m| m.modified()).ok()));
    candidates.into_iter().find(|p| {
        Command::new(p)
            .args(["--list", "--format", "terse"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l == "t209::t209: test"))
    })
}

fn run(bin: &PathBuf, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(bin).args(args).envs(env.iter().copied()).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn list_exact_and_ignored_as_nextest_uses_them() {
    let Some(bin) = iotests_binary() else {
        eprintln!("not run: the iotests test binary is not built (cargo test builds it with the workspace)");
        return;
    };
    let (ok, list) = run(&bin, &["--list", "--format", "terse"], &[]);
    assert!(ok);
    let names: Vec<&str> = list.lines().filter_map(|l| l.strip_suffix(": test")).collect();
    assert!(names.contains(&"t209::t209") && names.contains(&"t152::t152"), "{list}");
    assert_eq!(names.len(), list.lines().count(), "only tests, in terse format: {list}");

    // 209 supports qcow2 only: in the raw cell it is listed as ignored.
    let (ok, ignored) = run(&bin, &["--list", "--format", "terse", "--ignored"], &[("IMGFMT", "raw")]);
    assert!(ok);
    assert!(ignored.lines().any(|l| l == "t209::t209: test"), "{ignored}");

    // One process, one test, by its exact name.
    if iotests::env::which("qemu-img").is_none() {
        eprintln!("not run (the --exact part): qemu-img not installed");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let (ok, stdout) = run(
        &bin,
        &["--exact", "t209::t209", "--nocapture"],
        &[("OUTPUT_DIR", out.path().to_str().unwrap()), ("INSTA_UPDATE", "no")],
    );
    assert!(ok, "{stdout}");
    assert!(stdout.contains("test t209::t209 ... ok"), "{stdout}");
    assert!(stdout.contains("1 passed; 0 failed; 0 ignored") && stdout.contains("filtered out"), "{stdout}");
    // And in the raw cell the same call reports it ignored, with .notrun.
    let (ok, stdout) = run(
        &bin,
        &["--exact", "t209::t209", "--nocapture"],
        &[("OUTPUT_DIR", out.path().to_str().unwrap()), ("IMGFMT", "raw")],
    );
    assert!(ok, "{stdout}");
    assert!(stdout.contains("test t209::t209 ... ignored"), "{stdout}");
    assert!(out.path().join("209.notrun").exists());
}

/// A QEMU program set explicitly but not there fails the run with one line
/// per variable (not a green run of "not run" tests); listing still works.
#[test]
fn a_broken_program_setting_fails_the_run() {
    let Some(bin) = iotests_binary() else {
        eprintln!("not run: the iotests test binary is not built (cargo test builds it with the workspace)");
        return;
    };
    let out = Command::new(&bin)
        .args(["--exact", "t209::t209"])
        .env("QEMU_PROG", "/nonexistent/qemu")
        .env("QEMU_IMG_PROG", "no-such-qemu-img")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "iotests: QEMU_PROG=/nonexistent/qemu: no such executable file\n\
         iotests: QEMU_IMG_PROG=no-such-qemu-img: not found in PATH\n"
    );
    let (ok, list) = run(&bin, &["--list", "--format", "terse"], &[("QEMU_PROG", "/nonexistent/qemu")]);
    assert!(ok && list.contains("t209::t209: test"), "{list}");
}
