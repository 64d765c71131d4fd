//! VM life cycle against a real QEMU: launch, QMP, qtest, events, shutdown
//! in all its ways, failed launches, fd passing, and no leaked QEMU even when
//! the test process is SIGKILLed.

mod common;

use std::io::{BufRead, BufReader};
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use iotests::env::TestEnv;
use iotests::log::LogOpts;
use iotests::vm::VmError;
use iotests::vm::{EventWait, GetBitmap, HmpQemuIo};
use iotests::{Error, TestContext};
use serde_json::json;

/// The test's context, or `None` (after saying so) without QEMU.
fn ctx(name: &str) -> Option<TestContext> {
    common::context(name, "raw", &[], &["QEMU_PROG"])
}

fn pid_gone(pid: i32) -> bool {
    // A zombie counts as gone: it is dead, only not reaped yet.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

fn wait_gone(pid: i32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if pid_gone(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    pid_gone(pid)
}

#[test]
fn launch_query_shutdown() {
    let Some(t) = ctx("vm-launch") else { return };
    let mut vm = t.vm();
    vm.launch().unwrap();
    assert!(vm.is_running());
    let pid = vm.get_pid().unwrap();
    let args = vm.full_args().join(" ");
    assert!(args.contains(" -display none -vga none -chardev socket,id=mon,fd="), "{args}");
    assert!(args.contains(" -mon chardev=mon,mode=control -chardev socket,id=qtest,fd="), "{args}");
    assert!(args.contains(" -qtest chardev:qtest"), "{args}");
    assert!(args.ends_with(&t.env().qemu_opts().join(" ")), "{args}");

    assert_eq!(vm.cmd("query-status", ()).unwrap()["status"], "running");
    let r = vm.qmp("no-such-command", ()).unwrap();
    assert_eq!(r["error"]["class"], "CommandNotFound");
    assert!(vm.qtest("readb 0x0").unwrap().starts_with("OK "));
    assert!(matches!(vm.launch(), Err(Error::Vm(VmError::AlreadyLaunched))));

    vm.shutdown().unwrap();
    assert_eq!(vm.exitcode(), Some(0));
    assert!(!vm.is_running());
    assert!(pid_gone(pid));
    assert!(vm.get_log().is_some());
    assert!(matches!(vm.qmp("query-status", ()), Err(Error::Vm(VmError::NoQmp))));
    // Shut down twice is a no-op, and the VM can be launched again.
    vm.shutdown().unwrap();
    vm.launch().unwrap();
    vm.kill().unwrap();
    assert_eq!(vm.exitcode(), Some(-9));
}

#[test]
fn plain_qemu_machine_has_no_qtest_and_no_qemu_options() {
    let Some(t) = ctx("vm-machine") else { return };
    let mut vm = t.qemu_machine();
    vm.add_args(["-accel", "tcg"]);
    vm.launch().unwrap();
    let args = vm.full_args().join(" ");
    assert!(args.contains(" -display none -vga none -chardev socket,id=mon,fd="), "{args}");
    assert!(args.ends_with(" -mon chardev=mon,mode=control -accel tcg"), "{args}");
    assert!(!args.contains("qtest"), "{args}");
    assert_eq!(vm.cmd("query-status", ()).unwrap()["status"], "running");
    assert!(matches!(vm.qtest("readb 0x0"), Err(Error::Vm(VmError::NoQtest))));
    vm.shutdown().unwrap();
    assert_eq!(vm.exitcode(), Some(0));
    // Relaunching keeps it plain.
    vm.launch().unwrap();
    assert!(!vm.full_args().join(" ").contains("qtest"));
    vm.shutdown().unwrap();
}

#[test]
fn prepended_base_args_come_first() {
    let Some(t) = ctx("vm-prepend") else { return };
    let mut vm = t.vm();
    vm.prepend_base_args(["-name", "b"]).prepend_base_args(["-accel", "tcg"]);
    vm.add_args(["-name", "c"]);
    vm.launch().unwrap();
    let args = vm.full_args();
    assert_eq!(&args[1..7], ["-accel", "tcg", "-name", "b", "-display", "none"], "{args:?}");
    assert_eq!(&args[args.len() - 2..], ["-name", "c"], "{args:?}");
    assert_eq!(vm.cmd("query-status", ()).unwrap()["status"], "running");
    vm.shutdown().unwrap();
}

#[test]
fn events_are_waited_for_matched_and_set_aside() {
    let Some(t) = ctx("vm-events") else { return };
    let mut vm = t.vm();
    vm.launch().unwrap();
    vm.cmd("stop", ()).unwrap();
    vm.cmd("cont", ()).unwrap();
    // RESUME is wanted first: STOP is set aside, not lost.
    let ev = vm.event_wait("RESUME").unwrap();
    assert_eq!(ev["event"], "RESUME");
    assert!(ev["timestamp"]["seconds"].is_u64());
    let ev = vm.get_qmp_event().unwrap().unwrap();
    assert_eq!(ev["event"], "STOP");
    assert_eq!(vm.get_qmp_event().unwrap(), None);

    // A pattern that does not match times out, and the event stays queued.
    vm.cmd("stop", ()).unwrap();
    let pattern = json!({"data": {"reason": "nope"}});
    let err = vm
        .event_wait_with("STOP", EventWait { timeout: Duration::from_millis(300).into(), match_: Some(pattern) })
        .unwrap_err();
    assert!(matches!(&err, Error::Qmp(e) if e.is_timeout()), "{err}");
    assert!(vm.event_poll("STOP", None).unwrap().is_some());

    vm.cmd("cont", ()).unwrap();
    let events = vm.get_qmp_events_filtered().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0], json!({"event": "RESUME", "timestamp": {"seconds": "SECS", "microseconds": "USECS"}}));

    vm.cmd("stop", ()).unwrap();
    vm.clear_events().unwrap();
    assert!(vm.get_qmp_events().unwrap().is_empty());
    vm.shutdown().unwrap();
}

#[test]
fn qmp_log_and_hmp_log_like_iotests() {
    let Some(t) = ctx("vm-qmp-log") else { return };
    let mut vm = t.vm();
    vm.add_blockdev(["driver=null-co", "node-name=null0", "size=1048576"]);
    vm.launch().unwrap();
    let r =
        vm.qmp_log("block-dirty-bitmap-add", json!({"node": "null0", "name": "bm0", "granularity": 65536})).unwrap();
    assert_eq!(r, json!({"return": {}}));
    vm.qmp_log_with(
        "block-dirty-bitmap-add",
        json!({"node": "nope", "name": "bm0"}),
        LogOpts { filters: &[], indent: Some(2) },
    )
    .unwrap();
    vm.hmp_qemu_io_with("null0", "write 0 64k", HmpQemuIo { use_log: true, qdev: false }).unwrap();
    vm.enable_migration_events("vm").unwrap();
    let bitmaps = vm.query_bitmaps().unwrap();
    assert_eq!(bitmaps["null0"][0]["name"], "bm0");
    let bm = vm.get_bitmap_with("null0", "bm0", GetBitmap { recording: Some(true), bitmaps: None }).unwrap().unwrap();
    assert_eq!(bm["count"], 65536);
    assert!(vm.check_bitmap_status("null0", "bm0", &json!({"count": 65536, "recording": true})).unwrap());
    assert!(!vm.check_bitmap_status("null0", "bm0", &json!({"count": 0})).unwrap());
    assert_eq!(vm.node_info("null0").unwrap().unwrap()["drv"], "null-co");
    assert_eq!(vm.node_info("nope").unwrap(), None);
    vm.shutdown().unwrap();
    assert_eq!(
        t.contents(),
        r#"{"execute": "block-dirty-bitmap-add", "arguments": {"granularity": 65536, "name": "bm0", "node": "null0"}}
{"return": {}}
{
  "execute": "block-dirty-bitmap-add",
  "arguments": {
    "name": "bm0",
    "node": "nope"
  }
}
{
  "error": {
    "class": "GenericError",
    "desc": "Cannot find device='nope' nor node-name='nope'"
  }
}
{"execute": "human-monitor-command", "arguments": {"command-line": "qemu-io null0 \"write 0 64k\""}}
{"return": ""}
Enabling migration QMP events on vm...
{"return": {}}
"#
    );
}

#[test]
fn failed_launch_reports_exit_code_command_and_output() {
    let Some(t) = ctx("vm-bad-option") else { return };
    let mut vm = t.vm();
    vm.add_args(["-no-such-option"]);
    let start = Instant::now();
    let err = vm.launch().unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(10));
    let Error::Vm(VmError::LaunchFailure { exitcode, command, output, .. }) = &err else { panic!("{err}") };
    assert_eq!(*exitcode, Some(1));
    assert!(command.ends_with(" -no-such-option"), "{command}");
    assert!(output.as_deref().unwrap_or("").contains("invalid option"), "{output:?}");
    let text = err.to_string();
    assert!(text.contains("\n\tExit code: 1\n\tCommand: "), "{text}");
    assert!(text.contains("\tOutput: ") && text.contains("-no-such-option: invalid option"), "{text}");
    assert!(!vm.is_running());
    // A bad option value (QEMU exits after parsing) is reported the same way.
    let mut vm = t.vm();
    vm.add_blockdev("driver=no-such-driver");
    let err = vm.launch().unwrap_err().to_string();
    assert!(err.contains("Exit code: 1") && err.contains("no-such-driver"), "{err}");
}

#[test]
fn missing_binary_is_reported() {
    let vars = [("QEMU_PROG", "/nonexistent/qemu-system-x86_64"), ("QEMU_OPTIONS", "-nodefaults")];
    let env = TestEnv::from_vars(&vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), "raw");
    let t = TestContext::new("vm-missing", env).unwrap();
    let err = t.vm().launch().unwrap_err();
    assert!(matches!(err, Error::MissingBinary { var: "QEMU_PROG", .. }), "{err}");
}

#[test]
fn crashed_vm_is_reported_without_hanging() {
    let Some(t) = ctx("vm-crash") else { return };
    let mut vm = t.vm();
    vm.launch().unwrap();
    let pid = vm.get_pid().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGSEGV).unwrap();
    let start = Instant::now();
    // Commands fail once QEMU is gone...
    while vm.is_running() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(vm.qmp("query-status", ()).is_err());
    // ...and shutdown says it was not graceful.
    let err = vm.shutdown().unwrap_err();
    assert!(matches!(err, Error::Vm(VmError::AbnormalShutdown { .. })), "{err}");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(vm.exitcode(), Some(-11));
    assert!(!vm.is_running());
}

#[test]
fn vm_ignoring_quit_is_killed_within_the_timeout() {
    let Some(t) = ctx("vm-sigstop") else { return };
    let mut vm = t.vm();
    vm.launch().unwrap();
    let pid = vm.get_pid().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGSTOP).unwrap();
    let start = Instant::now();
    let err = vm.shutdown_with(false, Duration::from_secs(2)).unwrap_err();
    let took = start.elapsed();
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(5), "{took:?}");
    let Error::Vm(VmError::AbnormalShutdown { cause, .. }) = &err else { panic!("{err}") };
    assert!(cause.contains("timed out"), "{cause}");
    assert_eq!(vm.exitcode(), Some(-9));
    assert!(pid_gone(pid));
}

#[test]
fn wait_for_quit_and_drop_shut_down() {
    let Some(t) = ctx("vm-wait") else { return };
    let mut vm = t.vm();
    vm.launch().unwrap();
    vm.cmd("quit", ()).unwrap();
    vm.wait(Duration::from_secs(10)).unwrap();
    assert_eq!(vm.exitcode(), Some(0));

    // A VM that does not exit by itself: wait() kills it and says so.
    vm.launch().unwrap();
    let err = vm.wait(Duration::from_millis(300)).unwrap_err();
    assert!(matches!(err, Error::Vm(VmError::AbnormalShutdown { .. })), "{err}");

    let mut vm = t.vm_with("b");
    vm.launch().unwrap();
    let pid = vm.get_pid().unwrap();
    drop(vm);
    assert!(pid_gone(pid));
}

#[test]
fn qtest_and_log_file() {
    let Some(t) = ctx("vm-qtest") else { return };
    let mut vm = t.vm();
    vm.launch().unwrap();
    assert_eq!(vm.qtest("writeb 0x1000 0x5a").unwrap(), "OK\n");
    assert_eq!(vm.qtest("readb 0x1000").unwrap(), "OK 0x000000000000005a\n");
    assert!(vm.qtest("no-such-qtest-command").unwrap().starts_with("FAIL"));
    // The log file lives in TEST_DIR/qemu-machine-XXXX until shutdown.
    let dirs = || {
        std::fs::read_dir(t.test_dir())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("qemu-machine-"))
            .count()
    };
    assert_eq!(dirs(), 1);
    vm.shutdown().unwrap();
    assert_eq!(dirs(), 0);
    let log = vm.get_log().unwrap();
    assert!(log.contains("OPENED"), "{log:?}");
    assert!(matches!(vm.qtest("readb 0x0"), Err(Error::Vm(VmError::NoQtest))));
}

#[test]
fn fd_passing() {
    let Some(t) = ctx("vm-fds") else { return };
    let path = t.file_path("fd.img");
    let file = std::fs::OpenOptions::new().create(true).truncate(true).read(true).write(true).open(&path).unwrap();
    file.set_len(1 << 20).unwrap();
    let mut vm = t.vm();
    vm.add_fd(file.try_clone().unwrap(), 1, "cmdline-fd", "");
    vm.launch().unwrap();

    // Over QMP: getfd names a descriptor, add-fd puts one in a set.
    vm.send_fd_scm(file.as_fd()).unwrap();
    vm.cmd("getfd", json!({"fdname": "img"})).unwrap();
    vm.send_file_scm(&path).unwrap();
    let added = vm.cmd("add-fd", json!({"fdset-id": 2, "opaque": "qmp-fd"})).unwrap();
    assert_eq!(added["fdset-id"], 2);
    vm.getfd(file.as_fd(), "img2").unwrap();
    let added = vm.qmp_add_fd(file.as_fd(), Some(3), Some("qmp-fd-3")).unwrap();
    assert_eq!(added["fdset-id"], 3);

    let sets = vm.cmd("query-fdsets", ()).unwrap();
    let opaque =
        |id: i64| sets.as_array().unwrap().iter().find(|s| s["fdset-id"] == id).map(|s| s["fds"][0]["opaque"].clone());
    assert_eq!(opaque(1), Some(json!("cmdline-fd")), "{sets}");
    assert_eq!(opaque(2), Some(json!("qmp-fd")), "{sets}");
    assert_eq!(opaque(3), Some(json!("qmp-fd-3")), "{sets}");
    // QEMU can open the image through the set.
    vm.cmd("blockdev-add", json!({"driver": "file", "filename": "/dev/fdset/1", "node-name": "viafd"})).unwrap();
    vm.shutdown().unwrap();
}

const LEAK_CHILD: &str = "IOTESTS_VM_LEAK_CHILD";

#[test]
fn no_leak_when_test_process_is_killed() {
    if std::env::var_os(LEAK_CHILD).is_some() {
        // Child mode: launch a VM, say its PID, wait to be killed.
        let Some(t) = ctx("vm-leak-child") else { return };
        let mut vm = t.vm();
        vm.launch().unwrap();
        println!("QEMU_PID={}", vm.get_pid().unwrap());
        std::thread::sleep(Duration::from_secs(60));
        return;
    }
    if ctx("vm-leak").is_none() {
        return;
    }
    // The killed child cannot remove its scratch directories: give it
    // directories inside ours.
    let scratch = tempfile::Builder::new().prefix("iot-leak-").tempdir_in("/tmp").unwrap();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "no_leak_when_test_process_is_killed", "--nocapture", "--test-threads=1"])
        .env(LEAK_CHILD, "1")
        .env("TEST_DIR", scratch.path().join("test"))
        .env("SOCK_DIR", scratch.path().join("sock"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let registry = std::sync::Arc::new(iotests::process::ProcessRegistry::default());
    let mut child = iotests::process::spawn("test-child", cmd, &registry).unwrap();
    let stdout = child.std().stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // libtest prints "test … ... " before it, on the same line.
            if let Some((_, pid)) = line.split_once("QEMU_PID=") {
                let _ = tx.send(pid.trim().parse::<i32>().unwrap());
            }
        }
    });
    let pid = rx.recv_timeout(Duration::from_secs(60)).expect("the child printed no QEMU pid");
    assert!(!pid_gone(pid));
    child.kill().unwrap();
    assert!(wait_gone(pid, Duration::from_secs(5)), "QEMU {pid} outlived the SIGKILLed test process");
}

/// The death signal of QEMU is bound to the thread that forks it: a VM
/// launched in a scoped thread and used after the join must still run
/// (every child is forked by the toolkit's process-wide spawner thread).
#[test]
fn vm_launched_in_a_scoped_thread_survives_the_thread() {
    let Some(t) = ctx("vm-scoped-thread") else { return };
    let mut vm = t.vm();
    std::thread::scope(|s| s.spawn(|| vm.launch().unwrap()).join().unwrap());
    // A background tool started on a short-lived thread, too.
    let mut sleeper = std::thread::scope(|s| {
        s.spawn(|| {
            let mut cmd = Command::new("sleep");
            cmd.arg("60");
            iotests::process::spawn("sleep", cmd, t.processes()).unwrap()
        })
        .join()
        .unwrap()
    });
    // Give a death signal time to arrive, were there one.
    std::thread::sleep(Duration::from_millis(300));
    assert!(vm.is_running(), "QEMU died with the thread that launched it: {:?}", vm.exitcode());
    assert_eq!(vm.cmd("query-status", ()).unwrap()["status"], "running");
    assert!(sleeper.try_wait().unwrap().is_none(), "sleep died with the thread that started it");
    vm.shutdown().unwrap();
    assert_eq!(iotests::process::returncode(sleeper.kill().unwrap()), -9);
}

/// The VM's state is one thing at a time: a relaunch that fails before
/// QEMU starts reports no exit code and no output — not those of the run
/// before it — and leaves a VM that can be launched again.
#[test]
fn a_launch_that_never_started_shows_nothing_of_the_run_before() {
    let Some(t) = ctx("vm-relaunch") else { return };
    let mut vm = t.vm();
    vm.launch().unwrap();
    assert_eq!((vm.exitcode(), vm.get_log()), (None, None));
    vm.shutdown().unwrap();
    assert_eq!(vm.exitcode(), Some(0));
    assert!(vm.get_log().is_some());
    // The next launch cannot even create its log directory.
    std::fs::remove_dir_all(t.test_dir()).unwrap();
    match vm.launch().unwrap_err() {
        Error::Vm(VmError::LaunchFailure { exitcode, output, .. }) => assert_eq!((exitcode, output), (None, None)),
        e => panic!("unexpected {e}"),
    }
    assert!(!vm.is_running());
    assert_eq!((vm.exitcode(), vm.get_pid(), vm.get_log()), (None, None, None));
    assert!(matches!(vm.qmp("query-status", ()), Err(Error::Vm(VmError::NoQmp))));
    std::fs::create_dir_all(t.test_dir()).unwrap();
    vm.launch().unwrap();
    assert_eq!(vm.cmd("query-status", ()).unwrap()["status"], "running");
    vm.shutdown().unwrap();
}
