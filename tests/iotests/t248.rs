//! Upstream 248: mirror with on-target-error=enospc, resumed after the
//! target grows.
//!
//! ```python
//! # group: rw quick
//! iotests.script_initialize(supported_fmts=['qcow2'])
//! ```

use std::time::Duration;

use iotests::Filter;
use iotests::vm::EventWait;
use serde_json::json;

iotests::iotest! {
    name: "248", groups: [rw, quick],
    supported_fmts: ["qcow2"],
    fn t248(t) {
        let [source, target] = t.file_paths(["source", "target"]);
        let size = 5 * 1024 * 1024;
        let limit = 2 * 1024 * 1024;

        t.qemu_img_create(&["-f", t.imgfmt(), &source, &size.to_string()])?;
        t.qemu_img_create(&["-f", t.imgfmt(), &target, &size.to_string()])?;
        t.qemu_io(&["-c", &format!("write 0 {size}"), &source])?;

        // raw format don't like empty files
        t.qemu_io(&["-c", &format!("write 0 {size}"), &target])?;

        let mut vm = t.vm();
        vm.add_drive(&source);
        vm.launch()?;

        let mut blockdev_opts = json!({
            "driver": t.imgfmt(),
            "node-name": "target",
            "file": {
                "driver": "raw",
                "size": limit,
                "file": {
                    "driver": "file",
                    "filename": target
                }
            }
        });
        vm.qmp_log_with("blockdev-add", blockdev_opts.clone(), &[Filter::QmpTestfiles])?;

        vm.qmp_log(
            "blockdev-mirror",
            json!({"device": "drive0", "sync": "full", "target": "target", "on_target_error": "enospc"}),)?;

        vm.event_wait_with("JOB_STATUS_CHANGE", EventWait { timeout: Duration::from_secs_f64(3.0).into(), match_: Some(json!({"data": {"status": "paused"}})) })?;

        // drop other cached events, to not interfere with further wait for 'running'
        vm.get_qmp_events()?;

        if let Some(file) = blockdev_opts["file"].as_object_mut() {
            file.remove("size");
        }
        vm.qmp_log_with("blockdev-reopen", json!({"options": [blockdev_opts]}), &[Filter::QmpTestfiles])?;

        vm.qmp_log("block-job-resume", json!({"device": "drive0"}))?;
        vm.event_wait_with("JOB_STATUS_CHANGE", EventWait { timeout: Duration::from_secs_f64(1.0).into(), match_: Some(json!({"data": {"status": "running"}})) })?;

        vm.shutdown()
    }
}
