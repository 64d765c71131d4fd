//! Upstream 304: dirty-bitmap backup with unaligned bitmap granularity.
//!
//! ```python
//! # group: rw quick
//! iotests.script_initialize(supported_fmts=['qcow2'],
//!                           supported_protocols=['file'])
//! ```

use std::time::Duration;

use iotests::args;
use iotests::vm::EventWait;
use serde_json::json;

iotests::iotest! {
    name: "304", groups: [rw, quick],
    supported_fmts: ["qcow2"],
    supported_protocols: ["file"],
    fn t304(t) {
        let test_img = t.file_path("test.qcow2");
        let target_img = t.file_path("target.qcow2");

        // unaligned by one byte
        let image_len = 4097;
        let _bitmap_granularity = 4096;

        t.qemu_img_create(&args!["-f", t.imgfmt(), &test_img, image_len])?;

        // create VM
        let mut vm = t.vm();
        vm.add_drive(&test_img);
        vm.launch()?;

        // write to the entire image
        vm.hmp_qemu_io("drive0", "write -P0x16 0 4096")?;
        vm.hmp_qemu_io("drive0", "write -P0x17 4096 1")?;

        // do backup and wait for completion
        vm.qmp("drive-backup", json!({
            "device": "drive0",
            "sync": "full",
            "target": target_img,
        }))?;

        let _event = vm.event_wait_with(
            "BLOCK_JOB_COMPLETED", EventWait { timeout: Duration::from_secs_f64(5.0).into(), match_: Some(json!({"data": {"device": "drive0"}})) },)?;

        // shutdown to sync images
        vm.shutdown()?;

        // backup succeeded, check if image is correct
        t.qemu_img_log(&["compare", &test_img, &target_img])?;
        Ok(())
    }
}
