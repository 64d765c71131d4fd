//! Upstream 129: 'stop' while a block job runs on a throttled drive must not drain the job.

use iotests::context::try_remove;
use iotests::prelude::*;
use iotests::qmp::Kwargs;

struct TestStopWithBlockJob {
    test_img: String,
    target_img: String,
    base_img: String,
    overlay_img: String,
    vm: Vm,
}

#[iotests::test_case]
impl TestStopWithBlockJob {
    fn new(t: &Case) -> Self {
        TestStopWithBlockJob {
            test_img: os::path::join(test_dir(), "test.img"),
            target_img: os::path::join(test_dir(), "target.img"),
            base_img: os::path::join(test_dir(), "base.img"),
            overlay_img: os::path::join(test_dir(), "overlay.img"),
            vm: t.vm(),
        }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", "-f", imgfmt(), self.base_img, "1G"])?;
        t.qemu_img(&args!["create", "-f", imgfmt(), self.test_img, "-b", self.base_img, "-F", imgfmt()])?;
        t.qemu_io(&args!["-f", imgfmt(), "-c", "write -P0x5d 1M 128M", self.test_img])?;
        self.vm = t.vm();
        self.vm.add_object("throttle-group,id=tg0,x-bps-total=1024");

        let source_drive = "driver=throttle,".to_string()
            + "node-name=source,"
            + "throttle-group=tg0,"
            + &format!("file.driver={},", imgfmt())
            + &format!("file.file.filename={}", self.test_img);

        self.vm.add_drive_with(None, source_drive);
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        for img in [&self.test_img, &self.target_img, &self.base_img, &self.overlay_img] {
            try_remove(img);
        }
        Ok(())
    }

    /// Test 'stop' while block job is running on a throttled drive.
    /// The 'stop' command shouldn't drain the job
    fn do_test_stop(&mut self, cmd: &str, args: Kwargs) -> Result<()> {
        self.vm.cmd(cmd, args)?;

        self.vm.cmd("stop", ())?;
        let result = self.vm.qmp("query-block-jobs", ())?;

        assert_qmp(&result, "return[0]/status", "running")?;
        assert_qmp(&result, "return[0]/ready", false)
    }

    fn test_drive_mirror(&mut self) -> Result<()> {
        self.do_test_stop(
            "drive-mirror",
            kwargs! { device: "drive0",
            target: self.target_img, format: imgfmt(),
            sync: "full", buf_size: 65536 },
        )
    }

    fn test_drive_backup(&mut self) -> Result<()> {
        // Limit max-chunk and max-workers so that block-copy will not
        // launch so many workers working on so much data each that
        // stop's bdrv_drain_all() would finish the job
        self.do_test_stop(
            "drive-backup",
            kwargs! { device: "drive0",
            target: self.target_img, format: imgfmt(),
            sync: "full",
            x_perf: {"max-chunk": 65536,
                     "max-workers": 8} },
        )
    }

    fn test_block_commit(&mut self, t: &Case) -> Result<()> {
        // Add overlay above the source node so that we actually use a
        // commit job instead of a mirror job

        t.qemu_img(&args!["create", "-f", imgfmt(), self.overlay_img, "1G"])?;

        self.vm.cmd(
            "blockdev-add",
            json!({
                "node-name": "overlay",
                "driver": imgfmt(),
                "file": {
                    "driver": "file",
                    "filename": self.overlay_img
                }
            }),
        )?;

        self.vm.cmd("blockdev-snapshot", kwargs! { node: "source", overlay: "overlay" })?;

        self.do_test_stop("block-commit", kwargs! { device: "drive0", top_node: "source" })
    }
}

iotests::iotest! {
    name: "129", groups: [rw, quick],
    supported_fmts: ["qcow2"],
    supported_protocols: ["file"],
    fn t129: unittest { TestStopWithBlockJob }
}
