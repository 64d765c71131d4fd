//! Upstream 255: commit job graph modifications while requests are active.
//!
//! ```python
//! # group: rw quick
//! iotests.script_initialize(supported_fmts=['qcow2'])
//! ```

use iotests::vm::{RunJobOptions, Vm};
use iotests::{Result, args};
use serde_json::json;

iotests::iotest! {
    name: "255", groups: [rw, quick],
    supported_fmts: ["qcow2"],
    fn t255(t) {
        t.log("Finishing a commit job with background reads");
        t.log("============================================");
        t.log("");

        {
            let disk_path = t.scoped_file_paths(["t.qcow2"]);
            let mid_path = t.scoped_file_paths(["t.qcow2.mid"]);
            let base_path = t.scoped_file_paths(["t.qcow2.base"]);
            let (disk_path, mid_path, base_path) = (&disk_path[0], &mid_path[0], &base_path[0]);
            let mut vm = t.vm();

            t.log("=== Create backing chain and start VM ===");
            t.log("");

            let size: u64 = 128 * 1024 * 1024;
            let size_str = size.to_string();

            t.create_image(base_path, size)?;
            t.qemu_img_create(&args!["-f", t.imgfmt(), mid_path, size_str])?;
            t.qemu_img_create(&args!["-f", t.imgfmt(), disk_path, size_str])?;

            // Create a backing chain like this:
            // base <- [throttled: bps-read=4096] <- mid <- overlay

            vm.add_object("throttle-group,x-bps-read=4096,id=throttle0");
            vm.add_blockdev(format!("file,filename={base_path},node-name=base"));
            vm.add_blockdev("throttle,throttle-group=throttle0,file=base,node-name=throttled");
            vm.add_blockdev(format!("file,filename={mid_path},node-name=mid-file"));
            vm.add_blockdev("qcow2,file=mid-file,node-name=mid,backing=throttled");
            vm.add_drive_raw(format!("if=none,id=overlay,driver=qcow2,file={disk_path},backing=mid"));

            vm.launch()?;

            t.log("=== Start background read requests ===");
            t.log("");

            fn start_requests(vm: &mut Vm) -> Result<()> {
                vm.hmp_qemu_io("overlay", "aio_read 0 4k")?;
                vm.hmp_qemu_io("overlay", "aio_read 0 4k")?;
                Ok(())
            }

            start_requests(&mut vm)?;

            t.log("=== Run a commit job ===");
            t.log("");

            vm.qmp_log(
                "block-commit",
                json!({"job_id": "job0", "auto_finalize": false, "device": "overlay", "top_node": "mid"}),)?;

            vm.run_job_with(
                "job0",
                RunJobOptions {
                    auto_finalize: false,
                    pre_finalize: Some(&mut start_requests),
                    auto_dismiss: true,
                    ..Default::default()
                },)?;

            vm.shutdown()?;
        }

        t.log("");
        t.log("Closing the VM while a job is being cancelled");
        t.log("=============================================");
        t.log("");

        {
            let src_path = t.scoped_file_paths(["src.qcow2"]);
            let dst_path = t.scoped_file_paths(["dst.qcow2"]);
            let (src_path, dst_path) = (&src_path[0], &dst_path[0]);
            let mut vm = t.vm();

            t.log("=== Create images and start VM ===");
            t.log("");

            let size: u64 = 128 * 1024 * 1024;
            let size_str = size.to_string();

            t.qemu_img_create(&args!["-f", t.imgfmt(), src_path, size_str])?;
            t.qemu_img_create(&args!["-f", t.imgfmt(), dst_path, size_str])?;

            t.qemu_io_log(&args!["-f", t.imgfmt(), "-c", "write 0 1M", src_path])?;

            vm.add_object("throttle-group,x-bps-read=4096,id=throttle0");

            vm.add_blockdev(format!("file,node-name=src-file,filename={src_path}"));
            vm.add_blockdev(format!("{},node-name=src,file=src-file", t.imgfmt()));

            vm.add_blockdev(format!("file,node-name=dst-file,filename={dst_path}"));
            vm.add_blockdev(format!("{},node-name=dst,file=dst-file", t.imgfmt()));

            vm.add_blockdev("throttle,node-name=src-throttled,".to_string() + "throttle-group=throttle0,file=src");

            vm.add_device("virtio-blk,drive=src-throttled");

            vm.launch()?;

            t.log("=== Start a mirror job ===");
            t.log("");

            vm.qmp_log(
                "blockdev-mirror",
                json!({"job_id": "job0", "device": "src-throttled", "target": "dst", "sync": "full"}),)?;

            vm.qmp_log("block-job-cancel", json!({"device": "job0"}))?;
            vm.qmp_log("quit", json!({}))?;

            vm.shutdown()?;
        }
        Ok(())
    }
}
