//! End to end: per-cell reference outputs chosen as QEMU's
//! `testrunner.find_reference` chooses them, the format matrix (grid,
//! JUnit), regen and review across cells, and colors on a real terminal.

mod common;

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};

use common::{Out, Ws};

fn suite() -> Ws {
    let ws = Ws::new(&[("001", "pass001", "rw"), ("003", "notrun3", "rw"), ("150", "out_fmt150", "rw")]);
    ws.write_snap("150", "qcow2 output\n");
    ws.write_snap("150.raw", "raw output\n");
    ws
}

#[test]
fn the_reference_is_chosen_per_cell_as_upstream_chooses() {
    let ws = suite();
    for fmt in ["-qcow2", "-raw"] {
        let o = ws.run_bin(&["check", fmt, "150"]);
        assert_eq!(o.code, 0, "{fmt}: {o:?}");
    }
    // luks has no variant: the plain reference, and the diff says which.
    let o = ws.run_bin(&["check", "-luks", "150"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.contains(&format!("--- {}\n", ws.snapshots().join("150.snap").display())), "{o:?}");
    assert!(o.stdout.contains("-qcow2 output\n+luks output\n"), "{o:?}");
    assert_eq!(ws.read("snapshots/150.snap.new"), common::snap("luks output\n"));
    // -nocache: `.nocache` wins over the format's variant.
    ws.write_snap("150.nocache", "nocache output\n");
    let o = ws.run_bin(&["check", "-raw", "-nocache", "150"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.contains("150.nocache.snap\n") && o.stdout.contains("-nocache output\n+raw output\n"), "{o:?}");
    assert!(ws.snapshots().join("150.nocache.snap.new").exists());
    // QEMU's default machine comes after the format.
    ws.write_snap("150.fakepc", "vvfat output\n");
    let o = ws.run_bin(&["check", "-vvfat", "150"]);
    assert_eq!(o.code, 0, "{o:?}");
    let o = ws.run_bin(&["check", "-raw", "150"]);
    assert_eq!(o.code, 0, "{o:?}");
}

#[test]
fn a_matrix_run_prints_a_grid_and_one_junit_report() {
    let ws = suite();
    let junit = ws.root().join("matrix.xml");
    let o = ws.run_bin(&["check", "--formats", "qcow2,raw,luks", "-j", "3", "--junit", junit.to_str().unwrap()]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.contains("\nCELLS         -- qcow2-file raw-file luks-file\n"), "{o:?}");
    assert!(o.line("150 [raw-file]").contains(" pass "), "{o:?}");
    assert!(o.line("150 [luks-file]").contains(" fail "), "{o:?}");
    assert!(o.stdout.contains("\nFailures: 150 [luks-file]\n"), "{o:?}");
    let grid = "\ntest  qcow2-file  raw-file  luks-file\n\
                001   pass        pass      pass\n\
                003   not run     not run   not run\n\
                150   pass        pass      fail\n";
    assert!(o.stdout.contains(grid), "{o:?}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuites name=\"iotests\" tests=\"9\" failures=\"1\" errors=\"0\" skipped=\"3\""),
        "{xml}"
    );
    for cell in ["qcow2-file", "raw-file", "luks-file"] {
        assert!(xml.contains(&format!("<testsuite name=\"iotests.{cell}\" tests=\"3\"")), "{cell}: {xml}");
    }
    // Each cell has its own output directory.
    assert!(ws.read("target/iotests/luks-file/150.env").contains("IMGFMT=luks\n"));
    // Cache modes make cells too.
    let o = ws.run_bin(&["check", "-n", "--cache-modes", "all", "001"]);
    assert_eq!(o.code, 0, "{o:?}");
    let o = ws.run_bin(&["check", "--formats", "qcow2", "--cache-modes", "writeback,none", "001"]);
    assert!(o.line("001 [qcow2-file-none]").contains(" pass "), "{o:?}");
}

#[test]
fn regen_across_cells_splits_references_by_format_and_review_finds_them() {
    let ws = Ws::new(&[("150", "out_fmt150", "rw")]);
    ws.write_snap("150", "qcow2 output\n");
    let o = ws.run_bin(&["regen", "--formats", "qcow2,raw", "--protocols", "file,nbd", "150"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("new          1  (+1)\n    150.raw  +1\n"), "{o:?}");
    assert_eq!(ws.read("snapshots/150.raw.snap.new"), common::snap("raw output\n"));
    assert!(!ws.snapshots().join("150.snap.new").exists());
    let o = ws.run(&["review", "150"]);
    assert!(o.stdout.contains("150.raw: new (+1)"), "{o:?}");
    let o = ws.run(&["accept", "150"]);
    assert_eq!(o.code, 0, "{o:?}");
    let o = ws.run_bin(&["check", "--formats", "qcow2,raw", "150"]);
    assert_eq!(o.code, 0, "{o:?}");
}

/// Run the CLI with its stdout on a pseudo-terminal; returns what it wrote.
fn on_a_tty(ws: &Ws, env: &[(&str, &str)], args: &[&str]) -> String {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills in two new descriptors we then own.
    let r = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    assert_eq!(r, 0, "openpty");
    // SAFETY: both descriptors were just opened and are owned here.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let bin = ws.fake_binary();
    let mut c = ws.cmd();
    c.args(args).arg("--test-binary").arg(bin).env_remove("TERM").envs(env.iter().copied());
    c.stdout(std::process::Stdio::from(slave));
    let mut child = c.spawn().unwrap();
    drop(c);
    let mut out = Vec::new();
    let mut f = std::fs::File::from(master);
    // Reading the master ends with EIO once the child closed the terminal.
    let _ = f.read_to_end(&mut out);
    child.wait().unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn colors_on_a_terminal_unless_no_color_or_a_dumb_terminal() {
    let ws = suite();
    let colored = on_a_tty(&ws, &[("TERM", "xterm")], &["check", "001"]);
    assert!(colored.contains("\x1b[32mpass"), "{colored:?}");
    let plain = on_a_tty(&ws, &[("TERM", "xterm"), ("NO_COLOR", "1")], &["check", "001"]);
    assert!(plain.contains(" pass ") && !plain.contains("\x1b[32m"), "{plain:?}");
    let dumb = on_a_tty(&ws, &[("TERM", "dumb")], &["check", "001"]);
    assert!(dumb.contains(" pass ") && !dumb.contains('\x1b'), "{dumb:?}");
    // --color on still forces them.
    let forced = Out::from(
        ws.cmd().args(["check", "--color", "on", "--test-binary"]).arg(ws.fake_binary()).arg("001").output().unwrap(),
    );
    assert!(forced.stdout.contains("\x1b[32mpass"), "{forced:?}");
}
