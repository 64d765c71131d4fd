//! Migration between two VMs, logged as iotests 234 logs it.

mod common;

use iotests::{Msg, TestContext};
use serde_json::json;

fn ctx(name: &str) -> Option<TestContext> {
    common::context(name, "qcow2", &[], &["QEMU_PROG"])
}

#[test]
fn migration_between_two_vms() {
    let Some(t) = ctx("vm-migration") else { return };
    let sock = t.sock_path("mig.sock");
    let mut vm_a = t.vm_with("a");
    let mut vm_b = t.vm_with("b");
    for vm in [&mut vm_a, &mut vm_b] {
        vm.add_blockdev("null-co,node-name=drive0,size=67108864").add_args(["-m", "32"]);
    }

    t.log("Launching source VM...");
    vm_a.launch().unwrap();
    vm_a.enable_migration_events("A").unwrap();
    t.log("Launching destination VM...");
    vm_b.add_incoming(format!("unix:{sock}")).launch().unwrap();
    vm_b.enable_migration_events("B").unwrap();

    t.log("Starting migration to B...");
    t.log(vm_a.qmp("migrate", json!({"uri": format!("unix:{sock}")})).unwrap());
    assert!(vm_a.wait_migration(Some("postmigrate")).unwrap());
    assert!(vm_b.wait_migration(Some("running")).unwrap());
    for vm in [&mut vm_a, &mut vm_b] {
        let status = vm.qmp("query-migrate", ()).unwrap()["return"]["status"].clone();
        t.log(status);
    }
    for vm in [&mut vm_a, &mut vm_b] {
        t.log(vm.qmp("query-status", ()).unwrap());
    }

    // A migration that cannot connect fails.
    let mut vm_c = t.vm_with("c");
    vm_c.launch().unwrap();
    vm_c.enable_migration_events("C").unwrap();
    vm_c.qmp("migrate", json!({"uri": format!("unix:{}", t.sock_path("nobody-listens"))})).unwrap();
    assert!(!vm_c.wait_migration(Some("postmigrate")).unwrap());

    for vm in [&mut vm_a, &mut vm_b, &mut vm_c] {
        vm.shutdown().unwrap();
    }
    let ev = |s: &str| {
        Msg::Json(json!({"data": {"status": s}, "event": "MIGRATION", "timestamp": {"microseconds": "USECS", "seconds": "SECS"}}))
            .render(None)
    };
    let expected = [
        "Launching source VM...".to_string(),
        "Enabling migration QMP events on A...".into(),
        r#"{"return": {}}"#.into(),
        "Launching destination VM...".into(),
        "Enabling migration QMP events on B...".into(),
        r#"{"return": {}}"#.into(),
        "Starting migration to B...".into(),
        r#"{"return": {}}"#.into(),
        ev("setup"),
        ev("active"),
        ev("device"),
        ev("completed"),
        ev("active"),
        ev("completed"),
        "completed".into(),
        "completed".into(),
        r#"{"return": {"running": false, "status": "postmigrate"}}"#.into(),
        r#"{"return": {"running": true, "status": "running"}}"#.into(),
        "Enabling migration QMP events on C...".into(),
        r#"{"return": {}}"#.into(),
    ];
    let log = t.contents();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines[..expected.len()], expected, "{log}");
    assert_eq!(lines.last().copied(), Some(ev("failed").as_str()), "{log}");
}

/// iotests' `with Timeout(3, 'Migration does not complete'): vm.wait_migration(...)`:
/// a migration into a stream nobody reads never completes, and the wait
/// ends at the deadline with the block's message, not after the 60 s event
/// timeout.
#[test]
fn wait_migration_ends_at_the_timeout_block() {
    let Some(t) = ctx("vm-migration-stuck") else { return };
    let fifo = t.file_path("mig_fifo");
    iotests::tools::mkfifo(&fifo).unwrap();
    let mut vm = t.vm();
    vm.add_args(["-m", "32"]).launch().unwrap();
    vm.enable_migration_events("A").unwrap();
    // `cat >fifo` blocks in open(): no reader ever comes.
    vm.qmp("migrate", json!({"uri": format!("exec:cat >{fifo}")})).unwrap();
    let start = std::time::Instant::now();
    let err = iotests::tools::with_timeout(0.5, "Migration does not complete", |d| {
        vm.wait_migration_until(Some("postmigrate"), Some(d))
    })
    .unwrap_err();
    assert!(start.elapsed() < std::time::Duration::from_secs(5), "waited {:?}", start.elapsed());
    assert!(err.to_string().contains("Migration does not complete"), "{err}");
    vm.shutdown_with(true, std::time::Duration::from_secs(5)).unwrap();
    // Release QEMU's `cat`, still blocked opening the fifo for writing: it
    // then reads EOF from its dead parent and exits.
    use std::os::unix::fs::OpenOptionsExt;
    let reader = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&fifo).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    drop(reader);
}

/// iotests' `wait_migration(None)` (migration-permissions): no run state
/// to wait for — it returns once the migration completed, on either side,
/// whatever state the VM is in then.
#[test]
fn wait_migration_without_runstate() {
    let Some(t) = ctx("vm-migration-no-runstate") else { return };
    let sock = t.sock_path("mig.sock");
    let mut vm_a = t.vm_with("a");
    let mut vm_b = t.vm_with("b");
    for vm in [&mut vm_a, &mut vm_b] {
        vm.add_blockdev("null-co,node-name=drive0,size=67108864").add_args(["-m", "32"]);
    }
    vm_a.launch().unwrap();
    vm_a.enable_migration_events("A").unwrap();
    vm_b.add_incoming(format!("unix:{sock}")).launch().unwrap();
    vm_b.enable_migration_events("B").unwrap();
    vm_a.qmp("migrate", json!({"uri": format!("unix:{sock}")})).unwrap();
    let start = std::time::Instant::now();
    assert!(vm_a.wait_migration(None).unwrap());
    assert!(vm_b.wait_migration(None).unwrap());
    assert!(start.elapsed() < std::time::Duration::from_secs(30), "waited {:?}", start.elapsed());
    for vm in [&mut vm_a, &mut vm_b] {
        vm.shutdown().unwrap();
    }
}
