//! Upstream 056: drive-backup sync modes, the before-write notifier and job dismissal.

use iotests::context::try_remove;
use iotests::prelude::*;
use iotests::qmp::Kwargs;

fn backing_img() -> String {
    os::path::join(test_dir(), "backing.img")
}

fn test_img() -> String {
    os::path::join(test_dir(), "test.img")
}

fn target_img() -> String {
    os::path::join(test_dir(), "target.img")
}

/// `img_create(img, fmt=iotests.imgfmt, size='64M', **kwargs)`: each keyword
/// becomes `-o k=v`; returns the image's path.
fn img_create(t: &TestContext, img: &str, fmt: &str, size: &str, kwargs: &[(&str, &str)]) -> Result<String> {
    let fullname = os::path::join(test_dir(), format!("{img}.{fmt}"));
    let mut optargs: Vec<String> = Vec::new();
    for (k, v) in kwargs {
        optargs.extend(["-o".to_string(), format!("{k}={v}")]);
    }
    let mut args = args!["create", "-f", fmt];
    args.extend(optargs);
    args.extend(args![&fullname, size]);
    t.qemu_img(&args)?;
    Ok(fullname)
}

// The module's own try_remove(img) (os.remove, except OSError: pass) is
// iotests' try_remove, imported above.

#[allow(dead_code)] // upstream defines it but no case calls it
fn io_write_patterns(t: &TestContext, img: &str, patterns: &[(&str, &str, &str)]) -> Result<()> {
    for (p, offset, len) in patterns {
        t.qemu_io(&args!["-c", format!("write -P{p} {offset} {len}"), img])?;
    }
    Ok(())
}

struct TestSyncModesNoneAndTop {
    vm: Vm,
}

impl TestSyncModesNoneAndTop {
    const IMAGE_LEN: u64 = 64 * 1024 * 1024; // MB
}

#[iotests::test_case]
impl TestSyncModesNoneAndTop {
    fn new(t: &Case) -> Self {
        TestSyncModesNoneAndTop { vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.create_image(&backing_img(), TestSyncModesNoneAndTop::IMAGE_LEN)?;
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
        t.qemu_io(&args!["-c", "write -P0x41 0 512", test_img()])?;
        t.qemu_io(&args!["-c", "write -P0xd5 1M 32k", test_img()])?;
        t.qemu_io(&args!["-c", "write -P0xdc 32M 124k", test_img()])?;
        t.qemu_io(&args!["-c", "write -P0xdc 67043328 64k", test_img()])?;
        self.vm = t.vm();
        self.vm.add_drive(test_img());
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(test_img())?;
        os::remove(backing_img())?;
        let _ = os::remove(target_img());
        Ok(())
    }

    fn test_complete_top(&mut self, t: &Case) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;
        self.vm
            .cmd("drive-backup", kwargs! { device: "drive0", sync: "top", format: imgfmt(), target: target_img() })?;

        self.vm.wait_until_completed_with(WaitUntilCompleted { check_offset: false, ..Default::default() })?;

        self.vm.assert_no_active_block_jobs()?;
        self.vm.shutdown()?;
        assert_true!(t.compare_images(&test_img(), &target_img())?, "target image does not match source after backup");
        Ok(())
    }

    fn test_cancel_sync_none(&mut self, t: &Case) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd("drive-backup", kwargs! { device: "drive0", sync: "none", target: target_img() })?;
        sleep(1.0);
        self.vm.hmp_qemu_io("drive0", "write -P0x5e 0 512")?;
        self.vm.hmp_qemu_io("drive0", "aio_flush")?;
        // Verify that the original contents exist in the target image.

        let event = self.vm.cancel_and_wait()?;
        assert_qmp(&event, "data/type", "backup")?;

        self.vm.shutdown()?;
        sleep(1.0);
        t.qemu_io(&args!["-c", "read -P0x41 0 512", target_img()])?;
        Ok(())
    }
}

struct TestBeforeWriteNotifier {
    vm: Vm,
}

#[iotests::test_case]
impl TestBeforeWriteNotifier {
    fn new(t: &Case) -> Self {
        TestBeforeWriteNotifier { vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        self.vm = t.vm();
        self.vm.add_drive_raw("file=blkdebug::null-co://,id=drive0,align=65536,driver=blkdebug");
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(target_img())
    }

    fn test_before_write_notifier(&mut self) -> Result<()> {
        self.vm.pause_drive("drive0")?;
        self.vm.cmd(
            "drive-backup",
            kwargs! { device: "drive0", sync: "full", target: target_img(), format: "file", speed: 1 },
        )?;
        self.vm.cmd("block-job-pause", kwargs! { device: "drive0" })?;
        // Speed is low enough that this must be an uncopied range, which will
        // trigger the before write notifier
        self.vm.hmp_qemu_io("drive0", "aio_write -P 1 512512 512")?;
        self.vm.resume_drive("drive0")?;
        self.vm.cmd("block-job-resume", kwargs! { device: "drive0" })?;
        let event = self.vm.cancel_and_wait()?;
        assert_qmp(&event, "data/type", "backup")
    }
}

struct BackupTest {
    vm: Vm,
    test_img: String,
    dest_img: String,
    dest_img2: String,
    ref_img: String,
}

#[iotests::test_case]
impl BackupTest {
    fn new(t: &Case) -> Self {
        BackupTest {
            vm: t.vm(),
            test_img: String::new(),
            dest_img: String::new(),
            dest_img2: String::new(),
            ref_img: String::new(),
        }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        self.vm = t.vm();
        self.test_img = img_create(t, "test", &imgfmt(), "64M", &[])?;
        self.dest_img = img_create(t, "dest", &imgfmt(), "64M", &[])?;
        self.dest_img2 = img_create(t, "dest2", &imgfmt(), "64M", &[])?;
        self.ref_img = img_create(t, "ref", &imgfmt(), "64M", &[])?;
        self.vm.add_drive(&self.test_img);
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        try_remove(&self.test_img);
        try_remove(&self.dest_img);
        try_remove(&self.dest_img2);
        try_remove(&self.ref_img);
        Ok(())
    }

    fn hmp_io_writes(&mut self, drive: &str, patterns: &[(&str, &str, &str)]) -> Result<()> {
        for (p, offset, len) in patterns {
            self.vm.hmp_qemu_io(drive, &format!("write -P{p} {offset} {len}"))?;
        }
        self.vm.hmp_qemu_io(drive, "flush")?;
        Ok(())
    }

    fn qmp_backup_and_wait(
        &mut self,
        cmd: &str,
        serror: Option<&str>,
        aerror: Option<&str>,
        kwargs: Kwargs,
    ) -> Result<bool> {
        if !self.qmp_backup(cmd, serror, &kwargs)? {
            return Ok(false);
        }
        let device = kwargs.get("device").and_then(Value::as_str).unwrap_or_default().to_string();
        self.qmp_backup_wait(&device, aerror)
    }

    fn qmp_backup(&mut self, cmd: &str, error: Option<&str>, kwargs: &Kwargs) -> Result<bool> {
        assert_true!(kwargs.get("device").is_some());
        let res = self.vm.qmp(cmd, kwargs)?;
        if let Some(error) = error {
            assert_qmp(&res, "error/desc", error)?;
            return Ok(false);
        }
        assert_qmp(&res, "return", json!({}))?;
        Ok(true)
    }

    fn qmp_backup_wait(&mut self, device: &str, _error: Option<&str>) -> Result<bool> {
        let event = self.vm.event_wait_with("BLOCK_JOB_COMPLETED", json!({"data": {"device": device}}))?;
        assert_not_equal!(event, Value::Null);
        match dictpath(&event, "data/error") {
            Err(e) if e.is_assertion() => {
                // Backup succeeded.
                assert_qmp(&event, "data/offset", event["data"]["len"].clone())?;
                Ok(true)
            }
            Err(e) => Err(e),
            Ok(_failure) => {
                // Failure.
                // Python compares with `qerror`, a name the module never
                // defines: this branch dies of a NameError.
                Err(Error::python("NameError", "name 'qerror' is not defined"))
            }
        }
    }

    fn test_overlapping_writes(&mut self, t: &Case) -> Result<()> {
        // Write something to back up
        self.hmp_io_writes("drive0", &[("42", "0M", "2M")])?;

        // Create a reference backup
        let ref_img = self.ref_img.clone();
        self.qmp_backup_and_wait(
            "drive-backup",
            None,
            None,
            kwargs! { device: "drive0", format: imgfmt(), sync: "full", target: ref_img, auto_dismiss: false },
        )?;
        self.vm.cmd("block-job-dismiss", kwargs! { id: "drive0" })?;

        // Now to the test backup: We simulate the following guest
        // writes:
        // (1) [1M + 64k, 1M + 128k): Afterwards, everything in that
        //     area should be in the target image, and we must not copy
        //     it again (because the source image has changed now)
        //     (64k is the job's cluster size)
        // (2) [1M, 2M): The backup job must not get overeager.  It
        //     must copy [1M, 1M + 64k) and [1M + 128k, 2M) separately,
        //     but not the area in between.

        let dest_img = self.dest_img.clone();
        self.qmp_backup(
            "drive-backup",
            None,
            &kwargs! { device: "drive0", format: imgfmt(), sync: "full", target: dest_img, speed: 1, auto_dismiss: false },
        )?;

        self.hmp_io_writes("drive0", &[("23", &format!("{}k", 1024 + 64), "64k"), ("66", "1M", "1M")])?;

        // Let the job complete
        self.vm.cmd("block-job-set-speed", kwargs! { device: "drive0", speed: 0 })?;
        self.qmp_backup_wait("drive0", None)?;
        self.vm.cmd("block-job-dismiss", kwargs! { id: "drive0" })?;

        assert_true!(t.compare_images(&self.ref_img, &self.dest_img)?, "target image does not match reference image");
        Ok(())
    }

    fn test_dismiss_false(&mut self) -> Result<()> {
        let res = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&res, "return", json!([]))?;
        let dest_img = self.dest_img.clone();
        self.qmp_backup_and_wait(
            "drive-backup",
            None,
            None,
            kwargs! { device: "drive0", format: imgfmt(), sync: "full", target: dest_img, auto_dismiss: true },
        )?;
        let res = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&res, "return", json!([]))
    }

    fn test_dismiss_true(&mut self) -> Result<()> {
        let res = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&res, "return", json!([]))?;
        let dest_img = self.dest_img.clone();
        self.qmp_backup_and_wait(
            "drive-backup",
            None,
            None,
            kwargs! { device: "drive0", format: imgfmt(), sync: "full", target: dest_img, auto_dismiss: false },
        )?;
        let res = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&res, "return[0]/status", "concluded")?;
        self.vm.cmd("block-job-dismiss", kwargs! { id: "drive0" })?;
        let res = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&res, "return", json!([]))
    }

    fn test_dismiss_bad_id(&mut self) -> Result<()> {
        let res = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&res, "return", json!([]))?;
        let res = self.vm.qmp("block-job-dismiss", kwargs! { id: "foobar" })?;
        assert_qmp(&res, "error/class", "DeviceNotActive")
    }

    fn test_dismiss_collision(&mut self) -> Result<()> {
        let res = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&res, "return", json!([]))?;
        let dest_img = self.dest_img.clone();
        self.qmp_backup_and_wait(
            "drive-backup",
            None,
            None,
            kwargs! { device: "drive0", format: imgfmt(), sync: "full", target: dest_img, auto_dismiss: false },
        )?;
        let res = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&res, "return[0]/status", "concluded")?;
        // Leave zombie job un-dismissed, observe a failure:
        let dest_img2 = self.dest_img2.clone();
        let res = self.qmp_backup_and_wait(
            "drive-backup",
            Some("Job ID 'drive0' already in use"),
            None,
            kwargs! { device: "drive0", format: imgfmt(), sync: "full", target: dest_img2, auto_dismiss: false },
        )?;
        assert_equal!(res, false);
        // OK, dismiss the zombie.
        self.vm.cmd("block-job-dismiss", kwargs! { id: "drive0" })?;
        let res = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&res, "return", json!([]))?;
        // Ensure it's really gone.
        self.qmp_backup_and_wait(
            "drive-backup",
            None,
            None,
            kwargs! { device: "drive0", format: imgfmt(), sync: "full", target: dest_img2, auto_dismiss: false },
        )?;
        Ok(())
    }

    fn dismissal_failure(&mut self, dismissal_opt: bool) -> Result<()> {
        let res = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&res, "return", json!([]))?;
        // Give blkdebug something to chew on
        self.hmp_io_writes("drive0", &[("0x9a", "0", "512"), ("0x55", "8M", "352k"), ("0x78", "15872k", "1M")])?;
        // Add destination node via blkdebug
        self.vm.cmd(
            "blockdev-add",
            kwargs! {
                node_name: "target0",
                driver: imgfmt(),
                file: {
                    "driver": "blkdebug",
                    "image": {
                        "driver": "file",
                        "filename": self.dest_img
                    },
                    "inject-error": [{
                        "event": "write_aio",
                        "errno": 5,
                        "immediately": false,
                        "once": true
                    }],
                }
            },
        )?;

        let res = self.qmp_backup(
            "blockdev-backup",
            None,
            &kwargs! { device: "drive0", target: "target0", on_target_error: "stop", sync: "full", auto_dismiss: dismissal_opt },
        )?;
        assert_true!(res);
        let event = self.vm.event_wait_with("BLOCK_JOB_ERROR", json!({"data": {"device": "drive0"}}))?;
        assert_not_equal!(event, Value::Null);
        // OK, job should pause, but it can't do it immediately, as it can't
        // cancel other parallel requests (which didn't fail)
        let res = with_timeout(60.0, "Timeout waiting for backup actually paused", |d| {
            loop {
                d.check()?;
                let res = self.vm.qmp("query-block-jobs", ())?;
                if dictpath(&res, "return[0]/status")? == "paused" {
                    break Ok(res);
                }
            }
        })?;
        assert_qmp(&res, "return[0]/status", "paused")?;
        let res = self.vm.qmp("block-job-dismiss", kwargs! { id: "drive0" })?;
        assert_qmp(&res, "error/desc", "Job 'drive0' in state 'paused' cannot accept command verb 'dismiss'")?;
        let res = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&res, "return[0]/status", "paused")?;
        // OK, unstick job and move forward.
        self.vm.cmd("block-job-resume", kwargs! { device: "drive0" })?;
        // And now we need to wait for it to conclude;
        let res = self.qmp_backup_wait("drive0", None)?;
        assert_true!(res);
        if !dismissal_opt {
            // Job should now be languishing:
            let res = self.vm.qmp("query-block-jobs", ())?;
            assert_qmp(&res, "return[0]/status", "concluded")?;
            self.vm.cmd("block-job-dismiss", kwargs! { id: "drive0" })?;
            let res = self.vm.qmp("query-block-jobs", ())?;
            assert_qmp(&res, "return", json!([]))?;
        }
        Ok(())
    }

    fn test_dismiss_premature(&mut self) -> Result<()> {
        self.dismissal_failure(false)
    }

    fn test_dismiss_erroneous(&mut self) -> Result<()> {
        self.dismissal_failure(true)
    }
}

iotests::iotest! {
    name: "056", groups: [rw, backing],
    supported_fmts: ["qcow2", "qed"],
    supported_protocols: ["file"],
    fn t056: unittest { TestSyncModesNoneAndTop, TestBeforeWriteNotifier, BackupTest }
}
