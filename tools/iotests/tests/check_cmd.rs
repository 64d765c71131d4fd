//! End to end: `check` and `regen` on a fake workspace and a fake test
//! binary (no cargo build, no QEMU): selection from the binary's own
//! listing, verdicts, diffs under CI, what is written where, time limits.

mod common;

use std::collections::BTreeSet;

use common::{Out, Ws};

fn suite() -> Ws {
    Ws::new(&[
        ("001", "pass001", "rw, auto, quick"),
        ("002", "out_new002", "rw, auto"),
        ("003", "notrun003", "quick"),
        ("004", "crash004", "rw"),
        ("005", "hang005", "disabled"),
        ("cases-x", "cases_x", "quick, auto"),
        ("fresh-y", "out_brand1", "img"),
    ])
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

#[test]
fn dry_run_lists_and_selects_groups_from_the_binary() {
    let ws = suite();
    let o = ws.run_bin(&["check", "-n"]);
    assert_eq!(o.code, 0, "{o:?}");
    // `disabled` tests are left out unless asked for, like check.
    assert_eq!(lines(&o.stdout), ["001", "002", "003", "004", "cases-x", "fresh-y"]);

    let o = ws.run_bin(&["check", "-n", "-g", "quick"]);
    assert_eq!(lines(&o.stdout), ["001", "003", "cases-x"], "{o:?}");
    let o = ws.run_bin(&["check", "-n", "-g", "rw,quick", "-x", "auto"]);
    assert_eq!(lines(&o.stdout), ["003", "004"], "{o:?}");
    let o = ws.run_bin(&["check", "-n", "-x", "rw"]);
    assert_eq!(lines(&o.stdout), ["003", "cases-x", "fresh-y"], "{o:?}");
    let o = ws.run_bin(&["check", "-n", "-qcow2", "-nocache", "1", "hang005", "fresh-*"]);
    assert_eq!(lines(&o.stdout), ["001", "005", "fresh-y"], "{o:?}");

    let o = ws.run_bin(&["check", "-n", "-g", "nosuch"]);
    assert_ne!(o.code, 0, "{o:?}");
    assert!(o.stderr.contains("No tests selected"), "{o:?}");
    let o = ws.run_bin(&["check", "-n", "-x", "rw", "001"]);
    assert!(o.stderr.contains("Can't exclude from individually specified tests."), "{o:?}");
    let o = ws.run_bin(&["check", "-n", "-qcow2", "-raw"]);
    assert_ne!(o.code, 0, "two formats must be refused: {o:?}");
}

#[test]
fn list_shows_tests_and_groups() {
    let ws = suite();
    let o = ws.run_bin(&["list", "--by-group"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.lines().any(|l| l.starts_with("quick") && l.ends_with("001 003 cases-x")), "{o:?}");
    let o = ws.run_bin(&["list", "-g", "img"]);
    assert!(o.stdout.starts_with("fresh-y") && o.stdout.contains("formats: any"), "{o:?}");
    ws.write_snap("gone", "x\n");
    ws.write_snap("001.raw", "x\n");
    let o = ws.run_bin(&["list", "--orphans"]);
    assert_eq!(o.stdout.trim(), ws.snapshots().join("gone.snap").display().to_string(), "{o:?}");
}

#[test]
fn shards_are_disjoint_and_complete() {
    let ws = suite();
    let all = ws.run_bin(&["check", "-n"]).stdout;
    let mut seen = Vec::new();
    for k in 1..=3 {
        let o = ws.run_bin(&["check", "-n", "--shard", &format!("{k}/3")]);
        assert_eq!(o.code, 0, "{o:?}");
        seen.extend(o.stdout.lines().map(String::from));
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "shards overlap: {seen:?}");
    assert_eq!(unique.into_iter().cloned().collect::<Vec<_>>(), lines(&all));
    let o = ws.run_bin(&["check", "-n", "--shard", "4/3"]);
    assert_ne!(o.code, 0, "{o:?}");
}

#[test]
fn check_runs_each_test_and_reports_like_check() {
    let ws = suite();
    ws.write_snap("002", "old output\n");
    let junit = ws.root().join("report.xml");
    let junit_s = junit.to_str().unwrap();
    let args = [
        "check", "-raw", "-nbd", "-c", "none", "-j", "2", "--junit", junit_s, "1", "2", "3", "4", "cases-x", "fresh-y",
    ];
    let o = ws.run_bin(&args);
    assert_eq!(o.code, 1, "{o:?}");
    let out = &o.stdout;
    assert!(out.starts_with(&format!("QEMU          -- \"{}\"", ws.root().join("fake-qemu").display())), "{o:?}");
    assert!(out.contains("\nIMGFMT        -- raw\nIMGPROTO      -- nbd\n"), "{o:?}");
    assert!(o.line("001").contains(" pass "), "{o:?}");
    assert!(o.line("002").contains(" fail ") && o.line("002").contains("output mismatch (see "), "{o:?}");
    assert!(
        o.line("003").contains(" not run ") && o.line("003").contains("not suitable for this image format"),
        "{o:?}"
    );
    assert!(o.line("004").contains(" fail ") && o.line("004").contains("failed, exit status 101"), "{o:?}");
    // A brand-new test is new, not a mismatch against nothing.
    assert!(o.line("fresh-y").contains("new: no reference snapshot yet (see "), "{o:?}");
    // The mismatch shows the snapshot diff; the crash the *end* of its output.
    assert!(out.contains("-old output\n+new output\n"), "{o:?}");
    assert!(out.contains("log line 69\nthread 'main' panicked at boom\n"), "{o:?}");
    assert!(!out.contains("log line 5\n") && out.contains("lines ...]"), "{o:?}");
    assert!(out.contains("case_a not run\n"), "{o:?}");
    assert!(out.contains("\nNot run: 003\n"), "{o:?}");
    assert!(out.contains("\nSome cases not run in: cases-x\n"), "{o:?}");
    assert!(out.contains("\nFailures: 002 004 fresh-y\nFailed 3 of 5 iotests\n"), "{o:?}");
    // Without a terminal each line says how far the run is.
    assert!(o.line("004").ends_with("/6)"), "{o:?}");
    // The next step is named.
    assert!(out.contains("2 snapshots pending in ") && out.contains("`iotests review`"), "{o:?}");
    // Mismatches are left pending for review, the snapshots untouched.
    assert_eq!(ws.read("snapshots/002.snap.new"), "---\nsource: tests/iotests/main.rs\n---\nnew output\n");
    assert_eq!(ws.read("snapshots/fresh-y.snap.new"), "---\nsource: tests/iotests/main.rs\n---\nbrand output\n");
    assert_eq!(ws.read("snapshots/002.snap"), common::snap("old output\n"));

    // The cell and the check's own settings reached the test process.
    let env = ws.read("target/iotests/raw-nbd/001.env");
    for want in [
        "IMGFMT=raw",
        "IMGPROTO=nbd",
        "CACHEMODE=none",
        "CACHEMODE_IS_DEFAULT=false",
        "AIOMODE=threads",
        "INSTA_UPDATE=no",
        "INSTA_FORCE_PASS=0",
        "RUST_BACKTRACE=0",
        "IOTESTS_TIMEOUT=300",
        "QEMU_DEFAULT_MACHINE=fakepc",
    ] {
        assert!(env.lines().any(|l| l == want), "{want} missing:\n{env}");
    }
    assert!(env.contains(&format!("IOTESTS_SNAPSHOT_DIR={}", ws.snapshots().display())), "{env}");
    let out_dir = ws.root().join("target/iotests/raw-nbd");
    assert!(env.contains(&format!("OUTPUT_DIR={}", out_dir.display())), "{env}");
    // The exact libtest name from --list, not the listing's crate-prefixed path.
    assert!(ws.read("target/iotests/raw-nbd/001.log").starts_with("args: --exact pass001::iotest --nocapture"));

    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuite name=\"iotests.raw-nbd\" tests=\"6\" failures=\"3\" errors=\"0\" skipped=\"1\""),
        "{xml}"
    );
    assert!(xml.contains("<system-out>args: --exact pass001::iotest"), "{xml}");

    // A second run shows the last elapsed time of the passing test.
    let o = ws.run_bin(&["check", "-raw", "-nbd", "001"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("(last: "), "{o:?}");
    assert!(o.stdout.ends_with("Passed 1 iotest\n"), "{o:?}");
    assert!(ws.root().join("target/iotests/check.time-nbd-raw").exists());
}

#[test]
fn two_tests_in_one_module_are_two_jobs_with_their_own_verdicts() {
    let ws = Ws::new(&[("twin-a", "twin::pass_a", "rw"), ("twin-b", "twin::crash_b", "rw")]);
    let o = ws.run_bin(&["check", "twin-a", "twin-b"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.line("twin-a").contains(" pass "), "{o:?}");
    assert!(o.line("twin-b").contains(" fail "), "{o:?}");
    assert!(ws.read("target/iotests/qcow2-file/twin-a.log").contains("--exact twin::pass_a "));
    // The module name selects both.
    let o = ws.run_bin(&["check", "-n", "twin"]);
    assert_eq!(lines(&o.stdout), ["twin-a"], "{o:?}");
}

#[test]
fn under_ci_a_mismatch_shows_the_diff_in_console_and_junit_and_writes_nothing() {
    let ws = suite();
    ws.write_snap("002", "old output\n");
    let junit = ws.root().join("ci.xml");
    let bin = ws.fake_binary();
    let o = Out::from(
        ws.cmd()
            .env("CI", "true")
            .args(["check", "--test-binary", bin.to_str().unwrap(), "--junit", junit.to_str().unwrap(), "002"])
            .output()
            .unwrap(),
    );
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.contains("-old output\n+new output\n"), "{o:?}");
    let bad = ws.root().join("target/iotests/qcow2-file/002.out.bad");
    assert!(o.line("002").contains(&format!("output mismatch (see {})", bad.display())), "{o:?}");
    assert!(o.stdout.contains("not written under CI"), "{o:?}");
    assert_eq!(std::fs::read_to_string(&bad).unwrap(), "new output\n");
    assert!(!ws.snapshots().join("002.snap.new").exists());
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<failure message=\"output mismatch (see ") && xml.contains("-old output\n+new output\n"),
        "{xml}"
    );
}

#[test]
fn insta_settings_in_the_environment_are_ignored_by_check() {
    let ws = suite();
    ws.write_snap("002", "old output\n");
    let bin = ws.fake_binary();
    let o = Out::from(
        ws.cmd()
            .env("INSTA_UPDATE", "always")
            .env("INSTA_FORCE_UPDATE", "1")
            .env("INSTA_FORCE_PASS", "1")
            .env("RUST_BACKTRACE", "1")
            .args(["check", "--test-binary", bin.to_str().unwrap(), "002"])
            .output()
            .unwrap(),
    );
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.line("002").contains(" fail "), "{o:?}");
    assert_eq!(ws.read("snapshots/002.snap"), common::snap("old output\n"));
    let env = ws.read("target/iotests/qcow2-file/002.env");
    for want in ["INSTA_UPDATE=no", "INSTA_FORCE_PASS=0", "RUST_BACKTRACE=0"] {
        assert!(env.lines().any(|l| l == want), "{want}:\n{env}");
    }
    assert!(!env.contains("INSTA_FORCE_UPDATE"), "{env}");
}

#[test]
fn tap_output_with_yaml_diagnostics() {
    let ws = suite();
    let o = ws.run_bin(&["check", "-tap", "001", "003", "004"]);
    assert_eq!(o.code, 1, "{o:?}");
    let out = &o.stdout;
    assert!(out.starts_with("TAP version 13\n# QEMU"), "{o:?}");
    assert!(out.contains("\n1..3\n"), "{o:?}");
    assert!(out.contains("\nok 1 001\n"), "{o:?}");
    assert!(out.contains("\nok 2 003 # SKIP not suitable for this image format\n"), "{o:?}");
    assert!(out.contains("\nnot ok 3 004 # failed, exit status 101"), "{o:?}");
    assert!(out.contains("\n  ---\n  message: \"failed, exit status 101"), "{o:?}");
    assert!(out.contains("\n    thread 'main' panicked at boom\n  ...\n"), "{o:?}");
    assert!(!out.contains("Failures:"), "{o:?}");
    assert!(!o.stderr.contains("panicked"), "{o:?}");
}

#[test]
fn makecheck_prints_one_line_per_test() {
    let ws = suite();
    let o = ws.run_bin(&["check", "-makecheck", "001", "003", "004"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.starts_with("  TEST    iotest-qcow2: 001\n"), "{o:?}");
    assert!(o.stdout.contains("  TEST    iotest-qcow2: 003 [not run]\n"), "{o:?}");
    assert!(o.stdout.contains("  TEST    iotest-qcow2: 004 [fail]\nfailed, exit status 101"), "{o:?}");
    assert!(!o.stdout.contains("QEMU          --"), "{o:?}");
}

#[test]
fn upstream_options_that_are_not_implemented_are_refused() {
    let ws = suite();
    let o = ws.run_bin(&["check", "-gdb", "001"]);
    assert_eq!(o.code, 2, "{o:?}");
    assert!(o.stderr.starts_with("iotests: -gdb is not supported") && o.stderr.lines().count() == 1, "{o:?}");
    let o = ws.run_bin(&["check", "-misalign", "001"]);
    assert_eq!(o.code, 0, "{o:?}");
    let env = ws.read("target/iotests/qcow2-file/001.env");
    assert!(env.contains("QEMU_IO_OPTIONS=--cache writeback --aio threads --misalign -f qcow2\n"), "{env}");
}

#[test]
fn a_missing_or_broken_qemu_program_fails_the_run() {
    let ws = suite();
    let bin = ws.fake_binary();
    let o = Out::from(
        ws.cmd()
            .env("QEMU_PROG", "/nonexistent/qemu")
            .args(["check", "--test-binary", bin.to_str().unwrap(), "-g", "quick"])
            .output()
            .unwrap(),
    );
    assert_eq!(o.code, 2, "{o:?}");
    assert_eq!(o.stderr, "iotests: QEMU_PROG=/nonexistent/qemu: no such file\n", "{o:?}");
    assert!(o.stdout.is_empty(), "{o:?}");
    let o = Out::from(
        ws.cmd()
            .env("QEMU_IMG_PROG", "/bin/false")
            .args(["check", "-luks", "--test-binary", bin.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    assert_eq!(o.code, 2, "{o:?}");
    assert!(o.stderr.starts_with("iotests: QEMU_IMG_PROG=/bin/false: does not run"), "{o:?}");
}

#[test]
fn the_limit_is_handed_down_and_the_test_reports_its_own_timeout() {
    let ws = Ws::new(&[("t", "selftimed", "rw"), ("h", "stubborn", "rw")]);
    let t0 = std::time::Instant::now();
    let o = ws.run_bin(&["check", "--timeout", "1", "--timeout-grace", "10", "t"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(ws.read("target/iotests/qcow2-file/t.env").contains("IOTESTS_TIMEOUT=1\n"));
    // The test's own diagnostic, with the end of its log; not the runner's.
    assert!(o.line("t").contains("failed, exit status 101"), "{o:?}");
    assert!(
        o.stdout.contains("t: timed out after 1s; killed qemu (pid 1)\n--- last log lines ---\nlast words\n"),
        "{o:?}"
    );
    assert!(t0.elapsed() < std::time::Duration::from_secs(9), "{:?}", t0.elapsed());

    // A test that does not stop itself is terminated at limit + grace, and
    // one that ignores SIGTERM is killed after that.
    let t0 = std::time::Instant::now();
    let o = ws.run_bin(&["check", "--timeout", "0.5", "--timeout-grace", "0.5", "h"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.line("h").contains("timeout: did not stop within its 0.5s limit; killed"), "{o:?}");
    assert!(t0.elapsed() < std::time::Duration::from_secs(15), "{:?}", t0.elapsed());

    // 0 means no limit, in the CLI as in the library; garbage is refused.
    let o = ws.run_bin(&["check", "--timeout", "0", "-n"]);
    assert_eq!(o.code, 0, "{o:?}");
    let o = ws.run_bin(&["check", "--timeout", "1e30", "t"]);
    assert_eq!(o.code, 2, "{o:?}");
    assert!(o.stderr.contains("invalid --timeout") && o.stderr.contains("at most"), "{o:?}");
    let bin = ws.fake_binary();
    let o = Out::from(
        ws.cmd()
            .env("IOTESTS_TIMEOUT", "soon")
            .args(["check", "--test-binary", bin.to_str().unwrap(), "t"])
            .output()
            .unwrap(),
    );
    assert_eq!(o.code, 2, "{o:?}");
    assert!(o.stderr.contains("invalid IOTESTS_TIMEOUT"), "{o:?}");
}

#[test]
fn slow_tests_are_reported_while_they_run() {
    let ws = Ws::new(&[("s", "slow", "rw")]);
    let o = ws.run_bin(&["check", "--slow-timeout", "0.5", "s"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("SLOW [>   0.5s] s\n") && o.stdout.contains("SLOW [>     1s] s\n"), "{o:?}");
}

#[test]
fn regen_summarises_and_accepts() {
    let ws = suite();
    ws.write_snap("001", "same\n");
    ws.write_snap("002", "old output\n");
    ws.write_pending("001", "stale\n");
    let args = ["regen", "001", "002", "fresh-y"];
    let o = ws.run_bin(&args);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("changed      1  (+1 -1)\n    002  +1 -1\n"), "{o:?}");
    assert!(o.stdout.contains("new          1  (+1)\n    fresh-y  +1\n"), "{o:?}");
    assert!(o.stdout.contains("2 snapshots pending"), "{o:?}");
    let env = ws.read("target/iotests/qcow2-file/002.env");
    assert!(env.contains("INSTA_UPDATE=no") && env.contains("INSTA_FORCE_PASS=1"), "{env}");
    assert_eq!(ws.read("snapshots/002.snap.new"), common::snap("new output\n"));

    let mut with_accept = args.to_vec();
    with_accept.push("--accept");
    let o = ws.run_bin(&with_accept);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("accepted 2 snapshots: 002 fresh-y"), "{o:?}");
    assert_eq!(ws.read("snapshots/002.snap"), common::snap("new output\n"));
    assert_eq!(ws.read("snapshots/fresh-y.snap"), "---\nsource: tests/iotests/main.rs\n---\nbrand output\n");
    assert!(!ws.snapshots().join("002.snap.new").exists());

    let o = ws.run_bin(&["regen"]);
    assert_ne!(o.code, 0, "{o:?}");
    assert!(o.stderr.contains("--all"), "{o:?}");
}

#[test]
fn env_prints_the_header_with_resolved_programs() {
    let ws = suite();
    let o = ws.run(&["env", "-luks", "-fuse", "-i", "io_uring", "--vars"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("IMGFMT        -- luks (iter-time=10)\n"), "{o:?}");
    assert!(o.stdout.contains("IMGPROTO      -- fuse\n"), "{o:?}");
    assert!(o.stdout.contains("AIOMODE       -- io_uring\n"), "{o:?}");
    assert!(o.stdout.contains("PLATFORM      -- "), "{o:?}");
    assert!(o.stdout.contains("\nIMGKEYSECRET=123456\n"), "{o:?}");
    assert!(o.stdout.contains(&format!("\nQEMU_PROG={}\n", ws.root().join("fake-qemu").display())), "{o:?}");
    assert!(o.stdout.contains("\nQEMU_DEFAULT_MACHINE=fakepc\n"), "{o:?}");
}

#[test]
fn a_given_test_dir_is_split_per_test_and_cleaned_up() {
    let ws = suite();
    let bin = ws.fake_binary();
    let td = ws.root().join("scratch");
    let o = Out::from(
        ws.cmd()
            .env("TEST_DIR", &td)
            .args(["check", "-vmdk", "--test-binary", bin.to_str().unwrap(), "001"])
            .output()
            .unwrap(),
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains(&format!("TEST_DIR      -- {}\n", td.display())), "{o:?}");
    let env = ws.read("target/iotests/vmdk-file/001.env");
    assert!(env.lines().any(|l| l == format!("TEST_DIR={}", td.join("vmdk-file-001").display())), "{env}");
    assert!(env.lines().any(|l| l == format!("TMPDIR={}", td.join("vmdk-file-001").display())), "{env}");
    // check removes the directories it made for the test.
    assert!(!td.join("vmdk-file-001").exists());
    assert!(td.is_dir());

    // IOTESTS_KEEP_SCRATCH keeps them and says where, in check's output.
    let o = Out::from(
        ws.cmd()
            .env("TEST_DIR", &td)
            .env("IOTESTS_KEEP_SCRATCH", "1")
            .args(["check", "-vmdk", "--test-binary", bin.to_str().unwrap(), "001"])
            .output()
            .unwrap(),
    );
    assert!(
        o.stdout.contains(&format!("    note: scratch kept in {} and ", td.join("vmdk-file-001").display())),
        "{o:?}"
    );
    assert!(td.join("vmdk-file-001").is_dir());
}

#[test]
fn declared_expected_failure_is_xfail_and_keeps_the_run_green() {
    let ws = Ws::new(&[("001", "pass001", "rw"), ("296", "xfail296", "rw")]);
    ws.write_snap("001", "");
    let o = ws.run_bin(&["check", "001", "296"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.line("296").contains("xfail"), "{o:?}");
    assert!(o.line("296").contains("expected failure: QEMU aborts here (see the issue)"), "{o:?}");
    assert!(o.stdout.contains("Expected failures: 296"), "{o:?}");
    let o = ws.run_bin(&["check", "--tap", "296"]);
    assert!(o.stdout.contains("not ok 1 296 # TODO expected failure: QEMU aborts here"), "{o:?}");
}
