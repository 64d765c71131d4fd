//! VM life cycle against a real QEMU: launch, QMP, qtest, events, shutdown
//! in all its ways, failed launches, fd passing, and no leaked QEMU even when
//! the test process is SIGKILLed.

use std::io::{BufRead, BufReader};
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use iotests::env::TestEnv;
use iotests::vm::{DEFAULT_EVENT_TIMEOUT, Vm, VmError};
use iotests::{Error, TestContext};
use serde_json::json;

/// The test's context, or `None` (after saying so) without QEMU.
fn ctx(name: &str) -> Option<TestContext> {
    let env = TestEnv::from_process_env("raw");
    if !env.qemu.exists() {
        println!("not run: qemu-system-x86_64 not found");
        return None;
    }
    Some(TestContext::new(name, env).expect("test context"))
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
    assert!(args.ends_with(&t.env().qemu_opts.join(" ")), "{args}");

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
