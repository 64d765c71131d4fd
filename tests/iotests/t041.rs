//! Upstream 041: image mirroring (drive-mirror, blockdev-mirror) — completion, cancellation, errors, quorum repair, filters.

use std::io::Write;

use iotests::filters::PyRegex;
use iotests::json::Subscript;
use iotests::prelude::*;

fn backing_img() -> String {
    os::path::join(test_dir(), "backing.img")
}

fn target_backing_img() -> String {
    os::path::join(test_dir(), "target-backing.img")
}

fn test_img() -> String {
    os::path::join(test_dir(), "test.img")
}

fn target_img() -> String {
    os::path::join(test_dir(), "target.img")
}

fn quorum_img1() -> String {
    os::path::join(test_dir(), "quorum1.img")
}

fn quorum_img2() -> String {
    os::path::join(test_dir(), "quorum2.img")
}

fn quorum_img3() -> String {
    os::path::join(test_dir(), "quorum3.img")
}

fn quorum_repair_img() -> String {
    os::path::join(test_dir(), "quorum_repair.img")
}

fn quorum_snapshot_file() -> String {
    os::path::join(test_dir(), "quorum_snapshot.img")
}

fn nbd_sock_path() -> String {
    os::path::join(sock_dir(), "nbd.sock")
}

struct TestSingleDrive {
    image_len: u64,
    qmp_cmd: &'static str,
    qmp_target: String,
    vm: Vm,
}

#[iotests::test_case]
impl TestSingleDrive {
    fn new(t: &Case) -> Self {
        TestSingleDrive {
            image_len: 1024 * 1024, // MB
            qmp_cmd: "drive-mirror",
            qmp_target: target_img(),
            vm: t.vm(),
        }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.create_image(&backing_img(), self.image_len)?;
        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            "-o",
            format!("backing_file={}", backing_img()),
            "-F",
            "raw",
            test_img()
        ])?;
        self.vm = t.vm();
        self.vm.add_drive_with(test_img(), "node-name=top,backing.node-name=base");
        if qemu_default_machine() == "pc" {
            self.vm.add_drive_with(None, Drive { opts: "media=cdrom".into(), interface: "ide", ..Default::default() });
        }
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(test_img())?;
        os::remove(backing_img())?;
        // try: os.remove(target_img) except OSError: pass
        let _ = os::remove(target_img());
        Ok(())
    }

    fn test_complete(&mut self, t: &Case) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd(self.qmp_cmd, kwargs! { device: "drive0", sync: "full", target: self.qmp_target })?;

        self.vm.complete_and_wait()?;
        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/file", target_img())?;
        self.vm.shutdown()?;
        assert_true!(
            t.compare_images(&test_img(), &target_img())?,
            "target image does not match source after mirroring"
        );
        Ok(())
    }

    fn test_cancel(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd(self.qmp_cmd, kwargs! { device: "drive0", sync: "full", target: self.qmp_target })?;

        self.vm.cancel_and_wait_with(CancelAndWait { force: true, ..Default::default() })?;
        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/file", test_img())?;
        Ok(())
    }

    fn test_cancel_after_ready(&mut self, t: &Case) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd(self.qmp_cmd, kwargs! { device: "drive0", sync: "full", target: self.qmp_target })?;

        self.vm.wait_ready_and_cancel()?;
        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/file", test_img())?;
        self.vm.shutdown()?;
        assert_true!(
            t.compare_images(&test_img(), &target_img())?,
            "target image does not match source after mirroring"
        );
        Ok(())
    }

    fn test_pause(&mut self, t: &Case) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd(self.qmp_cmd, kwargs! { device: "drive0", sync: "full", target: self.qmp_target })?;

        self.vm.pause_job_with("drive0")?;

        let result = self.vm.qmp("query-block-jobs", ())?;
        let offset = dictpath(&result, "return[0]/offset")?.clone();

        sleep(0.5);
        let result = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&result, "return[0]/offset", offset)?;

        self.vm.cmd("block-job-resume", kwargs! { device: "drive0" })?;

        self.vm.complete_and_wait()?;
        self.vm.shutdown()?;
        assert_true!(
            t.compare_images(&test_img(), &target_img())?,
            "target image does not match source after mirroring"
        );
        Ok(())
    }

    fn test_small_buffer(&mut self, t: &Case) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        // A small buffer is rounded up automatically
        self.vm
            .cmd(self.qmp_cmd, kwargs! { device: "drive0", sync: "full", buf_size: 4096, target: self.qmp_target })?;

        self.vm.complete_and_wait()?;
        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/file", target_img())?;
        self.vm.shutdown()?;
        assert_true!(
            t.compare_images(&test_img(), &target_img())?,
            "target image does not match source after mirroring"
        );
        Ok(())
    }

    fn test_small_buffer2(&mut self, t: &Case) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            "-o",
            format!("cluster_size={},size={}", self.image_len, self.image_len),
            target_img()
        ])?;
        self.vm.cmd(
            self.qmp_cmd,
            kwargs! { device: "drive0", sync: "full", buf_size: 65536, mode: "existing", target: self.qmp_target },
        )?;

        self.vm.complete_and_wait()?;
        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/file", target_img())?;
        self.vm.shutdown()?;
        assert_true!(
            t.compare_images(&test_img(), &target_img())?,
            "target image does not match source after mirroring"
        );
        Ok(())
    }

    fn test_large_cluster(&mut self, t: &Case) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            "-o",
            format!("cluster_size={},backing_file={}", self.image_len, backing_img()),
            "-F",
            "raw",
            target_img()
        ])?;
        self.vm
            .cmd(self.qmp_cmd, kwargs! { device: "drive0", sync: "full", mode: "existing", target: self.qmp_target })?;

        self.vm.complete_and_wait()?;
        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/file", target_img())?;
        self.vm.shutdown()?;
        assert_true!(
            t.compare_images(&test_img(), &target_img())?,
            "target image does not match source after mirroring"
        );
        Ok(())
    }

    // Tests that the insertion of the mirror_top filter node doesn't make a
    // difference to query-block
    fn test_implicit_node(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd(self.qmp_cmd, kwargs! { device: "drive0", sync: "full", target: self.qmp_target })?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/file", test_img())?;
        assert_qmp(&result, "return[0]/inserted/drv", imgfmt())?;
        assert_qmp(&result, "return[0]/inserted/backing_file", backing_img())?;
        assert_qmp(&result, "return[0]/inserted/backing_file_depth", 1)?;
        assert_qmp(&result, "return[0]/inserted/image/filename", test_img())?;
        assert_qmp(&result, "return[0]/inserted/image/backing-image/filename", backing_img())?;

        let result = self.vm.qmp("query-blockstats", ())?;
        assert_qmp(&result, "return[0]/node-name", "top")?;
        assert_qmp(&result, "return[0]/backing/node-name", "base")?;

        self.vm.cancel_and_wait_with(CancelAndWait { force: true, ..Default::default() })?;
        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/file", test_img())?;
        assert_qmp(&result, "return[0]/inserted/drv", imgfmt())?;
        assert_qmp(&result, "return[0]/inserted/backing_file", backing_img())?;
        assert_qmp(&result, "return[0]/inserted/backing_file_depth", 1)?;
        assert_qmp(&result, "return[0]/inserted/image/filename", test_img())?;
        assert_qmp(&result, "return[0]/inserted/image/backing-image/filename", backing_img())?;

        let result = self.vm.qmp("query-blockstats", ())?;
        assert_qmp(&result, "return[0]/node-name", "top")?;
        assert_qmp(&result, "return[0]/backing/node-name", "base")?;
        Ok(())
    }

    fn test_medium_not_found(&mut self) -> Result<()> {
        if qemu_default_machine() != "pc" {
            return Ok(());
        }

        let result =
            self.vm.qmp(self.qmp_cmd, kwargs! { device: "ide1-cd0", sync: "full", target: self.qmp_target })?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn test_image_not_found(&mut self) -> Result<()> {
        let result = self
            .vm
            .qmp(self.qmp_cmd, kwargs! { device: "drive0", sync: "full", mode: "existing", target: self.qmp_target })?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn test_device_not_found(&mut self) -> Result<()> {
        let result =
            self.vm.qmp(self.qmp_cmd, kwargs! { device: "nonexistent", sync: "full", target: self.qmp_target })?;
        assert_qmp(&result, "error/class", "GenericError")
    }
}

struct TestSingleBlockdev {
    base: TestSingleDrive,
}

#[iotests::test_case(extends = TestSingleDrive, without = [test_large_cluster, test_image_not_found, test_small_buffer2])]
impl TestSingleBlockdev {
    fn new(t: &Case) -> Result<Self> {
        let mut base = TestSingleDrive::new(t)?;
        base.qmp_cmd = "blockdev-mirror";
        base.qmp_target = "node1".into();
        Ok(TestSingleBlockdev { base })
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        self.base.set_up(t)?; // TestSingleDrive.setUp(self)
        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            "-o",
            format!("backing_file={}", backing_img()),
            "-F",
            "raw",
            target_img()
        ])?;
        let args = json!({"driver": imgfmt(),
                          "node-name": self.qmp_target,
                          "file": { "filename": target_img(), "driver": "file" } });
        self.base.vm.cmd("blockdev-add", args)?;
        Ok(())
    }

    fn test_mirror_to_self(&mut self) -> Result<()> {
        let base = &mut self.base;
        let result = base.vm.qmp(
            base.qmp_cmd,
            kwargs! { job_id: "job0", device: base.qmp_target, sync: "full", target: base.qmp_target },
        )?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn do_test_resize(&mut self, device: Option<&str>, node: &str) -> Result<()> {
        let mut pre_finalize = |vm: &mut Vm| -> Result<()> {
            if let Some(device) = device {
                let result = vm.qmp("block_resize", kwargs! { device: device, size: 65536 })?;
                assert_qmp(&result, "error/class", "GenericError")?;
            }

            let result = vm.qmp("block_resize", kwargs! { node_name: node, size: 65536 })?;
            assert_qmp(&result, "error/class", "GenericError")
        };

        let base = &mut self.base;
        base.vm.cmd(
            base.qmp_cmd,
            kwargs! { job_id: "job0", device: "drive0", sync: "full", target: base.qmp_target,
            auto_finalize: false, auto_dismiss: false },
        )?;

        let result = base.vm.run_job_with(
            "job0",
            RunJobOptions { auto_finalize: false, pre_finalize: Some(&mut pre_finalize), ..Default::default() },
        )?;
        assert_equal!(result, None::<String>);
        Ok(())
    }

    fn test_source_resize(&mut self) -> Result<()> {
        self.do_test_resize(Some("drive0"), "top")
    }

    fn test_target_resize(&mut self) -> Result<()> {
        let node = self.qmp_target.clone();
        self.do_test_resize(None, &node)
    }

    fn do_test_target_size(&mut self, size: u64) -> Result<()> {
        let base = &mut self.base;
        base.vm.cmd("block_resize", kwargs! { node_name: base.qmp_target, size: size })?;

        base.vm.cmd(
            base.qmp_cmd,
            kwargs! { job_id: "job0", device: "drive0", sync: "full", auto_dismiss: false, target: base.qmp_target },
        )?;

        let result = base.vm.run_job("job0")?;
        assert_equal!(result, Some("Source and target image have different sizes"));
        Ok(())
    }

    // qed does not support shrinking
    #[skip_for_formats("qed")]
    fn test_small_target(&mut self) -> Result<()> {
        self.do_test_target_size(self.image_len / 2)
    }

    fn test_large_target(&mut self) -> Result<()> {
        self.do_test_target_size(self.image_len * 2)
    }
}

struct TestMirrorNoBacking {
    vm: Vm,
}

impl TestMirrorNoBacking {
    const IMAGE_LEN: u64 = 2 * 1024 * 1024; // MB
}

#[iotests::test_case]
impl TestMirrorNoBacking {
    fn new(t: &Case) -> Self {
        TestMirrorNoBacking { vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.create_image(&backing_img(), TestMirrorNoBacking::IMAGE_LEN)?;
        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            "-o",
            format!("backing_file={}", backing_img()),
            "-F",
            "raw",
            test_img()
        ])?;
        self.vm = t.vm();
        self.vm.add_drive(test_img());
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(test_img())?;
        os::remove(backing_img())?;
        // try: os.remove(target_backing_img) except: pass
        let _ = os::remove(target_backing_img());
        os::remove(target_img())
    }

    fn test_complete(&mut self, t: &Case) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            "-o",
            format!("backing_file={}", backing_img()),
            "-F",
            "raw",
            target_img()
        ])?;
        self.vm
            .cmd("drive-mirror", kwargs! { device: "drive0", sync: "full", mode: "existing", target: target_img() })?;

        self.vm.complete_and_wait()?;
        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/file", target_img())?;
        self.vm.shutdown()?;
        assert_true!(
            t.compare_images(&test_img(), &target_img())?,
            "target image does not match source after mirroring"
        );
        Ok(())
    }

    fn test_cancel(&mut self, t: &Case) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            "-o",
            format!("backing_file={}", backing_img()),
            "-F",
            "raw",
            target_img()
        ])?;
        self.vm
            .cmd("drive-mirror", kwargs! { device: "drive0", sync: "full", mode: "existing", target: target_img() })?;

        self.vm.wait_ready_and_cancel()?;
        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/file", test_img())?;
        self.vm.shutdown()?;
        assert_true!(
            t.compare_images(&test_img(), &target_img())?,
            "target image does not match source after mirroring"
        );
        Ok(())
    }

    fn test_large_cluster(&mut self, t: &Case) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        // qemu-img create fails if the image is not there
        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            "-o",
            format!("size={}", TestMirrorNoBacking::IMAGE_LEN),
            target_backing_img()
        ])?;
        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            "-o",
            format!("cluster_size={},backing_file={}", TestMirrorNoBacking::IMAGE_LEN, target_backing_img()),
            "-F",
            imgfmt(),
            target_img()
        ])?;

        self.vm
            .cmd("drive-mirror", kwargs! { device: "drive0", sync: "full", mode: "existing", target: target_img() })?;

        self.vm.complete_and_wait()?;
        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/file", target_img())?;
        self.vm.shutdown()?;
        assert_true!(
            t.compare_images(&test_img(), &target_img())?,
            "target image does not match source after mirroring"
        );
        Ok(())
    }
}

struct TestMirrorResized {
    vm: Vm,
}

impl TestMirrorResized {
    const BACKING_LEN: u64 = 1024 * 1024; // MB
    #[allow(dead_code)] // a class attribute the Python test never reads
    const IMAGE_LEN: u64 = 2 * 1024 * 1024; // MB
}

#[iotests::test_case]
impl TestMirrorResized {
    fn new(t: &Case) -> Self {
        TestMirrorResized { vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.create_image(&backing_img(), TestMirrorResized::BACKING_LEN)?;
        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            "-o",
            format!("backing_file={}", backing_img()),
            "-F",
            "raw",
            test_img()
        ])?;
        t.qemu_img(&args!["resize", test_img(), "2M"])?;
        self.vm = t.vm();
        self.vm.add_drive(test_img());
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(test_img())?;
        os::remove(backing_img())?;
        // try: os.remove(target_img) except OSError: pass
        let _ = os::remove(target_img());
        Ok(())
    }

    fn test_complete_top(&mut self, t: &Case) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd("drive-mirror", kwargs! { device: "drive0", sync: "top", target: target_img() })?;

        self.vm.complete_and_wait()?;
        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/file", target_img())?;
        self.vm.shutdown()?;
        assert_true!(
            t.compare_images(&test_img(), &target_img())?,
            "target image does not match source after mirroring"
        );
        Ok(())
    }

    fn test_complete_full(&mut self, t: &Case) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd("drive-mirror", kwargs! { device: "drive0", sync: "full", target: target_img() })?;

        self.vm.complete_and_wait()?;
        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/file", target_img())?;
        self.vm.shutdown()?;
        assert_true!(
            t.compare_images(&test_img(), &target_img())?,
            "target image does not match source after mirroring"
        );
        Ok(())
    }
}

struct TestReadErrors {
    blkdebug_file: String,
    vm: Vm,
}

impl TestReadErrors {
    const IMAGE_LEN: u64 = 2 * 1024 * 1024; // MB

    // this should be a multiple of twice the default granularity
    // so that we hit this offset first in state 1
    const MIRROR_GRANULARITY: u64 = 1024 * 1024;

    fn create_blkdebug_file(&self, name: &str, event: &str, errno: i32) -> Result<()> {
        let mut file = std::fs::File::create(name).with_context(|| format!("opening {name}"))?;
        file.write_all(
            format!(
                r#"
[inject-error]
state = "1"
event = "{}"
errno = "{}"
immediately = "off"
once = "on"
sector = "{}"

[set-state]
state = "1"
event = "{}"
new_state = "2"

[set-state]
state = "2"
event = "{}"
new_state = "1"
"#,
                event,
                errno,
                Self::MIRROR_GRANULARITY / 512,
                event,
                event
            )
            .as_bytes(),
        )
        .with_context(|| format!("writing {name}"))
    }
}

#[iotests::test_case]
impl TestReadErrors {
    fn new(t: &Case) -> Self {
        TestReadErrors { blkdebug_file: String::new(), vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        self.blkdebug_file = backing_img() + ".blkdebug";
        t.create_image(&backing_img(), TestReadErrors::IMAGE_LEN)?;
        self.create_blkdebug_file(&self.blkdebug_file, "read_aio", 5)?;
        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            "-o",
            format!("backing_file=blkdebug:{}:{},backing_fmt=raw", self.blkdebug_file, backing_img()),
            test_img()
        ])?;
        // Write something for tests that use sync='top'
        t.qemu_io(&args!["-c", format!("write {} 512", Self::MIRROR_GRANULARITY + 65536), test_img()])?;
        self.vm = t.vm();
        self.vm.add_drive(test_img());
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(test_img())?;
        os::remove(target_img())?;
        os::remove(backing_img())?;
        os::remove(&self.blkdebug_file)
    }

    fn test_report_read(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd("drive-mirror", kwargs! { device: "drive0", sync: "full", target: target_img() })?;

        let mut completed = false;
        let mut error = false;
        while !completed {
            for event in self.vm.get_qmp_events_with(true)? {
                if event["event"] == "BLOCK_JOB_ERROR" {
                    assert_qmp(&event, "data/device", "drive0")?;
                    assert_qmp(&event, "data/operation", "read")?;
                    error = true;
                } else if event["event"] == "BLOCK_JOB_READY" {
                    assert_true!(false, "job completed unexpectedly");
                } else if event["event"] == "BLOCK_JOB_COMPLETED" {
                    assert_true!(error, "job completed unexpectedly");
                    assert_qmp(&event, "data/type", "mirror")?;
                    assert_qmp(&event, "data/device", "drive0")?;
                    assert_qmp(&event, "data/error", "Input/output error")?;
                    completed = true;
                } else if event["event"] == "JOB_STATUS_CHANGE" {
                    assert_qmp(&event, "data/id", "drive0")?;
                }
            }
        }

        self.vm.assert_no_active_block_jobs()
    }

    fn test_ignore_read(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd(
            "drive-mirror",
            kwargs! { device: "drive0", sync: "full", target: target_img(), on_source_error: "ignore" },
        )?;

        let mut event = self.vm.get_qmp_event_with(true)?.unwrap_or_default();
        while event["event"] == "JOB_STATUS_CHANGE" {
            assert_qmp(&event, "data/id", "drive0")?;
            event = self.vm.get_qmp_event_with(true)?.unwrap_or_default();
        }

        assert_equal!(event["event"], "BLOCK_JOB_ERROR");
        assert_qmp(&event, "data/device", "drive0")?;
        assert_qmp(&event, "data/operation", "read")?;
        let result = self.vm.qmp("query-block-jobs", ())?;
        assert_in!(result["return"][0]["status"], ["running", "ready"]);
        self.vm.complete_and_wait()
    }

    fn test_large_cluster(&mut self, t: &Case) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        // Test COW into the target image.  The first half of the
        // cluster at MIRROR_GRANULARITY has to be copied from
        // backing_img, even though sync='top'.
        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            format!("-ocluster_size=131072,backing_file={}", backing_img()),
            "-F",
            "raw",
            target_img()
        ])?;
        self.vm.cmd(
            "drive-mirror",
            kwargs! { device: "drive0", sync: "top", on_source_error: "ignore",
            mode: "existing", target: target_img() },
        )?;

        let mut event = self.vm.get_qmp_event_with(true)?.unwrap_or_default();
        while event["event"] == "JOB_STATUS_CHANGE" {
            assert_qmp(&event, "data/id", "drive0")?;
            event = self.vm.get_qmp_event_with(true)?.unwrap_or_default();
        }

        assert_equal!(event["event"], "BLOCK_JOB_ERROR");
        assert_qmp(&event, "data/device", "drive0")?;
        assert_qmp(&event, "data/operation", "read")?;
        let result = self.vm.qmp("query-block-jobs", ())?;
        assert_in!(result["return"][0]["status"], ["running", "ready"]);
        self.vm.complete_and_wait()?;
        self.vm.shutdown()?;

        // Detach blkdebug to compare images successfully
        t.qemu_img(&args!["rebase", "-f", imgfmt(), "-u", "-b", backing_img(), "-F", "raw", test_img()])?;
        assert_true!(
            t.compare_images(&test_img(), &target_img())?,
            "target image does not match source after mirroring"
        );
        Ok(())
    }

    fn test_stop_read(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd(
            "drive-mirror",
            kwargs! { device: "drive0", sync: "full", target: target_img(), on_source_error: "stop" },
        )?;

        let mut error = false;
        let mut ready = false;
        while !ready {
            for event in self.vm.get_qmp_events_with(true)? {
                if event["event"] == "BLOCK_JOB_ERROR" {
                    assert_qmp(&event, "data/device", "drive0")?;
                    assert_qmp(&event, "data/operation", "read")?;

                    if self.vm.qmp("query-block-jobs", ())?.at("return")?.at(0)?.at("status")? != "paused" {
                        self.vm.events_wait(&[(
                            "JOB_STATUS_CHANGE",
                            Some(&json!({"data": {"id": "drive0", "status": "paused"}})),
                        )])?;
                    }

                    let result = self.vm.qmp("query-block-jobs", ())?;
                    assert_qmp(&result, "return[0]/status", "paused")?;
                    assert_qmp(&result, "return[0]/io-status", "failed")?;

                    self.vm.cmd("block-job-resume", kwargs! { device: "drive0" })?;
                    error = true;
                } else if event["event"] == "BLOCK_JOB_READY" {
                    assert_true!(error, "job completed unexpectedly");
                    assert_qmp(&event, "data/device", "drive0")?;
                    ready = true;
                }
            }
        }

        let result = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&result, "return[0]/status", "ready")?;
        assert_qmp(&result, "return[0]/io-status", "ok")?;

        self.vm.complete_and_wait_with(CompleteAndWait { wait_ready: false, ..Default::default() })?;
        self.vm.assert_no_active_block_jobs()
    }
}

struct TestWriteErrors {
    blkdebug_file: String,
    target_img: String,
    vm: Vm,
}

impl TestWriteErrors {
    const IMAGE_LEN: u64 = 2 * 1024 * 1024; // MB

    // this should be a multiple of twice the default granularity
    // so that we hit this offset first in state 1
    const MIRROR_GRANULARITY: u64 = 1024 * 1024;

    fn create_blkdebug_file(&self, name: &str, event: &str, errno: i32) -> Result<()> {
        let mut file = std::fs::File::create(name).with_context(|| format!("opening {name}"))?;
        file.write_all(
            format!(
                r#"
[inject-error]
state = "1"
event = "{}"
errno = "{}"
immediately = "off"
once = "on"
sector = "{}"

[set-state]
state = "1"
event = "{}"
new_state = "2"

[set-state]
state = "2"
event = "{}"
new_state = "1"
"#,
                event,
                errno,
                Self::MIRROR_GRANULARITY / 512,
                event,
                event
            )
            .as_bytes(),
        )
        .with_context(|| format!("writing {name}"))
    }
}

#[iotests::test_case]
impl TestWriteErrors {
    fn new(t: &Case) -> Self {
        TestWriteErrors { blkdebug_file: String::new(), target_img: String::new(), vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        self.blkdebug_file = target_img() + ".blkdebug";
        t.create_image(&backing_img(), TestWriteErrors::IMAGE_LEN)?;
        self.create_blkdebug_file(&self.blkdebug_file, "write_aio", 5)?;
        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            format!("-obacking_file={}", backing_img()),
            "-F",
            "raw",
            test_img()
        ])?;
        self.vm = t.vm();
        self.vm.add_drive(test_img());
        self.target_img = format!("blkdebug:{}:{}", self.blkdebug_file, target_img());
        t.qemu_img(&args!["create", "-f", imgfmt(), format!("-osize={}", TestWriteErrors::IMAGE_LEN), target_img()])?;
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(test_img())?;
        os::remove(target_img())?;
        os::remove(backing_img())?;
        os::remove(&self.blkdebug_file)
    }

    fn test_report_write(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd(
            "drive-mirror",
            kwargs! { device: "drive0", sync: "full", mode: "existing", target: self.target_img },
        )?;

        let mut completed = false;
        let mut error = false;
        while !completed {
            for event in self.vm.get_qmp_events_with(true)? {
                if event["event"] == "BLOCK_JOB_ERROR" {
                    assert_qmp(&event, "data/device", "drive0")?;
                    assert_qmp(&event, "data/operation", "write")?;
                    error = true;
                } else if event["event"] == "BLOCK_JOB_READY" {
                    assert_true!(false, "job completed unexpectedly");
                } else if event["event"] == "BLOCK_JOB_COMPLETED" {
                    assert_true!(error, "job completed unexpectedly");
                    assert_qmp(&event, "data/type", "mirror")?;
                    assert_qmp(&event, "data/device", "drive0")?;
                    assert_qmp(&event, "data/error", "Input/output error")?;
                    completed = true;
                }
            }
        }

        self.vm.assert_no_active_block_jobs()
    }

    fn test_ignore_write(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd(
            "drive-mirror",
            kwargs! { device: "drive0", sync: "full", mode: "existing", target: self.target_img,
            on_target_error: "ignore" },
        )?;

        let event = self.vm.event_wait("BLOCK_JOB_ERROR")?;
        assert_equal!(event["event"], "BLOCK_JOB_ERROR");
        assert_qmp(&event, "data/device", "drive0")?;
        assert_qmp(&event, "data/operation", "write")?;
        let result = self.vm.qmp("query-block-jobs", ())?;
        assert_in!(result["return"][0]["status"], ["running", "ready"]);
        self.vm.complete_and_wait()
    }

    fn test_stop_write(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd(
            "drive-mirror",
            kwargs! { device: "drive0", sync: "full", mode: "existing", target: self.target_img,
            on_target_error: "stop" },
        )?;

        let mut error = false;
        let mut ready = false;
        while !ready {
            for event in self.vm.get_qmp_events_with(true)? {
                if event["event"] == "BLOCK_JOB_ERROR" {
                    assert_qmp(&event, "data/device", "drive0")?;
                    assert_qmp(&event, "data/operation", "write")?;

                    if self.vm.qmp("query-block-jobs", ())?.at("return")?.at(0)?.at("status")? != "paused" {
                        self.vm.events_wait(&[(
                            "JOB_STATUS_CHANGE",
                            Some(&json!({"data": {"id": "drive0", "status": "paused"}})),
                        )])?;
                    }

                    let result = self.vm.qmp("query-block-jobs", ())?;
                    assert_qmp(&result, "return[0]/status", "paused")?;
                    assert_qmp(&result, "return[0]/io-status", "failed")?;

                    self.vm.cmd("block-job-resume", kwargs! { device: "drive0" })?;

                    let result = self.vm.qmp("query-block-jobs", ())?;
                    assert_in!(result["return"][0]["status"], ["running", "ready"]);
                    assert_qmp(&result, "return[0]/io-status", "ok")?;
                    error = true;
                } else if event["event"] == "BLOCK_JOB_READY" {
                    assert_true!(error, "job completed unexpectedly");
                    assert_qmp(&event, "data/device", "drive0")?;
                    ready = true;
                }
            }
        }

        self.vm.complete_and_wait_with(CompleteAndWait { wait_ready: false, ..Default::default() })?;
        self.vm.assert_no_active_block_jobs()
    }
}

struct TestSetSpeed {
    vm: Vm,
}

impl TestSetSpeed {
    const IMAGE_LEN: u64 = 80 * 1024 * 1024; // MB
}

#[iotests::test_case]
impl TestSetSpeed {
    fn new(t: &Case) -> Self {
        TestSetSpeed { vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", backing_img(), TestSetSpeed::IMAGE_LEN])?;
        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            "-o",
            format!("backing_file={}", backing_img()),
            "-F",
            "raw",
            test_img()
        ])?;
        self.vm = t.vm();
        self.vm.add_drive(test_img());
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(test_img())?;
        os::remove(backing_img())?;
        os::remove(target_img())
    }

    fn test_set_speed(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd("drive-mirror", kwargs! { device: "drive0", sync: "full", target: target_img() })?;

        // Default speed is 0
        let result = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&result, "return[0]/device", "drive0")?;
        assert_qmp(&result, "return[0]/speed", 0)?;

        self.vm.cmd("block-job-set-speed", kwargs! { device: "drive0", speed: 8 * 1024 * 1024 })?;

        // Ensure the speed we set was accepted
        let result = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&result, "return[0]/device", "drive0")?;
        assert_qmp(&result, "return[0]/speed", 8 * 1024 * 1024)?;

        self.vm.wait_ready_and_cancel()?;

        // Check setting speed in drive-mirror works
        self.vm.cmd(
            "drive-mirror",
            kwargs! { device: "drive0", sync: "full", target: target_img(), speed: 4 * 1024 * 1024 },
        )?;

        let result = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&result, "return[0]/device", "drive0")?;
        assert_qmp(&result, "return[0]/speed", 4 * 1024 * 1024)?;

        self.vm.wait_ready_and_cancel()
    }

    fn test_set_speed_invalid(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        let result =
            self.vm.qmp("drive-mirror", kwargs! { device: "drive0", sync: "full", target: target_img(), speed: -1 })?;
        assert_qmp(&result, "error/class", "GenericError")?;

        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd("drive-mirror", kwargs! { device: "drive0", sync: "full", target: target_img() })?;

        let result = self.vm.qmp("block-job-set-speed", kwargs! { device: "drive0", speed: -1 })?;
        assert_qmp(&result, "error/class", "GenericError")?;

        self.vm.wait_ready_and_cancel()
    }
}

struct TestUnbackedSource {
    image_len: u64,
    vm: Vm,
}

#[iotests::test_case]
impl TestUnbackedSource {
    fn new(t: &Case) -> Self {
        TestUnbackedSource {
            image_len: 2 * 1024 * 1024, // MB
            vm: t.vm(),
        }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", "-f", imgfmt(), test_img(), self.image_len])?;
        self.vm = t.vm();
        self.vm.launch()?;
        self.vm.cmd(
            "blockdev-add",
            kwargs! { node_name: "drive0",
            driver: imgfmt(),
            file: {
                "driver": "file",
                "filename": test_img(),
            } },
        )?;
        Ok(())
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(test_img())?;
        os::remove(target_img())
    }

    fn test_absolute_paths_full(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;
        self.vm.cmd(
            "drive-mirror",
            kwargs! { job_id: "drive0", device: "drive0", sync: "full", target: target_img(),
            mode: "absolute-paths" },
        )?;
        self.vm.complete_and_wait()?;
        self.vm.assert_no_active_block_jobs()
    }

    fn test_absolute_paths_top(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;
        self.vm.cmd(
            "drive-mirror",
            kwargs! { job_id: "drive0", device: "drive0", sync: "top", target: target_img(),
            mode: "absolute-paths" },
        )?;
        self.vm.complete_and_wait()?;
        self.vm.assert_no_active_block_jobs()
    }

    fn test_absolute_paths_none(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;
        self.vm.cmd(
            "drive-mirror",
            kwargs! { job_id: "drive0", device: "drive0", sync: "none", target: target_img(),
            mode: "absolute-paths" },
        )?;
        self.vm.complete_and_wait()?;
        self.vm.assert_no_active_block_jobs()
    }

    fn test_existing_full(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", "-f", imgfmt(), target_img(), self.image_len])?;
        t.qemu_io(&args!["-c", "write -P 42 0 64k", target_img()])?;

        self.vm.assert_no_active_block_jobs()?;
        self.vm.cmd(
            "drive-mirror",
            kwargs! { job_id: "drive0", device: "drive0", sync: "full", target: target_img(), mode: "existing" },
        )?;
        self.vm.complete_and_wait()?;
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd("blockdev-del", kwargs! { node_name: "drive0" })?;

        assert_true!(
            t.compare_images(&test_img(), &target_img())?,
            "target image does not match source after mirroring"
        );
        Ok(())
    }

    fn test_blockdev_full(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", "-f", imgfmt(), target_img(), self.image_len])?;
        t.qemu_io(&args!["-c", "write -P 42 0 64k", target_img()])?;

        self.vm.cmd(
            "blockdev-add",
            kwargs! { node_name: "target",
            driver: imgfmt(),
            file: {
                "driver": "file",
                "filename": target_img(),
            } },
        )?;

        self.vm.assert_no_active_block_jobs()?;
        self.vm
            .cmd("blockdev-mirror", kwargs! { job_id: "drive0", device: "drive0", sync: "full", target: "target" })?;
        self.vm.complete_and_wait()?;
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd("blockdev-del", kwargs! { node_name: "drive0" })?;

        self.vm.cmd("blockdev-del", kwargs! { node_name: "target" })?;

        assert_true!(
            t.compare_images(&test_img(), &target_img())?,
            "target image does not match source after mirroring"
        );
        Ok(())
    }
}

struct TestGranularity {
    image_len: u64,
    vm: Vm,
}

#[iotests::test_case]
impl TestGranularity {
    fn new(t: &Case) -> Self {
        TestGranularity {
            image_len: 10 * 1024 * 1024, // MB
            vm: t.vm(),
        }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", "-f", imgfmt(), test_img(), self.image_len])?;
        t.qemu_io(&args!["-c", format!("write 0 {}", self.image_len), test_img()])?;
        self.vm = t.vm();
        self.vm.add_drive(test_img());
        self.vm.launch()
    }

    fn tear_down(&mut self, t: &Case) -> Result<()> {
        self.vm.shutdown()?;
        assert_true!(
            t.compare_images(&test_img(), &target_img())?,
            "target image does not match source after mirroring"
        );
        os::remove(test_img())?;
        os::remove(target_img())
    }

    fn test_granularity(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;
        self.vm.cmd(
            "drive-mirror",
            kwargs! { device: "drive0", sync: "full", target: target_img(),
            mode: "absolute-paths", granularity: 8192 },
        )?;

        let mut event = self.vm.get_qmp_event_with(60.0)?.unwrap_or_default();
        while event["event"] == "JOB_STATUS_CHANGE" {
            assert_qmp(&event, "data/id", "drive0")?;
            event = self.vm.get_qmp_event_with(60.0)?.unwrap_or_default();
        }

        // Failures will manifest as COMPLETED/ERROR.
        assert_qmp(&event, "event", "BLOCK_JOB_READY")?;
        self.vm.complete_and_wait_with(CompleteAndWait { drive: "drive0", wait_ready: false, ..Default::default() })?;
        self.vm.assert_no_active_block_jobs()
    }
}

/// This class test quorum file repair using drive-mirror.
/// It's mostly a fork of TestSingleDrive
struct TestRepairQuorum {
    image_len: u64,
    images: [String; 3],
    vm: Vm,
}

#[iotests::test_case]
impl TestRepairQuorum {
    fn new(t: &Case) -> Self {
        TestRepairQuorum {
            image_len: 1024 * 1024, // MB
            images: [quorum_img1(), quorum_img2(), quorum_img3()],
            vm: t.vm(),
        }
    }

    #[skip_if_unsupported(["quorum"])]
    fn set_up(&mut self, t: &Case) -> Result<()> {
        self.vm = t.vm();

        if qemu_default_machine() == "pc" {
            self.vm.add_drive_with(None, Drive { opts: "media=cdrom".into(), interface: "ide", ..Default::default() });
        }

        // Add each individual quorum images
        for (index, i) in self.images.iter().enumerate() {
            t.qemu_img(&args!["create", "-f", imgfmt(), i, self.image_len])?;
            // Assign a node name to each quorum image in order to manipulate
            // them
            let mut opts = format!("node-name=img{index}");
            opts += &format!(",driver={}", imgfmt());
            opts += ",file.driver=file";
            opts += &format!(",file.filename={i}");
            self.vm.add_blockdev(opts);
        }

        self.vm.launch()?;

        //assemble the quorum block device from the individual files
        let args = json!({ "driver": "quorum", "node-name": "quorum0",
                           "vote-threshold": 2, "children": [ "img0", "img1", "img2" ] });
        self.vm.cmd("blockdev-add", args)?;
        Ok(())
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        let extra = [quorum_repair_img(), quorum_snapshot_file(), nbd_sock_path()];
        for i in self.images.iter().chain(&extra) {
            // Do a try/except because the test may have deleted some images
            let _ = os::remove(i);
        }
        Ok(())
    }

    fn test_complete(&mut self, t: &Case) -> Result<()> {
        self.vm.cmd(
            "drive-mirror",
            kwargs! { job_id: "job0", device: "quorum0", sync: "full", node_name: "repair0", replaces: "img1",
            target: quorum_repair_img(), format: imgfmt() },
        )?;

        self.vm.complete_and_wait_with("job0")?;
        self.vm.assert_has_block_node(Some("repair0"), Some(&quorum_repair_img()))?;
        self.vm.assert_block_path("quorum0", "/children.1", Some("repair0"), None)?;
        self.vm.shutdown()?;
        assert_true!(
            t.compare_images(&quorum_img2(), &quorum_repair_img())?,
            "target image does not match source after mirroring"
        );
        Ok(())
    }

    fn test_cancel(&mut self) -> Result<()> {
        self.vm.cmd(
            "drive-mirror",
            kwargs! { job_id: "job0", device: "quorum0", sync: "full", node_name: "repair0", replaces: "img1",
            target: quorum_repair_img(), format: imgfmt() },
        )?;

        self.vm.cancel_and_wait_with(CancelAndWait { drive: "job0", force: true, ..Default::default() })?;
        // here we check that the last registered quorum file has not been
        // swapped out and unref
        self.vm.assert_has_block_node(None, Some(&quorum_img3()))
    }

    fn test_cancel_after_ready(&mut self, t: &Case) -> Result<()> {
        self.vm.cmd(
            "drive-mirror",
            kwargs! { job_id: "job0", device: "quorum0", sync: "full", node_name: "repair0", replaces: "img1",
            target: quorum_repair_img(), format: imgfmt() },
        )?;

        self.vm.wait_ready_and_cancel_with("job0")?;
        // here we check that the last registered quorum file has not been
        // swapped out and unref
        self.vm.assert_has_block_node(None, Some(&quorum_img3()))?;
        self.vm.shutdown()?;
        assert_true!(
            t.compare_images(&quorum_img2(), &quorum_repair_img())?,
            "target image does not match source after mirroring"
        );
        Ok(())
    }

    fn test_pause(&mut self, t: &Case) -> Result<()> {
        self.vm.cmd(
            "drive-mirror",
            kwargs! { job_id: "job0", device: "quorum0", sync: "full", node_name: "repair0", replaces: "img1",
            target: quorum_repair_img(), format: imgfmt() },
        )?;

        self.vm.pause_job_with("job0")?;

        let result = self.vm.qmp("query-block-jobs", ())?;
        let offset = dictpath(&result, "return[0]/offset")?.clone();

        sleep(0.5);
        let result = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&result, "return[0]/offset", offset)?;

        self.vm.cmd("block-job-resume", kwargs! { device: "job0" })?;

        self.vm.complete_and_wait_with("job0")?;
        self.vm.shutdown()?;
        assert_true!(
            t.compare_images(&quorum_img2(), &quorum_repair_img())?,
            "target image does not match source after mirroring"
        );
        Ok(())
    }

    fn test_medium_not_found(&mut self) -> Result<()> {
        if qemu_default_machine() != "pc" {
            return Ok(());
        }

        let result = self.vm.qmp(
            "drive-mirror",
            kwargs! { job_id: "job0", device: "drive0", // CD-ROM
            sync: "full",
            node_name: "repair0",
            replaces: "img1",
            target: quorum_repair_img(), format: imgfmt() },
        )?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn test_image_not_found(&mut self) -> Result<()> {
        let result = self.vm.qmp(
            "drive-mirror",
            kwargs! { job_id: "job0", device: "quorum0", sync: "full", node_name: "repair0", replaces: "img1",
            mode: "existing", target: quorum_repair_img(), format: imgfmt() },
        )?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn test_device_not_found(&mut self) -> Result<()> {
        let result = self.vm.qmp(
            "drive-mirror",
            kwargs! { job_id: "job0", device: "nonexistent", sync: "full",
            node_name: "repair0",
            replaces: "img1",
            target: quorum_repair_img(), format: imgfmt() },
        )?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn test_wrong_sync_mode(&mut self) -> Result<()> {
        let result = self.vm.qmp(
            "drive-mirror",
            kwargs! { device: "quorum0", job_id: "job0",
            node_name: "repair0",
            replaces: "img1",
            target: quorum_repair_img(), format: imgfmt() },
        )?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn test_no_node_name(&mut self) -> Result<()> {
        let result = self.vm.qmp(
            "drive-mirror",
            kwargs! { job_id: "job0", device: "quorum0", sync: "full", replaces: "img1",
            target: quorum_repair_img(), format: imgfmt() },
        )?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn test_nonexistent_replaces(&mut self) -> Result<()> {
        let result = self.vm.qmp(
            "drive-mirror",
            kwargs! { job_id: "job0", device: "quorum0", sync: "full", node_name: "repair0", replaces: "img77",
            target: quorum_repair_img(), format: imgfmt() },
        )?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn test_after_a_quorum_snapshot(&mut self) -> Result<()> {
        self.vm.cmd(
            "blockdev-snapshot-sync",
            kwargs! { node_name: "img1",
            snapshot_file: quorum_snapshot_file(),
            snapshot_node_name: "snap1" },
        )?;

        let result = self.vm.qmp(
            "drive-mirror",
            kwargs! { job_id: "job0", device: "quorum0", sync: "full", node_name: "repair0", replaces: "img1",
            target: quorum_repair_img(), format: imgfmt() },
        )?;
        assert_qmp(&result, "error/class", "GenericError")?;

        self.vm.cmd(
            "drive-mirror",
            kwargs! { job_id: "job0", device: "quorum0", sync: "full", node_name: "repair0", replaces: "snap1",
            target: quorum_repair_img(), format: imgfmt() },
        )?;

        self.vm.complete_and_wait_with("job0")?;
        self.vm.assert_has_block_node(Some("repair0"), Some(&quorum_repair_img()))?;
        self.vm.assert_block_path("quorum0", "/children.1", Some("repair0"), None)
    }

    /// Check that we cannot replace a Quorum child when it has other
    /// parents.
    fn test_with_other_parent(&mut self) -> Result<()> {
        self.vm.cmd(
            "nbd-server-start",
            kwargs! { addr: {
                "type": "unix",
                "data": {"path": nbd_sock_path()}
            } },
        )?;

        self.vm.cmd("nbd-server-add", kwargs! { device: "img1" })?;

        let result = self.vm.qmp(
            "drive-mirror",
            kwargs! { job_id: "mirror", device: "quorum0", sync: "full", node_name: "repair0", replaces: "img1",
            target: quorum_repair_img(), format: imgfmt() },
        )?;
        assert_qmp(
            &result,
            "error/desc",
            "Cannot replace 'img1' by a node mirrored from \
             'quorum0', because it cannot be guaranteed that doing \
             so would not lead to an abrupt change of visible data",
        )
    }

    /// The same as test_with_other_parent(), but add the NBD server
    /// only when the mirror job is already running.
    fn test_with_other_parents_after_mirror_start(&mut self, t: &Case) -> Result<()> {
        self.vm.cmd(
            "nbd-server-start",
            kwargs! { addr: {
                "type": "unix",
                "data": {"path": nbd_sock_path()}
            } },
        )?;

        self.vm.cmd(
            "drive-mirror",
            kwargs! { job_id: "mirror", device: "quorum0", sync: "full", node_name: "repair0", replaces: "img1",
            target: quorum_repair_img(), format: imgfmt() },
        )?;

        self.vm.cmd("nbd-server-add", kwargs! { device: "img1" })?;

        // The full error message goes to stderr, we will check it later
        self.vm.complete_and_wait_with(CompleteAndWait {
            drive: "mirror",
            completion_error: Some("Operation not permitted"),
            ..Default::default()
        })?;

        // Should not have been replaced
        self.vm.assert_block_path("quorum0", "/children.1", Some("img1"), None)?;

        // Check the full error message now
        self.vm.shutdown()?;
        let log = iotests::filters::qtest(self.vm.get_log().unwrap_or_default());
        let log = PyRegex::new(r"^Formatting.*\n")?.sub(&log, "");
        let qemu_prog = t.env().qemu.get()?;
        let log = PyRegex::new(&format!(r"^{}: ", os::path::basename(qemu_prog)))?.sub(&log, "");

        assert_equal!(
            log,
            "Can no longer replace 'img1' by 'repair0', because ".to_string()
                + "it can no longer be guaranteed that doing so would "
                + "not lead to an abrupt change of visible data"
        );
        Ok(())
    }
}

// Test mirroring with a source that does not have any parents (not even a
// BlockBackend)
struct TestOrphanedSource {
    vm: Vm,
}

#[iotests::test_case]
impl TestOrphanedSource {
    fn new(t: &Case) -> Self {
        TestOrphanedSource { vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        let blk0 = json!({ "node-name": "src",
                           "driver": "null-co" });

        let blk1 = json!({ "node-name": "dest",
                           "driver": "null-co" });

        let blk2 = json!({ "node-name": "dest-ro",
                           "driver": "null-co",
                           "read-only": "on" });

        self.vm = t.vm();
        let opts = self.vm.qmp_to_opts(&blk0)?;
        self.vm.add_blockdev(opts);
        let opts = self.vm.qmp_to_opts(&blk1)?;
        self.vm.add_blockdev(opts);
        let opts = self.vm.qmp_to_opts(&blk2)?;
        self.vm.add_blockdev(opts);
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()
    }

    fn test_no_job_id(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        let result = self.vm.qmp("blockdev-mirror", kwargs! { device: "src", sync: "full", target: "dest" })?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn test_success(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd("blockdev-mirror", kwargs! { job_id: "job", device: "src", sync: "full", target: "dest" })?;

        self.vm.complete_and_wait_with("job")
    }

    fn test_failing_permissions(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        let result = self.vm.qmp("blockdev-mirror", kwargs! { device: "src", sync: "full", target: "dest-ro" })?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn test_failing_permission_in_complete(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        // Unshare consistent-read on the target
        // (The mirror job does not care)
        self.vm.cmd(
            "blockdev-add",
            kwargs! { driver: "blkdebug",
            node_name: "dest-perm",
            image: "dest",
            unshare_child_perms: ["consistent-read"] },
        )?;

        self.vm.cmd(
            "blockdev-mirror",
            kwargs! { job_id: "job", device: "src", sync: "full", target: "dest",
            filter_node_name: "mirror-filter" },
        )?;

        // Require consistent-read on the source
        // (We can only add this node once the job has started, or it
        // will complain that it does not want to run on non-root nodes)
        self.vm.cmd(
            "blockdev-add",
            kwargs! { driver: "blkdebug",
            node_name: "src-perm",
            image: "src",
            take_child_perms: ["consistent-read"] },
        )?;

        // While completing, mirror will attempt to replace src by
        // dest, which must fail because src-perm requires
        // consistent-read but dest-perm does not share it; thus
        // aborting the job when it is supposed to complete
        self.vm.complete_and_wait_with(CompleteAndWait {
            drive: "job",
            completion_error: Some("Operation not permitted"),
            ..Default::default()
        })?;

        // Assert that all of our nodes are still there (except for the
        // mirror filter, which should be gone despite the failure)
        let nodes = self.vm.qmp("query-named-block-nodes", ())?["return"].clone();
        let nodes: Vec<Value> = nodes.as_array().into_iter().flatten().map(|node| node["node-name"].clone()).collect();

        for expect in ["src", "src-perm", "dest", "dest-perm"] {
            assert_true!(nodes.iter().any(|n| n == expect), "{expect} disappeared");
        }
        assert_false!(nodes.iter().any(|n| n == "mirror-filter"), "Mirror filter node did not disappear");
        Ok(())
    }
}

// Test cases for @replaces that do not necessarily involve Quorum
struct TestReplaces {
    vm: Vm,
}

#[iotests::test_case]
impl TestReplaces {
    fn new(t: &Case) -> Self {
        TestReplaces { vm: t.vm() }
    }

    // Each of these test cases needs their own block graph, so do not
    // create any nodes here
    fn set_up(&mut self, t: &Case) -> Result<()> {
        self.vm = t.vm();
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        for img in [test_img(), target_img()] {
            // try: os.remove(img) except OSError: pass
            let _ = os::remove(img);
        }
        Ok(())
    }

    /// Check that we can replace filter nodes.
    #[skip_if_unsupported(["copy-on-read"])]
    fn test_replace_filter(&mut self) -> Result<()> {
        self.vm.cmd(
            "blockdev-add",
            json!({
                "driver": "copy-on-read",
                "node-name": "filter0",
                "file": {
                    "driver": "copy-on-read",
                    "node-name": "filter1",
                    "file": {
                        "driver": "null-co"
                    }
                }
            }),
        )?;

        self.vm.cmd("blockdev-add", kwargs! { node_name: "target", driver: "null-co" })?;

        self.vm.cmd(
            "blockdev-mirror",
            kwargs! { job_id: "mirror", device: "filter0", target: "target", sync: "full", replaces: "filter1" },
        )?;

        self.vm.complete_and_wait_with("mirror")?;

        self.vm.assert_block_path("filter0", "/file", Some("target"), None)
    }
}

// Tests for mirror with filters (and how the mirror filter behaves, as
// an example for an implicit filter)
struct TestFilters {
    filterless_chain: Value,
    vm: Vm,
}

#[iotests::test_case]
impl TestFilters {
    fn new(t: &Case) -> Self {
        TestFilters { filterless_chain: Value::Null, vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", "-f", imgfmt(), backing_img(), "1M"])?;
        t.qemu_img(&args!["create", "-f", imgfmt(), "-b", backing_img(), "-F", imgfmt(), test_img()])?;
        t.qemu_img(&args!["create", "-f", imgfmt(), "-b", backing_img(), "-F", imgfmt(), target_img()])?;

        t.qemu_io(&args!["-c", "write -P 1 0 512k", backing_img()])?;
        t.qemu_io(&args!["-c", "write -P 2 512k 512k", test_img()])?;

        self.vm = t.vm();
        self.vm.add_device("virtio-scsi,id=vio-scsi");
        self.vm.launch()?;

        self.vm.cmd(
            "blockdev-add",
            json!({
                "node-name": "target",
                "driver": imgfmt(),
                "file": {
                    "driver": "file",
                    "filename": target_img()
                },
                "backing": null
            }),
        )?;

        self.filterless_chain = json!({
            "node-name": "source",
            "driver": imgfmt(),
            "file": {
                "driver": "file",
                "filename": test_img()
            },
            "backing": {
                "node-name": "backing",
                "driver": imgfmt(),
                "file": {
                    "driver": "file",
                    "filename": backing_img()
                }
            }
        });
        Ok(())
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;

        os::remove(test_img())?;
        os::remove(target_img())?;
        os::remove(backing_img())
    }

    fn test_cor(&mut self, t: &Case) -> Result<()> {
        self.vm.cmd(
            "blockdev-add",
            json!({
                "node-name": "filter",
                "driver": "copy-on-read",
                "file": self.filterless_chain
            }),
        )?;

        self.vm.cmd(
            "blockdev-mirror",
            kwargs! { job_id: "mirror",
            device: "filter",
            target: "target",
            sync: "top" },
        )?;

        self.vm.complete_and_wait_with("mirror")?;

        self.vm.qmp("blockdev-del", kwargs! { node_name: "target" })?;

        let target_map = t.qemu_img_map(&[target_img()])?;

        ensure!(target_map[0]["start"] == 0);
        ensure!(target_map[0]["length"] == 512 * 1024);
        ensure!(target_map[0]["depth"] == 1);

        ensure!(target_map[1]["start"] == 512 * 1024);
        ensure!(target_map[1]["length"] == 512 * 1024);
        ensure!(target_map[1]["depth"] == 0);
        Ok(())
    }

    fn test_implicit_mirror_filter(&mut self) -> Result<()> {
        self.vm.cmd("blockdev-add", &self.filterless_chain)?;

        // We need this so we can query from above the mirror node
        self.vm.cmd(
            "device_add",
            kwargs! { driver: "scsi-hd",
            id: "virtio",
            bus: "vio-scsi.0",
            drive: "source" },
        )?;

        self.vm.cmd(
            "blockdev-mirror",
            kwargs! { job_id: "mirror",
            device: "source",
            target: "target",
            sync: "top" },
        )?;

        // The mirror filter is now an implicit node, so it should be
        // invisible when querying the backing chain
        let blockdevs = self.vm.qmp("query-block", ())?["return"].clone();
        let device_info = blockdevs
            .as_array()
            .into_iter()
            .flatten()
            .find(|dev| dev["qdev"] == "virtio")
            .ok_or_else(|| Error::python("StopIteration", ""))?;

        ensure!(device_info["inserted"]["node-name"] == "source");

        let image_info = &device_info["inserted"]["image"];
        ensure!(image_info["filename"] == test_img());
        ensure!(image_info["backing-image"]["filename"] == backing_img());

        self.vm.complete_and_wait_with("mirror")
    }

    fn test_explicit_mirror_filter(&mut self) -> Result<()> {
        // Same test as above, but this time we give the mirror filter
        // a node-name so it will not be invisible
        self.vm.cmd("blockdev-add", &self.filterless_chain)?;

        // We need this so we can query from above the mirror node
        self.vm.cmd(
            "device_add",
            kwargs! { driver: "scsi-hd",
            id: "virtio",
            bus: "vio-scsi.0",
            drive: "source" },
        )?;

        self.vm.cmd(
            "blockdev-mirror",
            kwargs! { job_id: "mirror",
            device: "source",
            target: "target",
            sync: "top",
            filter_node_name: "mirror-filter" },
        )?;

        // With a node-name given to it, the mirror filter should now
        // be visible
        let blockdevs = self.vm.qmp("query-block", ())?["return"].clone();
        let device_info = blockdevs
            .as_array()
            .into_iter()
            .flatten()
            .find(|dev| dev["qdev"] == "virtio")
            .ok_or_else(|| Error::python("StopIteration", ""))?;

        ensure!(device_info["inserted"]["node-name"] == "mirror-filter");

        self.vm.complete_and_wait_with("mirror")
    }
}

iotests::iotest! {
    name: "041", groups: [rw, auto, backing],
    supported_fmts: ["qcow2", "qed"],
    supported_protocols: ["file"],
    supported_platforms: ["linux", "freebsd", "netbsd", "openbsd"],
    fn t041: unittest {
        TestSingleDrive,
        TestSingleBlockdev,
        TestSingleDriveZeroLength: TestSingleDrive { image_len: 0 } without [test_small_buffer2, test_large_cluster],
        TestSingleBlockdevZeroLength: TestSingleBlockdev { image_len: 0 } without [test_small_target, test_large_target],
        TestSingleDriveUnalignedLength: TestSingleDrive { image_len: 1025 * 1024 }
            without [test_small_buffer2, test_large_cluster],
        TestSingleBlockdevUnalignedLength: TestSingleBlockdev { image_len: 1025 * 1024 },
        TestMirrorNoBacking,
        TestMirrorResized,
        TestReadErrors,
        TestWriteErrors,
        TestSetSpeed,
        TestUnbackedSource,
        TestGranularity,
        TestRepairQuorum,
        TestOrphanedSource,
        TestReplaces,
        TestFilters,
    }
}
