//! Nothing survives a signal: a real test process — with a forked
//! `qemu-nbd` daemon, a `qemu-nbd` server, a VM, a storage daemon and a
//! background qemu-io — is sent SIGTERM, SIGINT, SIGHUP or SIGKILL. Not one
//! of its processes may be left, and (but after SIGKILL, which cannot be
//! caught: `iotests check` cleans up then) neither may its scratch and
//! socket directories. The process dies of the signal it was sent.
//!
//! The test process is this test binary, run again in "child mode".

use std::io::{BufRead, BufReader};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use iotests::env::{TestEnv, Vars};
use iotests::{TestContext, args};

const CHILD: &str = "IOTESTS_SIGNALS_CHILD";

fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

fn env() -> Option<TestEnv> {
    let vars: Vars = std::env::vars().collect();
    let env = TestEnv::from_vars(&vars, "qcow2");
    for p in [&env.qemu_img, &env.qemu_io, &env.qemu_nbd, &env.qsd] {
        if !p.exists() {
            println!("not run: {} not found", p.name);
            return None;
        }
    }
    Some(env)
}

/// Child mode: start everything, say the PIDs, wait to be killed.
fn child() {
    let Some(env) = env() else { return };
    let has_qemu = env.qemu.exists();
    let t = TestContext::new("signals-child", env).unwrap();
    let img = t.file_path("disk");
    t.qemu_img_create(&args!["-f", "qcow2", &img, "4M"]).unwrap();
    let [pid_file, s1, s2] = [t.file_path("nbd.pid"), t.sock_path("nbd1"), t.sock_path("nbd2")];
    assert_eq!(
        t.qemu_nbd(&["-k", &s1, "--pid-file", &pid_file, "--persistent", "-r", "-f", "qcow2", &img]).unwrap(),
        0
    );
    let _server = t.qemu_nbd_popen(&["-k", &s2, "-r", "-f", "qcow2", &img]).unwrap();
    let _qsd = t.qemu_storage_daemon(&["--blockdev", "null-co,node-name=n0"]).unwrap();
    let _bg = t.qemu_io_popen(&["-r", "-c", "sleep 60000", &img]).unwrap();
    let mut vm = t.vm();
    if has_qemu {
        vm.launch().unwrap();
    }
    let pids: Vec<String> = t.processes().pids().iter().map(|(p, n)| format!("{n}={p}")).collect();
    println!("READY {}", pids.join(" "));
    std::thread::sleep(Duration::from_secs(120));
}

/// Run the child test `name`, send it `sig` once it is ready; its PIDs and
/// status.
fn signal_child(name: &str, sig: i32, root: &Path) -> (Vec<(String, i32)>, std::process::ExitStatus) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("TEST_DIR", root.join("test"))
        .env("SOCK_DIR", root.join("sock"))
        .env_remove("IOTESTS_KEEP_SCRATCH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // Its own group: a signal for it is not one for us.
        .process_group(0);
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some((_, list)) = line.split_once("READY ") {
                let pids = list
                    .split_whitespace()
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(n, p)| (n.to_string(), p.parse::<i32>().unwrap()))
                    .collect::<Vec<_>>();
                let _ = tx.send(pids);
            }
        }
    });
    let pids = match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(p) => p,
        Err(_) => {
            let _ = child.kill();
            panic!("the child test process never got ready: {:?}", child.wait());
        }
    };
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, sig) };
    // The cleanup stops every child (SIGTERM, then SIGKILL after a grace)
    // before the process dies of the signal; on a loaded machine that has
    // taken over 30 s, and the point here is that it ends and leaves
    // nothing, not how fast.
    let end = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("the child did not end within 120 s of signal {sig}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (pids, status)
}

#[test]
fn nothing_survives_a_signal() {
    if std::env::var_os(CHILD).is_some() {
        return child();
    }
    if env().is_none() {
        return;
    }
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGKILL] {
        let root = tempfile::Builder::new().prefix("iot-sig-").tempdir_in("/tmp").unwrap();
        let (pids, status) = signal_child("nothing_survives_a_signal", sig, root.path());
        assert!(pids.iter().any(|(n, _)| n == "qemu-nbd"), "{pids:?}");
        assert_eq!(status.signal(), Some(sig), "signal {sig}: the child ended with {status:?}");
        // The reaper acts once the child is gone: give it a moment.
        let end = Instant::now() + Duration::from_secs(10);
        while pids.iter().any(|(_, p)| alive(*p)) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
        let left: Vec<_> = pids.iter().filter(|(_, p)| alive(*p)).collect();
        assert!(left.is_empty(), "signal {sig}: processes survived: {left:?}");
        if sig != libc::SIGKILL {
            for sub in ["test", "sock"] {
                let entries: Vec<_> = std::fs::read_dir(root.path().join(sub))
                    .map(|d| d.flatten().map(|e| e.path()).collect())
                    .unwrap_or_default();
                assert!(entries.is_empty(), "signal {sig}: scratch left: {entries:?}");
            }
        }
    }
}

/// The cleanup kills the processes a test waits for, so the test fails and
/// the harness exits (status 101) — possibly before the cleanup is done.
/// The process must still die of the signal it got, its cleanup complete.
#[test]
fn a_test_failing_because_of_the_cleanup_still_dies_of_the_signal() {
    if std::env::var_os(CHILD).is_some() {
        let Some(env) = env() else { return };
        let t = TestContext::new("signals-waiting-child", env).unwrap();
        let img = t.file_path("disk");
        t.qemu_img_create(&args!["-f", "qcow2", &img, "1M"]).unwrap();
        let mut bg = t.qemu_io_popen(&["-r", "-c", "sleep 60000", &img]).unwrap();
        println!("READY qemu-io={}", bg.pid());
        let rc = bg.wait(Duration::from_secs(60)).unwrap();
        // What the harness does once the test failed: exit, at once.
        eprintln!("qemu-io ended with {rc}");
        std::process::exit(101);
    }
    if env().is_none() {
        return;
    }
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let root = tempfile::Builder::new().prefix("iot-sig-").tempdir_in("/tmp").unwrap();
        let (pids, status) =
            signal_child("a_test_failing_because_of_the_cleanup_still_dies_of_the_signal", sig, root.path());
        assert_eq!(status.signal(), Some(sig), "signal {sig}: the child ended with {status:?}");
        assert!(pids.iter().all(|(_, p)| !alive(*p)), "{pids:?}");
        for sub in ["test", "sock"] {
            let entries: Vec<_> = std::fs::read_dir(root.path().join(sub))
                .map(|d| d.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            assert!(entries.is_empty(), "signal {sig}: scratch left: {entries:?}");
        }
    }
}
