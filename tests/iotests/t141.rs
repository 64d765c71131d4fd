//! Upstream 141: ejecting BDSs with block jobs still running on them.
//!
//! ```python
//! # group: rw auto quick
//! iotests.script_main(main, supported_fmts=['qcow2', 'qed'],
//!                     supported_protocols=['file'])
//! ```

use iotests::vm::Vm;
use iotests::{Filter, Result, TestContext};
use serde_json::json;

/// Common filters to mask values that vary in the test output.
fn qmp_filters() -> [Filter; 2] {
    [Filter::QmpTestfiles, Filter::QmpImgfmt]
}

/// Python's `with TestCase(name, vm, image_path, cancel_event): body`:
/// `__enter__`, the body, then `__exit__` (also when the body fails).
fn test_case(
    t: &TestContext,
    name: &str,
    vm: &mut Vm,
    image_path: &str,
    cancel_event: &str,
    body: impl FnOnce(&mut Vm) -> Result<()>,
) -> Result<()> {
    // __enter__
    t.log(format!("=== Testing {name} ==="));
    vm.qmp_log_with(
        "blockdev-add",
        json!({
            "node_name": "drv0",
            "driver": t.imgfmt(),
            "file": {"driver": "file", "filename": image_path},
        }),
        &qmp_filters(),
    )?;

    let result = body(vm);

    // __exit__
    // This is expected to fail because the job still exists
    vm.qmp_log_with("blockdev-del", json!({"node_name": "drv0"}), &[Filter::QmpGeneratedNodeIds])?;

    vm.qmp_log("block-job-cancel", json!({"device": "job0"}))?;
    let event = vm.event_wait(cancel_event)?;
    t.log_with(event, &[Filter::QmpEvent]);

    // This time it succeeds
    vm.qmp_log("blockdev-del", json!({"node_name": "drv0"}))?;

    // Separate test cases in output
    t.log("");
    result
}

iotests::iotest! {
    name: "141", groups: [rw, auto, quick],
    supported_fmts: ["qcow2", "qed"],
    supported_protocols: ["file"],
    fn t141(t) {
        let paths = t.scoped_file_paths(["bottom", "middle", "top", "target"]);
        let [bottom_path, middle_path, top_path, target_path] = &*paths;
        let mut vm = t.vm();

        t.log("Creating bottom <- middle <- top backing file chain...");
        let image_size = "1M";
        t.qemu_img_create(&["-f", t.imgfmt(), bottom_path, image_size])?;
        t.qemu_img_create(&["-f", t.imgfmt(), "-F", t.imgfmt(), "-b", bottom_path, middle_path, image_size])?;
        t.qemu_img_create(&["-f", t.imgfmt(), "-F", t.imgfmt(), "-b", middle_path, top_path, image_size])?;

        t.log("Starting VM...");
        vm.add_args(["-nodefaults"]);
        vm.launch()?;

        // drive-backup will not send BLOCK_JOB_READY by itself, and cancelling
        // the job will consequently result in BLOCK_JOB_CANCELLED being
        // emitted.
        test_case(t, "drive-backup", &mut vm, top_path, "BLOCK_JOB_CANCELLED", |vm| {
            vm.qmp_log_with(
                "drive-backup",
                json!({
                    "job_id": "job0",
                    "device": "drv0",
                    "target": target_path,
                    "format": t.imgfmt(),
                    "sync": "none",
                }),
                &qmp_filters(),)?;
            Ok(())
        })?;

        // drive-mirror will send BLOCK_JOB_READY basically immediately, and
        // cancelling the job will consequently result in BLOCK_JOB_COMPLETED
        // being emitted.
        test_case(t, "drive-mirror", &mut vm, top_path, "BLOCK_JOB_COMPLETED", |vm| {
            vm.qmp_log_with(
                "drive-mirror",
                json!({
                    "job_id": "job0",
                    "device": "drv0",
                    "target": target_path,
                    "format": t.imgfmt(),
                    "sync": "none",
                }),
                &qmp_filters(),)?;
            let event = vm.event_wait("BLOCK_JOB_READY")?;
            t.log_with(event, &[Filter::QmpEvent]);
            Ok(())
        })?;

        // An active block-commit will send BLOCK_JOB_READY basically
        // immediately, and cancelling the job will consequently result in
        // BLOCK_JOB_COMPLETED being emitted.
        test_case(t, "active block-commit", &mut vm, top_path, "BLOCK_JOB_COMPLETED", |vm| {
            vm.qmp_log("block-commit", json!({"job_id": "job0", "device": "drv0"}))?;
            let event = vm.event_wait("BLOCK_JOB_READY")?;
            t.log_with(event, &[Filter::QmpEvent]);
            Ok(())
        })?;

        // Give block-commit something to work on, otherwise it would be done
        // immediately, send a BLOCK_JOB_COMPLETED and ejecting the BDS would
        // work just fine without the block job still running.
        t.qemu_io(&[middle_path.as_str(), "-c", &format!("write 0 {image_size}")])?;
        test_case(t, "non-active block-commit", &mut vm, top_path, "BLOCK_JOB_CANCELLED", |vm| {
            vm.qmp_log_with(
                "block-commit",
                json!({"job_id": "job0", "device": "drv0", "top": middle_path, "speed": 1}),
                &[Filter::QmpTestfiles],)?;
            Ok(())
        })?;

        // Give block-stream something to work on, otherwise it would be done
        // immediately, send a BLOCK_JOB_COMPLETED and ejecting the BDS would
        // work just fine without the block job still running.
        t.qemu_io(&[bottom_path.as_str(), "-c", &format!("write 0 {image_size}")])?;
        test_case(t, "block-stream", &mut vm, top_path, "BLOCK_JOB_CANCELLED", |vm| {
            vm.qmp_log("block-stream", json!({"job_id": "job0", "device": "drv0", "speed": 1}))?;
            Ok(())
        })?;

        vm.shutdown()
    }
}
