//! Upstream 218: what happens when a mirror block job is cancelled in
//! various phases of its existence.
//!
//! ```python
//! # group: rw quick
//! iotests.script_initialize(supported_fmts=['qcow2', 'raw'])
//! ```

use iotests::tools::with_timeout;
use iotests::vm::Vm;
use iotests::{Filter, Result, args};
use serde_json::json;

// Launches the VM, adds two null-co nodes (source and target), and
// starts a blockdev-mirror job on them.
//
// Either both or none of speed and buf_size must be given.

fn start_mirror(vm: &mut Vm, speed: Option<u64>, buf_size: Option<u64>) -> Result<()> {
    vm.launch()?;

    vm.cmd("blockdev-add", json!({"node-name": "source", "driver": "null-co", "size": 1048576}))?;

    vm.cmd("blockdev-add", json!({"node-name": "target", "driver": "null-co", "size": 1048576}))?;

    if let Some(speed) = speed {
        vm.cmd(
            "blockdev-mirror",
            json!({
                "job-id": "mirror",
                "device": "source",
                "target": "target",
                "sync": "full",
                "speed": speed,
                "buf-size": buf_size,
            }),
        )?;
    } else {
        vm.cmd("blockdev-mirror", json!({"job-id": "mirror", "device": "source", "target": "target", "sync": "full"}))?;
    }
    Ok(())
}

iotests::iotest! {
    name: "218", groups: [rw, quick],
    supported_fmts: ["qcow2", "raw"],
    fn t218(t) {
        t.log("");
        t.log("=== Cancel mirror job before convergence ===");
        t.log("");

        t.log("--- force=false ---");
        t.log("");

        {
            let mut vm = t.vm();
            // Low speed so it does not converge
            start_mirror(&mut vm, Some(65536), Some(65536))?;

            t.log("Cancelling job");
            t.log(vm.qmp("block-job-cancel", json!({"device": "mirror", "force": false}))?);

            t.log_with(vm.event_wait("BLOCK_JOB_CANCELLED")?, &[Filter::QmpEvent]);
            vm.shutdown()?;
        }

        t.log("");
        t.log("--- force=true ---");
        t.log("");

        {
            let mut vm = t.vm();
            // Low speed so it does not converge
            start_mirror(&mut vm, Some(65536), Some(65536))?;

            t.log("Cancelling job");
            t.log(vm.qmp("block-job-cancel", json!({"device": "mirror", "force": true}))?);

            t.log_with(vm.event_wait("BLOCK_JOB_CANCELLED")?, &[Filter::QmpEvent]);
            vm.shutdown()?;
        }

        t.log("");
        t.log("=== Cancel mirror job after convergence ===");
        t.log("");

        t.log("--- force=false ---");
        t.log("");

        {
            let mut vm = t.vm();
            start_mirror(&mut vm, None, None)?;

            t.log_with(vm.event_wait("BLOCK_JOB_READY")?, &[Filter::QmpEvent]);

            t.log("Cancelling job");
            t.log(vm.qmp("block-job-cancel", json!({"device": "mirror", "force": false}))?);

            t.log_with(vm.event_wait("BLOCK_JOB_COMPLETED")?, &[Filter::QmpEvent]);
            vm.shutdown()?;
        }

        t.log("");
        t.log("--- force=true ---");
        t.log("");

        {
            let mut vm = t.vm();
            start_mirror(&mut vm, None, None)?;

            t.log_with(vm.event_wait("BLOCK_JOB_READY")?, &[Filter::QmpEvent]);

            t.log("Cancelling job");
            t.log(vm.qmp("block-job-cancel", json!({"device": "mirror", "force": true}))?);

            t.log_with(vm.event_wait("BLOCK_JOB_CANCELLED")?, &[Filter::QmpEvent]);
            vm.shutdown()?;
        }

        t.log("");
        t.log("=== Cancel mirror job from throttled node by quitting ===");
        t.log("");

        {
            let mut vm = t.vm();
            let src_img_path = t.scoped_file_paths(["src.img"]);

            t.qemu_img(&args!["create", "-f", t.imgfmt(), &src_img_path[0], "64M"])?;
            t.qemu_io(&args!["-f", t.imgfmt(), &src_img_path[0], "-c", "write -P 42 0M 64M"])?;

            vm.launch()?;

            vm.cmd("object-add", json!({"qom-type": "throttle-group", "id": "tg", "limits": {"bps-read": 4096}}))?;

            vm.cmd(
                "blockdev-add",
                json!({
                    "node-name": "source",
                    "driver": t.imgfmt(),
                    "file": {
                        "driver": "file",
                        "filename": src_img_path[0]
                    }
                }),
            )?;

            vm.cmd(
                "blockdev-add",
                json!({
                    "node-name": "throttled-source",
                    "driver": "throttle",
                    "throttle-group": "tg",
                    "file": "source"
                }),
            )?;

            vm.cmd("blockdev-add", json!({"node-name": "target", "driver": "null-co", "size": 64 * 1048576}))?;

            vm.cmd(
                "blockdev-mirror",
                json!({
                    "job-id": "mirror",
                    "device": "throttled-source",
                    "target": "target",
                    "sync": "full"
                }),
            )?;

            t.log(vm.qmp("quit", ())?);

            with_timeout(5.0, "Timeout waiting for VM to quit", |d| vm.shutdown_with(false, d.remaining()))?;
        }
        Ok(())
    }
}
