use super::*;
use std::process::Command;
use std::time::Instant;

fn argv(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[test]
fn separate_stdio() {
    let reg = Arc::new(ProcessRegistry::default());
    let opts = RunOptions { combine_stdio: false, ..Default::default() };
    let out = run("sh", &argv(&["sh", "-c", "echo a; echo b >&2"]), &opts, &reg).unwrap();
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("a\n", "b\n"));
}

#[test]
fn stdin_is_fed() {
    let reg = Arc::new(ProcessRegistry::default());
    let opts = RunOptions { stdin: Some("hello\n".into()), ..Default::default() };
    let out = run("cat", &argv(&["cat"]), &opts, &reg).unwrap();
    assert_eq!(out.stdout, "hello\n");
}

#[test]
fn signal_is_negative_returncode() {
    let reg = Arc::new(ProcessRegistry::default());
    let out = run("sh", &argv(&["sh", "-c", "kill -SEGV $$"]), &RunOptions::default(), &reg).unwrap();
    assert_eq!(out.returncode, -11);
}

#[test]
fn timeout_kills_and_reports() {
    let reg = Arc::new(ProcessRegistry::default());
    let opts = RunOptions { timeout: Duration::from_millis(200), ..Default::default() };
    let start = Instant::now();
    let err = run("sh", &argv(&["sh", "-c", "echo started; exec sleep 30"]), &opts, &reg).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(5));
    match err {
        Error::Timeout { what, log } => {
            assert!(what.contains("sleep 30"), "{what}");
            assert_eq!(log, "started\n");
        }
        e => panic!("unexpected {e}"),
    }
    assert!(reg.pids().is_empty());
}

#[test]
fn missing_program_is_spawn_error() {
    let reg = Arc::new(ProcessRegistry::default());
    let err = run("x", &argv(&["/no/such/binary"]), &RunOptions::default(), &reg).unwrap_err();
    assert!(matches!(err, Error::Spawn { .. }), "{err}");
}

#[test]
fn registry_kill_all_stops_children() {
    let reg = Arc::new(ProcessRegistry::default());
    let mut cmd = Command::new("sleep");
    cmd.arg("30");
    let mut child = spawn("sleep", cmd, &reg).unwrap();
    assert_eq!(reg.pids().len(), 1);
    reg.kill_all();
    let st = child.wait_timeout(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(returncode(st), -9);
    assert!(reg.pids().is_empty());
}

#[test]
fn input_that_is_not_read_does_not_block_the_time_limit() {
    // More than a pipe holds, to a tool that never reads it nor exits.
    let reg = Arc::new(ProcessRegistry::default());
    let opts =
        RunOptions { stdin: Some("x".repeat(4 << 20)), timeout: Duration::from_millis(300), ..Default::default() };
    let start = Instant::now();
    let err = run("sleep", &argv(&["sleep", "30"]), &opts, &reg).unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    assert!(reg.pids().is_empty());
}
