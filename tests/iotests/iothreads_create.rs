//! Upstream tests/iothreads-create: blockdev-create on a node in an iothread must finish, not hang.

use iotests::prelude::*;

iotests::iotest! {
    name: "iothreads-create", groups: [rw, quick],
    supported_fmts: ["qcow2", "qcow", "qed", "vdi", "vmdk", "parallels"],
    xfail: "a QEMU deadlock, with qcow2 only and in about half of the runs: the main loop hangs in \
            bdrv_graph_wrlock() -> aio_poll(), called from blk_unref() <- bdrv_open() <- blk_new_open() in a \
            bottom half (gdb on the stuck QEMU), so job0 never concludes and run_job's 5 s wait times out; \
            SIGTERM cannot stop it either. Upstream's check fails the same way here (2 of 5 runs, and 4 of 8 with \
            a halting firmware as ours: not the guest); qcow, qed, vdi, vmdk and parallels always pass",
    xfail_fmts: ["qcow2"],
    xfail_intermittent: true,
    fn iothreads_create(t) {
        t.verify_virtio_scsi_pci_or_ccw()?;

        let img_path = t.scoped_file_paths(["disk.img"]);
        let img_path = &img_path[0];
        let mut vm = t.vm();

        t.qemu_img_create(&args!["-f", "raw", img_path, "0"])?;

        vm.add_object("iothread,id=iothread0");
        vm.add_blockdev(format!("file,node-name=img-file,read-only=on,filename={img_path}"));
        vm.add_device("virtio-scsi,iothread=iothread0");
        vm.add_device("scsi-hd,drive=img-file,share-rw=on");

        vm.launch()?;

        t.log(vm.qmp(
            "blockdev-reopen",
            kwargs! {
                options: [{
                    "driver": "file",
                    "filename": img_path,
                    "node-name": "img-file",
                    "read-only": false,
                }],
            },
        )?);
        t.log(vm.qmp(
            "blockdev-create",
            kwargs! {
                job_id: "job0",
                options: {
                    "driver": imgfmt(),
                    "file": "img-file",
                    "size": 1024 * 1024,
                },
            },
        )?);

        // Should succeed and not time out
        match vm.run_job_with("job0", RunJobOptions { wait: Duration::from_secs_f64(5.0), ..Default::default() }) {
            Ok(_) => vm.shutdown()?,
            Err(e) if e.is_instance("asyncio.TimeoutError") => {
                // VM may be stuck, kill it
                vm.kill()?;
                return Err(e);
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }
}
