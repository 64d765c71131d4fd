//! Upstream tests/stream-under-throttle: stream beneath two throttle nodes on an iothread (QEMU issue 1215) completes.

use iotests::prelude::*;

const IMAGE_SIZE: u64 = 256 * 1024 * 1024;

fn base_img() -> String {
    os::path::join(test_dir(), "base.img")
}

fn top_img() -> String {
    os::path::join(test_dir(), "top.img")
}

/// `class TcgVM(iotests.VM)`, as a constructor:
/// Variant of iotests.VM that uses -accel tcg.  Simply using
/// iotests.VM.add_args('-accel', 'tcg') is not sufficient, because that will
/// put -accel qtest before -accel tcg, and -accel arguments are prioritized in
/// the order they appear.
fn tcg_vm(t: &Case) -> Vm {
    let mut vm = t.vm();
    // Put -accel tcg first so it takes precedence
    vm.prepend_base_args(["-accel", "tcg"]);
    vm
}

struct TestStreamWithThrottle {
    vm: Vm,
}

#[iotests::test_case]
impl TestStreamWithThrottle {
    fn new(t: &Case) -> Self {
        TestStreamWithThrottle { vm: t.vm() }
    }

    /// Create a simple backing chain between two images, write something to
    /// the base image.  Attach them to the VM underneath two throttle nodes,
    /// one of which has actually no limits set, but the other does.  Then put
    /// a virtio-blk device on top.
    /// This test configuration has been taken from
    /// https://gitlab.com/qemu-project/qemu/-/issues/1215
    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img_create(&args!["-f", imgfmt(), base_img(), IMAGE_SIZE.to_string()])?;
        t.qemu_img_create(&args!["-f", imgfmt(), "-b", base_img(), "-F", imgfmt(), top_img(), IMAGE_SIZE.to_string()])?;

        // Write something to stream
        t.qemu_io(&args![base_img(), "-c", format!("write 0 {IMAGE_SIZE}")])?;

        let blockdev = json!({
            "driver": "throttle",
            "node-name": "throttled-node",
            "throttle-group": "thrgr-limited",
            "file": {
                "driver": "throttle",
                "throttle-group": "thrgr-unlimited",
                "file": {
                    "driver": imgfmt(),
                    "node-name": "unthrottled-node",
                    "file": {
                        "driver": "file",
                        "filename": top_img()
                    }
                }
            }
        });

        // Issue 1215 is not reproducible in qtest mode, which is why we need to
        // create an -accel tcg VM
        self.vm = tcg_vm(t);
        self.vm.add_object("iothread,id=iothr0");
        self.vm.add_object("throttle-group,id=thrgr-unlimited");
        self.vm.add_object("throttle-group,id=thrgr-limited,x-iops-total=10000,x-bps-total=104857600");
        let opts = self.vm.qmp_to_opts(&blockdev)?;
        self.vm.add_blockdev(opts);
        self.vm.add_device("virtio-blk,iothread=iothr0,drive=throttled-node");
        if qemu_default_machine() == "s390-ccw-virtio" {
            self.vm.add_args(["-no-shutdown"]);
        }
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(top_img())?;
        os::remove(base_img())?;
        Ok(())
    }

    /// Do a simple stream beneath the two throttle nodes.  Should complete
    /// with no problems.
    fn test_stream(&mut self) -> Result<()> {
        self.vm.cmd("block-stream", kwargs! { job_id: "stream", device: "unthrottled-node" })?;

        // Should succeed and not time out
        match self.vm.run_job("stream") {
            Err(e) if e.is_instance("asyncio.TimeoutError") => {
                // VM may be stuck, kill it before tearDown()
                self.vm.kill()?;
                Err(e)
            }
            other => other.map(drop),
        }
    }
}

iotests::iotest! {
    name: "stream-under-throttle", groups: [rw],
    // Must support backing images
    supported_fmts: ["qcow", "qcow2", "qed"],
    supported_protocols: ["file"],
    required_fmts: ["throttle"],
    xfail: "in the qcow cell QEMU 10.0.2 streams this 256 MiB image far slower than run_job's 60 s event wait allows: \
            the qcow (v1) driver allocates 4 KiB clusters and flushes after each L2 update (strace of qemu-io \
            `write 0 4M` on a qcow image: 1029 fdatasync for 1024 clusters), so here the stream job ran at \
            0.5 MiB/s on disk (16 MiB in 30 s) and 1.3-1.8 MiB/s on tmpfs, and qemu-io's write of the same \
            image took 137 s; the job is still `running` when the wait expires (TimeoutError). Upstream's \
            harness fails the same way here (127.7 s, 138 s; 67 s with TEST_DIR on tmpfs); qcow2 and qed pass",
    xfail_fmts: ["qcow"],
    fn stream_under_throttle: unittest { TestStreamWithThrottle }
}
