//! Upstream 202: QMP `transaction` blockdev-snapshot-sync with multiple
//! drives on a single IOThread completes successfully.
//!
//! ```python
//! # group: rw quick
//! iotests.script_initialize(supported_fmts=['qcow2'],
//!                           supported_platforms=['linux'])
//! ```

use iotests::args;
use serde_json::json;

iotests::iotest! {
    name: "202", groups: [rw, quick],
    supported_fmts: ["qcow2"],
    supported_platforms: ["linux"],
    fn t202(t) {
        let disk0_img_path = t.scoped_file_paths(["disk0.img"]);
        let disk1_img_path = t.scoped_file_paths(["disk1.img"]);
        let disk0_snap_img_path = t.scoped_file_paths(["disk0-snap.img"]);
        let disk1_snap_img_path = t.scoped_file_paths(["disk1-snap.img"]);
        let mut vm = t.vm();

        let img_size = "10M";
        t.qemu_img_create(&args!["-f", t.imgfmt(), &disk0_img_path[0], img_size])?;
        t.qemu_img_create(&args!["-f", t.imgfmt(), &disk1_img_path[0], img_size])?;

        t.log("Launching VM...");
        vm.launch()?;

        t.log("Adding IOThread...");
        t.log(vm.qmp("object-add", json!({"qom-type": "iothread", "id": "iothread0"}))?);

        t.log("Adding blockdevs...");
        t.log(vm.qmp(
            "blockdev-add",
            json!({
                "driver": t.imgfmt(),
                "node-name": "disk0",
                "file": {
                    "driver": "file",
                    "filename": disk0_img_path[0],
                },
            }),
        )?);
        t.log(vm.qmp(
            "blockdev-add",
            json!({
                "driver": t.imgfmt(),
                "node-name": "disk1",
                "file": {
                    "driver": "file",
                    "filename": disk1_img_path[0],
                },
            }),
        )?);

        t.log("Setting iothread...");
        t.log(vm.qmp("x-blockdev-set-iothread", json!({"node-name": "disk0", "iothread": "iothread0"}))?);
        t.log(vm.qmp("x-blockdev-set-iothread", json!({"node-name": "disk1", "iothread": "iothread0"}))?);

        t.log("Creating external snapshots...");
        t.log(vm.qmp(
            "transaction",
            json!({
                "actions": [
                    {
                        "data": {
                            "node-name": "disk0",
                            "snapshot-file": disk0_snap_img_path[0],
                            "snapshot-node-name": "disk0-snap",
                            "mode": "absolute-paths",
                            "format": t.imgfmt(),
                        },
                        "type": "blockdev-snapshot-sync"
                    }, {
                        "data": {
                            "node-name": "disk1",
                            "snapshot-file": disk1_snap_img_path[0],
                            "snapshot-node-name": "disk1-snap",
                            "mode": "absolute-paths",
                            "format": t.imgfmt()
                        },
                        "type": "blockdev-snapshot-sync"
                    }
                ]
            }),
        )?);

        vm.shutdown()?;
        Ok(())
    }
}
