//! Upstream 208: the runtime NBD server does not crash when stopped after
//! blockdev-snapshot-sync.
//!
//! ```python
//! # group: rw quick
//! iotests.script_initialize(supported_fmts=['generic'])
//! ```

use iotests::args;
use iotests::vm::Drive;
use serde_json::json;

iotests::iotest! {
    name: "208", groups: [rw, quick],
    supported_fmts: ["generic"],
    fn t208(t) {
        let disk_img_path = t.scoped_file_paths(["disk.img"]);
        let disk_snapshot_img_path = t.scoped_file_paths(["disk-snapshot.img"]);
        let nbd_sock_path = t.scoped_file_paths_in(t.sock_dir(), ["nbd.sock"]);
        let mut vm = t.vm();

        let img_size = "10M";
        t.qemu_img_create(&args!["-f", t.imgfmt(), &disk_img_path[0], img_size])?;

        t.log("Launching VM...");
        vm.add_drive_with(&disk_img_path[0], Drive { opts: "node-name=drive0-node".into(), interface: "none", ..Default::default() }).launch()?;

        t.log("Starting NBD server...");
        t.log(vm.qmp(
            "nbd-server-start",
            json!({"addr": {
                "type": "unix",
                "data": {
                    "path": nbd_sock_path[0],
                }
            }}),
        )?);

        t.log("Adding NBD export...");
        t.log(vm.qmp("nbd-server-add", json!({"device": "drive0-node", "writable": true}))?);

        t.log("Creating external snapshot...");
        t.log(vm.qmp(
            "blockdev-snapshot-sync",
            json!({
                "node-name": "drive0-node",
                "snapshot-node-name": "drive0-snapshot-node",
                "snapshot-file": disk_snapshot_img_path[0],
            }),
        )?);

        t.log("Stopping NBD server...");
        t.log(vm.qmp("nbd-server-stop", ())?);

        vm.shutdown()?;
        Ok(())
    }
}
