//! Upstream 203: QMP `migrate` with multiple drives on a single IOThread
//! completes successfully.
//!
//! ```python
//! # group: rw auto migration quick
//! iotests.script_initialize(supported_fmts=['qcow2'],
//!                           supported_platforms=['linux'])
//! ```

use iotests::vm::Drive;
use iotests::vm::testcase::dictpath;
use iotests::{Filter, args};
use serde_json::json;

iotests::iotest! {
    name: "203", groups: [rw, auto, migration, quick],
    supported_fmts: ["qcow2"],
    supported_platforms: ["linux"],
    fn t203(t) {
        let disk0_img_path = t.scoped_file_paths(["disk0.img"]);
        let disk1_img_path = t.scoped_file_paths(["disk1.img"]);
        let mut vm = t.vm();

        let img_size = "10M";
        t.qemu_img_create(&args!["-f", t.imgfmt(), &disk0_img_path[0], img_size])?;
        t.qemu_img_create(&args!["-f", t.imgfmt(), &disk1_img_path[0], img_size])?;

        t.log("Launching VM...");
        vm.add_object("iothread,id=iothread0")
            .add_drive_with(&disk0_img_path[0], Drive { opts: "node-name=drive0-node".into(), interface: "none", ..Default::default() })
            .add_drive_with(&disk1_img_path[0], Drive { opts: "node-name=drive1-node".into(), interface: "none", ..Default::default() })
            .launch()?;

        t.log("Setting IOThreads...");
        t.log(vm.qmp(
            "x-blockdev-set-iothread",
            json!({"node-name": "drive0-node", "iothread": "iothread0", "force": true}),
        )?);
        t.log(vm.qmp(
            "x-blockdev-set-iothread",
            json!({"node-name": "drive1-node", "iothread": "iothread0", "force": true}),
        )?);

        t.log("Enabling migration QMP events...");
        t.log(vm.qmp(
            "migrate-set-capabilities",
            json!({"capabilities": [
                {
                    "capability": "events",
                    "state": true
                }
            ]}),
        )?);

        t.log("Starting migration...");
        t.log(vm.qmp("migrate", json!({"uri": "exec:cat >/dev/null"}))?);
        loop {
            let event = vm.event_wait("MIGRATION")?;
            t.log_with(&event, &[Filter::QmpEvent]);
            if dictpath(&event, "data/status")? == "completed" {
                break;
            }
        }

        vm.shutdown()?;
        Ok(())
    }
}
