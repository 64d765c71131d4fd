//! The runner's plain functions with explicit environments: not run for a
//! format, a missing binary, time limits, and the probes on the installed
//! QEMU.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use iotests::env::{TestEnv, Vars};
use iotests::harness::{self, Failure, FailureKind, Outcome, TestSpec};
use iotests::{Error, process};

fn qemu_installed() -> bool {
    let ok = iotests::env::which("qemu-system-x86_64").is_some() && iotests::env::which("qemu-img").is_some();
    if !ok {
        eprintln!("not run: qemu-system-x86_64 or qemu-img not installed");
    }
    ok
}

/// An environment from `vars`, with `OUTPUT_DIR` in `out`.
fn env(out: &Path, vars: &[(&str, &str)], default_fmt: &str) -> TestEnv {
    let mut v: Vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    v.insert("OUTPUT_DIR".into(), out.display().to_string());
    TestEnv::from_vars(&v, default_fmt)
}

fn expect_not_run(r: Result<Outcome, Failure>) -> String {
    match r {
        Ok(Outcome::NotRun { reason }) => reason,
        Ok(o) => panic!("expected not run, got {o:?}"),
        Err(f) => panic!("expected not run, got failure: {f}"),
    }
}

#[test]
fn unsupported_format_is_not_run_with_notrun_file() {
    let out = tempfile::tempdir().unwrap();
    const SPEC: TestSpec = TestSpec::new("harness-fmt").supported_fmts(&["qcow2"]);
    // A stale .casenotrun from an earlier run is removed first.
    std::fs::write(out.path().join("harness-fmt.casenotrun"), "old\n").unwrap();
    let r = harness::run_script(&SPEC, env(out.path(), &[("IMGFMT", "vmdk")], "qcow2"), |t| {
        t.log("must not run");
        Ok(())
    });
    assert_eq!(expect_not_run(r), "not suitable for this image format: vmdk");
    let text = std::fs::read_to_string(out.path().join("harness-fmt.notrun")).unwrap();
    assert_eq!(text, "not suitable for this image format: vmdk\n");
    assert!(!out.path().join("harness-fmt.casenotrun").exists());
}

#[test]
fn checks_run_in_upstream_order() {
    let out = tempfile::tempdir().unwrap();
    // Format, protocol, cache mode and aio mode are all wrong: the format wins.
    const SPEC: TestSpec = TestSpec::new("harness-order")
        .supported_fmts(&["qcow2"])
        .supported_protocols(&["file"])
        .supported_cache_modes(&["none"])
        .supported_aio_modes(&["native"]);
    let vars = [("IMGFMT", "raw"), ("IMGPROTO", "nbd"), ("CACHEMODE", "writeback"), ("AIOMODE", "threads")];
    let e = env(out.path(), &vars, "qcow2");
    let reason = |e: Result<(), Error>| e.err().and_then(|e| harness::not_run_reason(&e));
    assert_eq!(reason(harness::verify_setup(&SPEC, &e)).unwrap(), "not suitable for this image format: raw");
    let e = env(out.path(), &vars[1..], "qcow2");
    assert_eq!(reason(harness::verify_setup(&SPEC, &e)).unwrap(), "not suitable for this protocol: nbd");
    let e = env(out.path(), &vars[2..], "qcow2");
    assert_eq!(reason(harness::verify_setup(&SPEC, &e)).unwrap(), "not suitable for this cache mode: writeback");
    let e = env(out.path(), &[("CACHEMODE", "none"), ("AIOMODE", "threads")], "qcow2");
    assert_eq!(reason(harness::verify_setup(&SPEC, &e)).unwrap(), "not suitable for this aio mode: threads");
    // `generic` takes any format unless IMGFMT_GENERIC is false.
    let generic = TestSpec::new("g").supported_fmts(&["generic"]);
    let e = env(out.path(), &[("IMGFMT", "dmg")], "raw");
    assert!(!e.imgfmt_generic);
    assert_eq!(reason(harness::verify_setup(&generic, &e)).unwrap(), "not suitable for this image format: dmg");
    // IMGOPTS with `$` is never supported.
    let e = env(out.path(), &[("IMGFMT", "qcow2"), ("IMGOPTS", "data_file=$TEST_IMG.data")], "raw");
    assert_eq!(
        reason(harness::verify_imgopts(&e, &[])).unwrap(),
        "not suitable for this imgopts: data_file=$TEST_IMG.data"
    );
    assert_eq!(reason(harness::verify_platform(&["freebsd"], &[])).unwrap(), "not suitable for this OS: linux");
}

#[test]
fn missing_qemu_is_not_run_naming_the_binary() {
    let out = tempfile::tempdir().unwrap();
    const SPEC: TestSpec = TestSpec::new("harness-noqemu");
    let r = harness::run_script(&SPEC, env(out.path(), &[("QEMU_PROG", "/no/such/qemu-system")], "raw"), |_| Ok(()));
    let reason = expect_not_run(r);
    assert!(reason.contains("/no/such/qemu-system") && reason.contains("QEMU_PROG"), "{reason}");
    let file = std::fs::read_to_string(out.path().join("harness-noqemu.notrun")).unwrap();
    assert_eq!(file, format!("{reason}\n"));
}

#[test]
fn missing_binary_in_the_body_is_not_run() {
    if !qemu_installed() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    const SPEC: TestSpec = TestSpec::new("harness-nonbd");
    let r = harness::run_script(&SPEC, env(out.path(), &[("QEMU_NBD_PROG", "/no/such/qemu-nbd")], "raw"), |t| {
        t.log("starting the server");
        let _argv = t.env().qemu_nbd_args()?;
        t.log("unreachable");
        Ok(())
    });
    let reason = expect_not_run(r);
    assert!(reason.contains("QEMU_NBD_PROG"), "{reason}");
    assert!(out.path().join("harness-nonbd.notrun").exists());
}

#[test]
fn notrun_from_the_body_and_a_passing_script() {
    if !qemu_installed() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    const SPEC: TestSpec = TestSpec::new("harness-bodynotrun");
    let r = harness::run_script(&SPEC, env(out.path(), &[], "raw"), |t| {
        t.log("checking");
        t.notrun("feature missing")
    });
    assert_eq!(expect_not_run(r), "feature missing");

    const PASS: TestSpec = TestSpec::new("harness-pass-script");
    match harness::run_script(&PASS, env(out.path(), &[], "raw"), |t| {
        t.log("one");
        t.case_notrun("a case")?;
        t.log("two");
        Ok(())
    }) {
        Ok(Outcome::Passed { log, .. }) => assert_eq!(log, "one\ntwo\n"),
        other => panic!("{other:?}"),
    }
    assert!(!out.path().join("harness-pass-script.notrun").exists());
    let cases = std::fs::read_to_string(out.path().join("harness-pass-script.casenotrun")).unwrap();
    assert_eq!(cases, "    [case not run] a case\n");
}

#[test]
fn body_error_fails_with_log_tail() {
    if !qemu_installed() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    const SPEC: TestSpec = TestSpec::new("harness-error");
    let r = harness::run_script(&SPEC, env(out.path(), &[], "raw"), |t| {
        t.log("before the failure");
        Err(Error::fail("image does not match"))
    });
    let msg = r.unwrap_err().to_string();
    assert!(msg.contains("image does not match") && msg.contains("before the failure"), "{msg}");
}

#[test]
fn time_limit_kills_processes_and_reports_log_tail() {
    if !qemu_installed() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    // IOTESTS_TIMEOUT, when set, overrides per-test limits; this test needs its own.
    if std::env::var_os(harness::TIMEOUT_VAR).is_some() {
        eprintln!("not run: {} is set", harness::TIMEOUT_VAR);
        return;
    }
    const SPEC: TestSpec = TestSpec::new("harness-timeout").timeout_duration(Duration::from_millis(500));
    let start = Instant::now();
    let r = harness::run_script(&SPEC, env(out.path(), &[], "raw"), |t| {
        t.log("line 1");
        t.log("waiting for a child that never ends");
        let argv = ["sleep", "60"].map(String::from);
        let res = process::run("sleep", &argv, &process::RunOptions::default(), t.processes())?;
        t.log(format!("sleep ended: {}", res.returncode));
        Ok(())
    });
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    match r {
        Err(f) if matches!(*f.kind, FailureKind::Timeout { .. }) => {
            let msg = f.to_string();
            assert!(msg.contains("timed out after 500ms"), "{msg}");
            assert!(msg.contains("killed sleep (pid"), "{msg}");
            assert!(msg.contains("line 1\nwaiting for a child that never ends\n"), "{msg}");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[test]
fn time_limit_never_blocks_on_a_stuck_body() {
    let t = std::sync::Arc::new(
        iotests::TestContext::new("harness-stuck", TestEnv::from_vars(&Vars::new(), "raw")).unwrap(),
    );
    let start = Instant::now();
    // Not blocked on a process: killing does not help, the run goes on.
    let r = harness::run_with_timeout(&t, Some(Duration::from_millis(200)), |_| {
        std::thread::sleep(Duration::from_secs(60))
    })
    .unwrap();
    assert!(matches!(r, harness::Finished::TimedOut { .. }), "{r:?}");
    assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
    // The body keeps the context alive on its thread: the scratch is
    // removed at the deadline all the same.
    assert!(!Path::new(t.test_dir()).exists() && !Path::new(t.sock_dir()).exists());
}

#[test]
fn panicking_body_is_reraised() {
    if !qemu_installed() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    const SPEC: TestSpec = TestSpec::new("harness-bodypanic");
    let r = harness::run_script(&SPEC, env(out.path(), &[], "raw"), |t| {
        t.log("about to panic");
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let _child = process::spawn("sleep", cmd, t.processes())?;
        panic!("body panic");
    });
    match r {
        Err(f) if matches!(*f.kind, FailureKind::Panic(_)) => {
            let report = f.to_string();
            assert!(report.contains("body panic") && report.contains("about to panic"), "{report}");
            // Where the body panicked: this file.
            assert!(report.contains(&format!("(panicked at {}:", file!())), "{report}");
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f.fail()));
            let payload = caught.unwrap_err();
            let text = payload.downcast_ref::<String>().unwrap();
            assert!(text.contains("--- last log lines ---\nabout to panic"), "{text}");
        }
        other => panic!("expected a panic, got {other:?}"),
    }
}

#[test]
fn probes_on_installed_qemu() {
    if !qemu_installed() {
        return;
    }
    let e = TestEnv::from_vars(&Vars::new(), "raw");
    let rw = harness::supported_formats(&e, false).unwrap();
    let ro = harness::supported_formats(&e, true).unwrap();
    assert!(rw.iter().any(|f| f == "qcow2") && rw.iter().any(|f| f == "raw"), "{rw:?}");
    assert!(!ro.is_empty());
    harness::verify_virtio_blk(&e).unwrap();
    harness::verify_virtio_scsi_pci_or_ccw(&e).unwrap();
    assert!(harness::has_virtio_blk(&e).unwrap());
    assert!(harness::supports_quorum(&e).unwrap());
    harness::verify_quorum(&e).unwrap();
    let (luks, why) = harness::has_working_luks(&e).unwrap();
    assert!(luks || !why.is_empty());
    let _ = harness::supports_qcow2_zstd_compression(&e).unwrap();
    assert!(harness::unsupported_formats(&e, &["qcow2", "nope"], false).unwrap() == ["nope"]);
    assert_eq!(
        harness::verify_formats(&e, &["nope"]).unwrap_err().to_string(),
        "not run: formats ['nope'] are not whitelisted"
    );
    let help = harness::qemu_pipe(&e, &["-M", "none", "-device", "help"]).unwrap();
    assert!(help.contains("virtio-blk"));
    // Cached: the second ask does not run QEMU again.
    let start = Instant::now();
    for _ in 0..100 {
        harness::supported_formats(&e, false).unwrap();
        harness::verify_virtio_blk(&e).unwrap();
        harness::supports_quorum(&e).unwrap();
    }
    assert!(start.elapsed() < Duration::from_millis(500), "{:?}", start.elapsed());
    // A probe with a missing binary says which.
    let no_img = TestEnv::from_vars(&Vars::from([("QEMU_IMG_PROG".into(), "/no/qemu-img".into())]), "raw");
    assert!(matches!(harness::supports_quorum(&no_img), Err(Error::MissingBinary { var: "QEMU_IMG_PROG", .. })));
}

#[derive(Default)]
struct BeforeMainCase;

#[iotests::test_case]
impl BeforeMainCase {
    fn test_x(&mut self, t: &iotests::unittest::Case) {
        t.print("in test_x");
    }
}

fn before_main_suite() -> iotests::unittest::Suite {
    iotests::unittest::Suite::new(vec![iotests::unittest::Class::new::<BeforeMainCase>("TestX")])
}

#[test]
fn before_main_runs_first_and_may_refuse() {
    if !qemu_installed() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    // Module code before iotests.main() that refuses: not run, no case runs.
    const REFUSES: TestSpec = TestSpec::new("harness-before-main-notrun")
        .kind(harness::TestKind::Unittest)
        .before_main(|_| Err(Error::NotRun("quorum support missing".into())));
    let r = harness::run_unittest(&REFUSES, env(out.path(), &[], "raw"), before_main_suite);
    assert_eq!(expect_not_run(r), "quorum support missing");
    assert!(out.path().join("harness-before-main-notrun.notrun").exists());

    // One that passes: it runs before the cases (its print comes first).
    const PASSES: TestSpec =
        TestSpec::new("harness-before-main-pass").kind(harness::TestKind::Unittest).before_main(|t| {
            t.print("module code");
            Ok(())
        });
    match harness::run_unittest(&PASSES, env(out.path(), &[], "raw"), before_main_suite) {
        Ok(Outcome::Passed { log, .. }) => assert!(log.starts_with("module code\nin test_x\n."), "{log}"),
        other => panic!("{other:?}"),
    }

    // Any other error fails the test.
    const FAILS: TestSpec = TestSpec::new("harness-before-main-error")
        .kind(harness::TestKind::Unittest)
        .before_main(|_| Err(Error::exception("broken")));
    let msg = harness::run_unittest(&FAILS, env(out.path(), &[], "raw"), before_main_suite).unwrap_err().to_string();
    assert!(msg.contains("Exception: broken"), "{msg}");
}
