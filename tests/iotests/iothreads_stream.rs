//! Upstream tests/iothreads-stream: two stream jobs on disks that share one
//! iothread.
//!
//! ```python
//! # group: rw quick auto
//! iotests.script_initialize(supported_fmts=['qcow2'],
//!                           supported_platforms=['linux'])
//! ```

use std::time::Duration;

use iotests::vm::testcase::dictpath;
use iotests::{Error, args};
use serde_json::json;

iotests::iotest! {
    name: "iothreads-stream", groups: [rw, quick, auto],
    supported_fmts: ["qcow2"],
    supported_platforms: ["linux"],
    fn iothreads_stream(t) {
        t.verify_virtio_scsi_pci_or_ccw()?;

        // with FilePath(...) as ..., VM() as vm: the VM drops (shuts down)
        // before the files are removed.
        let files = t.scoped_file_paths(["disk1.img", "disk1-snap.img", "disk2.img", "disk2-snap.img"]);
        let [base1_path, snap1_path, base2_path, snap2_path] = &*files;
        let mut vm = t.vm();

        let img_size = "10M";

        // Only one iothread for both disks
        vm.add_object("iothread,id=iothread0");
        vm.add_device("virtio-scsi,iothread=iothread0");

        t.log("Preparing disks...");
        for (i, base_path, snap_path) in [(0, base1_path, snap1_path), (1, base2_path, snap2_path)] {
            t.qemu_img_create(&args!["-f", t.imgfmt(), base_path, img_size])?;
            t.qemu_img_create(&args!["-f", t.imgfmt(), "-b", base_path, "-F", t.imgfmt(), snap_path])?;

            t.qemu_io_log(&["-c", &format!("write 0 {img_size}"), base_path])?;

            vm.add_blockdev(format!("file,node-name=disk{i}-base-file,filename={base_path}"));
            vm.add_blockdev(format!("qcow2,node-name=disk{i}-base,file=disk{i}-base-file"));
            vm.add_blockdev(format!("file,node-name=disk{i}-file,filename={snap_path}"));
            vm.add_blockdev(format!("qcow2,node-name=disk{i},file=disk{i}-file,backing=disk{i}-base"));
            vm.add_device(format!("scsi-hd,drive=disk{i}"));
        }

        t.log("Launching VM...");
        vm.launch()?;

        t.log("Starting stream jobs...");
        t.log(vm.qmp("block-stream", json!({"device": "disk0", "job-id": "job0"}))?);
        t.log(vm.qmp("block-stream", json!({"device": "disk1", "job-id": "job1"}))?);

        let mut finished = 0;
        loop {
            match vm.event_wait_with("JOB_STATUS_CHANGE", Duration::from_secs_f64(0.1)) {
                Ok(ev) => {
                    if dictpath(&ev, "data/status")? == "null" {
                        finished += 1;
                        // The test is done once both jobs are gone
                        if finished == 2 {
                            break;
                        }
                    }
                }
                // except asyncio.TimeoutError: pass
                Err(Error::Qmp(e)) if e.is_timeout() => {}
                Err(e) => return Err(e),
            }
            vm.cmd("query-jobs", ())?;
        }

        // The end of `with VM() as vm`.
        vm.shutdown()?;
        Ok(())
    }
}
