//! Upstream 235: mirror dead-lock with a throttled target (kvm, no qtest).
//!
//! ```python
//! # group: quick
//! iotests.script_initialize(supported_fmts=['qcow2'])
//! ```

use std::time::Duration;

use serde_json::json;

iotests::iotest! {
    name: "235", groups: [quick],
    supported_fmts: ["qcow2"],
    fn t235(t) {
        // Note:
        // This test was added to check that mirror dead-lock was fixed (see previous
        // commit before this test addition).
        // And it didn't reproduce if at least one of the following:
        // 1. use small image size
        // 2. use raw format (not qcow2)
        // 3. drop kvm and use iotests.VM() (maybe, because of qtest) (however, it still
        //    reproduces, if just drop kvm, but gdb failed to produce full backtraces
        //    for me)
        // 4. add iothread

        let size: u64 = 1024 * 1024 * 1024;

        let disk = t.file_path("disk");

        // prepare source image
        t.qemu_img_create(&["-f", t.imgfmt(), "-o", "preallocation=metadata", &disk, &size.to_string()])?;

        let mut vm = t.qemu_machine();
        vm.add_args(["-accel", "kvm", "-accel", "tcg"]);
        if iotests::globals::qemu_default_machine() == "s390-ccw-virtio" {
            vm.add_args(["-no-shutdown"]);
        }
        vm.add_args(["-drive", &format!("id=src,file={disk}")]);
        vm.launch()?;

        t.log(vm.qmp("object-add", json!({"qom-type": "throttle-group", "id": "tg0", "limits": {"bps-total": size}}))?);

        t.log(vm.qmp(
            "blockdev-add",
            json!({
                "node-name": "target",
                "driver": "throttle",
                "throttle-group": "tg0",
                "file": {
                    "driver": "null-co",
                    "size": size
                }
            }),
        )?);

        t.log(vm.qmp("blockdev-mirror", json!({"device": "src", "target": "target", "sync": "full"}))?);

        if let Err(e) = vm.event_wait_with("BLOCK_JOB_READY", Duration::from_secs_f64(10.0)) {
            vm.shutdown()?;
            return Err(e);
        }

        vm.shutdown()
    }
}
