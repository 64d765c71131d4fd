//! Jobs against a real QEMU: `blockdev-create` through `run_job` (with the
//! exact lines iotests logs), mirror jobs through QMPTestCase's waits, the
//! block graph helpers.

mod common;

use iotests::vm::testcase::assert_qmp;
use iotests::vm::{CancelAndWait, Drive, RunJobOptions, Vm};
use iotests::{Error, TestContext};
use serde_json::json;

fn ctx(name: &str) -> Option<TestContext> {
    common::context(name, "qcow2", &[], &["QEMU_PROG"])
}

/// A slice of iotests 206 (qcow2 blockdev-create), logged as iotests logs it.
#[test]
fn blockdev_create_logs_like_iotests_206() {
    let Some(t) = ctx("vm-blockdev-create") else { return };
    let disk_path = t.file_path("t.qcow2");
    let mut vm = t.vm();
    vm.launch().unwrap();

    t.log("=== Successful image creation (defaults) ===");
    t.log("");
    let size = 128u64 << 20;
    let r = vm.blockdev_create(json!({"driver": "file", "filename": disk_path, "size": 0})).unwrap();
    assert_eq!(r, None);
    vm.qmp_log_with(
        "blockdev-add",
        json!({"driver": "file", "filename": disk_path, "node_name": "imgfile"}),
        &[iotests::Filter::QmpTestfiles],
    )
    .unwrap();
    vm.blockdev_create(json!({"driver": "qcow2", "file": "imgfile", "size": size})).unwrap();

    t.log("=== Invalid BlockdevRef ===");
    t.log("");
    let r = vm.blockdev_create(json!({"driver": "qcow2", "file": "this doesn't exist", "size": size / 4})).unwrap();
    assert_eq!(r, Some(json!("Cannot find device='this doesn't exist' nor node-name='this doesn't exist'")));

    t.log("=== Invalid sizes ===");
    let r = vm.blockdev_create(json!({"driver": "qcow2", "file": "imgfile", "size": 1234})).unwrap();
    assert_eq!(r, Some(json!("Image size must be a multiple of 512 bytes")));

    // A command that fails to start returns its error object.
    let r = vm.blockdev_create(json!({"driver": "nope"})).unwrap().unwrap();
    assert_eq!(r["class"], "GenericError");
    vm.shutdown().unwrap();

    let expected = r#"=== Successful image creation (defaults) ===

{"execute": "blockdev-create", "arguments": {"job-id": "job0", "options": {"driver": "file", "filename": "TEST_DIR/PID-t.qcow2", "size": 0}}}
{"return": {}}
{"execute": "job-dismiss", "arguments": {"id": "job0"}}
{"return": {}}

{"execute": "blockdev-add", "arguments": {"driver": "file", "filename": "TEST_DIR/PID-t.qcow2", "node-name": "imgfile"}}
{"return": {}}
{"execute": "blockdev-create", "arguments": {"job-id": "job0", "options": {"driver": "qcow2", "file": "imgfile", "size": 134217728}}}
{"return": {}}
{"execute": "job-dismiss", "arguments": {"id": "job0"}}
{"return": {}}

=== Invalid BlockdevRef ===

{"execute": "blockdev-create", "arguments": {"job-id": "job0", "options": {"driver": "qcow2", "file": "this doesn't exist", "size": 33554432}}}
{"return": {}}
Job failed: Cannot find device='this doesn't exist' nor node-name='this doesn't exist'
{"execute": "job-dismiss", "arguments": {"id": "job0"}}
{"return": {}}

=== Invalid sizes ===
{"execute": "blockdev-create", "arguments": {"job-id": "job0", "options": {"driver": "qcow2", "file": "imgfile", "size": 1234}}}
{"return": {}}
Job failed: Image size must be a multiple of 512 bytes
{"execute": "job-dismiss", "arguments": {"id": "job0"}}
{"return": {}}

{"execute": "blockdev-create", "arguments": {"job-id": "job0", "options": {"driver": "nope"}}}
{"error": {"class": "GenericError", "desc": "Parameter 'driver' does not accept value 'nope'"}}

"#;
    assert_eq!(t.contents(), expected);
}

/// `run_job` with manual finalization: pre_finalize runs, then the job is
/// finalized (or cancelled) and dismissed, all logged.
#[test]
fn run_job_manual_finalize_and_cancel() {
    let Some(t) = ctx("vm-run-job") else { return };
    let mut vm = t.vm();
    vm.add_blockdev("driver=null-co,node-name=src,size=1048576");
    vm.add_blockdev("driver=null-co,node-name=tgt,size=1048576");
    vm.launch().unwrap();
    for cancel in [false, true] {
        vm.qmp_log(
            "blockdev-backup",
            json!({"job_id": "j", "device": "src", "target": "tgt", "sync": "full", "auto_finalize": false, "auto_dismiss": false}),)
        .unwrap();
        let mut called = 0;
        let mut pre = |vm: &mut iotests::vm::Vm| {
            called += 1;
            vm.logger().log("pre_finalize");
            Ok(())
        };
        let r = vm
            .run_job_with(
                "j",
                RunJobOptions { auto_finalize: false, pre_finalize: Some(&mut pre), cancel, ..Default::default() },
            )
            .unwrap();
        assert_eq!(called, 1);
        if cancel {
            assert_eq!(r.as_deref(), Some("Operation canceled"));
        } else {
            assert_eq!(r, None);
        }
    }
    vm.shutdown().unwrap();
    let ev = |ty: &str| {
        format!(
            r#"{{"data": {{"device": "j", "len": 1048576, "offset": 1048576, "speed": 0, "type": "backup"}}, "event": "{ty}", "timestamp": {{"microseconds": "USECS", "seconds": "SECS"}}}}"#
        )
    };
    // As in iotests' golden output (e.g. 040): JOB_STATUS_CHANGE "pending"
    // comes before BLOCK_JOB_PENDING, so the job is finalized first.
    let start = r#"{"execute": "blockdev-backup", "arguments": {"auto-dismiss": false, "auto-finalize": false, "device": "src", "job-id": "j", "sync": "full", "target": "tgt"}}
{"return": {}}
pre_finalize
"#;
    let pending = r#"{"data": {"id": "j", "type": "backup"}, "event": "BLOCK_JOB_PENDING", "timestamp": {"microseconds": "USECS", "seconds": "SECS"}}"#;
    let dismiss = "{\"execute\": \"job-dismiss\", \"arguments\": {\"id\": \"j\"}}\n{\"return\": {}}\n";
    let expected = format!(
        "{start}{{\"execute\": \"job-finalize\", \"arguments\": {{\"id\": \"j\"}}}}\n{{\"return\": {{}}}}\n{pending}\n{}\n{dismiss}\
         {start}{{\"execute\": \"job-cancel\", \"arguments\": {{\"id\": \"j\"}}}}\n{{\"return\": {{}}}}\n{pending}\n\
         Job failed: Operation canceled\n{}\n{dismiss}",
        ev("BLOCK_JOB_COMPLETED"),
        ev("BLOCK_JOB_CANCELLED"),
    );
    assert_eq!(t.contents(), expected);
}

/// `run_job_in`: the pre_finalize hook is a "method" of the object owning
/// the VM (155's `pre_finalize=self.openBacking`, which subclasses
/// override): it gets the whole object, reads its attributes and drives its
/// VM, and the job is finalized after it.
#[test]
fn run_job_in_lends_the_owner_to_pre_finalize() {
    struct Owner {
        vm: iotests::vm::Vm,
        node_name: &'static str,
        calls: u32,
    }
    fn open_backing(s: &mut Owner) -> iotests::Result<()> {
        s.calls += 1;
        s.vm.cmd("blockdev-add", json!({"node-name": s.node_name, "driver": "null-co"}))?;
        Ok(())
    }
    let Some(t) = ctx("vm-run-job-in") else { return };
    let mut s = Owner { vm: t.vm(), node_name: "backing", calls: 0 };
    s.vm.add_blockdev("driver=null-co,node-name=src,size=1048576");
    s.vm.add_blockdev("driver=null-co,node-name=tgt,size=1048576");
    s.vm.launch().unwrap();
    s.vm.cmd(
        "blockdev-backup",
        json!({"job-id": "j", "device": "src", "target": "tgt", "sync": "full", "auto-finalize": false, "auto-dismiss": false}),
    )
    .unwrap();
    let mut hook = open_backing;
    let opts = RunJobOptions { auto_finalize: false, pre_finalize: Some(&mut hook), ..Default::default() };
    assert_eq!(Vm::run_job_in(&mut s, |s| &mut s.vm, "j", opts).unwrap(), None);
    assert_eq!(s.calls, 1);
    s.vm.assert_has_block_node(Some("backing"), None).unwrap();

    // An error in the hook is the job's caller's, as an exception in a
    // pre_finalize method propagates out of run_job.
    s.vm.cmd(
        "blockdev-backup",
        json!({"job-id": "k", "device": "src", "target": "tgt", "sync": "full", "auto-finalize": false, "auto-dismiss": false}),
    )
    .unwrap();
    let mut hook = open_backing; // "backing" exists now: blockdev-add fails
    let opts = RunJobOptions { auto_finalize: false, pre_finalize: Some(&mut hook), ..Default::default() };
    let e = Vm::run_job_in(&mut s, |s| &mut s.vm, "k", opts).unwrap_err();
    assert!(e.to_string().contains("Duplicate nodes with node-name='backing'"), "{e}");
    assert_eq!(s.calls, 2);
    s.vm.shutdown().unwrap();
    // The hook ran before job-finalize (its blockdev-add is not logged: `cmd`);
    // the failed hook left job k unfinalized, and nothing logged about it.
    let log = t.contents();
    assert!(
        log.starts_with("{\"execute\": \"job-finalize\", \"arguments\": {\"id\": \"j\"}}\n{\"return\": {}}\n"),
        "{log}"
    );
    assert!(
        log.ends_with("{\"execute\": \"job-dismiss\", \"arguments\": {\"id\": \"j\"}}\n{\"return\": {}}\n"),
        "{log}"
    );
    assert!(!log.contains("\"k\""), "{log}");
}

/// Mirror jobs through QMPTestCase's waits, and the graph helpers.
#[test]
fn mirror_complete_cancel_pause() {
    let Some(t) = ctx("vm-mirror") else { return };
    let src = t.file_path("src.img");
    std::fs::File::create(&src).unwrap().set_len(4 << 20).unwrap();
    let mut vm = t.vm();
    vm.add_drive_with(&src, Drive { opts: "node-name=src".into(), interface: "none", img_format: Some("raw") });
    vm.add_blockdev("driver=null-co,node-name=tgt,size=4194304");
    vm.launch().unwrap();
    vm.assert_has_block_node(Some("src"), None).unwrap();
    vm.assert_has_block_node(None, Some(&src)).unwrap();
    let e = vm.assert_has_block_node(Some("nope"), None).unwrap_err().to_string();
    assert!(e.starts_with("Cannot find nope None in result:\n{'return': [{"), "{e}");
    let msg = |r: iotests::Result<()>| r.unwrap_err().to_string();
    let e = msg(vm.assert_block_path("src", "/file", Some("nope"), None));
    assert!(e.starts_with("Found node #block") && e.ends_with(" under /file (but expected nope)"), "{e}");
    assert_eq!(msg(vm.assert_block_path("nope", "/file", None, None)), "Root node nope not found");
    assert_eq!(msg(vm.assert_block_path("src", "/file/x/y", None, None)), "Cannot follow path src/file/x/y");
    assert_eq!(msg(vm.assert_block_path("src", "/x", Some("y"), None)), "No node found under /x (but expected y)");
    vm.assert_block_path("src", "/x", None, None).unwrap();
    vm.assert_no_active_block_jobs().unwrap();

    let mirror = |vm: &mut iotests::vm::Vm| {
        let r = vm
            .qmp("blockdev-mirror", json!({"job-id": "drive0", "device": "src", "target": "tgt", "sync": "full"}))
            .unwrap();
        assert_qmp(&r, "return", json!({})).unwrap();
    };
    mirror(&mut vm);
    vm.complete_and_wait().unwrap();
    // The target replaced the source under the device.
    vm.assert_block_path("tgt", "/backing", None, None).unwrap();

    vm.cmd("blockdev-add", json!({"driver": "null-co", "node-name": "tgt2", "size": 4194304})).unwrap();
    let r = vm
        .qmp("blockdev-mirror", json!({"job-id": "drive0", "device": "tgt", "target": "tgt2", "sync": "full"}))
        .unwrap();
    assert_qmp(&r, "return", json!({})).unwrap();
    vm.wait_ready_and_cancel().unwrap();

    let r = vm
        .qmp("blockdev-mirror", json!({"job-id": "drive0", "device": "tgt", "target": "tgt2", "sync": "full"}))
        .unwrap();
    assert_qmp(&r, "return", json!({})).unwrap();
    vm.wait_ready().unwrap();
    vm.pause_job_with("drive0").unwrap();
    let jobs = vm.qmp("query-block-jobs", ()).unwrap();
    assert_qmp(&jobs, "return[0]/paused", true).unwrap();
    vm.cmd("block-job-resume", json!({"device": "drive0"})).unwrap();
    let ev = vm.cancel_and_wait_with(CancelAndWait { force: true, ..Default::default() }).unwrap();
    assert!(ev["event"] == "BLOCK_JOB_CANCELLED" || ev["event"] == "BLOCK_JOB_COMPLETED", "{ev}");
    assert!(matches!(assert_qmp(&ev, "data/device", "drive1"), Err(Error::Assertion { .. })));
    vm.shutdown().unwrap();
}

/// iotests' blkdebug pattern: pause a drive, start a job that gets stuck on
/// it, cancel with `resume`.
#[test]
fn paused_drive_and_cancel_with_resume() {
    let Some(t) = ctx("vm-pause-drive") else { return };
    let [src, dst] = t.file_paths(["src.img", "dst.img"]);
    std::fs::File::create(&src).unwrap().set_len(4 << 20).unwrap();
    let mut vm = t.vm();
    vm.add_drive_with(
        format!("blkdebug::{src}"),
        Drive { interface: "none", img_format: Some("raw"), ..Default::default() },
    );
    vm.launch().unwrap();
    // (A qemu-io read on a paused drive would block the monitor.)
    let r = vm.hmp_qemu_io("drive0", "write -P 0x11 0 4k").unwrap();
    assert_qmp(&r, "return", "").unwrap();
    vm.pause_drive("drive0").unwrap();
    let r = vm
        .qmp(
            "drive-mirror",
            json!({"device": "drive0", "target": dst, "sync": "full", "format": "raw", "mode": "absolute-paths"}),
        )
        .unwrap();
    assert_qmp(&r, "return", json!({})).unwrap();
    let jobs = vm.cmd("query-block-jobs", ()).unwrap();
    assert_eq!(jobs[0]["ready"], false, "{jobs}");
    let ev = vm.cancel_and_wait_with(CancelAndWait { force: true, resume: true, ..Default::default() }).unwrap();
    assert_qmp(&ev, "data/device", "drive0").unwrap();
    vm.resume_drive("drive0").unwrap();
    vm.shutdown().unwrap();
}
