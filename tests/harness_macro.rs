//! End to end: tests declared with `iotests::iotest!`, run by cargo as any
//! test, and this binary run again as a subprocess to check list mode,
//! group selection, debug mode and the time limit from the outside.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use iotests::prelude::*;

// --- script-style -------------------------------------------------------

iotests::iotest! {
    name: "harness-selftest-script", groups: [rw, quick, auto],
    snapshot_dir: "tests/selftest-snapshots",
    supported_fmts: ["generic"],
    fn harness_script_e2e(t) {
        let [disk] = t.file_paths(["disk"]);
        t.log("Creating an image");
        std::fs::write(&disk, b"data").context("writing")?;
        t.log(format!("size: {}", os::path::getsize(&disk)?));
        t.log("done.");
        Ok(())
    }
}

// A VM and one QMP command: `debug_mode_traces_qmp` checks what
// IOTESTS_DEBUG prints on stderr for them.
iotests::iotest! {
    name: "harness-selftest-vm", groups: [quick],
    snapshot_dir: "tests/selftest-snapshots",
    supported_fmts: ["generic"],
    fn harness_vm_e2e(t) {
        let mut vm = t.vm();
        vm.launch()?;
        let status = vm.cmd("query-status", None)?;
        t.log(format!("running: {}", status["running"]));
        vm.shutdown()?;
        Ok(())
    }
}

// The same, with a short limit: used by `time_limit_from_outside` only.
iotests::iotest! {
    name: "harness-selftest-hang", groups: [rw],
    snapshot_dir: "tests/selftest-snapshots",
    supported_fmts: ["generic"],
    timeout: 1,
    fn harness_hang_e2e(t) {
        t.log("started");
        if std::env::var_os("HARNESS_SELFTEST_HANG").is_some() {
            t.log("about to hang");
            let argv = iotests::args!["sleep", 60];
            iotests::process::run("sleep", &argv, &Default::default(), t.processes())?;
        }
        Ok(())
    }
}

// Never runs: no platform matches.
iotests::iotest! {
    name: "harness-selftest-notrun", groups: [quick],
    snapshot_dir: "tests/selftest-snapshots",
    supported_platforms: ["no-such-os"],
    fn harness_notrun_e2e(t) {
        t.log("unreachable");
        Err(Error::fail("must not run"))
    }
}

// Declared as failing here: its snapshot says "expected", it logs "actual".
iotests::iotest! {
    name: "harness-selftest-xfail", groups: [quick],
    snapshot_dir: "tests/selftest-snapshots",
    supported_fmts: ["generic"],
    xfail: "the snapshot expects another line (a stand-in for a QEMU bug)",
    fn harness_xfail_e2e(t) {
        t.log("actual");
        Ok(())
    }
}

// Declared as failing here, and failing by an error.
iotests::iotest! {
    name: "harness-selftest-xfail-error", groups: [quick],
    snapshot_dir: "tests/selftest-snapshots",
    supported_fmts: ["generic"],
    xfail: "QEMU dies (a stand-in)",
    fn harness_xfail_error_e2e(t) {
        t.log("before");
        Err(Error::exception("the VM died"))
    }
}

// Declared as failing here some of the time: its snapshot says "expected";
// it logs HARNESS_SELFTEST_OUTPUT, "expected" by default.
iotests::iotest! {
    name: "harness-selftest-xfail-intermittent", groups: [quick],
    snapshot_dir: "tests/selftest-snapshots",
    supported_fmts: ["generic"],
    xfail: "QEMU fails it now and then (a stand-in for a QEMU race)",
    xfail_intermittent: true,
    fn harness_xfail_intermittent_e2e(t) {
        t.log(std::env::var("HARNESS_SELFTEST_OUTPUT").unwrap_or_else(|_| "expected".into()));
        Ok(())
    }
}

// Declared as failing in qcow2 only: elsewhere its failure is a failure.
iotests::iotest! {
    name: "harness-selftest-xfail-fmts", groups: [quick],
    supported_fmts: ["qcow2", "raw"],
    xfail: "QEMU dies in qcow2 (a stand-in)",
    xfail_fmts: ["qcow2"],
    fn harness_xfail_fmts_e2e(t) {
        // Its real failure outside qcow2 is what xfail_limited_to_formats checks.
        if t.imgfmt() != "qcow2" && std::env::var_os("HARNESS_SELFTEST_XFAIL_FMTS").is_none() {
            return t.notrun("fails outside qcow2 only under HARNESS_SELFTEST_XFAIL_FMTS");
        }
        t.log("before");
        Err(Error::exception("the VM died"))
    }
}

// --- unittest-style -------------------------------------------------------

static TEARDOWNS: AtomicUsize = AtomicUsize::new(0);

#[derive(Default)]
struct TestDisk {
    disk: String,
}

#[iotests::test_case]
impl TestDisk {
    fn set_up(&mut self, t: &Case) -> Result<()> {
        self.disk = t.file_path("disk");
        std::fs::write(&self.disk, b"0123456789").context("writing")?;
        Ok(())
    }

    fn tear_down(&mut self) {
        iotests::context::try_remove(&self.disk);
        TEARDOWNS.fetch_add(1, Ordering::Relaxed);
    }

    fn test_size(&mut self) -> Result<()> {
        let len = std::fs::metadata(&self.disk).context("stat")?.len();
        assert_true!(len == 10, "size is {len}");
        Ok(())
    }

    fn test_log_is_off(&mut self, t: &Case) -> Result<()> {
        // iotests.log() prints nothing in a unittest-style test unless
        // activate_logging() was called.
        t.log("not in the output");
        assert_true!(!t.logger().is_active(), "log() should be inactive");
        Ok(())
    }

    #[skip_for_formats(["raw"])]
    fn test_not_for_raw(&mut self) {}
}

#[derive(Default)]
struct TestAnother;

#[iotests::test_case]
impl TestAnother {
    fn test_print(&mut self, t: &Case) {
        t.print("printed by a case");
    }
}

iotests::iotest! {
    name: "harness-selftest-unittest", groups: [rw, quick],
    snapshot_dir: "tests/selftest-snapshots",
    supported_fmts: ["generic"],
    supported_protocols: ["file"],
    fn harness_unittest_e2e: unittest { TestDisk, TestAnother }
}

// --- from the outside -----------------------------------------------------

fn qemu_installed() -> bool {
    let ok = iotests::env::which("qemu-system-x86_64").is_some();
    if !ok {
        eprintln!("not run: qemu-system-x86_64 not installed");
    }
    ok
}

/// Run one test of this binary in a subprocess with extra variables.
fn run_self(test: &str, vars: &[(&str, &str)]) -> (bool, String, String) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"]);
    // The parent's own selection must not leak into the child.
    for v in ["IOTESTS_LIST", "IOTESTS_GROUP", "IOTESTS_EXCLUDE_GROUP", "IOTESTS_DEBUG", "IOTESTS_TIMEOUT"] {
        cmd.env_remove(v);
    }
    cmd.envs(vars.iter().copied());
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn unittest_e2e_log_is_the_reproducible_summary() {
    if !qemu_installed() {
        return;
    }
    // What the snapshot holds when IMGFMT is unset (raw): one dot per case,
    // the print where it happened, log() output dropped.
    let (ok, stdout, stderr) = run_self("harness_unittest_e2e", &[("IOTESTS_DEBUG", "1"), ("IMGFMT", "raw")]);
    assert!(ok, "{stdout}\n{stderr}");
    // Debug mode: verbose lines on stdout, log() shown as Python's root
    // logger would, and the snapshot (dots) still matched.
    assert!(stdout.contains("test_print (__main__.TestAnother.test_print) ... printed by a case\nok\n"), "{stdout}");
    assert!(stdout.contains("test_size (__main__.TestDisk.test_size) ... ok\n"), "{stdout}");
    assert!(
        stdout.contains("test_not_for_raw (__main__.TestDisk.test_not_for_raw) ... skipped 'test_not_for_raw"),
        "{stdout}"
    );
    assert!(stderr.contains("INFO:qemu.iotests.diff_io:not in the output"), "{stderr}");
}

#[test]
fn debug_mode_traces_qmp() {
    if !qemu_installed() {
        return;
    }
    let (ok, stdout, stderr) = run_self("harness_vm_e2e", &[("IOTESTS_DEBUG", "1")]);
    assert!(ok, "{stdout}\n{stderr}");
    // What python/qemu logs at DEBUG level under check -d.
    assert!(stderr.contains("DEBUG:qemu.machine.machine:VM launch command: '"), "{stderr}");
    assert!(stderr.contains(":Request: query-status {}"), "{stderr}");
    assert!(stderr.contains(":Response: {\"return\": {"), "{stderr}");
    // Without it, nothing.
    let (ok, _, stderr) = run_self("harness_vm_e2e", &[]);
    assert!(ok);
    assert!(!stderr.contains("DEBUG:"), "{stderr}");
}

#[test]
fn list_mode_describes_without_running() {
    let (ok, stdout, _) = run_self("harness_unittest_e2e", &[("IOTESTS_LIST", "1")]);
    assert!(ok);
    // libtest may print `test name ... ` on the same line: look anywhere.
    let prefix = iotests::harness::LIST_PREFIX;
    let line = stdout.lines().find_map(|l| l.find(prefix).map(|i| &l[i + prefix.len()..])).expect(&stdout);
    let spec: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(spec["name"], "harness-selftest-unittest");
    assert_eq!(spec["test"], "harness_macro::harness_unittest_e2e");
    assert_eq!(spec["kind"], "unittest");
    assert_eq!(spec["groups"], serde_json::json!(["rw", "quick"]));
    assert_eq!(
        spec["cases"],
        serde_json::json!([
            "TestAnother.test_print",
            "TestDisk.test_log_is_off",
            "TestDisk.test_not_for_raw",
            "TestDisk.test_size"
        ])
    );
    let (ok, stdout, _) = run_self("harness_script_e2e", &[("IOTESTS_LIST", "1")]);
    assert!(ok);
    assert!(stdout.contains(r#""kind":"script""#), "{stdout}");
    assert!(stdout.contains(r#""timeout":null"#), "{stdout}");
}

#[test]
fn group_selection() {
    let (ok, _, stderr) = run_self("harness_script_e2e", &[("IOTESTS_GROUP", "migration")]);
    assert!(ok);
    assert!(stderr.contains("harness-selftest-script: not in the selected groups"), "{stderr}");
    let (ok, _, stderr) = run_self("harness_script_e2e", &[("IOTESTS_EXCLUDE_GROUP", "auto")]);
    assert!(ok);
    assert!(stderr.contains("not in the selected groups"), "{stderr}");
}

#[test]
fn notrun_declaration_writes_notrun_file() {
    if !qemu_installed() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = run_self("harness_notrun_e2e", &[("OUTPUT_DIR", out.path().to_str().unwrap())]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("WARNING:qemu.iotests:harness-selftest-notrun not run: not suitable for this OS: linux"));
    let text = std::fs::read_to_string(out.path().join("harness-selftest-notrun.notrun")).unwrap();
    assert_eq!(text, "not suitable for this OS: linux\n");
}

#[test]
fn time_limit_from_outside() {
    if !qemu_installed() {
        return;
    }
    let start = std::time::Instant::now();
    let (ok, _, stderr) = run_self("harness_hang_e2e", &[("HARNESS_SELFTEST_HANG", "1")]);
    assert!(!ok);
    assert!(start.elapsed() < std::time::Duration::from_secs(20), "{:?}", start.elapsed());
    assert!(stderr.contains("harness-selftest-hang: timed out after 1s; killed sleep (pid"), "{stderr}");
    assert!(stderr.contains("--- last log lines ---\nstarted\nabout to hang\n"), "{stderr}");
}

#[test]
fn declared_xfail_reports_the_expected_failure() {
    if !qemu_installed() {
        return;
    }
    for (test, name, detail) in [
        ("harness_xfail_e2e", "harness-selftest-xfail", "+actual"),
        ("harness_xfail_error_e2e", "harness-selftest-xfail-error", "Exception: the VM died"),
    ] {
        let out = tempfile::tempdir().unwrap();
        let (ok, _, stderr) = run_self(test, &[("OUTPUT_DIR", out.path().to_str().unwrap())]);
        assert!(ok, "{stderr}");
        assert!(stderr.contains(&format!("{name}: expected failure: ")), "{stderr}");
        assert!(stderr.contains(detail), "{stderr}");
        let reason = std::fs::read_to_string(out.path().join(format!("{name}.xfail"))).unwrap();
        assert!(!reason.trim().is_empty());
    }
}

#[test]
fn declared_intermittent_xfail_passes_when_the_output_matches() {
    if !qemu_installed() {
        return;
    }
    let name = "harness-selftest-xfail-intermittent";
    // The output equals the reference: a pass, no .xfail.
    let out = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = run_self("harness_xfail_intermittent_e2e", &[("OUTPUT_DIR", out.path().to_str().unwrap())]);
    assert!(ok, "{stderr}");
    assert!(!stderr.contains("expected failure"), "{stderr}");
    assert!(!out.path().join(format!("{name}.xfail")).exists());
    // It differs this time: the expected failure, with its reason and the diff.
    let out = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = run_self(
        "harness_xfail_intermittent_e2e",
        &[("OUTPUT_DIR", out.path().to_str().unwrap()), ("HARNESS_SELFTEST_OUTPUT", "actual")],
    );
    assert!(ok, "{stderr}");
    assert!(stderr.contains(&format!("{name}: expected failure: QEMU fails it now and then")), "{stderr}");
    assert!(stderr.contains("+actual"), "{stderr}");
    assert!(out.path().join(format!("{name}.xfail")).exists());
}

#[test]
fn xfail_limited_to_formats() {
    if !qemu_installed() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let (ok, _, stderr) = run_self("harness_xfail_fmts_e2e", &[("OUTPUT_DIR", dir), ("IMGFMT", "qcow2")]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("harness-selftest-xfail-fmts: expected failure: QEMU dies in qcow2"), "{stderr}");
    assert!(out.path().join("harness-selftest-xfail-fmts.xfail").exists());

    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let (ok, _, stderr) = run_self(
        "harness_xfail_fmts_e2e",
        &[("OUTPUT_DIR", dir), ("IMGFMT", "raw"), ("HARNESS_SELFTEST_XFAIL_FMTS", "1")],
    );
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("Exception: the VM died") && !stderr.contains("expected failure"), "{stderr}");
    assert!(!out.path().join("harness-selftest-xfail-fmts.xfail").exists());
}
