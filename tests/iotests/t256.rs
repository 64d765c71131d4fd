//! Upstream 256: incremental/backup across iothread contexts.
//!
//! ```python
//! # group: rw auto quick
//! iotests.verify_virtio_scsi_pci_or_ccw()
//! iotests.script_initialize(supported_fmts=['qcow2'])
//! ```

use iotests::harness::verify_virtio_scsi_pci_or_ccw;
use iotests::log::LogOpts;
use iotests::vm::Drive;
use iotests::vm::{RunJobOptions, Vm};
use iotests::{Error, Result, TestContext, args};
use serde_json::json;

fn create_target(t: &TestContext, vm: &mut Vm, filepath: &str, name: &str, size: u64) -> Result<()> {
    let basename = std::path::Path::new(filepath).file_name().map(|b| b.to_string_lossy().into_owned());
    let nodename = format!("file_{}", basename.unwrap_or_default());
    t.log(vm.cmd(
        "blockdev-create",
        json!({"job-id": "job1",
        "options": {
            "driver": "file",
            "filename": filepath,
            "size": 0,
        }}),
    )?);
    vm.run_job("job1")?;
    t.log(vm.cmd("blockdev-add", json!({"driver": "file", "node-name": nodename, "filename": filepath}))?);
    t.log(vm.cmd(
        "blockdev-create",
        json!({"job-id": "job2",
        "options": {
            "driver": t.imgfmt(),
            "file": nodename,
            "size": size,
        }}),
    )?);
    vm.run_job("job2")?;
    t.log(vm.cmd("blockdev-add", json!({"driver": t.imgfmt(), "node-name": name, "file": nodename}))?);
    Ok(())
}

iotests::iotest! {
    name: "256", groups: [rw, auto, quick],
    supported_fmts: ["qcow2"],
    fn t256(t) {
        verify_virtio_scsi_pci_or_ccw(t.env())?;

        let size: u64 = 64 * 1024 * 1024;

        let img0_path = t.scoped_file_paths(["img0"]);
        let img1_path = t.scoped_file_paths(["img1"]);
        let img0_full_path = t.scoped_file_paths(["img0-full"]);
        let img1_full_path = t.scoped_file_paths(["img1-full"]);
        let img0_incr_path = t.scoped_file_paths(["img0-incr"]);
        let img1_incr_path = t.scoped_file_paths(["img1-incr"]);
        let mut vm = t.vm();

        t.log("--- Preparing images & VM ---\n");
        vm.add_object("iothread,id=iothread0");
        vm.add_object("iothread,id=iothread1");
        vm.add_device("virtio-scsi,id=scsi0,iothread=iothread0");
        vm.add_device("virtio-scsi,id=scsi1,iothread=iothread1");
        t.qemu_img_create(&args!["-f", t.imgfmt(), &img0_path[0], size])?;
        t.qemu_img_create(&args!["-f", t.imgfmt(), &img1_path[0], size])?;
        vm.add_drive_with(&img0_path[0], Drive { interface: "none", ..Default::default() });
        vm.add_device("scsi-hd,id=device0,drive=drive0,bus=scsi0.0");
        vm.add_drive_with(&img1_path[0], Drive { interface: "none", ..Default::default() });
        vm.add_device("scsi-hd,id=device1,drive=drive1,bus=scsi1.0");

        t.log("--- Starting VM ---\n");
        vm.launch()?;

        t.log("--- Create Targets & Full Backups ---\n");
        create_target(t, &mut vm, &img0_full_path[0], "img0-full", size)?;
        create_target(t, &mut vm, &img1_full_path[0], "img1-full", size)?;
        let ret = vm.qmp_log_with(
            "transaction",
            json!({"actions": [
                { "type": "block-dirty-bitmap-add",
                  "data": { "node": "drive0", "name": "bitmap0" }},
                { "type": "block-dirty-bitmap-add",
                  "data": { "node": "drive1", "name": "bitmap1" }},
                { "type": "blockdev-backup",
                  "data": { "device": "drive0",
                            "target": "img0-full",
                            "sync": "full",
                            "job-id": "j0" }},
                { "type": "blockdev-backup",
                  "data": { "device": "drive1",
                            "target": "img1-full",
                            "sync": "full",
                            "job-id": "j1" }}
            ]}), LogOpts { filters: &[], indent: Some(2) },)?;
        if let Some(error) = ret.get("error") {
            return Err(Error::fail(error["desc"].as_str().unwrap_or_default()));
        }
        vm.run_job_with("j0", RunJobOptions { auto_dismiss: true, ..Default::default() })?;
        vm.run_job_with("j1", RunJobOptions { auto_dismiss: true, ..Default::default() })?;

        t.log("\n--- Create Targets & Incremental Backups ---\n");
        create_target(t, &mut vm, &img0_incr_path[0], "img0-incr", size)?;
        create_target(t, &mut vm, &img1_incr_path[0], "img1-incr", size)?;
        let ret = vm.qmp_log_with(
            "transaction",
            json!({"actions": [
                { "type": "blockdev-backup",
                  "data": { "device": "drive0",
                            "target": "img0-incr",
                            "sync": "incremental",
                            "bitmap": "bitmap0",
                            "job-id": "j2" }},
                { "type": "blockdev-backup",
                  "data": { "device": "drive1",
                            "target": "img1-incr",
                            "sync": "incremental",
                            "bitmap": "bitmap1",
                            "job-id": "j3" }}
            ]}), LogOpts { filters: &[], indent: Some(2) },)?;
        if let Some(error) = ret.get("error") {
            return Err(Error::fail(error["desc"].as_str().unwrap_or_default()));
        }
        vm.run_job_with("j2", RunJobOptions { auto_dismiss: true, ..Default::default() })?;
        vm.run_job_with("j3", RunJobOptions { auto_dismiss: true, ..Default::default() })?;

        t.log("\n--- Done ---");
        vm.shutdown()?;
        Ok(())
    }
}
