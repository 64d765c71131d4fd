//! Upstream 238: regression test for throttle group member unregister
//! segfault with iothread.
//!
//! ```python
//! # group: quick
//! iotests.script_initialize()
//! ```

use serde_json::json;

iotests::iotest! {
    name: "238", groups: [quick],
    fn t238(t) {
        let mut vm = t.vm();
        vm.launch()?;

        t.log(vm.qmp("blockdev-add", json!({"node-name": "hd0", "driver": "null-co", "read-zeroes": true}))?);
        t.log(vm.qmp("object-add", json!({"qom-type": "iothread", "id": "iothread0"}))?);
        t.log(vm.qmp("device_add", json!({"id": "scsi0", "driver": "virtio-scsi", "iothread": "iothread0"}))?);
        t.log(vm.qmp("device_add", json!({"id": "scsi-hd0", "driver": "scsi-hd", "drive": "hd0"}))?);
        // conv_keys=False: the keys are sent as written.
        t.log(vm.qmp(
            "block_set_io_throttle",
            json!({"id": "scsi-hd0", "bps": 0, "bps_rd": 0, "bps_wr": 0, "iops": 1000, "iops_rd": 0, "iops_wr": 0}),
        )?);
        t.log(vm.qmp("device_del", json!({"id": "scsi-hd0"}))?);

        vm.shutdown()
    }
}
