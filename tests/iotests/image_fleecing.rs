//! Upstream tests/image-fleecing: fleecing (point-in-time NBD export or push backup) with backup(sync=none),
//! the copy-before-write filter, snapshot-access and a bitmap.

use iotests::prelude::*;

type Pattern = (&'static str, &'static str, &'static str);

const PATTERNS: [Pattern; 4] = [
    ("0x5d", "0", "64k"),
    ("0xd5", "1M", "64k"),
    ("0xdc", "32M", "64k"),
    ("0xcd", "0x3ff0000", "64k"), // 64M - 64K
];

const OVERWRITE: [Pattern; 4] = [
    ("0xab", "0", "64k"),         // Full overwrite
    ("0xad", "0x00f8000", "64k"), // Partial-left (1M-32K)
    ("0x1d", "0x2008000", "64k"), // Partial-right (32M+32K)
    ("0xea", "0x3fe0000", "64k"), // Adjacent-left (64M - 128K)
];

const ZEROES: [Pattern; 3] = [
    ("0", "0x00f8000", "32k"), // Left-end of partial-left (1M-32K)
    ("0", "0x2010000", "32k"), // Right-end of partial-right (32M+64K)
    ("0", "0x3fe0000", "64k"), // overwrite[3]
];

const REMAINDER: [Pattern; 3] = [
    ("0xd5", "0x108000", "32k"),  // Right-end of partial-left [1]
    ("0xdc", "32M", "32k"),       // Left-end of partial-right [2]
    ("0xcd", "0x3ff0000", "64k"), // patterns[3]
];

/// `patterns + zeroes`
fn patterns_and_zeroes() -> impl Iterator<Item = Pattern> {
    PATTERNS.into_iter().chain(ZEROES)
}

/// `try: qemu_io(*args) except CalledProcessError as exc: if bitmap and p in
/// zeroes: log(exc.stdout) else: raise`
fn qemu_io_unless_zeroes_in_bitmap(t: &TestContext, args: &[String], bitmap: bool, p: Pattern) -> Result<()> {
    match t.qemu_io(args) {
        Ok(_) => Ok(()),
        Err(Error::ToolFailed { output, .. }) if bitmap && ZEROES.contains(&p) => {
            t.log(output);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[allow(clippy::too_many_arguments)]
fn do_test(
    t: &TestContext,
    vm: &mut Vm,
    use_cbw: bool,
    use_snapshot_access_filter: bool,
    base_img_path: &str,
    fleece_img_path: &str,
    nbd_sock_path: Option<&str>,
    target_img_path: Option<&str>,
    bitmap: bool,
) -> Result<()> {
    let push_backup = target_img_path.is_some();
    ensure!(nbd_sock_path.is_some() != push_backup);
    if push_backup {
        ensure!(use_cbw);
    }

    t.log("--- Setting up images ---");
    t.log("");

    t.qemu_img(&args!["create", "-f", imgfmt(), base_img_path, "64M"])?;
    if bitmap {
        t.qemu_img(&args!["bitmap", "--add", base_img_path, "bitmap0"])?;
    }

    if use_snapshot_access_filter {
        ensure!(use_cbw);
        t.qemu_img(&args!["create", "-f", "raw", fleece_img_path, "64M"])?;
    } else {
        t.qemu_img(&args!["create", "-f", "qcow2", fleece_img_path, "64M"])?;
    }

    if let Some(target_img_path) = target_img_path {
        t.qemu_img(&args!["create", "-f", "qcow2", target_img_path, "64M"])?;
    }

    for (pattern, offset, len) in PATTERNS {
        t.qemu_io(&args!["-f", imgfmt(), "-c", format!("write -P{pattern} {offset} {len}"), base_img_path])?;
    }

    t.log("Done");

    t.log("");
    t.log("--- Launching VM ---");
    t.log("");

    let src_node = "source";
    let tmp_node = "temp";
    let qom_path = "/machine/peripheral/sda";
    vm.add_blockdev(format!("driver={},file.driver=file,file.filename={base_img_path},node-name={src_node}", imgfmt()));
    vm.add_device("virtio-scsi");
    vm.add_device(format!("scsi-hd,id=sda,drive={src_node}"));
    vm.launch()?;
    t.log("Done");

    t.log("");
    t.log("--- Setting up Fleecing Graph ---");
    t.log("");

    if use_snapshot_access_filter {
        t.log(vm.qmp(
            "blockdev-add",
            json!({
                "node-name": tmp_node,
                "driver": "file",
                "filename": fleece_img_path,
            }),
        )?);
    } else {
        // create tmp_node backed by src_node
        t.log(vm.qmp(
            "blockdev-add",
            json!({
                "driver": "qcow2",
                "node-name": tmp_node,
                "file": {
                    "driver": "file",
                    "filename": fleece_img_path,
                },
                "backing": src_node,
            }),
        )?);
    }

    // Establish CBW from source to fleecing node
    if use_cbw {
        let mut fl_cbw = json!({
            "driver": "copy-before-write",
            "node-name": "fl-cbw",
            "file": src_node,
            "target": tmp_node
        });

        if bitmap {
            fl_cbw["bitmap"] = json!({"node": src_node, "name": "bitmap0"});
        }

        t.log(vm.qmp("blockdev-add", fl_cbw)?);

        t.log(vm.qmp("qom-set", kwargs! { path: qom_path, property: "drive", value: "fl-cbw" })?);

        if use_snapshot_access_filter {
            t.log(vm.qmp(
                "blockdev-add",
                json!({
                    "driver": "snapshot-access",
                    "node-name": "fl-access",
                    "file": "fl-cbw",
                }),
            )?);
        }
    } else {
        t.log(vm.qmp(
            "blockdev-backup",
            kwargs! { job_id: "fleecing", device: src_node, target: tmp_node, sync: "none" },
        )?);
    }

    let export_node = if use_snapshot_access_filter { "fl-access" } else { tmp_node };

    let mut nbd_uri = String::new();
    if let Some(target_img_path) = target_img_path {
        t.log("");
        t.log("--- Starting actual backup ---");
        t.log("");

        t.log(vm.qmp(
            "blockdev-add",
            json!({
                "driver": imgfmt(),
                "node-name": "target",
                "file": {
                    "driver": "file",
                    "filename": target_img_path
                }
            }),
        )?);
        t.log(vm.qmp(
            "blockdev-backup",
            kwargs! { device: export_node, sync: "full", target: "target", job_id: "push-backup", speed: 1 },
        )?);
    } else {
        let nbd_sock_path = nbd_sock_path.unwrap_or_default();
        t.log("");
        t.log("--- Setting up NBD Export ---");
        t.log("");

        nbd_uri = format!("nbd+unix:///{export_node}?socket={nbd_sock_path}");
        t.log(vm.qmp(
            "nbd-server-start",
            json!({"addr": { "type": "unix",
                                                           "data": { "path": nbd_sock_path } } }),
        )?);

        t.log(vm.qmp("nbd-server-add", kwargs! { device: export_node })?);

        t.log("");
        t.log("--- Sanity Check ---");
        t.log("");

        for p in patterns_and_zeroes() {
            let (pattern, offset, len) = p;
            let cmd = format!("read -P{pattern} {offset} {len}");
            t.log(&cmd);

            qemu_io_unless_zeroes_in_bitmap(t, &args!["-r", "-f", "raw", "-c", cmd, &nbd_uri], bitmap, p)?;
        }
    }

    t.log("");
    t.log("--- Testing COW ---");
    t.log("");

    for (pattern, offset, len) in OVERWRITE {
        let cmd = format!("write -P{pattern} {offset} {len}");
        t.log(&cmd);
        t.log(vm.hmp_qemu_io_with(qom_path, &cmd, HmpQemuIo { qdev: true, ..Default::default() })?);
    }

    if push_backup {
        // Check that previous operations were done during backup, not after
        // If backup is already finished, it's possible that it was finished
        // even before hmp qemu_io write, and we didn't actually test
        // copy-before-write operation. This should not happen, as we use
        // speed=1. But worth checking.
        let result = vm.qmp("query-block-jobs", ())?;
        ensure!(dictpath(&result, "return")?.as_array().map(Vec::len) == Some(1));

        vm.cmd("block-job-set-speed", kwargs! { device: "push-backup", speed: 0 })?;

        t.log_with(
            vm.event_wait_with("BLOCK_JOB_COMPLETED", json!({"data": {"device": "push-backup"}}))?,
            &[Filter::QmpEvent],
        );
        t.log(vm.qmp("blockdev-del", kwargs! { node_name: "target" })?);
    }

    t.log("");
    t.log("--- Verifying Data ---");
    t.log("");

    for p in patterns_and_zeroes() {
        let (pattern, offset, len) = p;
        let cmd = format!("read -P{pattern} {offset} {len}");
        t.log(&cmd);
        let mut args = args!["-r", "-c", cmd];
        if let Some(target_img_path) = target_img_path {
            args.extend(args![target_img_path]);
        } else {
            args.extend(args!["-f", "raw", &nbd_uri]);
        }

        qemu_io_unless_zeroes_in_bitmap(t, &args, bitmap, p)?;
    }

    t.log("");
    t.log("--- Cleanup ---");
    t.log("");

    if !push_backup {
        t.log(vm.qmp("nbd-server-stop", ())?);
    }

    if use_cbw {
        if use_snapshot_access_filter {
            t.log(vm.qmp("blockdev-del", kwargs! { node_name: "fl-access" })?);
        }
        t.log(vm.qmp("qom-set", kwargs! { path: qom_path, property: "drive", value: src_node })?);
        t.log(vm.qmp("blockdev-del", kwargs! { node_name: "fl-cbw" })?);
    } else {
        t.log(vm.qmp("block-job-cancel", kwargs! { device: "fleecing" })?);
        let e = vm.event_wait("BLOCK_JOB_CANCELLED")?;
        ensure!(!e.is_null());
        t.log_with(e, &[Filter::QmpEvent]);
    }

    t.log(vm.qmp("blockdev-del", kwargs! { node_name: tmp_node })?);
    vm.shutdown()?;

    t.log("");
    t.log("--- Confirming writes ---");
    t.log("");

    for (pattern, offset, len) in OVERWRITE.into_iter().chain(REMAINDER) {
        let cmd = format!("read -P{pattern} {offset} {len}");
        t.log(&cmd);
        t.qemu_io(&args![base_img_path, "-c", cmd])?;
    }

    t.log("");
    t.log("Done");
    Ok(())
}

fn test(
    t: &TestContext,
    use_cbw: bool,
    use_snapshot_access_filter: bool,
    nbd_sock_path: Option<&str>,
    target_img_path: Option<&str>,
    bitmap: bool,
) -> Result<()> {
    let base_img_path = t.scoped_file_paths(["base.img"]);
    let fleece_img_path = t.scoped_file_paths(["fleece.img"]);
    let mut vm = t.vm();
    do_test(
        t,
        &mut vm,
        use_cbw,
        use_snapshot_access_filter,
        &base_img_path[0],
        &fleece_img_path[0],
        nbd_sock_path,
        target_img_path,
        bitmap,
    )
}

fn test_pull(t: &TestContext, use_cbw: bool, use_snapshot_access_filter: bool, bitmap: bool) -> Result<()> {
    let nbd_sock_path = t.scoped_file_paths_in(&sock_dir(), ["nbd.sock"]);
    test(t, use_cbw, use_snapshot_access_filter, Some(&nbd_sock_path[0]), None, bitmap)
}

fn test_push(t: &TestContext) -> Result<()> {
    let target_img_path = t.scoped_file_paths(["target.img"]);
    test(t, true, true, None, Some(&target_img_path[0]), false)
}

iotests::iotest! {
    name: "image-fleecing", groups: [rw, quick],
    supported_fmts: ["qcow2"],
    supported_platforms: ["linux"],
    required_fmts: ["copy-before-write"],
    unsupported_imgopts: ["compat"],
    fn image_fleecing(t) {
        t.log("=== Test backup(sync=none) based fleecing ===\n");
        test_pull(t, false, false, false)?;

        t.log("=== Test cbw-filter based fleecing ===\n");
        test_pull(t, true, false, false)?;

        t.log("=== Test fleecing-format based fleecing ===\n");
        test_pull(t, true, true, false)?;

        t.log("=== Test fleecing-format based fleecing with bitmap ===\n");
        test_pull(t, true, true, true)?;

        t.log("=== Test push backup with fleecing ===\n");
        test_push(t)?;
        Ok(())
    }
}
