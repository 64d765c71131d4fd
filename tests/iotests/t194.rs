//! Upstream 194: non-shared storage migration test using NBD server and
//! drive-mirror.
//!
//! ```python
//! # group: rw migration quick
//! iotests.script_initialize(supported_fmts=['qcow2', 'qed', 'raw'],
//!                           supported_platforms=['linux'])
//! ```

use iotests::vm::testcase::dictpath;
use iotests::{Filter, args};
use serde_json::json;

iotests::iotest! {
    name: "194", groups: [rw, migration, quick],
    supported_fmts: ["qcow2", "qed", "raw"],
    supported_platforms: ["linux"],
    fn t194(t) {
        let source_img_path = t.scoped_file_paths(["source.img"]);
        let dest_img_path = t.scoped_file_paths(["dest.img"]);
        let socks = t.scoped_file_paths_in(t.sock_dir(), ["migration.sock", "nbd.sock"]);
        let (migration_sock_path, nbd_sock_path) = (&socks[0], &socks[1]);
        let mut source_vm = t.vm_with("source");
        let mut dest_vm = t.vm_with("dest");

        let img_size = "1G";
        t.qemu_img_create(&args!["-f", t.imgfmt(), &source_img_path[0], img_size])?;
        t.qemu_img_create(&args!["-f", t.imgfmt(), &dest_img_path[0], img_size])?;

        t.log("Launching VMs...");
        source_vm.add_drive(&source_img_path[0]).launch()?;
        dest_vm.add_drive(&dest_img_path[0]).add_incoming(format!("unix:{migration_sock_path}")).launch()?;

        source_vm.qmp_log("block-dirty-bitmap-add", json!({"node": "drive0", "name": "bitmap0"}))?;

        t.log("Launching NBD server on destination...");
        t.log(dest_vm.qmp("nbd-server-start", json!({"addr": {"type": "unix", "data": {"path": nbd_sock_path}}}))?);
        t.log(dest_vm.qmp("nbd-server-add", json!({"device": "drive0", "writable": true}))?);

        t.log("Starting `drive-mirror` on source...");
        t.log(source_vm.qmp(
            "drive-mirror",
            json!({
                "device": "drive0",
                "target": format!("nbd+unix:///drive0?socket={nbd_sock_path}"),
                "sync": "full",
                "format": "raw", // always raw, the server handles the format
                "mode": "existing",
                "job-id": "mirror-job0",
            }),
        )?);

        t.log("Waiting for `drive-mirror` to complete...");
        t.log_with(source_vm.event_wait("BLOCK_JOB_READY")?, &[Filter::QmpEvent]);

        t.log("Starting migration...");
        let capabilities = json!([{"capability": "events", "state": true},
                                  {"capability": "dirty-bitmaps", "state": true}]);
        source_vm.qmp("migrate-set-capabilities", json!({"capabilities": capabilities}))?;
        dest_vm.qmp("migrate-set-capabilities", json!({"capabilities": capabilities}))?;
        t.log(source_vm.qmp("migrate", json!({"uri": format!("unix:{migration_sock_path}")}))?);

        source_vm.qmp_log("migrate-start-postcopy", json!({}))?;

        loop {
            let event1 = source_vm.event_wait("MIGRATION")?;
            if dictpath(&event1, "data/status")? == "postcopy-active" {
                // This event is racy, it depends do we really do postcopy or bitmap
                // was migrated during downtime (and no data to migrate in postcopy
                // phase). So, don't log it.
                continue;
            }
            t.log_with(&event1, &[Filter::QmpEvent]);
            let status = dictpath(&event1, "data/status")?;
            if status == "completed" || status == "failed" {
                t.log("Gracefully ending the `drive-mirror` job on source...");
                t.log(source_vm.qmp("block-job-cancel", json!({"device": "mirror-job0"}))?);
                break;
            }
        }

        loop {
            let event2 = source_vm.event_wait("BLOCK_JOB_COMPLETED")?;
            t.log_with(&event2, &[Filter::QmpEvent]);
            if dictpath(&event2, "event")? == "BLOCK_JOB_COMPLETED" {
                t.log("Stopping the NBD server on destination...");
                t.log(dest_vm.qmp("nbd-server-stop", ())?);
                break;
            }
        }

        t.log("Wait for migration completion on target...");
        let completed = json!({"data": {"status": "completed"}});
        let failed = json!({"data": {"status": "failed"}});
        let migr_events = [("MIGRATION", Some(&completed)), ("MIGRATION", Some(&failed))];
        let event = dest_vm.events_wait(&migr_events)?;
        t.log_with(event, &[Filter::QmpEvent]);

        t.log("Check bitmaps on source:");
        t.log(dictpath(&source_vm.qmp("query-block", ())?, "return[0]/inserted/dirty-bitmaps")?);

        t.log("Check bitmaps on target:");
        t.log(dictpath(&dest_vm.qmp("query-block", ())?, "return[0]/inserted/dirty-bitmaps")?);

        dest_vm.shutdown()?;
        source_vm.shutdown()?;
        Ok(())
    }
}
