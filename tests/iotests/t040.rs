//! Upstream 040: live block commit (block-commit) — paths and node names, relative paths, speed, errors, filters.

use iotests::json::py_repr;
use iotests::prelude::*;
use iotests::qmp::Kwargs;

fn backing_img() -> String {
    os::path::join(test_dir(), "backing.img")
}

fn mid_img() -> String {
    os::path::join(test_dir(), "mid.img")
}

fn test_img() -> String {
    os::path::join(test_dir(), "test.img")
}

/// Abstract base class for image commit test cases
struct ImageCommitTestCase {
    vm: Vm,
}

#[iotests::test_case]
impl ImageCommitTestCase {
    fn new(t: &Case) -> Self {
        ImageCommitTestCase { vm: t.vm() }
    }

    fn wait_for_complete(&mut self, need_ready: bool) -> Result<()> {
        let mut completed = false;
        let mut ready = false;
        while !completed {
            for event in self.vm.get_qmp_events_with(true)? {
                if event["event"] == "BLOCK_JOB_COMPLETED" {
                    assert_qmp_absent(&event, "data/error")?;
                    assert_qmp(&event, "data/type", "commit")?;
                    assert_qmp(&event, "data/device", "drive0")?;
                    assert_qmp(&event, "data/offset", dictpath(&event, "data/len")?.clone())?;
                    if need_ready {
                        assert_true!(ready, "Expecting BLOCK_JOB_COMPLETED event");
                    }
                    completed = true;
                } else if event["event"] == "BLOCK_JOB_READY" {
                    ready = true;
                    assert_qmp(&event, "data/type", "commit")?;
                    assert_qmp(&event, "data/device", "drive0")?;
                    self.vm.qmp("block-job-complete", kwargs! { device: "drive0" })?;
                }
            }
        }

        self.vm.assert_no_active_block_jobs()?;
        self.vm.shutdown()
    }

    fn run_commit_test(&mut self, top: &str, base: &str, need_ready: bool, node_names: bool) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;
        if node_names {
            self.vm.cmd("block-commit", kwargs! { device: "drive0", top_node: top, base_node: base })?;
        } else {
            self.vm.cmd("block-commit", kwargs! { device: "drive0", top: top, base: base })?;
        }
        self.wait_for_complete(need_ready)
    }

    fn run_default_commit_test(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;
        self.vm.cmd("block-commit", kwargs! { device: "drive0" })?;
        self.wait_for_complete(false)
    }
}

struct TestSingleDrive {
    base: ImageCommitTestCase,
    image_len: u64,
}

impl TestSingleDrive {
    // Need some space after the copied data so that throttling is effective in
    // tests that use it rather than just completing the job immediately
    #[allow(dead_code)] // a class attribute the Python test never reads
    const TEST_LEN: u64 = 1024 * 256;
}

#[iotests::test_case(extends = ImageCommitTestCase)]
impl TestSingleDrive {
    fn new(t: &Case) -> Result<Self> {
        Ok(TestSingleDrive { base: ImageCommitTestCase::new(t)?, image_len: 2 * 1024 * 1024 })
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
            mid_img()
        ])?;
        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            "-o",
            format!("backing_file={}", mid_img()),
            "-F",
            imgfmt(),
            test_img()
        ])?;
        if self.image_len != 0 {
            t.qemu_io(&args!["-f", "raw", "-c", "write -P 0xab 0 524288", backing_img()])?;
            t.qemu_io(&args!["-f", imgfmt(), "-c", "write -P 0xef 524288 524288", mid_img()])?;
        }
        self.vm = t.vm();
        self.vm.add_drive_with(
            test_img(),
            Drive {
                opts: "node-name=top,backing.node-name=mid,backing.backing.node-name=base".into(),
                interface: "none",
                ..Default::default()
            },
        );
        self.vm.add_device("virtio-scsi");
        self.vm.add_device("scsi-hd,id=scsi0,drive=drive0");
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(test_img())?;
        os::remove(mid_img())?;
        os::remove(backing_img())
    }

    fn test_commit(&mut self, t: &Case) -> Result<()> {
        self.run_commit_test(&mid_img(), &backing_img(), false, false)?;
        if self.image_len == 0 {
            return Ok(());
        }
        t.qemu_io(&args!["-f", "raw", "-c", "read -P 0xab 0 524288", backing_img()])?;
        t.qemu_io(&args!["-f", "raw", "-c", "read -P 0xef 524288 524288", backing_img()])?;
        Ok(())
    }

    fn test_commit_node(&mut self, t: &Case) -> Result<()> {
        self.run_commit_test("mid", "base", false, true)?;
        if self.image_len == 0 {
            return Ok(());
        }
        t.qemu_io(&args!["-f", "raw", "-c", "read -P 0xab 0 524288", backing_img()])?;
        t.qemu_io(&args!["-f", "raw", "-c", "read -P 0xef 524288 524288", backing_img()])?;
        Ok(())
    }

    #[skip_if_unsupported(["throttle"])]
    fn test_commit_with_filter_and_quit(&mut self) -> Result<()> {
        self.vm.cmd("object-add", kwargs! { qom_type: "throttle-group", id: "tg" })?;

        // Add a filter outside of the backing chain
        self.vm.cmd(
            "blockdev-add",
            kwargs! { driver: "throttle", node_name: "filter", throttle_group: "tg", file: "mid" },
        )?;

        self.vm.cmd("block-commit", kwargs! { device: "drive0" })?;

        // Quit immediately, thus forcing a simultaneous cancel of the
        // block job and a bdrv_drain_all()
        self.vm.cmd("quit", ())?;
        Ok(())
    }

    // Same as above, but this time we add the filter after starting the job
    #[skip_if_unsupported(["throttle"])]
    fn test_commit_plus_filter_and_quit(&mut self) -> Result<()> {
        self.vm.cmd("object-add", kwargs! { qom_type: "throttle-group", id: "tg" })?;

        self.vm.cmd("block-commit", kwargs! { device: "drive0" })?;

        // Add a filter outside of the backing chain
        self.vm.cmd(
            "blockdev-add",
            kwargs! { driver: "throttle", node_name: "filter", throttle_group: "tg", file: "mid" },
        )?;

        // Quit immediately, thus forcing a simultaneous cancel of the
        // block job and a bdrv_drain_all()
        self.vm.cmd("quit", ())?;
        Ok(())
    }

    fn test_device_not_found(&mut self) -> Result<()> {
        let result = self.vm.qmp("block-commit", kwargs! { device: "nonexistent", top: mid_img() })?;
        assert_qmp(&result, "error/class", "DeviceNotFound")
    }

    fn test_top_same_base(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;
        let result =
            self.vm.qmp("block-commit", kwargs! { device: "drive0", top: backing_img(), base: backing_img() })?;
        assert_qmp(&result, "error/class", "GenericError")?;
        assert_qmp(&result, "error/desc", format!("Can't find '{}' in the backing chain", backing_img()))
    }

    fn test_top_invalid(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;
        let result = self.vm.qmp("block-commit", kwargs! { device: "drive0", top: "badfile", base: backing_img() })?;
        assert_qmp(&result, "error/class", "GenericError")?;
        assert_qmp(&result, "error/desc", "Top image file badfile not found")
    }

    fn test_base_invalid(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;
        let result = self.vm.qmp("block-commit", kwargs! { device: "drive0", top: mid_img(), base: "badfile" })?;
        assert_qmp(&result, "error/class", "GenericError")?;
        assert_qmp(&result, "error/desc", "Can't find 'badfile' in the backing chain")
    }

    fn test_top_node_invalid(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;
        let result =
            self.vm.qmp("block-commit", kwargs! { device: "drive0", top_node: "badfile", base_node: "base" })?;
        assert_qmp(&result, "error/class", "GenericError")?;
        assert_qmp(&result, "error/desc", "Cannot find device='' nor node-name='badfile'")
    }

    fn test_base_node_invalid(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;
        let result =
            self.vm.qmp("block-commit", kwargs! { device: "drive0", top_node: "mid", base_node: "badfile" })?;
        assert_qmp(&result, "error/class", "GenericError")?;
        assert_qmp(&result, "error/desc", "Cannot find device='' nor node-name='badfile'")
    }

    fn test_top_path_and_node(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;
        let result = self
            .vm
            .qmp("block-commit", kwargs! { device: "drive0", top_node: "mid", base_node: "base", top: mid_img() })?;
        assert_qmp(&result, "error/class", "GenericError")?;
        assert_qmp(&result, "error/desc", "'top-node' and 'top' are mutually exclusive")
    }

    fn test_base_path_and_node(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;
        let result = self.vm.qmp(
            "block-commit",
            kwargs! { device: "drive0", top_node: "mid", base_node: "base", base: backing_img() },
        )?;
        assert_qmp(&result, "error/class", "GenericError")?;
        assert_qmp(&result, "error/desc", "'base-node' and 'base' are mutually exclusive")
    }

    fn test_top_is_active(&mut self, t: &Case) -> Result<()> {
        self.run_commit_test(&test_img(), &backing_img(), true, false)?;
        if self.image_len == 0 {
            return Ok(());
        }
        t.qemu_io(&args!["-f", "raw", "-c", "read -P 0xab 0 524288", backing_img()])?;
        t.qemu_io(&args!["-f", "raw", "-c", "read -P 0xef 524288 524288", backing_img()])?;
        Ok(())
    }

    fn test_top_is_default_active(&mut self, t: &Case) -> Result<()> {
        self.run_default_commit_test()?;
        if self.image_len == 0 {
            return Ok(());
        }
        t.qemu_io(&args!["-f", "raw", "-c", "read -P 0xab 0 524288", backing_img()])?;
        t.qemu_io(&args!["-f", "raw", "-c", "read -P 0xef 524288 524288", backing_img()])?;
        Ok(())
    }

    fn test_top_and_base_reversed(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;
        let result = self.vm.qmp("block-commit", kwargs! { device: "drive0", top: backing_img(), base: mid_img() })?;
        assert_qmp(&result, "error/class", "GenericError")?;
        assert_qmp(&result, "error/desc", format!("Can't find '{}' in the backing chain", mid_img()))
    }

    fn test_top_and_base_node_reversed(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;
        let result = self.vm.qmp("block-commit", kwargs! { device: "drive0", top_node: "base", base_node: "top" })?;
        assert_qmp(&result, "error/class", "GenericError")?;
        assert_qmp(&result, "error/desc", "'top' is not in this backing file chain")
    }

    fn test_top_node_in_wrong_chain(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd("blockdev-add", kwargs! { driver: "null-co", node_name: "null" })?;

        let result = self.vm.qmp("block-commit", kwargs! { device: "drive0", top_node: "null", base_node: "base" })?;
        assert_qmp(&result, "error/class", "GenericError")?;
        assert_qmp(&result, "error/desc", "'null' is not in this backing file chain")
    }

    // When the job is running on a BB that is automatically deleted on hot
    // unplug, the job is cancelled when the device disappears
    fn test_hot_unplug(&mut self, t: &Case) -> Result<()> {
        if self.image_len == 0 {
            return Ok(());
        }

        self.vm.assert_no_active_block_jobs()?;
        self.base.vm.cmd(
            "block-commit",
            kwargs! { device: "drive0", top: mid_img(), base: backing_img(), speed: (self.image_len / 4) },
        )?;
        self.vm.cmd("device_del", kwargs! { id: "scsi0" })?;

        let mut cancelled = false;
        let mut deleted = false;
        while !cancelled || !deleted {
            for event in self.vm.get_qmp_events_with(true)? {
                if event["event"] == "DEVICE_DELETED" {
                    assert_qmp(&event, "data/device", "scsi0")?;
                    deleted = true;
                } else if event["event"] == "BLOCK_JOB_CANCELLED" {
                    assert_qmp(&event, "data/device", "drive0")?;
                    cancelled = true;
                } else if event["event"] == "JOB_STATUS_CHANGE" {
                    assert_qmp(&event, "data/id", "drive0")?;
                } else {
                    return Err(t.fail(format!("Unexpected event {}", py_repr(&event["event"]))));
                }
            }
        }

        self.vm.assert_no_active_block_jobs()
    }

    // Tests that the insertion of the commit_top filter node doesn't make a
    // difference to query-blockstat
    fn test_implicit_node(&mut self) -> Result<()> {
        if self.image_len == 0 {
            return Ok(());
        }

        self.vm.assert_no_active_block_jobs()?;
        self.base.vm.cmd(
            "block-commit",
            kwargs! { device: "drive0", top: mid_img(), base: backing_img(), speed: (self.image_len / 4) },
        )?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/file", test_img())?;
        assert_qmp(&result, "return[0]/inserted/drv", imgfmt())?;
        assert_qmp(&result, "return[0]/inserted/backing_file", mid_img())?;
        assert_qmp(&result, "return[0]/inserted/backing_file_depth", 2)?;
        assert_qmp(&result, "return[0]/inserted/image/filename", test_img())?;
        assert_qmp(&result, "return[0]/inserted/image/backing-image/filename", mid_img())?;
        assert_qmp(&result, "return[0]/inserted/image/backing-image/backing-image/filename", backing_img())?;

        let result = self.vm.qmp("query-blockstats", ())?;
        assert_qmp(&result, "return[0]/node-name", "top")?;
        assert_qmp(&result, "return[0]/backing/node-name", "mid")?;
        assert_qmp(&result, "return[0]/backing/backing/node-name", "base")?;

        self.vm.cancel_and_wait()?;
        self.vm.assert_no_active_block_jobs()
    }
}

struct TestRelativePaths {
    base: ImageCommitTestCase,
    dir1: &'static str,
    dir2: &'static str,
    dir3: &'static str,
    test_img: String,
    mid_img: &'static str,
    backing_img: &'static str,
    backing_img_abs: String,
    mid_img_abs: String,
}

impl TestRelativePaths {
    const IMAGE_LEN: u64 = 1024 * 1024;
    #[allow(dead_code)] // a class attribute the Python test never reads
    const TEST_LEN: u64 = 1024 * 256;
}

#[iotests::test_case(extends = ImageCommitTestCase)]
impl TestRelativePaths {
    fn new(t: &Case) -> Result<Self> {
        let (dir1, dir2, dir3) = ("dir1", "dir2/", "dir2/dir3/");
        Ok(TestRelativePaths {
            base: ImageCommitTestCase::new(t)?,
            dir1,
            dir2,
            dir3,
            test_img: os::path::join(os::path::join(test_dir(), dir3), "test.img"),
            mid_img: "../mid.img",
            backing_img: "../dir1/backing.img",
            backing_img_abs: os::path::join(os::path::join(test_dir(), dir1), "backing.img"),
            mid_img_abs: os::path::join(os::path::join(test_dir(), dir2), "mid.img"),
        })
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        // try: os.mkdir(…) ×3 except OSError as exception:
        //     if exception.errno != errno.EEXIST: raise
        let made = os::mkdir(os::path::join(test_dir(), self.dir1))
            .and_then(|()| os::mkdir(os::path::join(test_dir(), self.dir2)))
            .and_then(|()| os::mkdir(os::path::join(test_dir(), self.dir3)));
        if let Err(exception) = made
            && exception.errno() != Some(libc::EEXIST)
        {
            return Err(exception);
        }
        t.create_image(&self.backing_img_abs, TestRelativePaths::IMAGE_LEN)?;
        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            "-o",
            format!("backing_file={}", self.backing_img_abs),
            "-F",
            "raw",
            self.mid_img_abs
        ])?;
        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            "-o",
            format!("backing_file={}", self.mid_img_abs),
            "-F",
            imgfmt(),
            self.test_img
        ])?;
        t.qemu_img(&args!["rebase", "-u", "-b", self.backing_img, "-F", "raw", self.mid_img_abs])?;
        t.qemu_img(&args!["rebase", "-u", "-b", self.mid_img, "-F", imgfmt(), self.test_img])?;
        t.qemu_io(&args!["-f", "raw", "-c", "write -P 0xab 0 524288", self.backing_img_abs])?;
        t.qemu_io(&args!["-f", imgfmt(), "-c", "write -P 0xef 524288 524288", self.mid_img_abs])?;
        self.base.vm = t.vm();
        self.base.vm.add_drive(&self.test_img);
        self.base.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(&self.test_img)?;
        os::remove(&self.mid_img_abs)?;
        os::remove(&self.backing_img_abs)?;
        // try: os.rmdir(…) ×3 except OSError as exception:
        //     if exception.errno != errno.EEXIST and exception.errno != errno.ENOTEMPTY: raise
        let removed = os::rmdir(os::path::join(test_dir(), self.dir1))
            .and_then(|()| os::rmdir(os::path::join(test_dir(), self.dir3)))
            .and_then(|()| os::rmdir(os::path::join(test_dir(), self.dir2)));
        if let Err(exception) = removed
            && exception.errno() != Some(libc::EEXIST)
            && exception.errno() != Some(libc::ENOTEMPTY)
        {
            return Err(exception);
        }
        Ok(())
    }

    fn test_commit(&mut self, t: &Case) -> Result<()> {
        self.base.run_commit_test(self.mid_img, self.backing_img, false, false)?;
        t.qemu_io(&args!["-f", "raw", "-c", "read -P 0xab 0 524288", self.backing_img_abs])?;
        t.qemu_io(&args!["-f", "raw", "-c", "read -P 0xef 524288 524288", self.backing_img_abs])?;
        Ok(())
    }

    fn test_device_not_found(&mut self) -> Result<()> {
        let result = self.base.vm.qmp("block-commit", kwargs! { device: "nonexistent", top: self.mid_img })?;
        assert_qmp(&result, "error/class", "DeviceNotFound")
    }

    fn test_top_same_base(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;
        let result =
            self.base.vm.qmp("block-commit", kwargs! { device: "drive0", top: self.mid_img, base: self.mid_img })?;
        assert_qmp(&result, "error/class", "GenericError")?;
        assert_qmp(&result, "error/desc", format!("Can't find '{}' in the backing chain", self.mid_img))
    }

    fn test_top_invalid(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;
        let result =
            self.base.vm.qmp("block-commit", kwargs! { device: "drive0", top: "badfile", base: self.backing_img })?;
        assert_qmp(&result, "error/class", "GenericError")?;
        assert_qmp(&result, "error/desc", "Top image file badfile not found")
    }

    fn test_base_invalid(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;
        let result =
            self.base.vm.qmp("block-commit", kwargs! { device: "drive0", top: self.mid_img, base: "badfile" })?;
        assert_qmp(&result, "error/class", "GenericError")?;
        assert_qmp(&result, "error/desc", "Can't find 'badfile' in the backing chain")
    }

    fn test_top_is_active(&mut self, t: &Case) -> Result<()> {
        let test_img = self.test_img.clone();
        self.base.run_commit_test(&test_img, self.backing_img, false, false)?;
        t.qemu_io(&args!["-f", "raw", "-c", "read -P 0xab 0 524288", self.backing_img_abs])?;
        t.qemu_io(&args!["-f", "raw", "-c", "read -P 0xef 524288 524288", self.backing_img_abs])?;
        Ok(())
    }

    fn test_top_and_base_reversed(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;
        let result = self
            .base
            .vm
            .qmp("block-commit", kwargs! { device: "drive0", top: self.backing_img, base: self.mid_img })?;
        assert_qmp(&result, "error/class", "GenericError")?;
        assert_qmp(&result, "error/desc", format!("Can't find '{}' in the backing chain", self.mid_img))
    }
}

struct TestSetSpeed {
    base: ImageCommitTestCase,
}

impl TestSetSpeed {
    const IMAGE_LEN: u64 = 80 * 1024 * 1024; // MB
}

#[iotests::test_case(extends = ImageCommitTestCase)]
impl TestSetSpeed {
    fn new(t: &Case) -> Result<Self> {
        Ok(TestSetSpeed { base: ImageCommitTestCase::new(t)? })
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
            mid_img()
        ])?;
        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            "-o",
            format!("backing_file={}", mid_img()),
            "-F",
            imgfmt(),
            test_img()
        ])?;
        t.qemu_io(&args!["-f", imgfmt(), "-c", "write -P 0x1 0 512", test_img()])?;
        t.qemu_io(&args!["-f", imgfmt(), "-c", "write -P 0xef 524288 524288", mid_img()])?;
        self.vm = t.vm();
        self.vm.add_drive(format!("blkdebug::{}", test_img()));
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(test_img())?;
        os::remove(mid_img())?;
        os::remove(backing_img())
    }

    fn test_set_speed(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.pause_drive("drive0")?;
        self.vm.cmd("block-commit", kwargs! { device: "drive0", top: mid_img(), speed: 1024 * 1024 })?;

        // Ensure the speed we set was accepted
        let result = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&result, "return[0]/device", "drive0")?;
        assert_qmp(&result, "return[0]/speed", 1024 * 1024)?;

        self.vm.cancel_and_wait_with(CancelAndWait { resume: true, ..Default::default() })?;
        Ok(())
    }
}

struct TestReopenOverlay {
    base: ImageCommitTestCase,
    image_len: u64,
    img0: String,
    img1: String,
    img2: String,
    img3: String,
}

#[iotests::test_case(extends = ImageCommitTestCase)]
impl TestReopenOverlay {
    fn new(t: &Case) -> Result<Self> {
        Ok(TestReopenOverlay {
            base: ImageCommitTestCase::new(t)?,
            image_len: 1024 * 1024,
            img0: os::path::join(test_dir(), "0.img"),
            img1: os::path::join(test_dir(), "1.img"),
            img2: os::path::join(test_dir(), "2.img"),
            img3: os::path::join(test_dir(), "3.img"),
        })
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.create_image(&self.img0, self.image_len)?;
        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            "-o",
            format!("backing_file={}", self.img0),
            "-F",
            "raw",
            self.img1
        ])?;
        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            "-o",
            format!("backing_file={}", self.img1),
            "-F",
            imgfmt(),
            self.img2
        ])?;
        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            "-o",
            format!("backing_file={}", self.img2),
            "-F",
            imgfmt(),
            self.img3
        ])?;
        t.qemu_io(&args!["-f", imgfmt(), "-c", "write -P 0xab 0 128K", self.img1])?;
        self.base.vm = t.vm();
        self.base.vm.add_drive(&self.img3);
        self.base.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(&self.img0)?;
        os::remove(&self.img1)?;
        os::remove(&self.img2)?;
        os::remove(&self.img3)
    }

    // This tests what happens when the overlay image of the 'top' node
    // needs to be reopened in read-write mode in order to update the
    // backing image string.
    fn test_reopen_overlay(&mut self) -> Result<()> {
        self.base.run_commit_test(&self.img1, &self.img0, false, false)
    }
}

struct TestErrorHandling {
    image_len: u64,
    blkdebug_file: String,
    vm: Vm,
}

#[iotests::test_case]
impl TestErrorHandling {
    fn new(t: &Case) -> Self {
        TestErrorHandling { image_len: 2 * 1024 * 1024, blkdebug_file: String::new(), vm: t.vm() }
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
            mid_img()
        ])?;
        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            "-o",
            format!("backing_file={}", mid_img()),
            "-F",
            imgfmt(),
            test_img()
        ])?;

        t.qemu_io(&args!["-f", imgfmt(), "-c", "write -P 0x11 0 512k", mid_img()])?;
        t.qemu_io(&args!["-f", imgfmt(), "-c", "write -P 0x22 0 512k", test_img()])?;

        self.vm = t.vm();
        self.vm.launch()?;

        self.blkdebug_file = t.file_path("blkdebug.conf");
        Ok(())
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(test_img())?;
        os::remove(mid_img())?;
        os::remove(backing_img())
    }

    fn blockdev_add(&mut self, kwargs: Kwargs) -> Result<()> {
        self.vm.cmd("blockdev-add", kwargs)?;
        Ok(())
    }

    fn add_block_nodes(
        &mut self,
        base_debug: Option<Value>,
        mid_debug: Option<Value>,
        top_debug: Option<Value>,
    ) -> Result<()> {
        self.blockdev_add(kwargs! { node_name: "base-file", driver: "file", filename: backing_img() })?;
        self.blockdev_add(kwargs! { node_name: "mid-file", driver: "file", filename: mid_img() })?;
        self.blockdev_add(kwargs! { node_name: "top-file", driver: "file", filename: test_img() })?;

        if let Some(base_debug) = &base_debug {
            self.blockdev_add(
                kwargs! { node_name: "base-dbg", driver: "blkdebug", image: "base-file", inject_error: base_debug },
            )?;
        }
        if let Some(mid_debug) = &mid_debug {
            self.blockdev_add(
                kwargs! { node_name: "mid-dbg", driver: "blkdebug", image: "mid-file", inject_error: mid_debug },
            )?;
        }
        if let Some(top_debug) = &top_debug {
            self.blockdev_add(
                kwargs! { node_name: "top-dbg", driver: "blkdebug", image: "top-file", inject_error: top_debug },
            )?;
        }

        self.blockdev_add(kwargs! { node_name: "base-fmt", driver: "raw",
        file: (if base_debug.is_some() { "base-dbg" } else { "base-file" }) })?;
        self.blockdev_add(kwargs! { node_name: "mid-fmt", driver: imgfmt(),
        file: (if mid_debug.is_some() { "mid-dbg" } else { "mid-file" }),
        backing: "base-fmt" })?;
        self.blockdev_add(kwargs! { node_name: "top-fmt", driver: imgfmt(),
        file: (if top_debug.is_some() { "top-dbg" } else { "top-file" }),
        backing: "mid-fmt" })
    }

    fn run_job(&mut self, t: &Case, expected_events: Vec<Value>, error_pauses_job: bool) -> Result<()> {
        let match_device = json!({"data": {"device": "job0"}});
        let events = [
            ("BLOCK_JOB_COMPLETED", Some(&match_device)),
            ("BLOCK_JOB_CANCELLED", Some(&match_device)),
            ("BLOCK_JOB_ERROR", Some(&match_device)),
            ("BLOCK_JOB_READY", Some(&match_device)),
        ];

        let mut completed = false;
        let mut log = Vec::new();
        while !completed {
            let ev = self.vm.events_wait_with(&events, 5.0)?;
            if ev["event"] == "BLOCK_JOB_COMPLETED" {
                completed = true;
            } else if ev["event"] == "BLOCK_JOB_ERROR" {
                if error_pauses_job {
                    self.vm.cmd("block-job-resume", kwargs! { device: "job0" })?;
                }
            } else if ev["event"] == "BLOCK_JOB_READY" {
                self.vm.cmd("block-job-complete", kwargs! { device: "job0" })?;
            } else {
                return Err(t.fail(format!("Unexpected event: {}", py_repr(&ev))));
            }
            log.push(iotests::filters::qmp_event(ev));
        }

        t.set_max_diff(None);
        assert_equal!(expected_events, log);
        Ok(())
    }

    fn event_error(&self, op: &str, action: &str) -> Value {
        json!({
            "event": "BLOCK_JOB_ERROR",
            "data": {"action": action, "device": "job0", "operation": op},
            "timestamp": {"microseconds": "USECS", "seconds": "SECS"}
        })
    }

    fn event_ready(&self) -> Value {
        json!({
            "event": "BLOCK_JOB_READY",
            "data": {"device": "job0",
                     "len": 524288,
                     "offset": 524288,
                     "speed": 0,
                     "type": "commit"},
            "timestamp": {"microseconds": "USECS", "seconds": "SECS"},
        })
    }

    fn event_completed(&self, errmsg: Option<&str>, active: bool) -> Value {
        let max_len = if active { 524288 } else { self.image_len };
        let mut data = json!({
            "device": "job0",
            "len": max_len,
            "offset": if errmsg.is_some() { 0 } else { max_len },
            "speed": 0,
            "type": "commit"
        });
        if let Some(errmsg) = errmsg {
            data["error"] = json!(errmsg);
        }

        json!({
            "event": "BLOCK_JOB_COMPLETED",
            "data": data,
            "timestamp": {"microseconds": "USECS", "seconds": "SECS"},
        })
    }

    fn blkdebug_event(&self, event: Option<&str>, is_raw: bool) -> Option<Value> {
        if let Some(event) = event {
            return Some(json!([{
                "event": event,
                "sector": if is_raw { 512 } else { 1024 },
                "once": true,
            }]));
        }
        None
    }

    fn prepare_and_start_job(
        &mut self,
        on_error: &str,
        active: bool,
        top_event: Option<&str>,
        mid_event: Option<&str>,
        base_event: Option<&str>,
    ) -> Result<()> {
        let top_debug = self.blkdebug_event(top_event, false);
        let mid_debug = self.blkdebug_event(mid_event, false);
        let base_debug = self.blkdebug_event(base_event, true);

        self.add_block_nodes(base_debug, mid_debug, top_debug)?;

        self.vm.cmd(
            "block-commit",
            kwargs! { job_id: "job0", device: "top-fmt",
            top_node: (if active { "top-fmt" } else { "mid-fmt" }),
            base_node: (if active { "mid-fmt" } else { "base-fmt" }),
            on_error: on_error },
        )?;
        Ok(())
    }

    #[allow(non_snake_case)]
    fn testActiveReadErrorReport(&mut self, t: &Case) -> Result<()> {
        self.prepare_and_start_job("report", true, Some("read_aio"), None, None)?;
        self.run_job(
            t,
            vec![self.event_error("read", "report"), self.event_completed(Some("Input/output error"), true)],
            false,
        )?;

        self.vm.shutdown()?;
        assert_false!(t.compare_images(&test_img(), &mid_img())?, "target image matches source after error");
        Ok(())
    }

    #[allow(non_snake_case)]
    fn testActiveReadErrorStop(&mut self, t: &Case) -> Result<()> {
        self.prepare_and_start_job("stop", true, Some("read_aio"), None, None)?;
        self.run_job(
            t,
            vec![self.event_error("read", "stop"), self.event_ready(), self.event_completed(None, true)],
            true,
        )?;

        self.vm.shutdown()?;
        assert_true!(t.compare_images(&test_img(), &mid_img())?, "target image does not match source after commit");
        Ok(())
    }

    #[allow(non_snake_case)]
    fn testActiveReadErrorIgnore(&mut self, t: &Case) -> Result<()> {
        self.prepare_and_start_job("ignore", true, Some("read_aio"), None, None)?;
        self.run_job(
            t,
            vec![self.event_error("read", "ignore"), self.event_ready(), self.event_completed(None, true)],
            false,
        )?;

        // For commit, 'ignore' actually means retry, so this will succeed
        self.vm.shutdown()?;
        assert_true!(t.compare_images(&test_img(), &mid_img())?, "target image does not match source after commit");
        Ok(())
    }

    #[allow(non_snake_case)]
    fn testActiveWriteErrorReport(&mut self, t: &Case) -> Result<()> {
        self.prepare_and_start_job("report", true, None, Some("write_aio"), None)?;
        self.run_job(
            t,
            vec![self.event_error("write", "report"), self.event_completed(Some("Input/output error"), true)],
            false,
        )?;

        self.vm.shutdown()?;
        assert_false!(t.compare_images(&test_img(), &mid_img())?, "target image matches source after error");
        Ok(())
    }

    #[allow(non_snake_case)]
    fn testActiveWriteErrorStop(&mut self, t: &Case) -> Result<()> {
        self.prepare_and_start_job("stop", true, None, Some("write_aio"), None)?;
        self.run_job(
            t,
            vec![self.event_error("write", "stop"), self.event_ready(), self.event_completed(None, true)],
            true,
        )?;

        self.vm.shutdown()?;
        assert_true!(t.compare_images(&test_img(), &mid_img())?, "target image does not match source after commit");
        Ok(())
    }

    #[allow(non_snake_case)]
    fn testActiveWriteErrorIgnore(&mut self, t: &Case) -> Result<()> {
        self.prepare_and_start_job("ignore", true, None, Some("write_aio"), None)?;
        self.run_job(
            t,
            vec![self.event_error("write", "ignore"), self.event_ready(), self.event_completed(None, true)],
            false,
        )?;

        // For commit, 'ignore' actually means retry, so this will succeed
        self.vm.shutdown()?;
        assert_true!(t.compare_images(&test_img(), &mid_img())?, "target image does not match source after commit");
        Ok(())
    }

    #[allow(non_snake_case)]
    fn testIntermediateReadErrorReport(&mut self, t: &Case) -> Result<()> {
        self.prepare_and_start_job("report", false, None, Some("read_aio"), None)?;
        self.run_job(
            t,
            vec![self.event_error("read", "report"), self.event_completed(Some("Input/output error"), false)],
            false,
        )?;

        self.vm.shutdown()?;
        assert_false!(
            t.compare_images_with(&mid_img(), &backing_img(), imgfmt().as_str(), "raw")?,
            "target image matches source after error"
        );
        Ok(())
    }

    #[allow(non_snake_case)]
    fn testIntermediateReadErrorStop(&mut self, t: &Case) -> Result<()> {
        self.prepare_and_start_job("stop", false, None, Some("read_aio"), None)?;
        self.run_job(t, vec![self.event_error("read", "stop"), self.event_completed(None, false)], true)?;

        self.vm.shutdown()?;
        assert_true!(
            t.compare_images_with(&mid_img(), &backing_img(), imgfmt().as_str(), "raw")?,
            "target image does not match source after commit"
        );
        Ok(())
    }

    #[allow(non_snake_case)]
    fn testIntermediateReadErrorIgnore(&mut self, t: &Case) -> Result<()> {
        self.prepare_and_start_job("ignore", false, None, Some("read_aio"), None)?;
        self.run_job(t, vec![self.event_error("read", "ignore"), self.event_completed(None, false)], false)?;

        // For commit, 'ignore' actually means retry, so this will succeed
        self.vm.shutdown()?;
        assert_true!(
            t.compare_images_with(&mid_img(), &backing_img(), imgfmt().as_str(), "raw")?,
            "target image does not match source after commit"
        );
        Ok(())
    }

    #[allow(non_snake_case)]
    fn testIntermediateWriteErrorReport(&mut self, t: &Case) -> Result<()> {
        self.prepare_and_start_job("report", false, None, None, Some("write_aio"))?;
        self.run_job(
            t,
            vec![self.event_error("write", "report"), self.event_completed(Some("Input/output error"), false)],
            false,
        )?;

        self.vm.shutdown()?;
        assert_false!(
            t.compare_images_with(&mid_img(), &backing_img(), imgfmt().as_str(), "raw")?,
            "target image matches source after error"
        );
        Ok(())
    }

    #[allow(non_snake_case)]
    fn testIntermediateWriteErrorStop(&mut self, t: &Case) -> Result<()> {
        self.prepare_and_start_job("stop", false, None, None, Some("write_aio"))?;
        self.run_job(t, vec![self.event_error("write", "stop"), self.event_completed(None, false)], true)?;

        self.vm.shutdown()?;
        assert_true!(
            t.compare_images_with(&mid_img(), &backing_img(), imgfmt().as_str(), "raw")?,
            "target image does not match source after commit"
        );
        Ok(())
    }

    #[allow(non_snake_case)]
    fn testIntermediateWriteErrorIgnore(&mut self, t: &Case) -> Result<()> {
        self.prepare_and_start_job("ignore", false, None, None, Some("write_aio"))?;
        self.run_job(t, vec![self.event_error("write", "ignore"), self.event_completed(None, false)], false)?;

        // For commit, 'ignore' actually means retry, so this will succeed
        self.vm.shutdown()?;
        assert_true!(
            t.compare_images_with(&mid_img(), &backing_img(), imgfmt().as_str(), "raw")?,
            "target image does not match source after commit"
        );
        Ok(())
    }
}

struct TestCommitWithFilters {
    img0: String,
    img1: String,
    img2: String,
    img3: String,
    pattern_files: Vec<String>,
    vm: Vm,
}

#[iotests::test_case]
impl TestCommitWithFilters {
    fn new(t: &Case) -> Self {
        TestCommitWithFilters {
            img0: os::path::join(test_dir(), "0.img"),
            img1: os::path::join(test_dir(), "1.img"),
            img2: os::path::join(test_dir(), "2.img"),
            img3: os::path::join(test_dir(), "3.img"),
            pattern_files: Vec::new(),
            vm: t.vm(),
        }
    }

    fn do_test_io(&self, t: &Case, read_or_write: &str) -> Result<()> {
        for (index, pattern_file) in self.pattern_files.iter().enumerate() {
            t.qemu_io(&args![
                "-f",
                imgfmt(),
                "-c",
                format!("{read_or_write} -P {} {index}M 1M", index + 1),
                pattern_file
            ])?;
        }
        Ok(())
    }

    #[skip_if_unsupported(["throttle"])]
    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", "-f", imgfmt(), self.img0, "64M"])?;
        t.qemu_img(&args!["create", "-f", imgfmt(), self.img1, "64M"])?;
        t.qemu_img(&args!["create", "-f", imgfmt(), self.img2, "64M"])?;
        t.qemu_img(&args!["create", "-f", imgfmt(), self.img3, "64M"])?;

        // Distributions of the patterns in the files; this is checked
        // by tearDown() and should be changed by the test cases as is
        // necessary
        self.pattern_files = vec![self.img0.clone(), self.img1.clone(), self.img2.clone(), self.img3.clone()];

        self.do_test_io(t, "write")?;

        self.vm = t.vm();
        self.vm.add_device("virtio-scsi,id=vio-scsi");
        self.vm.launch()?;

        self.vm.cmd("object-add", kwargs! { qom_type: "throttle-group", id: "tg" })?;

        self.vm.cmd(
            "blockdev-add",
            json!({
                "node-name": "top-filter",
                "driver": "throttle",
                "throttle-group": "tg",
                "file": {
                    "node-name": "cow-3",
                    "driver": imgfmt(),
                    "file": {
                        "driver": "file",
                        "filename": self.img3
                    },
                    "backing": {
                        "node-name": "cow-2",
                        "driver": imgfmt(),
                        "file": {
                            "driver": "file",
                            "filename": self.img2
                        },
                        "backing": {
                            "node-name": "cow-1",
                            "driver": imgfmt(),
                            "file": {
                                "driver": "file",
                                "filename": self.img1
                            },
                            "backing": {
                                "node-name": "bottom-filter",
                                "driver": "throttle",
                                "throttle-group": "tg",
                                "file": {
                                    "node-name": "cow-0",
                                    "driver": imgfmt(),
                                    "file": {
                                        "driver": "file",
                                        "filename": self.img0
                                    }
                                }
                            }
                        }
                    }
                }
            }),
        )?;
        Ok(())
    }

    fn tear_down(&mut self, t: &Case) -> Result<()> {
        self.vm.shutdown()?;
        self.do_test_io(t, "read")?;

        os::remove(&self.img3)?;
        os::remove(&self.img2)?;
        os::remove(&self.img1)?;
        os::remove(&self.img0)
    }

    // Filters make for funny filenames, so we cannot just use
    // self.imgX to get them
    #[allow(dead_code)] // upstream defines it but no case calls it
    fn get_filename(&mut self, node: &str) -> Result<Value> {
        Ok(self.vm.node_info(node)?.unwrap_or_default()["image"]["filename"].clone())
    }

    fn test_filterless_commit(&mut self) -> Result<()> {
        self.vm.cmd(
            "block-commit",
            kwargs! { job_id: "commit",
            device: "top-filter",
            top_node: "cow-2",
            base_node: "cow-1",
            backing_file: self.img1 },
        )?;
        self.vm.wait_until_completed_with("commit")?;

        assert_is_not_none!(self.vm.node_info("cow-3")?);
        assert_is_none!(self.vm.node_info("cow-2")?);
        assert_is_not_none!(self.vm.node_info("cow-1")?);

        // 2 has been committed into 1
        self.pattern_files[2] = self.img1.clone();
        Ok(())
    }

    fn test_commit_through_filter(&mut self) -> Result<()> {
        self.vm.cmd(
            "block-commit",
            kwargs! { job_id: "commit",
            device: "top-filter",
            top_node: "cow-1",
            base_node: "cow-0",
            backing_file: self.img0 },
        )?;
        self.vm.wait_until_completed_with("commit")?;

        assert_is_not_none!(self.vm.node_info("cow-2")?);
        assert_is_none!(self.vm.node_info("cow-1")?);
        assert_is_none!(self.vm.node_info("bottom-filter")?);
        assert_is_not_none!(self.vm.node_info("cow-0")?);

        // 1 has been committed into 0
        self.pattern_files[1] = self.img0.clone();
        Ok(())
    }

    fn test_filtered_active_commit_with_filter(&mut self) -> Result<()> {
        // Add a device, so the commit job finds a parent it can change
        // to point to the base node (so we can test that top-filter is
        // dropped from the graph)
        self.vm.cmd("device_add", kwargs! { id: "drv0", driver: "scsi-hd", bus: "vio-scsi.0", drive: "top-filter" })?;

        // Try to release our reference to top-filter; that should not
        // work because drv0 uses it
        let result = self.vm.qmp("blockdev-del", kwargs! { node_name: "top-filter" })?;
        assert_qmp(&result, "error/class", "GenericError")?;
        assert_qmp(&result, "error/desc", "Node top-filter is in use")?;

        self.vm.cmd(
            "block-commit",
            kwargs! { job_id: "commit",
            device: "top-filter",
            base_node: "cow-2" },
        )?;
        self.vm.complete_and_wait_with("commit")?;

        // Try to release our reference to top-filter again
        self.vm.cmd("blockdev-del", kwargs! { node_name: "top-filter" })?;

        assert_is_none!(self.vm.node_info("top-filter")?);
        assert_is_none!(self.vm.node_info("cow-3")?);
        assert_is_not_none!(self.vm.node_info("cow-2")?);

        // Check that drv0 is now connected to cow-2
        let blockdevs = self.vm.qmp("query-block", ())?["return"].clone();
        let drv0 = blockdevs
            .as_array()
            .into_iter()
            .flatten()
            .find(|dev| dev["qdev"] == "drv0")
            .ok_or_else(|| Error::python("StopIteration", ""))?;
        assert_equal!(drv0["inserted"]["node-name"], "cow-2");

        // 3 has been committed into 2
        self.pattern_files[3] = self.img2.clone();
        Ok(())
    }

    fn test_filtered_active_commit_without_filter(&mut self) -> Result<()> {
        self.vm.cmd(
            "block-commit",
            kwargs! { job_id: "commit",
            device: "top-filter",
            top_node: "cow-3",
            base_node: "cow-2" },
        )?;
        self.vm.complete_and_wait_with("commit")?;

        assert_is_not_none!(self.vm.node_info("top-filter")?);
        assert_is_none!(self.vm.node_info("cow-3")?);
        assert_is_not_none!(self.vm.node_info("cow-2")?);

        // 3 has been committed into 2
        self.pattern_files[3] = self.img2.clone();
        Ok(())
    }
}

struct TestCommitWithOverriddenBacking {
    img_base_a: String,
    img_base_b: String,
    img_top: String,
    vm: Vm,
}

#[iotests::test_case]
impl TestCommitWithOverriddenBacking {
    fn new(t: &Case) -> Self {
        TestCommitWithOverriddenBacking {
            img_base_a: os::path::join(test_dir(), "base_a.img"),
            img_base_b: os::path::join(test_dir(), "base_b.img"),
            img_top: os::path::join(test_dir(), "top.img"),
            vm: t.vm(),
        }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", "-f", imgfmt(), self.img_base_a, "1M"])?;
        t.qemu_img(&args!["create", "-f", imgfmt(), self.img_base_b, "1M"])?;
        t.qemu_img(&args!["create", "-f", imgfmt(), "-b", self.img_base_a, "-F", imgfmt(), self.img_top])?;

        self.vm = t.vm();
        self.vm.launch()?;

        // Use base_b instead of base_a as the backing of top
        self.vm.cmd(
            "blockdev-add",
            json!({
                "node-name": "top",
                "driver": imgfmt(),
                "file": {
                    "driver": "file",
                    "filename": self.img_top
                },
                "backing": {
                    "node-name": "base",
                    "driver": imgfmt(),
                    "file": {
                        "driver": "file",
                        "filename": self.img_base_b
                    }
                }
            }),
        )?;
        Ok(())
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(&self.img_top)?;
        os::remove(&self.img_base_a)?;
        os::remove(&self.img_base_b)
    }

    fn test_commit_to_a(&mut self) -> Result<()> {
        // Try committing to base_a (which should fail, as top's
        // backing image is base_b instead)
        let result = self.vm.qmp(
            "block-commit",
            kwargs! { job_id: "commit",
            device: "top",
            base: self.img_base_a },
        )?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn test_commit_to_b(&mut self) -> Result<()> {
        // Try committing to base_b (which should work, since that is
        // actually top's backing image)
        self.vm.cmd(
            "block-commit",
            kwargs! { job_id: "commit",
            device: "top",
            base: self.img_base_b },
        )?;

        self.vm.event_wait("BLOCK_JOB_READY")?;
        self.vm.qmp("block-job-complete", kwargs! { device: "commit" })?;
        self.vm.event_wait("BLOCK_JOB_COMPLETED")?;
        Ok(())
    }
}

iotests::iotest! {
    name: "040", groups: [rw, auto],
    supported_fmts: ["qcow2", "qed"],
    supported_protocols: ["file"],
    fn t040: unittest {
        TestSingleDrive,
        TestRelativePaths,
        TestSetSpeed,
        TestActiveZeroLengthImage: TestSingleDrive { image_len: 0 },
        TestReopenOverlay,
        TestErrorHandling,
        TestCommitWithFilters,
        TestCommitWithOverriddenBacking,
    }
}
