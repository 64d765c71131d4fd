//! End to end: what `check` does when signals arrive — Ctrl-C once and
//! twice, Ctrl-Z and `fg`, SIGTERM — and after a test process was
//! SIGKILLed with a daemon still in its scratch. The CLI runs in a process
//! group of its own, as a shell job would, and gets the signals the
//! terminal would send it.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Out, Ws};

fn spawn_check(ws: &Ws, args: &[&str]) -> Child {
    let bin = ws.fake_binary();
    let mut c: Command = ws.cmd();
    c.arg("check").args(args).arg("--test-binary").arg(bin).stdout(Stdio::piped()).stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut c, 0);
    c.spawn().unwrap()
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill only sends a signal to our child.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// Wait for `path` to hold a pid (the fake test writes it when it starts).
fn wait_pid(path: &Path) -> i32 {
    let t0 = Instant::now();
    loop {
        if let Some(pid) = std::fs::read_to_string(path).ok().and_then(|s| s.trim().parse().ok()) {
            return pid;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "the test never started ({})", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The state letter of `/proc/<pid>/stat` (`S`, `T`, `Z`…), `None` if gone.
fn state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next())
}

/// Processes whose process group is `pgid`.
fn group_members(pgid: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let fields: Vec<&str> = stat.rsplit_once(") ").map(|(_, r)| r.split(' ').collect()).unwrap_or_default();
            fields.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid) && fields.first() != Some(&"Z")
        })
        .collect()
}

fn finish(child: Child, within: Duration) -> Out {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(within) {
        Ok(out) => Out::from(out.unwrap()),
        Err(_) => {
            signal(pid, libc::SIGKILL);
            panic!("iotests check did not finish within {within:?}");
        }
    }
}

#[test]
fn a_second_ctrl_c_kills_at_once() {
    let ws = Ws::new(&[("h", "stubborn", "rw")]);
    let child = spawn_check(&ws, &["h"]);
    let test_pid = wait_pid(&ws.root().join("target/iotests/qcow2-file/h.pid"));
    signal(child.id(), libc::SIGINT);
    std::thread::sleep(Duration::from_millis(500));
    // The test ignores SIGTERM: after one Ctrl-C it is still there.
    assert!(state(test_pid).is_some_and(|s| s != 'Z'), "the test went away on SIGTERM");
    let t0 = Instant::now();
    signal(child.id(), libc::SIGINT);
    let o = finish(child, Duration::from_secs(10));
    assert!(t0.elapsed() < Duration::from_millis(1500), "took {:?} after the second Ctrl-C", t0.elapsed());
    assert_eq!(o.code, 130, "{o:?}");
    assert!(o.line("h").contains("not run") && o.line("h").contains("Interrupted by user"), "{o:?}");
    assert!(group_members(test_pid).is_empty(), "left behind: {:?}", group_members(test_pid));
}

#[test]
fn ctrl_z_and_fg_do_not_time_tests_out() {
    let ws = Ws::new(&[("s", "slow", "rw")]);
    // The test needs 2 s of a 3 s limit (+0.5 s grace); it is suspended for 4 s.
    let child = spawn_check(&ws, &["--timeout", "3", "--timeout-grace", "0.5", "s"]);
    let test_pid = wait_pid(&ws.root().join("target/iotests/qcow2-file/s.pid"));
    std::thread::sleep(Duration::from_millis(500));
    signal(child.id(), libc::SIGTSTP);
    let t0 = Instant::now();
    while !(state(child.id() as i32) == Some('T') && state(test_pid) == Some('T')) {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "not stopped: cli {:?}, test {:?}",
            state(child.id() as i32),
            state(test_pid)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(state(test_pid), Some('T'), "the test ran on while suspended");
    signal(child.id(), libc::SIGCONT);
    let o = finish(child, Duration::from_secs(20));
    assert_eq!(o.code, 0, "{o:?}");
    let line = o.line("s");
    assert!(line.contains(" pass "), "{o:?}");
    // The stopped time is not its elapsed time either.
    let secs: f64 = line.split_whitespace().find_map(|w| w.strip_suffix('s')?.parse().ok()).unwrap_or(99.0);
    assert!(secs < 3.5, "elapsed {secs} in {line}");
}

#[test]
fn sigterm_stops_the_run_and_takes_back_the_scratch() {
    let ws = Ws::new(&[("h", "hang", "rw")]);
    let child = spawn_check(&ws, &["h"]);
    let test_pid = wait_pid(&ws.root().join("target/iotests/qcow2-file/h.pid"));
    let env = ws.read("target/iotests/qcow2-file/h.env");
    let test_dir = env.lines().find_map(|l| l.strip_prefix("TEST_DIR=")).unwrap().to_string();
    assert!(Path::new(&test_dir).is_dir());
    signal(child.id(), libc::SIGTERM);
    let o = finish(child, Duration::from_secs(15));
    assert_eq!(o.code, 130, "{o:?}");
    assert!(group_members(test_pid).is_empty());
    assert!(!Path::new(&test_dir).exists(), "{test_dir} left behind");
    // The scratch roots check made (in TMPDIR, the workspace here) are gone too.
    let left: Vec<String> = std::fs::read_dir(ws.root())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("iotests-") || n.starts_with("iot-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn after_a_sigkilled_test_its_daemon_is_killed_and_scratch_removed() {
    let ws = Ws::new(&[("d", "daemon", "rw")]);
    let o = ws.run_bin(&["check", "d"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.line("d").contains("failed, killed by signal SIGKILL (9)"), "{o:?}");
    let note = o
        .stdout
        .lines()
        .find(|l| l.contains("note: killed processes left holding its scratch: sleep (pid "))
        .unwrap_or_else(|| panic!("{o:?}"));
    let pid: i32 = note.rsplit("(pid ").next().unwrap().trim_end_matches(')').parse().unwrap();
    let t0 = Instant::now();
    while state(pid).is_some_and(|s| s != 'Z') {
        assert!(t0.elapsed() < Duration::from_secs(5), "daemon {pid} survived");
        std::thread::sleep(Duration::from_millis(20));
    }
    let env = ws.read("target/iotests/qcow2-file/d.env");
    let test_dir = env.lines().find_map(|l| l.strip_prefix("TEST_DIR=")).unwrap();
    assert!(!Path::new(test_dir).exists(), "{test_dir} left behind");
}

/// The test binary's listing run leaves a probe's files in TMPDIR, as one
/// killed in the middle of a probe does (found by fault injection): they
/// are gone all the same when check ends.
#[test]
fn a_listing_that_leaves_probe_files_leaves_nothing() {
    let ws = Ws::new(&[("p", "pass", "rw")]);
    let bin = ws.fake_binary();
    let o = Out::from(
        ws.cmd()
            .env("FAKE_LIST_LEAVES", "1")
            .args(["check", "--test-binary", bin.to_str().unwrap(), "p"])
            .output()
            .unwrap(),
    );
    assert_eq!(o.code, 0, "{o:?}");
    let left: Vec<_> = std::fs::read_dir(ws.root())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("iotests-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
