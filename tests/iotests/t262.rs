//! Upstream 262: migration with filter drivers present, everything in an
//! iothread.
//!
//! ```python
//! # group: rw quick migration
//! iotests.script_initialize(supported_fmts=['qcow2'],
//!                           supported_platforms=['linux'],
//!                           required_fmts=['blkverify'])
//! ```

use iotests::args;
use iotests::tools::{mkfifo, with_timeout};
use iotests::vm::Vm;
use iotests::vm::testcase::dictpath;
use serde_json::json;

iotests::iotest! {
    name: "262", groups: [rw, quick, migration],
    supported_fmts: ["qcow2"],
    supported_platforms: ["linux"],
    required_fmts: ["blkverify"],
    fn t262(t) {
        let img_path = t.scoped_file_paths(["img"]);
        let fifo = t.scoped_file_paths(["mig_fifo"]);
        let mut vm_a = t.vm_with("a");
        let mut vm_b = t.vm_with("b");
        let (img_path, fifo) = (&img_path[0], &fifo[0]);

        let add_opts = |vm: &mut Vm| -> iotests::Result<()> {
            vm.add_object("iothread,id=iothread0");
            vm.add_object("throttle-group,id=tg0,x-bps-total=65536");
            vm.add_blockdev(format!("file,filename={img_path},node-name=drive0-file"));
            vm.add_blockdev(format!("{},file=drive0-file,node-name=drive0-fmt", t.imgfmt()));
            vm.add_blockdev("copy-on-read,file=drive0-fmt,node-name=drive0-cor");
            vm.add_blockdev("throttle,file=drive0-cor,node-name=drive0-throttle,throttle-group=tg0");
            vm.add_blockdev("blkdebug,image=drive0-throttle,node-name=drive0-dbg");
            vm.add_blockdev("null-co,node-name=null,read-zeroes=on");
            vm.add_blockdev("blkverify,test=drive0-dbg,raw=null,node-name=drive0-verify");

            let root = if t.supports_quorum()? {
                vm.add_blockdev("quorum,children.0=drive0-verify,vote-threshold=1,node-name=drive0-quorum");
                "drive0-quorum"
            } else {
                "drive0-verify"
            };

            vm.add_device(format!("virtio-blk,drive={root},iothread=iothread0"));
            Ok(())
        };

        t.qemu_img_create(&args!["-f", t.imgfmt(), img_path, "64M"])?;

        mkfifo(fifo)?;

        t.log("Launching destination VM...");
        add_opts(&mut vm_b)?;
        vm_b.add_incoming(format!("exec: cat '{fifo}'"));
        vm_b.launch()?;

        vm_b.enable_migration_events("B")?;

        t.log("Launching source VM...");
        add_opts(&mut vm_a)?;
        vm_a.launch()?;

        vm_a.enable_migration_events("A")?;

        t.log("Starting migration to B...");
        t.log(vm_a.qmp("migrate", json!({"uri": format!("exec:cat >{fifo}")}))?);
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

        vm_b.shutdown()?;
        vm_a.shutdown()?;
        Ok(())
    }
}
