//! Upstream 234: block node activation and inactivation works with a block
//! graph that is built with individually created nodes.
//!
//! ```python
//! # group: quick migration
//! iotests.script_initialize(supported_fmts=['qcow2'],
//!                           supported_platforms=['linux'])
//! ```

use iotests::args;
use iotests::tools::{mkfifo, with_timeout};
use iotests::vm::testcase::dictpath;
use serde_json::json;

iotests::iotest! {
    name: "234", groups: [quick, migration],
    supported_fmts: ["qcow2"],
    supported_platforms: ["linux"],
    fn t234(t) {
        let img_path = t.scoped_file_paths(["img"]);
        let backing_path = t.scoped_file_paths(["backing"]);
        let fifo_a = t.scoped_file_paths(["mig_fifo_a"]);
        let fifo_b = t.scoped_file_paths(["mig_fifo_b"]);
        let mut vm_a = t.vm_with("a");
        let mut vm_b = t.vm_with("b");
        let (img_path, backing_path, fifo_a, fifo_b) = (&img_path[0], &backing_path[0], &fifo_a[0], &fifo_b[0]);
        let imgfmt = t.imgfmt();

        t.qemu_img_create(&args!["-f", imgfmt, backing_path, "64M"])?;
        t.qemu_img_create(&args!["-f", imgfmt, img_path, "64M"])?;

        mkfifo(fifo_a)?;
        mkfifo(fifo_b)?;

        t.log("Launching source VM...");
        vm_a.add_blockdev(format!("file,filename={img_path},node-name=drive0-file"))
            .add_blockdev(format!("{imgfmt},file=drive0-file,node-name=drive0"))
            .add_blockdev(format!("file,filename={backing_path},node-name=drive0-backing-file"))
            .add_blockdev(format!("{imgfmt},file=drive0-backing-file,node-name=drive0-backing"))
            .launch()?;

        vm_a.enable_migration_events("A")?;

        t.log("Launching destination VM...");
        vm_b.add_blockdev(format!("file,filename={img_path},node-name=drive0-file"))
            .add_blockdev(format!("{imgfmt},file=drive0-file,node-name=drive0"))
            .add_blockdev(format!("file,filename={backing_path},node-name=drive0-backing-file"))
            .add_blockdev(format!("{imgfmt},file=drive0-backing-file,node-name=drive0-backing"))
            .add_incoming(format!("exec: cat '{fifo_a}'"))
            .launch()?;

        vm_b.enable_migration_events("B")?;

        // Add a child node that was created after the parent node. The reverse case
        // is covered by the -blockdev options above.
        t.log(vm_a.qmp("blockdev-snapshot", json!({"node": "drive0-backing", "overlay": "drive0"}))?);
        t.log(vm_b.qmp("blockdev-snapshot", json!({"node": "drive0-backing", "overlay": "drive0"}))?);

        t.log("Starting migration to B...");
        t.log(vm_a.qmp("migrate", json!({"uri": format!("exec:cat >{fifo_a}")}))?);
        with_timeout(3.0, "Migration does not complete", |d| {
            // Wait for the source first (which includes setup=setup)
            vm_a.wait_migration_until(Some("postmigrate"), Some(d))?;
            // Wait for the destination second (which does not)
            vm_b.wait_migration_until(Some("running"), Some(d))
        })?;

        t.log(dictpath(&vm_a.qmp("query-migrate", ())?, "return/status")?);
        t.log(dictpath(&vm_b.qmp("query-migrate", ())?, "return/status")?);

        t.log(vm_a.qmp("query-status", ())?);
        t.log(vm_b.qmp("query-status", ())?);

        t.log("Add a second parent to drive0-file...");
        t.log(vm_b.qmp("blockdev-add", json!({"driver": "raw", "file": "drive0-file", "node-name": "drive0-raw"}))?);

        t.log("Restart A with -incoming and second parent...");
        vm_a.shutdown()?;
        vm_a.add_blockdev("raw,file=drive0-file,node-name=drive0-raw")
            .add_incoming(format!("exec: cat '{fifo_b}'"))
            .launch()?;

        vm_a.enable_migration_events("A")?;

        t.log(vm_a.qmp("blockdev-snapshot", json!({"node": "drive0-backing", "overlay": "drive0"}))?);

        t.log("Starting migration back to A...");
        t.log(vm_b.qmp("migrate", json!({"uri": format!("exec:cat >{fifo_b}")}))?);
        with_timeout(3.0, "Migration does not complete", |d| {
            // Wait for the source first (which includes setup=setup)
            vm_b.wait_migration_until(Some("postmigrate"), Some(d))?;
            // Wait for the destination second (which does not)
            vm_a.wait_migration_until(Some("running"), Some(d))
        })?;

        t.log(dictpath(&vm_a.qmp("query-migrate", ())?, "return/status")?);
        t.log(dictpath(&vm_b.qmp("query-migrate", ())?, "return/status")?);

        t.log(vm_a.qmp("query-status", ())?);
        t.log(vm_b.qmp("query-status", ())?);

        vm_b.shutdown()?;
        vm_a.shutdown()?;
        Ok(())
    }
}
