//! A process that dies during a test — killed by a signal the test did not
//! send — is named in the failure, whatever failed next: a background
//! qemu-io killed under the test shows in its snapshot mismatch, a killed
//! storage daemon in the failure of the VM that then cannot connect, and
//! QMP's or qtest's "connection closed" says how QEMU ended.

use std::path::Path;

use iotests::env::{TestEnv, Vars};
use iotests::harness::{self, Outcome, TestSpec};
use iotests::{Error, TestContext, args};

fn env(out: &Path) -> Option<TestEnv> {
    let mut vars: Vars = std::env::vars().collect();
    vars.insert("OUTPUT_DIR".into(), out.display().to_string());
    vars.insert("IMGFMT".into(), "raw".into());
    let env = TestEnv::from_vars(&vars, "raw");
    for p in [&env.qemu, &env.qemu_img, &env.qemu_io, &env.qsd] {
        if !p.exists() {
            println!("not run: {} not found", p.name);
            return None;
        }
    }
    Some(env)
}

fn message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p.downcast_ref::<&str>().map(|s| s.to_string()).unwrap_or_default(),
    }
}

fn sigkill(pid: i32) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
}

/// Send `sig` to QEMU (`pid`, a child of the test's registry) and wait up to
/// 60 s until it has exited on it: a zombie, as its owner has not reaped it.
fn signal_and_wait_for_exit(pid: i32, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).unwrap();
    let t0 = std::time::Instant::now();
    while std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
        && t0.elapsed() < std::time::Duration::from_secs(60)
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The background qemu-io is killed by someone else; the test carries on
/// and its log no longer matches: the mismatch report names qemu-io and
/// the signal.
#[test]
fn a_killed_background_qemu_io_shows_in_the_snapshot_mismatch() {
    let out = tempfile::tempdir().unwrap();
    let Some(env) = env(out.path()) else { return };
    const SPEC: TestSpec = TestSpec::new("deaths-popen");
    let r = harness::run_script(&SPEC, env, |t| {
        let img = t.file_path("disk");
        t.qemu_img_create(&args!["-f", "raw", &img, "1M"])?;
        let mut bg = t.qemu_io_popen(&["-f", "raw", "-c", "sleep 60000", "-c", "read 0 512", &img])?;
        sigkill(bg.pid());
        let out = bg.communicate(std::time::Duration::from_secs(10))?;
        t.log(out);
        Ok(())
    });
    let Ok(Outcome::Passed { deaths, .. }) = r else { panic!("{r:?}") };
    assert_eq!(deaths.len(), 1, "{deaths:?}");
    assert!(deaths[0].starts_with("qemu-io (pid ") && deaths[0].contains("killed by signal 9 (SIGKILL)"), "{deaths:?}");
    // What the generated test does with it when the snapshot differs.
    let caught = std::panic::catch_unwind(|| harness::assert_with_deaths(&deaths, || panic!("snapshot differs")));
    let msg = message(caught.unwrap_err());
    assert!(msg.starts_with("snapshot differs\n--- processes that died during the test ---\nqemu-io (pid "), "{msg}");
    // Nothing died: the assertion's own message, untouched.
    let caught = std::panic::catch_unwind(|| harness::assert_with_deaths(&[], || panic!("snapshot differs")));
    assert_eq!(message(caught.unwrap_err()), "snapshot differs");
}

/// The storage daemon serving a VM's disk is killed; the VM then fails to
/// launch with "Connection refused". The failure names the daemon.
#[test]
fn a_killed_storage_daemon_is_named_not_only_the_next_vm_failure() {
    let out = tempfile::tempdir().unwrap();
    let Some(env) = env(out.path()) else { return };
    const SPEC: TestSpec = TestSpec::new("deaths-qsd");
    let r = harness::run_script(&SPEC, env, |t| {
        let sock = t.sock_path("nbd.sock");
        let _qsd = t.qemu_storage_daemon(&[
            "--blockdev",
            "null-co,node-name=n0",
            "--nbd-server",
            &format!("addr.type=unix,addr.path={sock}"),
            "--export",
            "nbd,id=e0,node-name=n0",
        ])?;
        sigkill(_qsd.pid());
        let mut vm = t.vm();
        vm.add_blockdev(format!("nbd,node-name=nbd0,server.type=unix,server.path={sock},export=n0"));
        vm.launch()?;
        Ok(())
    });
    let f = r.unwrap_err();
    let text = f.to_string();
    assert!(text.contains("Connection refused") || text.contains("No such file"), "{text}");
    assert!(text.contains("--- processes that died during the test ---\nqemu-storage-daemon (pid "), "{text}");
    assert!(text.contains("was killed by signal 9 (SIGKILL)"), "{text}");
}

/// QEMU killed under a running VM: QMP and qtest say how it ended.
#[test]
fn connection_closed_says_how_qemu_ended() {
    let out = tempfile::tempdir().unwrap();
    let Some(env) = env(out.path()) else { return };
    let t = TestContext::new("deaths-eof", env).unwrap();
    for channel in ["qmp", "qtest"] {
        let mut vm = t.vm();
        vm.launch().unwrap();
        let pid = vm.get_pid().unwrap();
        sigkill(pid);
        let e = match channel {
            "qmp" => vm.qmp("query-status", ()).unwrap_err(),
            _ => vm.qtest("readb 0x0").unwrap_err(),
        };
        let text = e.to_string();
        assert!(text.contains(&format!("; qemu (pid {pid}) was killed by signal 9 (SIGKILL)")), "{channel}: {text}");
        let deaths = t.processes().deaths();
        assert!(
            deaths.iter().any(|d| d.starts_with(&format!("qemu (pid {pid}) was killed by signal 9"))),
            "{deaths:?}"
        );
        let _ = vm.shutdown();
        assert!(matches!(e, Error::Qmp(_) | Error::Vm(_)), "{e:?}");
    }
}

/// QEMU stopped by someone else's SIGINT exits by itself (status 0) and
/// hangs up before answering the shutdown's `quit`: the failed shutdown
/// says which QEMU ended and how, not only that the connection closed.
#[test]
fn a_shutdown_whose_quit_finds_qemu_gone_says_how_it_ended() {
    let out = tempfile::tempdir().unwrap();
    let Some(env) = env(out.path()) else { return };
    let t = TestContext::new("deaths-quit", env).unwrap();
    let mut vm = t.vm();
    vm.launch().unwrap();
    let pid = vm.get_pid().unwrap();
    signal_and_wait_for_exit(pid, nix::sys::signal::Signal::SIGINT);
    let text = vm.shutdown().unwrap_err().to_string();
    assert!(text.starts_with("Could not perform graceful shutdown: QMP: "), "{text}");
    assert!(text.contains(&format!("; qemu (pid {pid}) exited with code 0")), "{text}");
}

/// QEMU ends on a SIGTERM it handles itself (status 0): the test's deaths
/// name it all the same — what the next failure (an NBD client refused, a
/// node gone from a query) does not say. A VM the test shut down is not
/// news.
#[test]
fn a_vm_that_exits_on_its_own_is_named() {
    let out = tempfile::tempdir().unwrap();
    let Some(env) = env(out.path()) else { return };
    let t = TestContext::new("deaths-exit", env).unwrap();
    let mut quiet = t.vm_with("quiet");
    quiet.launch().unwrap();
    quiet.shutdown().unwrap();
    let mut vm = t.vm();
    vm.launch().unwrap();
    let pid = vm.get_pid().unwrap();
    signal_and_wait_for_exit(pid, nix::sys::signal::Signal::SIGTERM);
    let deaths = t.processes().deaths();
    assert_eq!(deaths.len(), 1, "{deaths:?}");
    assert!(
        deaths[0].starts_with(&format!("qemu (pid {pid}) exited with code 0 while the test was still using it: ")),
        "{deaths:?}"
    );
    let _ = vm.shutdown();
}
