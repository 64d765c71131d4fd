//! Upstream tests/stream-error-on-reset: a stream job that completes (with an I/O error) inside a device reset's drain.

use iotests::prelude::*;

const IMAGE_SIZE: u64 = 1024 * 1024;
const DATA_SIZE: u64 = 64 * 1024;

fn base() -> String {
    os::path::join(test_dir(), "base.img")
}

fn top() -> String {
    os::path::join(test_dir(), "top.img")
}

// We want to test completing a stream job in a blk_drain().
//
// The blk_drain() we are going to use is a virtio-scsi device resetting,
// which we can trigger by resetting the system.
//
// In order to have the block job complete on drain, we (1) throttle its
// base image so we can start the drain after it has begun, but before it
// completes, and (2) make it encounter an I/O error on the ensuing write.
// (If it completes regularly, the completion happens after the drain for
// some reason.)

struct TestStreamErrorOnReset {
    vm: Vm,
}

#[iotests::test_case]
impl TestStreamErrorOnReset {
    fn new(t: &Case) -> Self {
        TestStreamErrorOnReset { vm: t.vm() }
    }

    /// Create two images:
    /// - base image {base} with {data_size} bytes allocated
    /// - top image {top} without any data allocated
    ///
    /// And the following VM configuration:
    /// - base image throttled to {data_size}
    /// - top image with a blkdebug configuration so the first write access
    ///   to it will result in an error
    /// - top image is attached to a virtio-scsi device
    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img_create(&args!["-f", imgfmt(), base(), IMAGE_SIZE.to_string()])?;
        t.qemu_io(&args!["-c", format!("write 0 {DATA_SIZE}"), base()])?;
        t.qemu_img_create(&args!["-f", imgfmt(), top(), IMAGE_SIZE.to_string()])?;

        self.vm = t.vm();
        self.vm.add_args(["-accel", "tcg"]); // Make throttling work properly
        let opts = self.vm.qmp_to_opts(&json!({
            "qom-type": "throttle-group",
            "id": "thrgr",
            "x-bps-total": DATA_SIZE.to_string()
        }))?;
        self.vm.add_object(opts);
        let opts = self.vm.qmp_to_opts(&json!({
            "driver": imgfmt(),
            "node-name": "base",
            "file": {
                "driver": "throttle",
                "throttle-group": "thrgr",
                "file": {
                    "driver": "file",
                    "filename": base()
                }
            }
        }))?;
        self.vm.add_blockdev(opts);
        let opts = self.vm.qmp_to_opts(&json!({
            "driver": imgfmt(),
            "node-name": "top",
            "file": {
                "driver": "blkdebug",
                "node-name": "top-blkdebug",
                "inject-error": [{
                    "event": "pwritev",
                    "immediately": "true",
                    "once": "true"
                }],
                "image": {
                    "driver": "file",
                    "filename": top()
                }
            },
            "backing": "base"
        }))?;
        self.vm.add_blockdev(opts);
        let opts = self.vm.qmp_to_opts(&json!({
            "driver": "virtio-scsi",
            "id": "vscsi"
        }))?;
        self.vm.add_device(opts);
        let opts = self.vm.qmp_to_opts(&json!({
            "driver": "scsi-hd",
            "bus": "vscsi.0",
            "drive": "top"
        }))?;
        self.vm.add_device(opts);
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(top())?;
        os::remove(base())?;
        Ok(())
    }

    fn test_stream_error_on_reset(&mut self) -> Result<()> {
        // Launch a stream job, which will take at least a second to
        // complete, because the base image is throttled (so we can
        // get in between it having started and it having completed)
        self.vm.cmd("block-stream", kwargs! { job_id: "stream", device: "top" })?;

        loop {
            let ev = self.vm.event_wait("JOB_STATUS_CHANGE")?;
            if ev["data"]["status"] == "running" {
                // Once the stream job is running, reset the system, which
                // forces the virtio-scsi device to be reset, thus draining
                // the stream job, and making it complete.  Completing
                // inside of that drain should not result in a segfault.
                self.vm.cmd("system_reset", ())?;
            } else if ev["data"]["status"] == "null" {
                // The test is done once the job is gone
                break;
            }
        }
        Ok(())
    }
}

iotests::iotest! {
    name: "stream-error-on-reset", groups: [rw, quick],
    // Passes with any format with backing file support, but qed and
    // qcow1 do not seem to exercise the used-to-be problematic code
    // path, so there is no point in having them in this list
    supported_fmts: ["qcow2", "vmdk"],
    supported_protocols: ["file"],
    fn stream_error_on_reset: unittest { TestStreamErrorOnReset }
}
