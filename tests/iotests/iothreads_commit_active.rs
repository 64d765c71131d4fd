//! Upstream tests/iothreads-commit-active: active commit on an iothread
//! while unrelated, throttled I/O runs on the same iothread.
//!
//! ```python
//! # group: rw quick auto
//! iotests.script_initialize(supported_fmts=['qcow2'],
//!                           supported_platforms=['linux'])
//! ```

use std::time::Duration;

use iotests::vm::Drive;
use iotests::vm::RunJobOptions;
use iotests::{Error, args};
use serde_json::json;

iotests::iotest! {
    name: "iothreads-commit-active", groups: [rw, quick, auto],
    supported_fmts: ["qcow2"],
    supported_platforms: ["linux"],
    fn iothreads_commit_active(t) {
        t.verify_virtio_scsi_pci_or_ccw()?;

        // with FilePath(...) as ..., VM() as vm: the VM drops (shuts down)
        // before the files are removed.
        let files = t.scoped_file_paths(["disk0.img", "disk0-snap.img", "mirror-src.img", "mirror-dst.img"]);
        let [img_path, snap_path, src_path, dst_path] = &*files;
        let mut vm = t.vm();

        let img_size = "10M";
        t.qemu_img_create(&args!["-f", t.imgfmt(), img_path, img_size])?;
        t.qemu_img_create(&args!["-f", t.imgfmt(), "-b", img_path, "-F", t.imgfmt(), snap_path])?;
        t.qemu_img_create(&args!["-f", t.imgfmt(), src_path, img_size])?;
        t.qemu_img_create(&args!["-f", t.imgfmt(), dst_path, img_size])?;

        t.qemu_io_log(&["-c", "write 0 64k", img_path])?;
        t.qemu_io_log(&["-c", "write 1M 64k", snap_path])?;
        t.qemu_io_log(&["-c", "write 3M 64k", snap_path])?;

        t.qemu_io_log(&["-c", &format!("write 0 {img_size}"), src_path])?;

        t.log("Launching VM...");
        vm.add_object("iothread,id=iothread0");
        vm.add_object("throttle-group,x-bps-write=1048576,id=tg0");
        vm.add_blockdev(format!("file,node-name=disk0-file,filename={img_path}"));
        vm.add_blockdev("qcow2,node-name=disk0-fmt,file=disk0-file");
        vm.add_drive_with(snap_path, Drive { opts: "backing=disk0-fmt,node-name=disk0".into(), interface: "none", ..Default::default() });
        vm.add_device("virtio-scsi,iothread=iothread0");
        vm.add_device("scsi-hd,drive=drive0");

        vm.add_blockdev(format!("file,filename={src_path},node-name=mirror-src-file"));
        vm.add_blockdev("qcow2,file=mirror-src-file,node-name=mirror-src");
        vm.add_blockdev(format!("file,filename={dst_path},node-name=mirror-dst-file"));
        vm.add_blockdev("qcow2,file=mirror-dst-file,node-name=mirror-dst-fmt");
        vm.add_blockdev("throttle,throttle-group=tg0,file=mirror-dst-fmt,node-name=mirror-dst");
        vm.add_device("scsi-hd,drive=mirror-src");

        vm.launch()?;

        // The background I/O is created on unrelated nodes (so that they won't be
        // drained together with the other ones), but on the same iothread
        t.log("Creating some background I/O...");
        t.log(vm.qmp(
            "blockdev-mirror",
            json!({"job-id": "job0", "sync": "full", "device": "mirror-src", "target": "mirror-dst",
                   "auto-dismiss": false}),
        )?);

        t.log("Starting active commit...");
        t.log(vm.qmp("block-commit", json!({"device": "disk0", "job-id": "job1", "auto-dismiss": false}))?);

        // Should succeed and not time out
        let result = (|| {
            vm.run_job_with("job1", RunJobOptions { wait: Duration::from_secs_f64(5.0), ..Default::default() })?;
            vm.shutdown()
        })();
        match result {
            // except asyncio.TimeoutError:
            Err(Error::Qmp(e)) if e.is_timeout() => {
                // VM may be stuck, kill it
                vm.kill()?;
                Err(Error::Qmp(e))
            }
            other => other,
        }
    }
}
