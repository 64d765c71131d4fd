//! Upstream 257: bitmap-sync backups (incremental, differential, partial) in every sync mode, with and without failures.
//!
//! It also checks the backup API's refusals of malformed and prohibited invocations.
//!
//! Python's `Drive` holds its VM (`drive.vm`); here the VM is an argument next to the drive
//! (`perform_writes(t, vm, &drive0, 2, …)`), because `run_job` holds the VM while the
//! `pre_finalize` callback runs and lends it to the callback, which writes through the drive.

use std::collections::{BTreeSet, HashMap};

use iotests::prelude::*;
use iotests::qmp::Kwargs;
use serde_json::Map;

const SIZE: u64 = 64 * 1024 * 1024;
const GRANULARITY: u64 = 64 * 1024;

struct Pattern {
    byte: &'static str,
    offset: u64,
    size: u64,
}

impl Pattern {
    /// `Pattern(byte, offset)` (`size=GRANULARITY`).
    const fn new(byte: &'static str, offset: u64) -> Pattern {
        Pattern::new_with(byte, offset, GRANULARITY)
    }

    /// `Pattern(byte, offset, size)`.
    const fn new_with(byte: &'static str, offset: u64, size: u64) -> Pattern {
        Pattern { byte, offset, size }
    }

    fn bits(&self, granularity: u64) -> BTreeSet<u64> {
        let lower = self.offset / granularity;
        let upper = (self.offset + self.size - 1) / granularity;
        (lower..upper + 1).collect()
    }
}

/// Grouping of Pattern objects. Initialize with an iterable of Patterns.
struct PatternGroup {
    patterns: &'static [Pattern],
}

impl PatternGroup {
    const fn new(patterns: &'static [Pattern]) -> PatternGroup {
        PatternGroup { patterns }
    }

    /// Calculate the unique bits dirtied by this pattern grouping
    fn bits(&self, granularity: u64) -> BTreeSet<u64> {
        let mut res = BTreeSet::new();
        for pattern in self.patterns {
            res.extend(pattern.bits(granularity));
        }
        res
    }
}

const GROUPS: [PatternGroup; 4] = [
    PatternGroup::new(&[
        // Batch 0: 4 clusters
        Pattern::new("0x49", 0x0000000),
        Pattern::new("0x6c", 0x0100000), // 1M
        Pattern::new("0x6f", 0x2000000), // 32M
        Pattern::new("0x76", 0x3ff0000), // 64M - 64K
    ]),
    PatternGroup::new(&[
        // Batch 1: 6 clusters (3 new)
        Pattern::new("0x65", 0x0000000), // Full overwrite
        Pattern::new("0x77", 0x00f8000), // Partial-left (1M-32K)
        Pattern::new("0x72", 0x2008000), // Partial-right (32M+32K)
        Pattern::new("0x69", 0x3fe0000), // Adjacent-left (64M - 128K)
    ]),
    PatternGroup::new(&[
        // Batch 2: 7 clusters (3 new)
        Pattern::new("0x74", 0x0010000),                       // Adjacent-right
        Pattern::new("0x69", 0x00e8000),                       // Partial-left  (1M-96K)
        Pattern::new("0x6e", 0x2018000),                       // Partial-right (32M+96K)
        Pattern::new_with("0x67", 0x3fe0000, 2 * GRANULARITY), // Overwrite [(64M-128K)-64M)
    ]),
    PatternGroup::new(&[
        // Batch 3: 8 clusters (5 new)
        // Carefully chosen such that nothing re-dirties the one cluster
        // that copies out successfully before failure in Group #1.
        Pattern::new_with("0xaa", 0x0010000, 3 * GRANULARITY), // Overwrite and 2x Adjacent-right
        Pattern::new("0xbb", 0x00d8000),                       // Partial-left (1M-160K)
        Pattern::new("0xcc", 0x2028000),                       // Partial-right (32M+160K)
        Pattern::new("0xdd", 0x3fc0000),                       // New; leaving a gap to the right
    ]),
];

struct EmulatedBitmap {
    _bits: BTreeSet<u64>,
    granularity: u64,
}

impl EmulatedBitmap {
    /// `EmulatedBitmap()` (`granularity=GRANULARITY`).
    fn new() -> EmulatedBitmap {
        EmulatedBitmap { _bits: BTreeSet::new(), granularity: GRANULARITY }
    }

    fn dirty_bits(&mut self, bits: impl IntoIterator<Item = u64>) {
        self._bits.extend(bits);
    }

    fn dirty_group(&mut self, n: usize) {
        self.dirty_bits(GROUPS[n].bits(self.granularity));
    }

    fn clear(&mut self) {
        self._bits = BTreeSet::new();
    }

    fn clear_bits(&mut self, bits: impl IntoIterator<Item = u64>) {
        for bit in bits {
            self._bits.remove(&bit);
        }
    }

    fn clear_bit(&mut self, bit: u64) {
        self.clear_bits([bit]);
    }

    #[allow(dead_code)] // unused upstream too
    fn clear_group(&mut self, n: usize) {
        self.clear_bits(GROUPS[n].bits(self.granularity));
    }

    /// `sorted(self.bits)[0]`: an IndexError when no bit is set.
    fn first_bit(&self) -> Result<u64> {
        self.bits().first().copied().ok_or_else(|| Error::python("IndexError", "list index out of range"))
    }

    fn bits(&self) -> &BTreeSet<u64> {
        &self._bits
    }

    fn count(&self) -> u64 {
        self.bits().len() as u64
    }

    /// Print a nice human-readable message checking that a bitmap as reported
    /// by the QMP interface has as many bits set as we expect it to.
    fn compare(&self, t: &TestContext, qmp_bitmap: Option<Value>) -> Result<()> {
        let Some(qmp_bitmap) = qmp_bitmap else {
            return Err(Error::python("AttributeError", "'NoneType' object has no attribute 'get'"));
        };
        let name = qmp_bitmap.get("name").and_then(Value::as_str).unwrap_or("(anonymous)");
        t.log(format!("= Checking Bitmap {name} ="));

        let want = self.count();
        let have = dictpath(&qmp_bitmap, "count")?.as_u64().unwrap_or_default()
            / dictpath(&qmp_bitmap, "granularity")?.as_u64().unwrap_or(1);

        t.log(format!("expecting {want} dirty sectors; have {have}. {}", if want == have { "OK!" } else { "ERROR!" }));
        t.log("");
        Ok(())
    }
}

/// Represents, vaguely, a drive attached to a VM.
/// Includes format, graph, and device information.
struct Drive {
    path: String,
    /// Python's `None` (empty) until `img_create` or `create_target`.
    fmt: String,
    size: u64,
    /// Set by `create_target`, or by the test.
    node: String,
}

impl Drive {
    fn new(path: &str) -> Drive {
        Drive { path: path.to_string(), fmt: String::new(), size: 0, node: String::new() }
    }

    fn img_create(&mut self, t: &TestContext, fmt: &str, size: u64) -> Result<()> {
        self.fmt = fmt.to_string();
        self.size = size;
        t.qemu_img_create(&args!["-f", self.fmt, self.path, self.size.to_string()])?;
        Ok(())
    }

    fn create_target(&mut self, t: &TestContext, vm: &mut Vm, name: &str, fmt: &str, size: u64) -> Result<()> {
        let basename = os::path::basename(&self.path);
        let file_node_name = format!("file_{basename}");

        t.log(vm.cmd(
            "blockdev-create",
            kwargs! { job_id: "bdc-file-job",
            options: {
                "driver": "file",
                "filename": self.path,
                "size": 0,
            } },
        )?);
        vm.run_job("bdc-file-job")?;
        t.log(vm.cmd("blockdev-add", kwargs! { driver: "file", node_name: file_node_name, filename: self.path })?);

        t.log(vm.cmd(
            "blockdev-create",
            kwargs! { job_id: "bdc-fmt-job",
            options: {
                "driver": fmt,
                "file": file_node_name,
                "size": size,
            } },
        )?);
        vm.run_job("bdc-fmt-job")?;
        t.log(vm.cmd("blockdev-add", kwargs! { driver: fmt, node_name: name, file: file_node_name })?);
        self.fmt = fmt.to_string();
        self.size = size;
        self.node = name.to_string();
        Ok(())
    }
}

fn blockdev_backup(vm: &mut Vm, device: &str, target: &str, sync: &str, kwargs: Kwargs) -> Result<Value> {
    // Strip any arguments explicitly nulled by the caller:
    let kwargs: Kwargs = kwargs.items().filter(|(_, val)| !val.is_null()).collect();
    let result = vm.qmp_log(
        "blockdev-backup",
        kwargs! { device: device,
        target: target,
        sync: sync,
        filter_node_name: "backup-top",
        x_perf: {"max-workers": 1},
        ..kwargs },
    )?;
    Ok(result)
}

fn blockdev_backup_mktarget(
    t: &TestContext,
    vm: &mut Vm,
    drive: &Drive,
    target_id: &str,
    filepath: &str,
    sync: &str,
    kwargs: Kwargs,
) -> Result<()> {
    let mut target_drive = Drive::new(filepath);
    target_drive.create_target(t, vm, target_id, &drive.fmt, drive.size)?;
    blockdev_backup(vm, &drive.node, target_id, sync, kwargs)?;
    Ok(())
}

fn reference_backup(t: &TestContext, vm: &mut Vm, drive: &Drive, n: usize, filepath: &str) -> Result<()> {
    t.log(format!("--- Reference Backup #{n} ---\n"));
    let target_id = format!("ref_target_{n}");
    let job_id = format!("ref_backup_{n}");
    blockdev_backup_mktarget(t, vm, drive, &target_id, filepath, "full", kwargs! { job_id: job_id })?;
    vm.run_job_with(&job_id, RunJobOptions { auto_dismiss: true, ..Default::default() })?;
    t.log("");
    Ok(())
}

fn backup(
    t: &TestContext,
    vm: &mut Vm,
    drive: &Drive,
    n: usize,
    filepath: &str,
    sync: &str,
    mut kwargs: Kwargs,
) -> Result<String> {
    t.log(format!("--- Test Backup #{n} ---\n"));
    let target_id = format!("backup_target_{n}");
    let job_id = format!("backup_{n}");
    kwargs.setdefault("auto-finalize", false);
    blockdev_backup_mktarget(t, vm, drive, &target_id, filepath, sync, kwargs! { job_id: job_id, ..kwargs })?;
    Ok(job_id)
}

fn perform_writes(
    t: &TestContext,
    vm: &mut Vm,
    drive: &Drive,
    n: usize,
    filter_node_name: Option<&str>,
) -> Result<Map<String, Value>> {
    t.log(format!("--- Write #{n} ---\n"));
    for pattern in GROUPS[n].patterns {
        let cmd = format!("write -P{} 0x{:07x} 0x{:x}", pattern.byte, pattern.offset, pattern.size);
        t.log(&cmd);
        t.log(vm.hmp_qemu_io(filter_node_name.unwrap_or(&drive.node), &cmd)?);
    }
    let bitmaps = vm.query_bitmaps()?;
    t.log_with(json!({"bitmaps": bitmaps}), LogOpts { indent: Some(2), ..Default::default() });
    t.log("");
    Ok(bitmaps)
}

/// Print a nice human-readable message comparing these images.
fn compare_images(
    t: &TestContext,
    image: &str,
    reference: &str,
    baseimg: Option<&str>,
    expected_match: bool,
) -> Result<()> {
    let expected_ret = if expected_match { 0 } else { 1 };
    if let Some(baseimg) = baseimg {
        t.qemu_img(&args!["rebase", "-u", "-b", baseimg, "-F", imgfmt(), image])?;
    }

    let sub = t.qemu_img_cmd(&args!["compare", image, reference]).check(false).run()?;

    t.log_with(
        format!(
            "qemu_img compare \"{image}\" \"{reference}\" ==> {}, {}",
            if sub.returncode == 0 { "Identical" } else { "Mismatch" },
            if sub.returncode == expected_ret { "OK!" } else { "ERROR!" }
        ),
        &[Filter::Testfiles],
    );
    Ok(())
}

/// Test bitmap backup routines.
///
/// `bsync_mode` is the Bitmap Sync mode, and can be any of:
/// - on-success: This is the "incremental" style mode. Bitmaps are
///   synchronized to what was copied out only on success.
///   (Partial images must be discarded.)
/// - never: This is the "differential" style mode.
///   Bitmaps are never synchronized.
/// - always: This is a "best effort" style mode.
///   Bitmaps are always synchronized, regardless of failure.
///   (Partial images must be kept.)
///
/// `msync_mode` is the mirror sync mode to use for the first backup
/// (Python's default: `bitmap`). Can be any one of:
/// - bitmap: Backups based on bitmap manifest.
/// - full: Full backups.
/// - top: Full backups of the top layer only.
///
/// `failure` is the (optional) failure mode, and can be any of:
/// - None: No failure. Test the normative path. Default.
/// - simulated: Cancel the job right before it completes.
///   This also tests writes "during" the job.
/// - intermediate: This tests a job that fails mid-process and produces
///   an incomplete backup. Testing limitations prevent
///   testing competing writes.
fn test_bitmap_sync(t: &TestContext, bsync_mode: &str, msync_mode: &str, failure: Option<&str>) -> Result<()> {
    let files = t.scoped_file_paths(["img", "bsync1", "bsync2", "fbackup0", "fbackup1", "fbackup2"]);
    let [img_path, bsync1, bsync2, fbackup0, fbackup1, fbackup2] = &*files;
    let mut vm = t.vm();

    let mode = format!("Mode {msync_mode}; Bitmap Sync {bsync_mode}");
    let preposition = if failure.is_some() { "with" } else { "without" };
    let cond = format!(
        "{preposition} {}",
        match failure {
            Some(failure) => format!("{failure} failure"),
            None => "failure".to_string(),
        }
    );
    t.log(format!("\n=== {mode} {cond} ===\n"));

    t.log("--- Preparing image & VM ---\n");
    let mut drive0 = Drive::new(img_path);
    drive0.img_create(t, &imgfmt(), SIZE)?;
    vm.add_device(format!("{},id=scsi0", "virtio-scsi"));
    vm.launch()?;

    let mut file_config = json!({
        "driver": "file",
        "filename": drive0.path
    });

    if failure == Some("intermediate") {
        file_config = json!({
            "driver": "blkdebug",
            "image": file_config,
            "set-state": [{
                "event": "flush_to_disk",
                "state": 1,
                "new_state": 2
            }, {
                "event": "read_aio",
                "state": 2,
                "new_state": 3
            }],
            "inject-error": [{
                "event": "read_aio",
                "errno": 5,
                "state": 3,
                "immediately": false,
                "once": true
            }]
        });
    }

    drive0.node = "drive0".to_string();
    vm.qmp_log_with(
        "blockdev-add",
        kwargs! { node_name: drive0.node,
        driver: drive0.fmt,
        file: file_config },
        &[Filter::QmpTestfiles],
    )?;
    t.log("");

    // 0 - Writes and Reference Backup
    perform_writes(t, &mut vm, &drive0, 0, None)?;
    reference_backup(t, &mut vm, &drive0, 0, fbackup0)?;
    t.log("--- Add Bitmap ---\n");
    vm.qmp_log("block-dirty-bitmap-add", kwargs! { node: drive0.node, name: "bitmap0", granularity: GRANULARITY })?;
    t.log("");
    let mut ebitmap = EmulatedBitmap::new();

    // 1 - Writes and Reference Backup
    let bitmaps = perform_writes(t, &mut vm, &drive0, 1, None)?;
    ebitmap.dirty_group(1);
    let bitmap = vm.get_bitmap_with(&drive0.node, "bitmap0", &bitmaps)?;
    ebitmap.compare(t, bitmap)?;
    reference_backup(t, &mut vm, &drive0, 1, fbackup1)?;

    // 1 - Test Backup (w/ Optional induced failure)
    if failure == Some("intermediate") {
        // Activate blkdebug induced failure for second-to-next read
        t.log(vm.hmp_qemu_io(&drive0.node, "flush")?);
        t.log("");
    }
    let job =
        backup(t, &mut vm, &drive0, 1, bsync1, msync_mode, kwargs! { bitmap: "bitmap0", bitmap_mode: bsync_mode })?;

    // Issue writes while the job is open to test bitmap divergence.
    let mut _callback = |vm: &mut Vm| -> Result<()> {
        // Note: when `failure` is 'intermediate', this isn't called.
        t.log("");
        let bitmaps = perform_writes(t, vm, &drive0, 2, Some("backup-top"))?;
        // Named bitmap (static, should be unchanged)
        ebitmap.compare(t, vm.get_bitmap_with(&drive0.node, "bitmap0", &bitmaps)?)?;
        // Anonymous bitmap (dynamic, shows new writes)
        let mut anonymous = EmulatedBitmap::new();
        anonymous.dirty_group(2);
        anonymous.compare(
            t,
            vm.get_bitmap_with(&drive0.node, "", GetBitmap { recording: Some(true), bitmaps: Some(&bitmaps) })?,
        )?;

        // Simulate the order in which this will happen:
        // group 1 gets cleared first, then group two gets written.
        if (bsync_mode == "on-success" && failure.is_none()) || (bsync_mode == "always") {
            ebitmap.clear();
        }
        ebitmap.dirty_group(2);
        Ok(())
    };

    vm.run_job_with(
        &job,
        RunJobOptions {
            auto_dismiss: true,
            auto_finalize: false,
            pre_finalize: Some(&mut _callback),
            cancel: failure == Some("simulated"),
            ..Default::default()
        },
    )?;
    let bitmaps = vm.query_bitmaps()?;
    t.log_with(json!({"bitmaps": bitmaps}), LogOpts { indent: Some(2), ..Default::default() });
    t.log("");

    if bsync_mode == "always" && failure == Some("intermediate") {
        // TOP treats anything allocated as dirty, expect to see:
        if msync_mode == "top" {
            ebitmap.dirty_group(0);
        }

        // We manage to copy one sector (one bit) before the error.
        ebitmap.clear_bit(ebitmap.first_bit()?);

        // Full returns all bits set except what was copied/skipped
        if msync_mode == "full" {
            let fail_bit = ebitmap.first_bit()?;
            ebitmap.clear();
            ebitmap.dirty_bits(fail_bit..SIZE / GRANULARITY);
        }
    }

    ebitmap.compare(t, vm.get_bitmap_with(&drive0.node, "bitmap0", &bitmaps)?)?;

    // 2 - Writes and Reference Backup
    let bitmaps = perform_writes(t, &mut vm, &drive0, 3, None)?;
    ebitmap.dirty_group(3);
    ebitmap.compare(t, vm.get_bitmap_with(&drive0.node, "bitmap0", &bitmaps)?)?;
    reference_backup(t, &mut vm, &drive0, 2, fbackup2)?;

    // 2 - Bitmap Backup (In failure modes, this is a recovery.)
    let job = backup(t, &mut vm, &drive0, 2, bsync2, "bitmap", kwargs! { bitmap: "bitmap0", bitmap_mode: bsync_mode })?;
    vm.run_job_with(&job, RunJobOptions { auto_dismiss: true, auto_finalize: false, ..Default::default() })?;
    let bitmaps = vm.query_bitmaps()?;
    t.log_with(json!({"bitmaps": bitmaps}), LogOpts { indent: Some(2), ..Default::default() });
    t.log("");
    if bsync_mode != "never" {
        ebitmap.clear();
    }
    ebitmap.compare(t, vm.get_bitmap_with(&drive0.node, "bitmap0", &bitmaps)?)?;

    t.log("--- Cleanup ---\n");
    vm.qmp_log("block-dirty-bitmap-remove", kwargs! { node: drive0.node, name: "bitmap0" })?;
    let bitmaps = vm.query_bitmaps()?;
    t.log_with(json!({"bitmaps": bitmaps}), LogOpts { indent: Some(2), ..Default::default() });
    vm.shutdown()?;
    t.log("");

    t.log("--- Verification ---\n");
    // 'simulated' failures will actually all pass here because we canceled
    // while "pending". This is actually undefined behavior,
    // don't rely on this to be true!
    compare_images(t, bsync1, fbackup1, Some(fbackup0), failure != Some("intermediate"))?;
    let base = if failure.is_none() || bsync_mode == "always" {
        // Always keep the last backup on success or when using 'always'
        bsync1
    } else {
        fbackup0
    };
    compare_images(t, bsync2, fbackup2, Some(base), true)?;
    compare_images(t, img_path, fbackup2, None, true)?;
    t.log("");
    Ok(())
}

/// Test malformed and prohibited invocations of the backup API.
fn test_backup_api(t: &TestContext) -> Result<()> {
    let files = t.scoped_file_paths(["img", "bsync1"]);
    let [img_path, backup_path] = &*files;
    let mut vm = t.vm();

    t.log("\n=== API failure tests ===\n");
    t.log("--- Preparing image & VM ---\n");
    let mut drive0 = Drive::new(img_path);
    drive0.img_create(t, &imgfmt(), SIZE)?;
    vm.add_device(format!("{},id=scsi0", "virtio-scsi"));
    vm.launch()?;

    let file_config = json!({
        "driver": "file",
        "filename": drive0.path
    });

    drive0.node = "drive0".to_string();
    vm.qmp_log_with(
        "blockdev-add",
        kwargs! { node_name: drive0.node,
        driver: drive0.fmt,
        file: file_config },
        &[Filter::QmpTestfiles],
    )?;
    t.log("");

    let mut target0 = Drive::new(backup_path);
    target0.create_target(t, &mut vm, "backup_target", &drive0.fmt, drive0.size)?;
    t.log("");

    vm.qmp_log("block-dirty-bitmap-add", kwargs! { node: drive0.node, name: "bitmap0", granularity: GRANULARITY })?;
    t.log("");

    t.log("-- Testing invalid QMP commands --\n");

    let error_cases: HashMap<&str, HashMap<Option<&str>, Vec<Option<&str>>>> = HashMap::from([
        (
            "incremental",
            HashMap::from([
                (None, vec![Some("on-success"), Some("always"), Some("never"), None]),
                (Some("bitmap404"), vec![Some("on-success"), Some("always"), Some("never"), None]),
                (Some("bitmap0"), vec![Some("always"), Some("never")]),
            ]),
        ),
        (
            "bitmap",
            HashMap::from([
                (None, vec![Some("on-success"), Some("always"), Some("never"), None]),
                (Some("bitmap404"), vec![Some("on-success"), Some("always"), Some("never"), None]),
                (Some("bitmap0"), vec![None]),
            ]),
        ),
        (
            "full",
            HashMap::from([
                (None, vec![Some("on-success"), Some("always"), Some("never")]),
                (Some("bitmap404"), vec![Some("on-success"), Some("always"), Some("never"), None]),
                (Some("bitmap0"), vec![Some("never"), None]),
            ]),
        ),
        (
            "top",
            HashMap::from([
                (None, vec![Some("on-success"), Some("always"), Some("never")]),
                (Some("bitmap404"), vec![Some("on-success"), Some("always"), Some("never"), None]),
                (Some("bitmap0"), vec![Some("never"), None]),
            ]),
        ),
        (
            "none",
            HashMap::from([
                (None, vec![Some("on-success"), Some("always"), Some("never")]),
                (Some("bitmap404"), vec![Some("on-success"), Some("always"), Some("never"), None]),
                (Some("bitmap0"), vec![Some("on-success"), Some("always"), Some("never"), None]),
            ]),
        ),
    ]);

    // Dicts, as always, are not stably-ordered prior to 3.7, so use tuples:
    for sync_mode in ["incremental", "bitmap", "full", "top", "none"] {
        t.log(format!("-- Sync mode {sync_mode} tests --\n"));
        for bitmap in [None, Some("bitmap404"), Some("bitmap0")] {
            for policy in &error_cases[sync_mode][&bitmap] {
                blockdev_backup(
                    &mut vm,
                    &drive0.node,
                    "backup_target",
                    sync_mode,
                    kwargs! { job_id: "api_job", bitmap: bitmap, bitmap_mode: policy },
                )?;
                t.log("");
            }
        }
    }
    Ok(())
}

iotests::iotest! {
    name: "257", groups: [rw],
    supported_fmts: ["qcow2"],
    supported_protocols: ["file"],
    fn t257(t) {
        for bsync_mode in ["never", "on-success", "always"] {
            for failure in [Some("simulated"), Some("intermediate"), None] {
                test_bitmap_sync(t, bsync_mode, "bitmap", failure)?;
            }
        }

        for sync_mode in ["full", "top"] {
            for bsync_mode in ["on-success", "always"] {
                for failure in [Some("simulated"), Some("intermediate"), None] {
                    test_bitmap_sync(t, bsync_mode, sync_mode, failure)?;
                }
            }
        }

        test_backup_api(t)?;
        Ok(())
    }
}
