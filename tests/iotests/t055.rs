//! Upstream 055: drive-backup and blockdev-backup: cancel, pause, speed, transactions, compression.

use iotests::prelude::*;
use iotests::qmp::Kwargs;

fn test_img() -> String {
    os::path::join(test_dir(), "test.img")
}

fn target_img() -> String {
    os::path::join(test_dir(), "target.img")
}

fn blockdev_target_img() -> String {
    os::path::join(test_dir(), "blockdev-target.img")
}

const IMAGE_LEN: u64 = 64 * 1024 * 1024; // MB

fn set_up_module(t: &Case) -> Result<()> {
    t.qemu_img(&args!["create", "-f", imgfmt(), test_img(), IMAGE_LEN])?;
    t.qemu_io(&args!["-f", imgfmt(), "-c", "write -P0x11 0 64k", test_img()])?;
    t.qemu_io(&args!["-f", imgfmt(), "-c", "write -P0x00 64k 128k", test_img()])?;
    t.qemu_io(&args!["-f", imgfmt(), "-c", "write -P0x22 162k 32k", test_img()])?;
    t.qemu_io(&args!["-f", imgfmt(), "-c", "write -P0xd5 1M 32k", test_img()])?;
    t.qemu_io(&args!["-f", imgfmt(), "-c", "write -P0xdc 32M 124k", test_img()])?;
    t.qemu_io(&args!["-f", imgfmt(), "-c", "write -P0x33 67043328 64k", test_img()])?;
    Ok(())
}

fn tear_down_module(_t: &Case) -> Result<()> {
    os::remove(test_img())
}

struct TestSingleDrive {
    vm: Vm,
}

#[iotests::test_case]
impl TestSingleDrive {
    fn new(t: &Case) -> Self {
        TestSingleDrive { vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", "-f", imgfmt(), blockdev_target_img(), IMAGE_LEN])?;

        self.vm = t.vm();
        self.vm.add_drive_with(format!("blkdebug::{}", test_img()), "node-name=source");
        self.vm.add_drive_with(
            blockdev_target_img(),
            Drive { opts: "node-name=target".into(), interface: "none", ..Default::default() },
        );
        if qemu_default_machine() == "pc" {
            self.vm.add_drive_with(None, Drive { opts: "media=cdrom".into(), interface: "ide", ..Default::default() });
        }
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(blockdev_target_img())?;
        let _ = os::remove(target_img());
        Ok(())
    }

    fn do_test_cancel(&mut self, cmd: &str, target: &str) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.pause_drive("drive0")?;
        self.vm.cmd(cmd, kwargs! { device: "drive0", target: target, sync: "full" })?;

        let event = self.vm.cancel_and_wait_with(CancelAndWait { resume: true, ..Default::default() })?;
        assert_qmp(&event, "data/type", "backup")
    }

    fn test_cancel_drive_backup(&mut self) -> Result<()> {
        self.do_test_cancel("drive-backup", &target_img())
    }

    fn test_cancel_blockdev_backup(&mut self) -> Result<()> {
        self.do_test_cancel("blockdev-backup", "drive1")
    }

    fn do_test_pause(&mut self, t: &Case, cmd: &str, target: &str, image: &str) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.pause_drive("drive0")?;
        self.vm.cmd(cmd, kwargs! { device: "drive0", target: target, sync: "full" })?;

        self.vm.pause_job_with(PauseJob { job_id: "drive0", wait: false })?;
        self.vm.resume_drive("drive0")?;
        self.vm.pause_wait_with("drive0")?;

        let result = self.vm.qmp("query-block-jobs", ())?;
        let offset = dictpath(&result, "return[0]/offset")?.clone();

        sleep(0.5);
        let result = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&result, "return[0]/offset", offset)?;

        self.vm.cmd("block-job-resume", kwargs! { device: "drive0" })?;

        self.vm.wait_until_completed()?;

        self.vm.shutdown()?;
        assert_true!(t.compare_images(&test_img(), image)?, "target image does not match source after backup");
        Ok(())
    }

    fn test_pause_drive_backup(&mut self, t: &Case) -> Result<()> {
        self.do_test_pause(t, "drive-backup", &target_img(), &target_img())
    }

    fn test_pause_blockdev_backup(&mut self, t: &Case) -> Result<()> {
        self.do_test_pause(t, "blockdev-backup", "drive1", &blockdev_target_img())
    }

    fn do_test_resize_blockdev_backup(&mut self, device: &str, node: &str) -> Result<()> {
        let mut pre_finalize = |vm: &mut Vm| -> Result<()> {
            let result = vm.qmp("block_resize", kwargs! { device: device, size: 65536 })?;
            assert_qmp(&result, "error/class", "GenericError")?;

            let result = vm.qmp("block_resize", kwargs! { node_name: node, size: 65536 })?;
            assert_qmp(&result, "error/class", "GenericError")
        };

        self.vm.cmd(
            "blockdev-backup",
            kwargs! { job_id: "job0", device: "drive0", target: "drive1", sync: "full", auto_finalize: false,
            auto_dismiss: false },
        )?;

        self.vm.run_job_with(
            "job0",
            RunJobOptions { auto_finalize: false, pre_finalize: Some(&mut pre_finalize), ..Default::default() },
        )?;
        Ok(())
    }

    fn test_source_resize_blockdev_backup(&mut self) -> Result<()> {
        self.do_test_resize_blockdev_backup("drive0", "source")
    }

    fn test_target_resize_blockdev_backup(&mut self) -> Result<()> {
        self.do_test_resize_blockdev_backup("drive1", "target")
    }

    fn do_test_target_size(&mut self, size: u64) -> Result<()> {
        self.vm.cmd("block_resize", kwargs! { device: "drive1", size: size })?;

        let result = self
            .vm
            .qmp("blockdev-backup", kwargs! { job_id: "job0", device: "drive0", target: "drive1", sync: "full" })?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn test_small_target(&mut self) -> Result<()> {
        self.do_test_target_size(IMAGE_LEN / 2)
    }

    fn test_large_target(&mut self) -> Result<()> {
        self.do_test_target_size(IMAGE_LEN * 2)
    }

    fn test_medium_not_found(&mut self) -> Result<()> {
        if qemu_default_machine() != "pc" {
            return Ok(());
        }

        let result = self.vm.qmp(
            "drive-backup",
            kwargs! { device: "drive2", // CD-ROM
            target: target_img(), sync: "full" },
        )?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn test_medium_not_found_blockdev_backup(&mut self) -> Result<()> {
        if qemu_default_machine() != "pc" {
            return Ok(());
        }

        let result = self.vm.qmp(
            "blockdev-backup",
            kwargs! { device: "drive2", // CD-ROM
            target: "drive1", sync: "full" },
        )?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn test_image_not_found(&mut self) -> Result<()> {
        let result = self
            .vm
            .qmp("drive-backup", kwargs! { device: "drive0", target: target_img(), sync: "full", mode: "existing" })?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn test_invalid_format(&mut self) -> Result<()> {
        let result = self.vm.qmp(
            "drive-backup",
            kwargs! { device: "drive0", target: target_img(), sync: "full", format: "spaghetti-noodles" },
        )?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn do_test_device_not_found(&mut self, cmd: &str, args: Kwargs) -> Result<()> {
        let result = self.vm.qmp(cmd, args)?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn test_device_not_found(&mut self) -> Result<()> {
        self.do_test_device_not_found(
            "drive-backup",
            kwargs! { device: "nonexistent", target: target_img(), sync: "full" },
        )?;

        self.do_test_device_not_found(
            "blockdev-backup",
            kwargs! { device: "nonexistent", target: "drive0", sync: "full" },
        )?;

        self.do_test_device_not_found(
            "blockdev-backup",
            kwargs! { device: "drive0", target: "nonexistent", sync: "full" },
        )?;

        self.do_test_device_not_found(
            "blockdev-backup",
            kwargs! { device: "nonexistent", target: "nonexistent", sync: "full" },
        )
    }

    fn test_target_is_source(&mut self) -> Result<()> {
        let result = self.vm.qmp("blockdev-backup", kwargs! { device: "drive0", target: "drive0", sync: "full" })?;
        assert_qmp(&result, "error/class", "GenericError")
    }
}

struct TestSetSpeed {
    vm: Vm,
}

#[iotests::test_case]
impl TestSetSpeed {
    fn new(t: &Case) -> Self {
        TestSetSpeed { vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", "-f", imgfmt(), blockdev_target_img(), IMAGE_LEN])?;

        self.vm = t.vm();
        self.vm.add_drive(format!("blkdebug::{}", test_img()));
        self.vm.add_drive_with(blockdev_target_img(), Drive { interface: "none", ..Default::default() });
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(blockdev_target_img())?;
        let _ = os::remove(target_img());
        Ok(())
    }

    fn do_test_set_speed(&mut self, cmd: &str, target: &str) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.pause_drive("drive0")?;
        self.vm.cmd(cmd, kwargs! { device: "drive0", target: target, sync: "full" })?;

        // Default speed is 0
        let result = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&result, "return[0]/device", "drive0")?;
        assert_qmp(&result, "return[0]/speed", 0)?;

        self.vm.cmd("block-job-set-speed", kwargs! { device: "drive0", speed: 8 * 1024 * 1024 })?;

        // Ensure the speed we set was accepted
        let result = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&result, "return[0]/device", "drive0")?;
        assert_qmp(&result, "return[0]/speed", 8 * 1024 * 1024)?;

        let event = self.vm.cancel_and_wait_with(CancelAndWait { resume: true, ..Default::default() })?;
        assert_qmp(&event, "data/type", "backup")?;

        // Check setting speed option works
        self.vm.pause_drive("drive0")?;
        self.vm.cmd(cmd, kwargs! { device: "drive0", target: target, sync: "full", speed: 4 * 1024 * 1024 })?;

        let result = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&result, "return[0]/device", "drive0")?;
        assert_qmp(&result, "return[0]/speed", 4 * 1024 * 1024)?;

        let event = self.vm.cancel_and_wait_with(CancelAndWait { resume: true, ..Default::default() })?;
        assert_qmp(&event, "data/type", "backup")
    }

    fn test_set_speed_drive_backup(&mut self) -> Result<()> {
        self.do_test_set_speed("drive-backup", &target_img())
    }

    fn test_set_speed_blockdev_backup(&mut self) -> Result<()> {
        self.do_test_set_speed("blockdev-backup", "drive1")
    }

    fn do_test_set_speed_invalid(&mut self, cmd: &str, target: &str) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        let result = self.vm.qmp(cmd, kwargs! { device: "drive0", target: target, sync: "full", speed: -1 })?;
        assert_qmp(&result, "error/class", "GenericError")?;

        self.vm.assert_no_active_block_jobs()?;

        self.vm.pause_drive("drive0")?;
        self.vm.cmd(cmd, kwargs! { device: "drive0", target: target, sync: "full" })?;

        let result = self.vm.qmp("block-job-set-speed", kwargs! { device: "drive0", speed: -1 })?;
        assert_qmp(&result, "error/class", "GenericError")?;

        let event = self.vm.cancel_and_wait_with(CancelAndWait { resume: true, ..Default::default() })?;
        assert_qmp(&event, "data/type", "backup")
    }

    fn test_set_speed_invalid_drive_backup(&mut self) -> Result<()> {
        self.do_test_set_speed_invalid("drive-backup", &target_img())
    }

    fn test_set_speed_invalid_blockdev_backup(&mut self) -> Result<()> {
        self.do_test_set_speed_invalid("blockdev-backup", "drive1")
    }
}

// Note: We cannot use pause_drive() here, or the transaction command
//       would stall.  Instead, we limit the block job speed here.
struct TestSingleTransaction {
    vm: Vm,
}

#[iotests::test_case]
impl TestSingleTransaction {
    fn new(t: &Case) -> Self {
        TestSingleTransaction { vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", "-f", imgfmt(), blockdev_target_img(), IMAGE_LEN])?;

        self.vm = t.vm();
        self.vm.add_drive(test_img());
        self.vm.add_drive_with(blockdev_target_img(), Drive { interface: "none", ..Default::default() });
        if qemu_default_machine() == "pc" {
            self.vm.add_drive_with(None, Drive { opts: "media=cdrom".into(), interface: "ide", ..Default::default() });
        }
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(blockdev_target_img())?;
        let _ = os::remove(target_img());
        Ok(())
    }

    fn do_test_cancel(&mut self, cmd: &str, target: &str) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd(
            "transaction",
            kwargs! { actions: [{
                    "type": cmd,
                    "data": { "device": "drive0",
                              "target": target,
                              "sync": "full",
                              "speed": 64 * 1024 },
                }
            ] },
        )?;

        let event = self.vm.cancel_and_wait()?;
        assert_qmp(&event, "data/type", "backup")
    }

    fn test_cancel_drive_backup(&mut self) -> Result<()> {
        self.do_test_cancel("drive-backup", &target_img())
    }

    fn test_cancel_blockdev_backup(&mut self) -> Result<()> {
        self.do_test_cancel("blockdev-backup", "drive1")
    }

    fn do_test_pause(&mut self, t: &Case, cmd: &str, target: &str, image: &str) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd(
            "transaction",
            kwargs! { actions: [{
                    "type": cmd,
                    "data": { "device": "drive0",
                              "target": target,
                              "sync": "full",
                              "speed": 64 * 1024 },
                }
            ] },
        )?;

        self.vm.pause_job_with(PauseJob { job_id: "drive0", wait: false })?;

        self.vm.cmd("block-job-set-speed", kwargs! { device: "drive0", speed: 0 })?;

        self.vm.pause_wait_with("drive0")?;

        let result = self.vm.qmp("query-block-jobs", ())?;
        let offset = dictpath(&result, "return[0]/offset")?.clone();

        sleep(0.5);
        let result = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&result, "return[0]/offset", offset)?;

        self.vm.cmd("block-job-resume", kwargs! { device: "drive0" })?;

        self.vm.wait_until_completed()?;

        self.vm.shutdown()?;
        assert_true!(t.compare_images(&test_img(), image)?, "target image does not match source after backup");
        Ok(())
    }

    fn test_pause_drive_backup(&mut self, t: &Case) -> Result<()> {
        self.do_test_pause(t, "drive-backup", &target_img(), &target_img())
    }

    fn test_pause_blockdev_backup(&mut self, t: &Case) -> Result<()> {
        self.do_test_pause(t, "blockdev-backup", "drive1", &blockdev_target_img())
    }

    fn do_test_medium_not_found(&mut self, cmd: &str, target: &str) -> Result<()> {
        if qemu_default_machine() != "pc" {
            return Ok(());
        }

        let result = self.vm.qmp(
            "transaction",
            kwargs! { actions: [{
                    "type": cmd,
                    "data": { "device": "drive2", // CD-ROM
                              "target": target,
                              "sync": "full" },
                }
            ] },
        )?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn test_medium_not_found_drive_backup(&mut self) -> Result<()> {
        self.do_test_medium_not_found("drive-backup", &target_img())
    }

    fn test_medium_not_found_blockdev_backup(&mut self) -> Result<()> {
        self.do_test_medium_not_found("blockdev-backup", "drive1")
    }

    fn test_image_not_found(&mut self) -> Result<()> {
        let result = self.vm.qmp(
            "transaction",
            kwargs! { actions: [{
                    "type": "drive-backup",
                    "data": { "device": "drive0",
                              "mode": "existing",
                              "target": target_img(),
                              "sync": "full" },
                }
            ] },
        )?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn test_device_not_found(&mut self) -> Result<()> {
        let result = self.vm.qmp(
            "transaction",
            kwargs! { actions: [{
                    "type": "drive-backup",
                    "data": { "device": "nonexistent",
                              "mode": "existing",
                              "target": target_img(),
                              "sync": "full" },
                }
            ] },
        )?;
        assert_qmp(&result, "error/class", "GenericError")?;

        let result = self.vm.qmp(
            "transaction",
            kwargs! { actions: [{
                    "type": "blockdev-backup",
                    "data": { "device": "nonexistent",
                              "target": "drive1",
                              "sync": "full" },
                }
            ] },
        )?;
        assert_qmp(&result, "error/class", "GenericError")?;

        let result = self.vm.qmp(
            "transaction",
            kwargs! { actions: [{
                    "type": "blockdev-backup",
                    "data": { "device": "drive0",
                              "target": "nonexistent",
                              "sync": "full" },
                }
            ] },
        )?;
        assert_qmp(&result, "error/class", "GenericError")?;

        let result = self.vm.qmp(
            "transaction",
            kwargs! { actions: [{
                    "type": "blockdev-backup",
                    "data": { "device": "nonexistent",
                              "target": "nonexistent",
                              "sync": "full" },
                }
            ] },
        )?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn test_target_is_source(&mut self) -> Result<()> {
        let result = self.vm.qmp(
            "transaction",
            kwargs! { actions: [{
                    "type": "blockdev-backup",
                    "data": { "device": "drive0",
                              "target": "drive0",
                              "sync": "full" },
                }
            ] },
        )?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn test_abort(&mut self) -> Result<()> {
        let result = self.vm.qmp(
            "transaction",
            kwargs! { actions: [{
                    "type": "drive-backup",
                    "data": { "device": "nonexistent",
                              "mode": "existing",
                              "target": target_img(),
                              "sync": "full" },
                }, {
                    "type": "Abort",
                    "data": {},
                }
            ] },
        )?;
        assert_qmp(&result, "error/class", "GenericError")?;
        self.vm.assert_no_active_block_jobs()?;

        let result = self.vm.qmp(
            "transaction",
            kwargs! { actions: [{
                    "type": "blockdev-backup",
                    "data": { "device": "nonexistent",
                              "target": "drive1",
                              "sync": "full" },
                }, {
                    "type": "Abort",
                    "data": {},
                }
            ] },
        )?;
        assert_qmp(&result, "error/class", "GenericError")?;
        self.vm.assert_no_active_block_jobs()?;

        let result = self.vm.qmp(
            "transaction",
            kwargs! { actions: [{
                    "type": "blockdev-backup",
                    "data": { "device": "drive0",
                              "target": "nonexistent",
                              "sync": "full" },
                }, {
                    "type": "Abort",
                    "data": {},
                }
            ] },
        )?;
        assert_qmp(&result, "error/class", "GenericError")?;
        self.vm.assert_no_active_block_jobs()
    }
}

/// The class attribute `target_fmt = {'type': …, 'args': (…), 'drive-opts': …}`.
#[derive(Debug, Clone, Copy)]
struct TargetFmt {
    type_: &'static str,
    args: &'static [&'static str],
    drive_opts: &'static str,
}

struct TestCompressedToQcow2 {
    image_len: u64,
    target_fmt: TargetFmt,
    vm: Vm,
}

#[iotests::test_case]
impl TestCompressedToQcow2 {
    fn new(t: &Case) -> Self {
        TestCompressedToQcow2 {
            image_len: 64 * 1024 * 1024, // MB
            target_fmt: TargetFmt { type_: "qcow2", args: &[], drive_opts: "" },
            vm: t.vm(),
        }
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(blockdev_target_img())?;
        let _ = os::remove(target_img());
        Ok(())
    }

    fn do_prepare_drives(&mut self, t: &Case, attach_target: bool) -> Result<()> {
        self.vm = t.vm();
        self.vm.add_drive_with(format!("blkdebug::{}", test_img()), self.target_fmt.drive_opts);

        let mut args = args!["create", "-f", self.target_fmt.type_, blockdev_target_img(), self.image_len];
        args.extend(self.target_fmt.args.iter().map(|a| a.to_string()));
        t.qemu_img(&args)?;
        if attach_target {
            self.vm.add_drive_with(
                blockdev_target_img(),
                Drive {
                    img_format: Some(self.target_fmt.type_),
                    interface: "none",
                    opts: self.target_fmt.drive_opts.into(),
                },
            );
        }

        self.vm.launch()
    }

    fn do_test_compress_complete(&mut self, t: &Case, cmd: &str, attach_target: bool, args: Kwargs) -> Result<()> {
        self.do_prepare_drives(t, attach_target)?;

        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd(cmd, kwargs! { device: "drive0", sync: "full", compress: true, ..args })?;

        self.vm.wait_until_completed()?;

        self.vm.shutdown()?;
        assert_true!(
            t.compare_images_with(&test_img(), &blockdev_target_img(), &imgfmt(), self.target_fmt.type_)?,
            "target image does not match source after backup"
        );
        Ok(())
    }

    fn test_complete_compress_drive_backup(&mut self, t: &Case) -> Result<()> {
        self.do_test_compress_complete(
            t,
            "drive-backup",
            false,
            kwargs! { target: blockdev_target_img(), mode: "existing" },
        )
    }

    fn test_complete_compress_blockdev_backup(&mut self, t: &Case) -> Result<()> {
        self.do_test_compress_complete(t, "blockdev-backup", true, kwargs! { target: "drive1" })
    }

    fn do_test_compress_cancel(&mut self, t: &Case, cmd: &str, attach_target: bool, args: Kwargs) -> Result<()> {
        self.do_prepare_drives(t, attach_target)?;

        self.vm.assert_no_active_block_jobs()?;

        self.vm.pause_drive("drive0")?;
        self.vm.cmd(cmd, kwargs! { device: "drive0", sync: "full", compress: true, ..args })?;

        let event = self.vm.cancel_and_wait_with(CancelAndWait { resume: true, ..Default::default() })?;
        assert_qmp(&event, "data/type", "backup")?;

        self.vm.shutdown()
    }

    fn test_compress_cancel_drive_backup(&mut self, t: &Case) -> Result<()> {
        self.do_test_compress_cancel(
            t,
            "drive-backup",
            false,
            kwargs! { target: blockdev_target_img(), mode: "existing" },
        )
    }

    fn test_compress_cancel_blockdev_backup(&mut self, t: &Case) -> Result<()> {
        self.do_test_compress_cancel(t, "blockdev-backup", true, kwargs! { target: "drive1" })
    }

    fn do_test_compress_pause(&mut self, t: &Case, cmd: &str, attach_target: bool, args: Kwargs) -> Result<()> {
        self.do_prepare_drives(t, attach_target)?;

        self.vm.assert_no_active_block_jobs()?;

        self.vm.pause_drive("drive0")?;
        self.vm.cmd(cmd, kwargs! { device: "drive0", sync: "full", compress: true, ..args })?;

        self.vm.pause_job_with(PauseJob { job_id: "drive0", wait: false })?;
        self.vm.resume_drive("drive0")?;
        self.vm.pause_wait_with("drive0")?;

        let result = self.vm.qmp("query-block-jobs", ())?;
        let offset = dictpath(&result, "return[0]/offset")?.clone();

        sleep(0.5);
        let result = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&result, "return[0]/offset", offset)?;

        self.vm.cmd("block-job-resume", kwargs! { device: "drive0" })?;

        self.vm.wait_until_completed()?;

        self.vm.shutdown()?;
        assert_true!(
            t.compare_images_with(&test_img(), &blockdev_target_img(), &imgfmt(), self.target_fmt.type_)?,
            "target image does not match source after backup"
        );
        Ok(())
    }

    fn test_compress_pause_drive_backup(&mut self, t: &Case) -> Result<()> {
        self.do_test_compress_pause(
            t,
            "drive-backup",
            false,
            kwargs! { target: blockdev_target_img(), mode: "existing" },
        )
    }

    fn test_compress_pause_blockdev_backup(&mut self, t: &Case) -> Result<()> {
        self.do_test_compress_pause(t, "blockdev-backup", true, kwargs! { target: "drive1" })
    }
}

struct TestCompressedToVmdk {
    base: TestCompressedToQcow2,
}

#[iotests::test_case(extends = TestCompressedToQcow2)]
impl TestCompressedToVmdk {
    fn new(t: &Case) -> Result<Self> {
        let mut base = TestCompressedToQcow2::new(t)?;
        base.target_fmt =
            TargetFmt { type_: "vmdk", args: &["-o", "subformat=streamOptimized"], drive_opts: "cache.no-flush=on" };
        Ok(TestCompressedToVmdk { base })
    }

    #[skip_if_unsupported(["vmdk"])]
    fn set_up(&mut self) -> Result<()> {
        Ok(())
    }
}

iotests::iotest! {
    name: "055", groups: [rw],
    supported_fmts: ["raw", "qcow2"],
    supported_protocols: ["file"],
    fn t055: unittest {
        set_up_module: set_up_module,
        tear_down_module: tear_down_module,
        TestSingleDrive,
        TestSetSpeed,
        TestSingleTransaction,
        TestCompressedToQcow2,
        TestCompressedToVmdk,
    }
}
