//! End to end: `check` selection (`-n`, groups, shards) on a fake source tree,
//! and the runner on a fake libtest binary (no cargo, no QEMU).

mod common;

use std::collections::BTreeSet;

use common::Ws;

fn suite() -> Ws {
    Ws::new(&[
        ("001", "pass001", "rw, auto, quick"),
        ("002", "mismatch002", "rw, auto"),
        ("003", "notrun003", "quick"),
        ("004", "crash004", "rw"),
        ("005", "hang005", "disabled"),
        ("cases-x", "cases_x", "\"quick\", auto,"),
        ("fresh-y", "fresh_y", "img"),
    ])
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

#[test]
fn dry_run_lists_and_selects_groups() {
    let ws = suite();
    let o = ws.run(&["check", "-n"]);
    assert_eq!(o.code, 0, "{o:?}");
    // `disabled` tests are left out unless asked for, like check.
    assert_eq!(lines(&o.stdout), ["001", "002", "003", "004", "cases-x", "fresh-y"]);

    let o = ws.run(&["check", "-n", "-g", "quick"]);
    assert_eq!(lines(&o.stdout), ["001", "003", "cases-x"], "{o:?}");
    let o = ws.run(&["check", "-n", "-g", "rw,quick", "-x", "auto"]);
    assert_eq!(lines(&o.stdout), ["003", "004"], "{o:?}");
    let o = ws.run(&["check", "-n", "-x", "rw"]);
    assert_eq!(lines(&o.stdout), ["003", "cases-x", "fresh-y"], "{o:?}");
    let o = ws.run(&["check", "-n", "-qcow2", "-nocache", "1", "hang005", "fresh-*"]);
    assert_eq!(lines(&o.stdout), ["001", "005", "fresh-y"], "{o:?}");

    let o = ws.run(&["check", "-n", "-g", "nosuch"]);
    assert_ne!(o.code, 0, "{o:?}");
    assert!(o.stderr.contains("No tests selected"), "{o:?}");
    let o = ws.run(&["check", "-n", "-x", "rw", "001"]);
    assert!(o.stderr.contains("Can't exclude from individually specified tests."), "{o:?}");
    let o = ws.run(&["check", "-n", "-qcow2", "-raw"]);
    assert_ne!(o.code, 0, "two formats must be refused: {o:?}");
}

#[test]
fn tests_dir_option_points_discovery_elsewhere() {
    let ws = suite();
    let other = Ws::new(&[("100", "pass100", "rw")]);
    let dir = other.root().join("tests/iotests");
    let o = ws.run(&["--tests-dir", dir.to_str().unwrap(), "check", "-n"]);
    assert_eq!(lines(&o.stdout), ["100"], "{o:?}");
}

#[test]
fn shards_are_disjoint_and_complete() {
    let ws = suite();
    let all = ws.run(&["check", "-n"]).stdout;
    let mut seen = Vec::new();
    for k in 1..=3 {
        let o = ws.run(&["check", "-n", "--shard", &format!("{k}/3")]);
        assert_eq!(o.code, 0, "{o:?}");
        seen.extend(o.stdout.lines().map(String::from));
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "shards overlap: {seen:?}");
    assert_eq!(unique.into_iter().cloned().collect::<Vec<_>>(), lines(&all));
    let o = ws.run(&["check", "-n", "--shard", "4/3"]);
    assert_ne!(o.code, 0, "{o:?}");
}

#[test]
fn check_runs_each_test_and_reports_like_check() {
    let ws = suite();
    ws.write_snap("002", "old output\n");
    let bin = ws.fake_binary(&["pass001", "mismatch002", "notrun003", "crash004", "cases_x"]);
    let junit = ws.root().join("report.xml");
    let o = ws.run(&[
        "check",
        "-raw",
        "-nbd",
        "-c",
        "none",
        "-j",
        "2",
        "--test-binary",
        bin.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "001",
        "002",
        "003",
        "004",
        "cases-x",
        "fresh-y",
    ]);
    assert_eq!(o.code, 1, "{o:?}");
    let out = &o.stdout;
    assert!(out.starts_with("QEMU          -- \"/nonexistent/qemu\""), "{o:?}");
    assert!(out.contains("\nIMGFMT        -- raw\nIMGPROTO      -- nbd\n"), "{o:?}");
    let line = |name: &str| out.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or("").to_string();
    assert!(line("001").contains(" pass "), "{o:?}");
    assert!(line("002").contains(" fail ") && line("002").contains("output mismatch (see "), "{o:?}");
    assert!(line("003").contains(" not run ") && line("003").ends_with("not suitable for this image format"), "{o:?}");
    assert!(line("004").contains(" fail ") && line("004").contains("failed, exit status 101"), "{o:?}");
    assert!(line("fresh-y").contains("no libtest test `fresh_y::"), "{o:?}");
    // The mismatch shows the snapshot diff, the crash its output's tail.
    assert!(out.contains("-old output\n+new output\n"), "{o:?}");
    assert!(out.contains("thread 'main' panicked at boom"), "{o:?}");
    assert!(out.contains("case_a not run\n"), "{o:?}");
    assert!(out.contains("\nNot run: 003\n"), "{o:?}");
    assert!(out.contains("\nSome cases not run in: cases-x\n"), "{o:?}");
    assert!(out.contains("\nFailures: 002 004 fresh-y\nFailed 3 of 5 iotests\n"), "{o:?}");
    // The mismatch is left pending for review.
    assert!(ws.snapshots().join("002.snap.new").exists());

    // The matrix reached the test process.
    let env = ws.read("target/iotests/raw-nbd/pass001.env");
    for want in ["IMGFMT=raw", "IMGPROTO=nbd", "CACHEMODE=none", "CACHEMODE_IS_DEFAULT=false", "AIOMODE=threads"] {
        assert!(env.lines().any(|l| l == want), "{want} missing:\n{env}");
    }
    assert!(env.contains("INSTA_UPDATE=new"), "{env}");
    assert!(env.contains(&format!("IOTESTS_SNAPSHOT_DIR={}", ws.snapshots().display())), "{env}");
    assert!(env.contains(&format!("OUTPUT_DIR={}", ws.root().join("target/iotests/raw-nbd").display())), "{env}");

    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuite name=\"iotests.raw-nbd\" tests=\"6\" failures=\"3\" errors=\"0\" skipped=\"1\""),
        "{xml}"
    );

    // A second run shows the last elapsed time of the passing test.
    let o = ws.run(&["check", "-raw", "-nbd", "--test-binary", bin.to_str().unwrap(), "001"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("(last: "), "{o:?}");
    assert!(o.stdout.ends_with("Passed all 1 iotests\n"), "{o:?}");
    assert!(ws.root().join("target/iotests/check.time-nbd-raw").exists());
}

#[test]
fn tap_output() {
    let ws = suite();
    let bin = ws.fake_binary(&["pass001", "notrun003", "crash004"]);
    let o = ws.run(&["check", "-tap", "--test-binary", bin.to_str().unwrap(), "001", "003", "004"]);
    assert_eq!(o.code, 1, "{o:?}");
    let out = &o.stdout;
    assert!(out.starts_with("TAP version 13\n# QEMU"), "{o:?}");
    assert!(out.contains("\n1..3\n"), "{o:?}");
    assert!(out.contains("\nok 1 001\n"), "{o:?}");
    assert!(out.contains("\nok 2 003 # SKIP not suitable for this image format\n"), "{o:?}");
    assert!(out.contains("\nnot ok 3 004 # failed, exit status 101"), "{o:?}");
    assert!(!out.contains("Failures:"), "{o:?}");
    assert!(o.stderr.contains("panicked at boom"), "{o:?}");
}

#[test]
fn a_hanging_test_times_out() {
    let ws = suite();
    let bin = ws.fake_binary(&["hang005"]);
    let t0 = std::time::Instant::now();
    let o = ws.run(&["check", "--timeout", "0.5", "--test-binary", bin.to_str().unwrap(), "005"]);
    assert_eq!(o.code, 1, "{o:?}");
    let line = o.stdout.lines().find(|l| l.starts_with("005 ")).unwrap_or("");
    assert!(line.contains(" fail ") && line.contains("timeout"), "{o:?}");
    assert!(t0.elapsed() < std::time::Duration::from_secs(20), "took {:?}", t0.elapsed());
}

#[test]
fn regen_summarises_and_accepts() {
    let ws = suite();
    ws.write_snap("001", "same\n");
    ws.write_snap("002", "old output\n");
    let bin = ws.fake_binary(&["pass001", "mismatch002", "fresh_y"]);
    let args = ["regen", "--test-binary", bin.to_str().unwrap(), "001", "002", "fresh-y"];
    let o = ws.run(&args);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("changed      1  (+1 -1)\n    002  +1 -1\n"), "{o:?}");
    assert!(o.stdout.contains("new          1  (+1)\n    fresh-y  +1\n"), "{o:?}");
    assert!(o.stdout.contains("unchanged    1\n"), "{o:?}");
    assert!(o.stdout.contains("2 snapshots pending"), "{o:?}");
    let env = ws.read("target/iotests/qcow2-file/mismatch002.env");
    assert!(env.contains("INSTA_UPDATE=new") && env.contains("INSTA_FORCE_PASS=1"), "{env}");
    assert!(ws.snapshots().join("002.snap.new").exists());

    let mut with_accept = args.to_vec();
    with_accept.push("--accept");
    let o = ws.run(&with_accept);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("accepted 2 snapshots"), "{o:?}");
    assert_eq!(ws.read("snapshots/002.snap"), common::snap("new output\n"));
    assert_eq!(ws.read("snapshots/fresh-y.snap"), common::snap("brand new\n"));
    assert!(!ws.snapshots().join("002.snap.new").exists());

    let o = ws.run(&["regen"]);
    assert_ne!(o.code, 0, "{o:?}");
    assert!(o.stderr.contains("--all"), "{o:?}");
}

#[test]
fn env_prints_the_header() {
    let ws = suite();
    let o = ws.run(&["env", "-luks", "-fuse", "-i", "io_uring", "--vars"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("IMGFMT        -- luks (iter-time=10)\n"), "{o:?}");
    assert!(o.stdout.contains("IMGPROTO      -- fuse\n"), "{o:?}");
    assert!(o.stdout.contains("AIOMODE       -- io_uring\n"), "{o:?}");
    assert!(o.stdout.contains("PLATFORM      -- "), "{o:?}");
    assert!(o.stdout.contains("\nIMGKEYSECRET=123456\n"), "{o:?}");
}

#[test]
fn a_given_test_dir_is_split_per_test_like_check() {
    let ws = suite();
    let bin = ws.fake_binary(&["pass001"]);
    let td = ws.root().join("scratch");
    let o = common::Out::from(
        ws.cmd()
            .env("TEST_DIR", &td)
            .args(["check", "-vmdk", "--test-binary", bin.to_str().unwrap(), "001"])
            .output()
            .unwrap(),
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains(&format!("TEST_DIR      -- {}\n", td.display())), "{o:?}");
    let env = ws.read("target/iotests/vmdk-file/pass001.env");
    assert!(env.lines().any(|l| l == format!("TEST_DIR={}", td.join("vmdk-file-001").display())), "{env}");
    assert!(td.join("vmdk-file-001").is_dir());
}
