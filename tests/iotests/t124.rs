//! Upstream 124: incremental drive-backup with dirty bitmaps, transactions and injected errors.

use iotests::context::try_remove;
use iotests::prelude::*;
use iotests::qmp::{Kwargs, QmpError};

fn io_write_patterns(t: &TestContext, img: &str, patterns: &[(&str, &str, &str)]) -> Result<()> {
    for (p, offset, len) in patterns {
        t.qemu_io(&args!["-c", format!("write -P{p} {offset} {len}"), img])?;
    }
    Ok(())
}

fn transaction_action(action: &str, kwargs: &Kwargs) -> Value {
    // dict((k.replace('_', '-'), v) for k, v in kwargs.items())
    json!({
        "type": action,
        "data": kwargs.to_args(),
    })
}

fn transaction_bitmap_clear(node: &str, name: &str) -> Value {
    transaction_action("block-dirty-bitmap-clear", &kwargs! { node: node, name: name })
}

fn transaction_drive_backup(device: &str, target: &str, kwargs: Kwargs) -> Value {
    transaction_action("drive-backup", &kwargs! { job_id: device, device: device, target: target, ..kwargs })
}

/// A drive as `add_node` records it (Python's dict with these keys).
#[derive(Debug, Clone)]
struct DriveInfo {
    id: String,
    file: String,
    backup: String,
    fmt: String,
}

struct Bitmap {
    name: String,
    drive: DriveInfo,
    num: u32,
    backups: Vec<(String, String)>,
}

impl Bitmap {
    fn new(name: &str, drive: &DriveInfo) -> Bitmap {
        Bitmap { name: name.to_string(), drive: drive.clone(), num: 0, backups: Vec::new() }
    }

    fn base_target(&self) -> (String, Option<String>) {
        (self.drive.backup.clone(), None)
    }

    fn new_target(&mut self, num: Option<u32>) -> (String, String) {
        let num = num.unwrap_or(self.num);
        self.num = num + 1;
        let base = os::path::join(test_dir(), format!("{}.{}.", self.drive.id, self.name));
        let suff = format!("{num}.{}", self.drive.fmt);
        let target = format!("{base}inc{suff}");
        let reference = format!("{base}ref{suff}");
        self.backups.push((target.clone(), reference.clone()));
        (target, reference)
    }

    fn last_target(&self) -> (String, Option<String>) {
        if let Some((target, reference)) = self.backups.last() {
            return (target.clone(), Some(reference.clone()));
        }
        self.base_target()
    }

    fn del_target(&mut self) -> Result<()> {
        let Some((target, reference)) = self.backups.pop() else {
            return Err(Error::python("IndexError", "pop from empty list"));
        };
        for image in [target, reference] {
            try_remove(image);
        }
        self.num -= 1;
        Ok(())
    }

    fn cleanup(&self) {
        for (target, reference) in &self.backups {
            for image in [target, reference] {
                try_remove(image);
            }
        }
    }
}

/// `img_create(img, fmt, size='64M', parent=None, parentFormat=None,
/// **kwargs)`'s optional arguments (`kwargs` become `-o k=v`).
struct ImgCreate {
    size: String,
    parent: Option<String>,
    parent_format: Option<String>,
    kwargs: Vec<(&'static str, &'static str)>,
}

impl Default for ImgCreate {
    fn default() -> Self {
        ImgCreate { size: "64M".into(), parent: None, parent_format: None, kwargs: Vec::new() }
    }
}

/// `create_incremental(bitmap=None, parent=None, parentFormat=None,
/// validate=True, target=None)`'s arguments; bitmaps are indices into
/// `self.bitmaps`. (`parentFormat` is accepted and never used upstream.)
struct Incremental {
    bitmap: Option<usize>,
    parent: Option<String>,
    validate: bool,
    target: Option<String>,
}

impl Default for Incremental {
    fn default() -> Self {
        Incremental { bitmap: None, parent: None, validate: true, target: None }
    }
}

struct TestIncrementalBackupBase {
    bitmaps: Vec<Bitmap>,
    files: Vec<String>,
    drives: Vec<DriveInfo>,
    vm: Vm,
    err_img: String,
}

#[iotests::test_case]
impl TestIncrementalBackupBase {
    fn new(t: &Case) -> Self {
        TestIncrementalBackupBase {
            bitmaps: Vec::new(),
            files: Vec::new(),
            drives: Vec::new(),
            vm: t.vm(),
            err_img: os::path::join(test_dir(), format!("err.{}", imgfmt())),
        }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        // Create a base image with a distinctive patterning
        let drive0 = self.add_node("drive0", &imgfmt(), None, None);
        self.img_create(t, &drive0.file, &drive0.fmt, ImgCreate::default())?;
        self.vm.add_drive_with(&drive0.file, "node-name=node0");
        self.write_default_pattern(t, &drive0.file)?;
        self.vm.launch()
    }

    fn write_default_pattern(&self, t: &Case, target: &str) -> Result<()> {
        io_write_patterns(t, target, &[("0x41", "0", "512"), ("0xd5", "1M", "32k"), ("0xdc", "32M", "124k")])
    }

    fn add_node(&mut self, node_id: &str, fmt: &str, path: Option<&str>, backup: Option<&str>) -> DriveInfo {
        let path = path.map_or_else(|| os::path::join(test_dir(), format!("{node_id}.{fmt}")), str::to_string);
        let backup =
            backup.map_or_else(|| os::path::join(test_dir(), format!("{node_id}.full.backup.{fmt}")), str::to_string);

        self.drives.push(DriveInfo { id: node_id.to_string(), file: path, backup, fmt: fmt.to_string() });
        self.drives[self.drives.len() - 1].clone()
    }

    fn img_create(&mut self, t: &Case, img: &str, fmt: &str, opts: ImgCreate) -> Result<()> {
        let mut optargs: Vec<String> = Vec::new();
        for (k, v) in &opts.kwargs {
            optargs.extend(["-o".to_string(), format!("{k}={v}")]);
        }
        let mut args = args!["create", "-f", fmt];
        args.extend(optargs);
        args.extend(args![img, opts.size]);
        if let Some(parent) = opts.parent.filter(|p| !p.is_empty()) {
            let parent_format = opts.parent_format.unwrap_or_else(|| fmt.to_string());
            args.extend(args!["-b", parent, "-F", parent_format]);
        }
        t.qemu_img(&args)?;
        self.files.push(img.to_string());
        Ok(())
    }

    /// `do_qmp_backup(error='Input/output error', **kwargs)`.
    fn do_qmp_backup(&mut self, kwargs: Kwargs) -> Result<bool> {
        self.vm.cmd("drive-backup", &kwargs)?;
        let device = kwargs.get("device").and_then(Value::as_str).unwrap_or_default().to_string();
        self.wait_qmp_backup(&device)
    }

    fn ignore_job_status_change_events(&mut self) -> Result<()> {
        loop {
            let e = self.vm.event_wait("JOB_STATUS_CHANGE")?;
            if e["data"]["status"] == "null" {
                break;
            }
        }
        Ok(())
    }

    /// `wait_qmp_backup(device, error='Input/output error')`.
    fn wait_qmp_backup(&mut self, device: &str) -> Result<bool> {
        let error = "Input/output error";
        let event = self.vm.event_wait_with("BLOCK_JOB_COMPLETED", json!({"data": {"device": device}}))?;
        assert_not_equal!(event, Value::Null);
        self.ignore_job_status_change_events()?;

        match dictpath(&event, "data/error") {
            Err(e) if e.is_assertion() => {
                // Backup succeeded.
                assert_qmp(&event, "data/offset", event["data"]["len"].clone())?;
                Ok(true)
            }
            Err(e) => Err(e),
            Ok(_failure) => {
                // Backup failed.
                assert_qmp(&event, "data/error", error)?;
                Ok(false)
            }
        }
    }

    fn wait_qmp_backup_cancelled(&mut self, device: &str) -> Result<()> {
        let event = self.vm.event_wait_with("BLOCK_JOB_CANCELLED", json!({"data": {"device": device}}))?;
        assert_not_equal!(event, Value::Null);
        self.ignore_job_status_change_events()
    }

    fn create_anchor_backup(&mut self, drive: Option<DriveInfo>) -> Result<String> {
        let drive = match drive {
            Some(d) => d,
            None => self.drives[self.drives.len() - 1].clone(),
        };
        let res = self.do_qmp_backup(
            kwargs! { job_id: drive.id, device: drive.id, sync: "full", format: drive.fmt, target: drive.backup },
        )?;
        assert_true!(res);
        self.files.push(drive.backup.clone());
        Ok(drive.backup)
    }

    fn make_reference_backup(&mut self, bitmap: Option<usize>) -> Result<()> {
        let bitmap = bitmap.unwrap_or(self.bitmaps.len() - 1);
        let (_, reference) = self.bitmaps[bitmap].last_target();
        let drive = self.bitmaps[bitmap].drive.clone();
        let res = self.do_qmp_backup(
            kwargs! { job_id: drive.id, device: drive.id, sync: "full", format: drive.fmt, target: reference },
        )?;
        assert_true!(res);
        Ok(())
    }

    fn add_bitmap(&mut self, name: &str, drive: &DriveInfo, kwargs: Kwargs) -> Result<usize> {
        let bitmap = Bitmap::new(name, drive);
        let args = kwargs! { node: drive.id, name: bitmap.name, ..kwargs };
        self.bitmaps.push(bitmap);
        self.vm.cmd("block-dirty-bitmap-add", args)?;
        Ok(self.bitmaps.len() - 1)
    }

    fn prepare_backup(
        &mut self,
        t: &Case,
        bitmap: Option<usize>,
        parent: Option<String>,
        kwargs: ImgCreate,
    ) -> Result<String> {
        let bitmap = bitmap.unwrap_or(self.bitmaps.len() - 1);
        let parent = match parent {
            Some(p) => p,
            None => self.bitmaps[bitmap].last_target().0,
        };

        let (target, _) = self.bitmaps[bitmap].new_target(None);
        let fmt = self.bitmaps[bitmap].drive.fmt.clone();
        self.img_create(t, &target, &fmt, ImgCreate { parent: Some(parent), ..kwargs })?;
        Ok(target)
    }

    fn create_incremental(&mut self, t: &Case, o: Incremental) -> Result<bool> {
        let bitmap = o.bitmap.unwrap_or(self.bitmaps.len() - 1);
        let parent = match o.parent {
            Some(p) => p,
            None => self.bitmaps[bitmap].last_target().0,
        };

        let target = match o.target {
            Some(target) => target,
            None => self.prepare_backup(t, Some(bitmap), Some(parent), ImgCreate::default())?,
        };
        let (drive, name) = (self.bitmaps[bitmap].drive.clone(), self.bitmaps[bitmap].name.clone());
        let res = self.do_qmp_backup(kwargs! {
            job_id: drive.id, device: drive.id, sync: "incremental", bitmap: name,
            format: drive.fmt, target: target, mode: "existing"
        })?;
        if !res {
            self.bitmaps[bitmap].del_target()?;
            assert_false!(o.validate);
        } else {
            self.make_reference_backup(Some(bitmap))?;
        }
        Ok(res)
    }

    fn check_backups(&self, t: &Case) -> Result<()> {
        for bitmap in &self.bitmaps {
            for (incremental, reference) in &bitmap.backups {
                assert_true!(t.compare_images(incremental, reference)?);
            }
            let last = bitmap.last_target().0;
            assert_true!(t.compare_images(&last, &bitmap.drive.file)?);
        }
        Ok(())
    }

    fn hmp_io_writes(&mut self, drive: &str, patterns: &[(&str, &str, &str)]) -> Result<()> {
        for (p, offset, len) in patterns {
            self.vm.hmp_qemu_io(drive, &format!("write -P{p} {offset} {len}"))?;
        }
        self.vm.hmp_qemu_io(drive, "flush")?;
        Ok(())
    }

    fn do_incremental_simple(&mut self, t: &Case, kwargs: Kwargs) -> Result<()> {
        self.create_anchor_backup(None)?;
        let drive0 = self.drives[0].clone();
        self.add_bitmap("bitmap0", &drive0, kwargs)?;

        // Sanity: Create a "hollow" incremental backup
        self.create_incremental(t, Incremental::default())?;
        // Three writes: One complete overwrite, one new segment,
        // and one partial overlap.
        self.hmp_io_writes(&drive0.id, &[("0xab", "0", "512"), ("0xfe", "16M", "256k"), ("0x64", "32736k", "64k")])?;
        self.create_incremental(t, Incremental::default())?;
        // Three more writes, one of each kind, like above
        self.hmp_io_writes(&drive0.id, &[("0x9a", "0", "512"), ("0x55", "8M", "352k"), ("0x78", "15872k", "1M")])?;
        self.create_incremental(t, Incremental::default())?;
        self.vm.shutdown()?;
        self.check_backups(t)
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        for bitmap in &self.bitmaps {
            bitmap.cleanup();
        }
        for filename in &self.files {
            try_remove(filename);
        }
        Ok(())
    }
}

struct TestIncrementalBackup {
    base: TestIncrementalBackupBase,
}

#[iotests::test_case(extends = TestIncrementalBackupBase)]
impl TestIncrementalBackup {
    fn new(t: &Case) -> Result<Self> {
        Ok(TestIncrementalBackup { base: TestIncrementalBackupBase::new(t)? })
    }

    /// Test: Create and verify three incremental backups.
    ///
    /// Create a bitmap and a full backup before VM execution begins,
    /// then create a series of three incremental backups "during execution,"
    /// i.e.; after IO requests begin modifying the drive.
    fn test_incremental_simple(&mut self, t: &Case) -> Result<()> {
        self.do_incremental_simple(t, kwargs! {})
    }

    /// Test: Create and verify backups made with a small granularity bitmap.
    ///
    /// Perform the same test as test_incremental_simple, but with a granularity
    /// of only 32KiB instead of the present default of 64KiB.
    fn test_small_granularity(&mut self, t: &Case) -> Result<()> {
        self.do_incremental_simple(t, kwargs! { granularity: 32768 })
    }

    /// Test: Create and verify backups made with a large granularity bitmap.
    ///
    /// Perform the same test as test_incremental_simple, but with a granularity
    /// of 128KiB instead of the present default of 64KiB.
    fn test_large_granularity(&mut self, t: &Case) -> Result<()> {
        self.do_incremental_simple(t, kwargs! { granularity: 131072 })
    }

    /// Test: Create and verify backups made to a larger cluster size target.
    ///
    /// With a default granularity of 64KiB, verify that backups made to a
    /// larger cluster size target of 128KiB without a backing file works.
    fn test_larger_cluster_target(&mut self, t: &Case) -> Result<()> {
        let drive0 = self.drives[0].clone();

        // Create a cluster_size=128k full backup / "anchor" backup
        self.img_create(
            t,
            &drive0.backup,
            &imgfmt(),
            ImgCreate { kwargs: vec![("cluster_size", "128k")], ..Default::default() },
        )?;
        let res = self.do_qmp_backup(
            kwargs! { device: drive0.id, sync: "full", format: drive0.fmt, target: drive0.backup, mode: "existing" },
        )?;
        assert_true!(res);

        // Create bitmap and dirty it with some new writes.
        // overwrite [32736, 32799] which will dirty bitmap clusters at
        // 32M-64K and 32M. 32M+64K will be left undirtied.
        let bitmap0 = self.add_bitmap("bitmap0", &drive0, kwargs! {})?;
        self.hmp_io_writes(&drive0.id, &[("0xab", "0", "512"), ("0xfe", "16M", "256k"), ("0x64", "32736k", "64k")])?;
        // Check the dirty bitmap stats
        let name = self.bitmaps[bitmap0].name.clone();
        let status = self.vm.check_bitmap_status(
            "node0",
            &name,
            &json!({
                "name": "bitmap0",
                "count": 458752,
                "granularity": 65536,
                "persistent": false
            }),
        )?;
        assert_true!(status);

        // Prepare a cluster_size=128k backup target without a backing file.
        let (target, _) = self.bitmaps[bitmap0].new_target(None);
        let fmt = self.bitmaps[bitmap0].drive.fmt.clone();
        self.img_create(t, &target, &fmt, ImgCreate { kwargs: vec![("cluster_size", "128k")], ..Default::default() })?;

        // Perform Incremental Backup
        let drive = self.bitmaps[bitmap0].drive.clone();
        let res = self.do_qmp_backup(kwargs! {
            device: drive.id, sync: "incremental", bitmap: name,
            format: drive.fmt, target: target, mode: "existing"
        })?;
        assert_true!(res);
        self.make_reference_backup(Some(bitmap0))?;

        // Add the backing file, then compare and exit.
        t.qemu_img(&args!["rebase", "-f", drive0.fmt, "-u", "-b", drive0.backup, "-F", drive0.fmt, target])?;
        self.vm.shutdown()?;
        self.check_backups(t)
    }

    /// Test: Verify backups made from transactionally created bitmaps.
    ///
    /// Create a bitmap "before" VM execution begins, then create a second
    /// bitmap AFTER writes have already occurred. Use transactions to create
    /// a full backup and synchronize both bitmaps to this backup.
    /// Create an incremental backup through both bitmaps and verify that
    /// both backups match the current drive0 image.
    fn test_incremental_transaction(&mut self, t: &Case) -> Result<()> {
        let drive0 = self.drives[0].clone();
        let bitmap0 = self.add_bitmap("bitmap0", &drive0, kwargs! {})?;
        self.hmp_io_writes(&drive0.id, &[("0xab", "0", "512"), ("0xfe", "16M", "256k"), ("0x64", "32736k", "64k")])?;
        let bitmap1 = self.add_bitmap("bitmap1", &drive0, kwargs! {})?;

        let actions = json!([
            transaction_bitmap_clear(&self.bitmaps[bitmap0].drive.id, &self.bitmaps[bitmap0].name),
            transaction_bitmap_clear(&self.bitmaps[bitmap1].drive.id, &self.bitmaps[bitmap1].name),
            transaction_drive_backup(&drive0.id, &drive0.backup, kwargs! { sync: "full", format: drive0.fmt })
        ]);
        self.vm.cmd("transaction", kwargs! { actions: actions })?;
        self.vm.wait_until_completed_with(drive0.id.as_str())?;
        self.files.push(drive0.backup.clone());

        self.hmp_io_writes(&drive0.id, &[("0x9a", "0", "512"), ("0x55", "8M", "352k"), ("0x78", "15872k", "1M")])?;
        // Both bitmaps should be correctly in sync.
        self.create_incremental(t, Incremental { bitmap: Some(bitmap0), ..Default::default() })?;
        self.create_incremental(t, Incremental { bitmap: Some(bitmap1), ..Default::default() })?;
        self.vm.shutdown()?;
        self.check_backups(t)
    }

    fn do_transaction_failure_test(&mut self, t: &Case, race: bool) -> Result<()> {
        // Create a second drive, with pattern:
        let drive1 = self.add_node("drive1", &imgfmt(), None, None);
        self.img_create(t, &drive1.file, &drive1.fmt, ImgCreate::default())?;
        io_write_patterns(t, &drive1.file, &[("0x14", "0", "512"), ("0x5d", "1M", "32k"), ("0xcd", "32M", "124k")])?;

        // Create a blkdebug interface to this img as 'drive1'
        self.vm.cmd(
            "blockdev-add",
            kwargs! {
                node_name: drive1.id,
                driver: drive1.fmt,
                file: {
                    "driver": "blkdebug",
                    "image": {
                        "driver": "file",
                        "filename": drive1.file
                    },
                    "set-state": [{
                        "event": "flush_to_disk",
                        "state": 1,
                        "new_state": 2
                    }],
                    "inject-error": [{
                        "event": "read_aio",
                        "errno": 5,
                        "state": 2,
                        "immediately": false,
                        "once": true
                    }],
                }
            },
        )?;

        // Create bitmaps and full backups for both drives
        let drive0 = self.drives[0].clone();
        let dr0bm0 = self.add_bitmap("bitmap0", &drive0, kwargs! {})?;
        let dr1bm0 = self.add_bitmap("bitmap0", &drive1, kwargs! {})?;
        self.create_anchor_backup(Some(drive0.clone()))?;
        self.create_anchor_backup(Some(drive1.clone()))?;
        self.vm.assert_no_active_block_jobs()?;
        assert_false!(self.vm.get_qmp_events_with(false)?);

        // Emulate some writes
        if !race {
            self.hmp_io_writes(
                &drive0.id,
                &[("0xab", "0", "512"), ("0xfe", "16M", "256k"), ("0x64", "32736k", "64k")],
            )?;
        }
        self.hmp_io_writes(&drive1.id, &[("0xba", "0", "512"), ("0xef", "16M", "256k"), ("0x46", "32736k", "64k")])?;

        // Create incremental backup targets
        let target0 = self.prepare_backup(t, Some(dr0bm0), None, ImgCreate::default())?;
        let target1 = self.prepare_backup(t, Some(dr1bm0), None, ImgCreate::default())?;

        // Ask for a new incremental backup per-each drive,
        // expecting drive1's backup to fail. In the 'race' test,
        // we expect drive1 to attempt to cancel the empty drive0 job.
        let transaction = json!([
            transaction_drive_backup(
                &drive0.id,
                &target0,
                kwargs! { sync: "incremental",
                format: drive0.fmt, mode: "existing",
                bitmap: self.bitmaps[dr0bm0].name }
            ),
            transaction_drive_backup(
                &drive1.id,
                &target1,
                kwargs! { sync: "incremental",
                format: drive1.fmt, mode: "existing",
                bitmap: self.bitmaps[dr1bm0].name }
            )
        ]);
        self.vm.cmd("transaction", kwargs! { actions: transaction, properties: {"completion-mode": "grouped"} })?;

        // Observe that drive0's backup is cancelled and drive1 completes with
        // an error.
        self.wait_qmp_backup_cancelled(&drive0.id)?;
        assert_false!(self.wait_qmp_backup(&drive1.id)?);
        let error = self.vm.event_wait("BLOCK_JOB_ERROR")?;
        assert_qmp(
            &error,
            "data",
            json!({"device": drive1.id,
                                           "action": "report",
                                           "operation": "read"}),
        )?;
        assert_false!(self.vm.get_qmp_events_with(false)?);
        self.vm.assert_no_active_block_jobs()?;

        // Delete drive0's successful target and eliminate our record of the
        // unsuccessful drive1 target.
        self.bitmaps[dr0bm0].del_target()?;
        self.bitmaps[dr1bm0].del_target()?;
        if race {
            // Don't re-run the transaction, we only wanted to test the race.
            self.vm.shutdown()?;
            return Ok(());
        }

        // Re-run the same transaction:
        let _target0 = self.prepare_backup(t, Some(dr0bm0), None, ImgCreate::default())?;
        let _target1 = self.prepare_backup(t, Some(dr1bm0), None, ImgCreate::default())?;

        // Re-run the exact same transaction.
        self.vm.cmd("transaction", kwargs! { actions: transaction, properties: {"completion-mode": "grouped"} })?;

        // Both should complete successfully this time.
        assert_true!(self.wait_qmp_backup(&drive0.id)?);
        assert_true!(self.wait_qmp_backup(&drive1.id)?);
        self.make_reference_backup(Some(dr0bm0))?;
        self.make_reference_backup(Some(dr1bm0))?;
        assert_false!(self.vm.get_qmp_events_with(false)?);
        self.vm.assert_no_active_block_jobs()?;

        // And the images should of course validate.
        self.vm.shutdown()?;
        self.check_backups(t)
    }

    /// Test: Verify backups made from a transaction that partially fails.
    ///
    /// Add a second drive with its own unique pattern, and add a bitmap to each
    /// drive. Use blkdebug to interfere with the backup on just one drive and
    /// attempt to create a coherent incremental backup across both drives.
    ///
    /// verify a failure in one but not both, then delete the failed stubs and
    /// re-run the same transaction.
    ///
    /// verify that both incrementals are created successfully.
    fn test_transaction_failure(&mut self, t: &Case) -> Result<()> {
        self.do_transaction_failure_test(t, false)
    }

    /// Test: Verify that transactions with jobs that have no data to
    /// transfer do not cause race conditions in the cancellation of the entire
    /// transaction job group.
    fn test_transaction_failure_race(&mut self, t: &Case) -> Result<()> {
        self.do_transaction_failure_test(t, true)
    }

    fn test_sync_dirty_bitmap_missing(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;
        let err_img = self.err_img.clone();
        self.files.push(err_img.clone());
        let drive0 = self.drives[0].clone();
        let result = self.vm.qmp(
            "drive-backup",
            kwargs! { device: drive0.id, sync: "incremental", format: drive0.fmt, target: err_img },
        )?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn test_sync_dirty_bitmap_not_found(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;
        let err_img = self.err_img.clone();
        self.files.push(err_img.clone());
        let drive0 = self.drives[0].clone();
        let result = self.vm.qmp(
            "drive-backup",
            kwargs! { device: drive0.id, sync: "incremental", bitmap: "unknown", format: drive0.fmt, target: err_img },
        )?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    /// Test: Test what happens if we provide an improper granularity.
    ///
    /// The granularity must always be a power of 2.
    fn test_sync_dirty_bitmap_bad_granularity(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;
        let drive0 = self.drives[0].clone();
        let e = assert_raises!(self.add_bitmap("bitmap0", &drive0, kwargs! { granularity: 64000 }), "ExecuteError");
        // Only an error response of the command is an ExecuteError.
        match e {
            Error::Qmp(q) if matches!(*q, QmpError::Command { .. }) => Ok(()),
            other => Err(other),
        }
    }

    /// Test: Add a bitmap, truncate the image, write past the old
    ///       end, do a backup.
    ///
    /// Incremental backup should not ignore dirty bits past the old
    /// image end.
    fn test_growing_before_backup(&mut self, t: &Case) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.create_anchor_backup(None)?;

        let drive0 = self.drives[0].clone();
        self.add_bitmap("bitmap0", &drive0, kwargs! {})?;

        self.vm.cmd("block_resize", kwargs! { device: drive0.id, size: 65 * 1048576 })?;

        // Dirty the image past the old end
        self.vm.hmp_qemu_io(&drive0.id, "write 64M 64k")?;

        let target = self.prepare_backup(t, None, None, ImgCreate { size: "65M".into(), ..Default::default() })?;
        self.create_incremental(t, Incremental { target: Some(target), ..Default::default() })?;

        self.vm.shutdown()?;
        self.check_backups(t)
    }
}

/// Incremental backup tests that utilize a BlkDebug filter on drive0.
struct TestIncrementalBackupBlkdebug {
    base: TestIncrementalBackupBase,
}

#[iotests::test_case(extends = TestIncrementalBackupBase)]
impl TestIncrementalBackupBlkdebug {
    fn new(t: &Case) -> Result<Self> {
        Ok(TestIncrementalBackupBlkdebug { base: TestIncrementalBackupBase::new(t)? })
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        let drive0 = self.add_node("drive0", &imgfmt(), None, None);
        self.img_create(t, &drive0.file, &drive0.fmt, ImgCreate::default())?;
        self.write_default_pattern(t, &drive0.file)?;
        self.vm.launch()
    }

    /// Test: Verify backups made after a failure are correct.
    ///
    /// Simulate a failure during an incremental backup block job,
    /// emulate additional writes, then create another incremental backup
    /// afterwards and verify that the backup created is correct.
    fn test_incremental_failure(&mut self, t: &Case) -> Result<()> {
        let drive0 = self.drives[0].clone();
        self.vm.cmd(
            "blockdev-add",
            kwargs! {
                node_name: drive0.id,
                driver: drive0.fmt,
                file: {
                    "driver": "blkdebug",
                    "image": {
                        "driver": "file",
                        "filename": drive0.file
                    },
                    "set-state": [{
                        "event": "flush_to_disk",
                        "state": 1,
                        "new_state": 2
                    }],
                    "inject-error": [{
                        "event": "read_aio",
                        "errno": 5,
                        "state": 2,
                        "immediately": false,
                        "once": true
                    }],
                }
            },
        )?;

        self.create_anchor_backup(Some(drive0.clone()))?;
        self.add_bitmap("bitmap0", &drive0, kwargs! {})?;
        // Note: at this point, during a normal execution,
        // Assume that the VM resumes and begins issuing IO requests here.

        self.hmp_io_writes(&drive0.id, &[("0xab", "0", "512"), ("0xfe", "16M", "256k"), ("0x64", "32736k", "64k")])?;

        let result = self.create_incremental(t, Incremental { validate: false, ..Default::default() })?;
        assert_false!(result);
        self.hmp_io_writes(&drive0.id, &[("0x9a", "0", "512"), ("0x55", "8M", "352k"), ("0x78", "15872k", "1M")])?;
        self.create_incremental(t, Incremental::default())?;
        self.vm.shutdown()?;
        self.check_backups(t)
    }

    /// Test an incremental backup that errors into a pause and is resumed.
    fn test_incremental_pause(&mut self, t: &Case) -> Result<()> {
        let drive0 = self.drives[0].clone();
        // NB: The blkdebug script here looks for a "flush, read" pattern.
        // The flush occurs in hmp_io_writes, and the read during the block job.
        self.vm.cmd(
            "blockdev-add",
            kwargs! {
                node_name: drive0.id,
                driver: drive0.fmt,
                file: {
                    "driver": "blkdebug",
                    "image": {
                        "driver": "file",
                        "filename": drive0.file
                    },
                    "set-state": [{
                        "event": "flush_to_disk",
                        "state": 1,
                        "new_state": 2
                    }],
                    "inject-error": [{
                        "event": "read_aio",
                        "errno": 5,
                        "state": 2,
                        "immediately": false,
                        "once": true
                    }],
                }
            },
        )?;
        self.create_anchor_backup(Some(drive0.clone()))?;
        let bitmap = self.add_bitmap("bitmap0", &drive0, kwargs! {})?;
        let (bitmap_name, bitmap_drive) = (self.bitmaps[bitmap].name.clone(), self.bitmaps[bitmap].drive.clone());

        // Emulate guest activity
        self.hmp_io_writes(&drive0.id, &[("0xab", "0", "512"), ("0xfe", "16M", "256k"), ("0x64", "32736k", "64k")])?;

        // Bitmap Status Check
        let status = self.vm.check_bitmap_status(
            &drive0.id,
            &bitmap_name,
            &json!({
                "count": 458752,
                "granularity": 65536,
                "busy": false,
                "recording": true
            }),
        )?;
        assert_true!(status);

        // Start backup
        let (parent, _) = self.bitmaps[bitmap].last_target();
        let target = self.prepare_backup(t, Some(bitmap), Some(parent), ImgCreate::default())?;
        self.vm.cmd(
            "drive-backup",
            kwargs! {
                job_id: bitmap_drive.id,
                device: bitmap_drive.id,
                sync: "incremental",
                bitmap: bitmap_name,
                format: bitmap_drive.fmt,
                target: target,
                mode: "existing",
                on_source_error: "stop"
            },
        )?;

        // Wait for the error
        let event = self.vm.event_wait_with("BLOCK_JOB_ERROR", json!({"data": {"device": bitmap_drive.id}}))?;
        assert_qmp(
            &event,
            "data",
            json!({"device": bitmap_drive.id,
                                          "action": "stop",
                                          "operation": "read"}),
        )?;

        // Bitmap Status Check
        let status = self.vm.check_bitmap_status(
            &drive0.id,
            &bitmap_name,
            &json!({
                "count": 458752,
                "granularity": 65536,
                "busy": true,
                "recording": true
            }),
        )?;
        assert_true!(status);

        // Resume and check incremental backup for consistency
        self.vm.cmd("block-job-resume", kwargs! { device: bitmap_drive.id })?;
        self.wait_qmp_backup(&bitmap_drive.id)?;

        // Bitmap Status Check
        let status = self.vm.check_bitmap_status(
            &drive0.id,
            &bitmap_name,
            &json!({
                "count": 0,
                "granularity": 65536,
                "busy": false,
                "recording": true
            }),
        )?;
        assert_true!(status);

        // Finalize / Cleanup
        self.make_reference_backup(Some(bitmap))?;
        self.vm.shutdown()?;
        self.check_backups(t)
    }
}

iotests::iotest! {
    name: "124", groups: [rw, backing],
    supported_fmts: ["qcow2"],
    supported_protocols: ["file"],
    fn t124: unittest { TestIncrementalBackup, TestIncrementalBackupBlkdebug }
}
