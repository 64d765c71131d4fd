//! Upstream tests/inactive-node-nbd: inactive block nodes
//! (blockdev-set-active) with NBD exports, parents, snapshots and block jobs.
//!
//! ```python
//! # group: rw quick
//! iotests.script_initialize(supported_fmts=['generic'],
//!                           supported_protocols=['file'],
//!                           supported_platforms=['linux'])
//! ```

use iotests::json::py_repr;
use iotests::vm::Vm;
use iotests::{Error, Filter, Result, args};
use serde_json::{Value, json};

fn get_export(node_name: &str, allow_inactive: Option<bool>) -> Value {
    let mut exp = json!({
        "id": "exp0",
        "type": "nbd",
        "node-name": node_name,
        "writable": true,
    });

    if let Some(allow_inactive) = allow_inactive {
        exp["allow-inactive"] = json!(allow_inactive);
    }

    exp
}

fn node_is_active(vm: &mut Vm, node_name: &str) -> Result<Value> {
    let nodes = vm.cmd("query-named-block-nodes", json!({"flat": true}))?;
    let node = nodes
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["node-name"] == node_name)
        .ok_or_else(|| Error::fail(format!("StopIteration: no node {node_name:?} in query-named-block-nodes")))?;
    Ok(node["active"].clone())
}

iotests::iotest! {
    name: "inactive-node-nbd", groups: [rw, quick],
    supported_fmts: ["generic"],
    supported_protocols: ["file"],
    supported_platforms: ["linux"],
    fn inactive_node_nbd(t) {
        let path = t.scoped_file_paths(["disk.img"]);
        let snap_path = t.scoped_file_paths(["snap.qcow2"]);
        let snap2_path = t.scoped_file_paths(["snap2.qcow2"]);
        let target_path = t.scoped_file_paths(["target.img"]);
        let nbd_sock = t.scoped_file_paths_in(t.sock_dir(), ["nbd.sock"]);
        let (path, snap_path, snap2_path, target_path, nbd_sock) =
            (&path[0], &snap_path[0], &snap2_path[0], &target_path[0], &nbd_sock[0]);
        let mut vm = t.vm();

        let img_size = "10M";

        t.log("Preparing disk...");
        t.qemu_img_create(&args!["-f", t.imgfmt(), path, img_size])?;
        t.qemu_img_create(&args!["-f", t.imgfmt(), target_path, img_size])?;

        t.qemu_img_create(&args!["-f", "qcow2", "-b", path, "-F", t.imgfmt(), snap_path])?;
        t.qemu_img_create(&args!["-f", "qcow2", "-b", snap_path, "-F", "qcow2", snap2_path])?;

        t.log("Launching VM...");
        vm.add_blockdev(format!("file,node-name=disk-file,filename={path}"));
        vm.add_blockdev(format!("{},file=disk-file,node-name=disk-fmt,active=off", t.imgfmt()));
        vm.add_blockdev(format!("file,node-name=target-file,filename={target_path}"));
        vm.add_blockdev(format!("{},file=target-file,node-name=target-fmt", t.imgfmt()));
        vm.add_blockdev(format!("file,node-name=snap-file,filename={snap_path}"));
        vm.add_blockdev(format!("file,node-name=snap2-file,filename={snap2_path}"));

        // Actually running the VM activates all images
        vm.add_paused();

        vm.launch()?;
        vm.qmp_log_with(
            "nbd-server-start",
            json!({"addr": {"type": "unix", "data": {"path": nbd_sock}}}),
            &[Filter::QmpTestfiles],)?;

        t.log("\n=== Creating export of inactive node ===");

        t.log("\nExports activate nodes without allow-inactive");
        t.log(format!("disk-fmt active: {}", py_repr(&node_is_active(&mut vm, "disk-fmt")?)));
        vm.qmp_log("block-export-add", get_export("disk-fmt", None))?;
        t.log(format!("disk-fmt active: {}", py_repr(&node_is_active(&mut vm, "disk-fmt")?)));
        vm.qmp_log("query-block-exports", json!({}))?;
        vm.qmp_log("block-export-del", json!({"id": "exp0"}))?;
        vm.event_wait("BLOCK_EXPORT_DELETED")?;
        vm.qmp_log("query-block-exports", json!({}))?;

        t.log("\nExports activate nodes with allow-inactive=false");
        vm.qmp_log("blockdev-set-active", json!({"node_name": "disk-fmt", "active": false}))?;
        t.log(format!("disk-fmt active: {}", py_repr(&node_is_active(&mut vm, "disk-fmt")?)));
        vm.qmp_log("block-export-add", get_export("disk-fmt", Some(false)))?;
        t.log(format!("disk-fmt active: {}", py_repr(&node_is_active(&mut vm, "disk-fmt")?)));
        vm.qmp_log("query-block-exports", json!({}))?;
        vm.qmp_log("block-export-del", json!({"id": "exp0"}))?;
        vm.event_wait("BLOCK_EXPORT_DELETED")?;
        vm.qmp_log("query-block-exports", json!({}))?;

        t.log("\nExport leaves nodes inactive with allow-inactive=true");
        vm.qmp_log("blockdev-set-active", json!({"node_name": "disk-fmt", "active": false}))?;
        t.log(format!("disk-fmt active: {}", py_repr(&node_is_active(&mut vm, "disk-fmt")?)));
        vm.qmp_log("block-export-add", get_export("disk-fmt", Some(true)))?;
        t.log(format!("disk-fmt active: {}", py_repr(&node_is_active(&mut vm, "disk-fmt")?)));
        vm.qmp_log("query-block-exports", json!({}))?;
        vm.qmp_log("block-export-del", json!({"id": "exp0"}))?;
        vm.event_wait("BLOCK_EXPORT_DELETED")?;
        vm.qmp_log("query-block-exports", json!({}))?;

        t.log("\n=== Inactivating node with existing export ===");

        t.log("\nInactivating nodes with an export fails without allow-inactive");
        vm.qmp_log("blockdev-set-active", json!({"node_name": "disk-fmt", "active": true}))?;
        vm.qmp_log("block-export-add", get_export("disk-fmt", None))?;
        vm.qmp_log("blockdev-set-active", json!({"node_name": "disk-fmt", "active": false}))?;
        t.log(format!("disk-fmt active: {}", py_repr(&node_is_active(&mut vm, "disk-fmt")?)));
        vm.qmp_log("query-block-exports", json!({}))?;
        vm.qmp_log("block-export-del", json!({"id": "exp0"}))?;
        vm.event_wait("BLOCK_EXPORT_DELETED")?;
        vm.qmp_log("query-block-exports", json!({}))?;

        t.log("\nInactivating nodes with an export fails with allow-inactive=false");
        vm.qmp_log("blockdev-set-active", json!({"node_name": "disk-fmt", "active": true}))?;
        vm.qmp_log("block-export-add", get_export("disk-fmt", Some(false)))?;
        vm.qmp_log("blockdev-set-active", json!({"node_name": "disk-fmt", "active": false}))?;
        t.log(format!("disk-fmt active: {}", py_repr(&node_is_active(&mut vm, "disk-fmt")?)));
        vm.qmp_log("query-block-exports", json!({}))?;
        vm.qmp_log("block-export-del", json!({"id": "exp0"}))?;
        vm.event_wait("BLOCK_EXPORT_DELETED")?;
        vm.qmp_log("query-block-exports", json!({}))?;

        t.log("\nInactivating nodes with an export works with allow-inactive=true");
        vm.qmp_log("blockdev-set-active", json!({"node_name": "disk-fmt", "active": true}))?;
        vm.qmp_log("block-export-add", get_export("disk-fmt", Some(true)))?;
        vm.qmp_log("blockdev-set-active", json!({"node_name": "disk-fmt", "active": false}))?;
        t.log(format!("disk-fmt active: {}", py_repr(&node_is_active(&mut vm, "disk-fmt")?)));
        vm.qmp_log("query-block-exports", json!({}))?;
        vm.qmp_log("block-export-del", json!({"id": "exp0"}))?;
        vm.event_wait("BLOCK_EXPORT_DELETED")?;
        vm.qmp_log("query-block-exports", json!({}))?;

        t.log("\n=== Inactive nodes with parent ===");

        t.log("\nInactivating nodes with an active parent fails");
        vm.qmp_log("blockdev-set-active", json!({"node_name": "disk-fmt", "active": true}))?;
        vm.qmp_log("blockdev-set-active", json!({"node_name": "disk-file", "active": false}))?;
        t.log(format!("disk-file active: {}", py_repr(&node_is_active(&mut vm, "disk-file")?)));
        t.log(format!("disk-fmt active: {}", py_repr(&node_is_active(&mut vm, "disk-fmt")?)));

        t.log("\nInactivating nodes with an inactive parent works");
        vm.qmp_log("blockdev-set-active", json!({"node_name": "disk-fmt", "active": false}))?;
        vm.qmp_log("blockdev-set-active", json!({"node_name": "disk-file", "active": false}))?;
        t.log(format!("disk-file active: {}", py_repr(&node_is_active(&mut vm, "disk-file")?)));
        t.log(format!("disk-fmt active: {}", py_repr(&node_is_active(&mut vm, "disk-fmt")?)));

        t.log("\nCreating active parent node with an inactive child fails");
        vm.qmp_log(
            "blockdev-add",
            json!({"driver": "raw", "file": "disk-fmt", "node_name": "disk-filter"}),)?;
        vm.qmp_log(
            "blockdev-add",
            json!({"driver": "raw", "file": "disk-fmt", "node_name": "disk-filter", "active": true}),)?;

        t.log("\nCreating inactive parent node with an inactive child works");
        vm.qmp_log(
            "blockdev-add",
            json!({"driver": "raw", "file": "disk-fmt", "node_name": "disk-filter", "active": false}),)?;
        vm.qmp_log("blockdev-del", json!({"node_name": "disk-filter"}))?;

        t.log("\n=== Resizing an inactive node ===");
        vm.qmp_log("block_resize", json!({"node_name": "disk-fmt", "size": 16 * 1024 * 1024}))?;

        t.log("\n=== Taking a snapshot of an inactive node ===");

        t.log("\nActive overlay over inactive backing file automatically makes both inactive for compatibility");
        vm.qmp_log(
            "blockdev-add",
            json!({"driver": "qcow2", "node_name": "snap-fmt", "file": "snap-file", "backing": null}),)?;
        t.log(format!("disk-fmt active: {}", py_repr(&node_is_active(&mut vm, "disk-fmt")?)));
        t.log(format!("snap-fmt active: {}", py_repr(&node_is_active(&mut vm, "snap-fmt")?)));
        vm.qmp_log("blockdev-snapshot", json!({"node": "disk-fmt", "overlay": "snap-fmt"}))?;
        t.log(format!("disk-fmt active: {}", py_repr(&node_is_active(&mut vm, "disk-fmt")?)));
        t.log(format!("snap-fmt active: {}", py_repr(&node_is_active(&mut vm, "snap-fmt")?)));
        vm.qmp_log("blockdev-del", json!({"node_name": "snap-fmt"}))?;

        t.log("\nInactive overlay over inactive backing file just works");
        vm.qmp_log(
            "blockdev-add",
            json!({"driver": "qcow2", "node_name": "snap-fmt", "file": "snap-file", "backing": null, "active": false}),)?;
        vm.qmp_log("blockdev-snapshot", json!({"node": "disk-fmt", "overlay": "snap-fmt"}))?;

        t.log("\n=== Block jobs with inactive nodes ===");

        t.log("\nStreaming into an inactive node");
        vm.qmp_log_with("block-stream", json!({"device": "snap-fmt"}), &[Filter::QmpGeneratedNodeIds])?;

        t.log("\nCommitting an inactive root node (active commit)");
        vm.qmp_log_with(
            "block-commit",
            json!({"job_id": "job0", "device": "snap-fmt"}),
            &[Filter::QmpGeneratedNodeIds],)?;

        t.log("\nCommitting an inactive intermediate node to inactive base");
        vm.qmp_log(
            "blockdev-add",
            json!({
                "driver": "qcow2", "node_name": "snap2-fmt", "file": "snap2-file", "backing": "snap-fmt",
                "active": false
            }),)?;

        t.log(format!("disk-fmt active: {}", py_repr(&node_is_active(&mut vm, "disk-fmt")?)));
        t.log(format!("snap-fmt active: {}", py_repr(&node_is_active(&mut vm, "snap-fmt")?)));
        t.log(format!("snap2-fmt active: {}", py_repr(&node_is_active(&mut vm, "snap2-fmt")?)));

        vm.qmp_log_with(
            "block-commit",
            json!({"job_id": "job0", "device": "snap2-fmt", "top_node": "snap-fmt"}),
            &[Filter::QmpGeneratedNodeIds],)?;

        t.log("\nCommitting an inactive intermediate node to active base");
        vm.qmp_log("blockdev-set-active", json!({"node_name": "disk-fmt", "active": true}))?;
        vm.qmp_log_with(
            "block-commit",
            json!({"job_id": "job0", "device": "snap2-fmt", "top_node": "snap-fmt"}),
            &[Filter::QmpGeneratedNodeIds],)?;

        t.log("\nMirror from inactive source to active target");
        vm.qmp_log_with(
            "blockdev-mirror",
            json!({"job_id": "job0", "device": "snap2-fmt", "target": "target-fmt", "sync": "full"}),
            &[Filter::QmpGeneratedNodeIds],)?;

        t.log("\nMirror from active source to inactive target");

        t.log(format!("disk-fmt active: {}", py_repr(&node_is_active(&mut vm, "disk-fmt")?)));
        t.log(format!("snap-fmt active: {}", py_repr(&node_is_active(&mut vm, "snap-fmt")?)));
        t.log(format!("snap2-fmt active: {}", py_repr(&node_is_active(&mut vm, "snap2-fmt")?)));
        t.log(format!("target-fmt active: {}", py_repr(&node_is_active(&mut vm, "target-fmt")?)));

        // Activating snap2-fmt recursively activates the whole backing chain
        vm.qmp_log("blockdev-set-active", json!({"node_name": "snap2-fmt", "active": true}))?;
        vm.qmp_log("blockdev-set-active", json!({"node_name": "target-fmt", "active": false}))?;

        t.log(format!("disk-fmt active: {}", py_repr(&node_is_active(&mut vm, "disk-fmt")?)));
        t.log(format!("snap-fmt active: {}", py_repr(&node_is_active(&mut vm, "snap-fmt")?)));
        t.log(format!("snap2-fmt active: {}", py_repr(&node_is_active(&mut vm, "snap2-fmt")?)));
        t.log(format!("target-fmt active: {}", py_repr(&node_is_active(&mut vm, "target-fmt")?)));

        vm.qmp_log_with(
            "blockdev-mirror",
            json!({"job_id": "job0", "device": "snap2-fmt", "target": "target-fmt", "sync": "full"}),
            &[Filter::QmpGeneratedNodeIds],)?;

        t.log("\nBackup from active source to inactive target");

        vm.qmp_log_with(
            "blockdev-backup",
            json!({"job_id": "job0", "device": "snap2-fmt", "target": "target-fmt", "sync": "full"}),
            &[Filter::QmpGeneratedNodeIds],)?;

        t.log("\nBackup from inactive source to active target");

        // Inactivating snap2-fmt recursively inactivates the whole backing chain
        vm.qmp_log("blockdev-set-active", json!({"node_name": "snap2-fmt", "active": false}))?;
        vm.qmp_log("blockdev-set-active", json!({"node_name": "target-fmt", "active": true}))?;

        t.log(format!("disk-fmt active: {}", py_repr(&node_is_active(&mut vm, "disk-fmt")?)));
        t.log(format!("snap-fmt active: {}", py_repr(&node_is_active(&mut vm, "snap-fmt")?)));
        t.log(format!("snap2-fmt active: {}", py_repr(&node_is_active(&mut vm, "snap2-fmt")?)));
        t.log(format!("target-fmt active: {}", py_repr(&node_is_active(&mut vm, "target-fmt")?)));

        vm.qmp_log_with(
            "blockdev-backup",
            json!({"job_id": "job0", "device": "snap2-fmt", "target": "target-fmt", "sync": "full"}),
            &[Filter::QmpGeneratedNodeIds],)?;

        t.log("\n=== Accessing export on inactive node ===");

        // Use the target node because it has the right image format and isn't the
        // (read-only) backing file of a qcow2 node
        vm.qmp_log("blockdev-set-active", json!({"node_name": "target-fmt", "active": false}))?;
        vm.qmp_log("block-export-add", get_export("target-fmt", Some(true)))?;

        // The read should succeed, everything else should fail gracefully
        let mut qemu_io =
            t.qemu_io_interactive(&args!["-f", "raw", format!("nbd+unix:///target-fmt?socket={nbd_sock}")])?;
        t.log_with(qemu_io.cmd("read 0 64k")?, &[Filter::QemuIo]);
        t.log_with(qemu_io.cmd("write 0 64k")?, &[Filter::QemuIo]);
        t.log_with(qemu_io.cmd("write -z 0 64k")?, &[Filter::QemuIo]);
        t.log_with(qemu_io.cmd("write -zu 0 64k")?, &[Filter::QemuIo]);
        t.log_with(qemu_io.cmd("discard 0 64k")?, &[Filter::QemuIo]);
        t.log_with(qemu_io.cmd("flush")?, &[Filter::QemuIo]);
        t.log_with(qemu_io.cmd("map")?, &[Filter::QemuIo]);
        qemu_io.close()?;

        t.log("\n=== Resuming VM activates all images ===");
        vm.qmp_log("cont", json!({}))?;

        t.log(format!("disk-fmt active: {}", py_repr(&node_is_active(&mut vm, "disk-fmt")?)));
        t.log(format!("snap-fmt active: {}", py_repr(&node_is_active(&mut vm, "snap-fmt")?)));
        t.log(format!("snap2-fmt active: {}", py_repr(&node_is_active(&mut vm, "snap2-fmt")?)));
        t.log(format!("target-fmt active: {}", py_repr(&node_is_active(&mut vm, "target-fmt")?)));

        t.log("\nShutting down...");
        vm.shutdown()?;
        if let Some(log) = vm.get_log().filter(|l| !l.is_empty()) {
            t.log_with(log, &[Filter::Qtest, Filter::QemuIo]);
        }
        Ok(())
    }
}
