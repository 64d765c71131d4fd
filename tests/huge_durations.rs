//! No API panics on a huge duration (`Duration::MAX`, `1e30` seconds):
//! "as long as it takes" is a legitimate thing to ask for, and must not
//! overflow an `Instant`.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use iotests::env::TestEnv;
use iotests::process::{ProcessRegistry, RunOptions, run};
use iotests::qmp::{QmpClient, Wait};
use iotests::tools::{Deadline, ToolOpts, with_timeout};
use iotests::{TestContext, args};

const HUGE: Duration = Duration::MAX;

#[test]
fn processes_and_deadlines() {
    let reg = Arc::new(ProcessRegistry::default());
    let opts = RunOptions { timeout: HUGE, ..Default::default() };
    let out = run("echo", &["echo".to_string(), "hi".to_string()], &opts, &reg).unwrap();
    assert_eq!(out.stdout, "hi\n");
    let mut cmd = std::process::Command::new("true");
    cmd.arg("x");
    let mut child = iotests::process::spawn("true", cmd, &reg).unwrap();
    assert!(child.wait_timeout(HUGE).unwrap().is_some());
    assert!(!Deadline::after(HUGE, "x").expired());
    assert!(!Deadline::seconds(1e30, "x").expired());
    assert_eq!(with_timeout(1e30, "x", |_| Ok(1)).unwrap(), 1);
    assert_eq!(with_timeout(f64::INFINITY, "x", |_| Ok(1)).unwrap(), 1);
}

#[test]
fn time_sleep_with_an_absurd_length_sleeps_instead_of_panicking() {
    let sleeper = std::thread::spawn(|| iotests::os::sleep(1e30));
    std::thread::sleep(Duration::from_millis(200));
    // A panic would have ended the thread at once.
    assert!(!sleeper.is_finished());
    iotests::os::sleep(f64::NAN);
    iotests::os::sleep(0.0);
}

#[test]
fn qmp_waits() {
    let (ours, mut theirs) = UnixStream::pair().unwrap();
    let mut qmp = QmpClient::from_stream(ours);
    qmp.set_default_timeout(HUGE);
    writeln!(theirs, r#"{{"event": "STOP"}}"#).unwrap();
    writeln!(theirs, r#"{{"return": {{}}}}"#).unwrap();
    assert_eq!(qmp.qmp("stop", ()).unwrap()["return"], serde_json::json!({}));
    assert_eq!(qmp.event_wait("STOP", HUGE, None).unwrap()["event"], "STOP");
    writeln!(theirs, r#"{{"event": "RESUME"}}"#).unwrap();
    assert!(qmp.get_event(Wait::from(1e30)).unwrap().is_some());
    assert!(QmpClient::connect("/nonexistent/x", Duration::from_millis(10)).is_err());
}

#[test]
fn tools_and_vms() {
    let env = TestEnv::from_process_env("raw");
    if !env.qemu.exists() || !env.qemu_io.exists() || !env.qemu_img.exists() {
        println!("not run: QEMU not installed");
        return;
    }
    let t = TestContext::new("huge-durations", env).unwrap();
    let img = t.file_path("disk");
    t.qemu_img_create(&args!["-f", "raw", &img, "1M"]).unwrap();
    let opts = ToolOpts { timeout: HUGE, ..ToolOpts::default() };
    t.qemu_tool("qemu-img", &args![t.env().qemu_img.get().unwrap(), "info", &img], &opts).unwrap();

    let mut qio = t.qemu_io_interactive(&["-f", "raw", &img]).unwrap();
    qio.set_timeout(HUGE);
    assert!(qio.cmd("read 0 512").unwrap().contains("read 512/512"));
    assert_eq!(qio.close().unwrap(), 0);

    let mut bg = t.qemu_io_popen(&["-f", "raw", "-c", "read 0 512", &img]).unwrap();
    assert_eq!(bg.wait(HUGE).unwrap(), 0);

    let sock = t.sock_path("fi.sock");
    let conf = t.file_path("fi.conf");
    std::fs::write(&conf, "[inject-error]\nevent=data\n").unwrap();
    let mut fi = t.nbd_fault_injector(&[&sock, &conf]);
    assert!(fi.readline(HUGE).unwrap().starts_with("Listening on "));
    fi.kill();
    assert_eq!(fi.wait(HUGE).unwrap(), -9);

    let mut vm = t.vm();
    vm.launch().unwrap();
    vm.shutdown_with(false, HUGE).unwrap();
    vm.launch().unwrap();
    vm.qmp("quit", ()).unwrap();
    vm.wait(HUGE).unwrap();
}
