//! Upstream 307: the block export QAPI interfaces.
//!
//! ```python
//! # group: rw quick export
//! iotests.script_initialize(
//!     supported_fmts=['generic'],
//!     unsupported_fmts=['luks', 'vpc'],
//!     supported_platforms=['linux'],
//! )
//! ```

use iotests::args;
use iotests::filters::Filter;
use serde_json::{Value, json};

iotests::iotest! {
    name: "307", groups: [rw, quick, export],
    // Need a writable image format (but not vpc, which rounds the image size, nor
    // luks which requires special command lines)
    supported_fmts: ["generic"],
    unsupported_fmts: ["luks", "vpc"],
    supported_platforms: ["linux"],
    fn t307(t) {
        // with FilePath('image') as img, FilePath('socket', base_dir=sock_dir)
        // as socket, VM() as vm: the VM drops (shuts down) first.
        let img = t.scoped_file_paths(["image"]);
        let img = &img[0];
        let socket = t.scoped_file_paths_in(t.sock_dir(), ["socket"]);
        let socket = &socket[0];
        let mut vm = t.vm();

        t.qemu_img(&args!["create", "-f", t.imgfmt(), img, "64M"])?;
        t.qemu_io_log(&args!["-f", t.imgfmt(), "-c", "write -P 0x11 0 4k", img])?;

        t.log("=== Launch VM ===");

        vm.add_object("iothread,id=iothread0");
        vm.add_object("iothread,id=iothread1");
        vm.add_blockdev(format!("file,filename={img},node-name=file"));
        vm.add_blockdev(format!("{},file=file,node-name=fmt", t.imgfmt()));
        vm.add_blockdev("raw,file=file,node-name=ro,read-only=on");
        vm.add_blockdev("null-co,node-name=null");
        vm.add_device("id=scsi0,driver=virtio-scsi,iothread=iothread0");
        vm.launch()?;

        vm.qmp_log_with(
            "nbd-server-start",
            json!({"addr": {"type": "unix", "data": {"path": socket}}}),
            &[Filter::QmpTestfiles],)?;
        vm.qmp_log("query-block-exports", json!({}))?;

        t.log("\n=== Create a read-only NBD export ===");

        vm.qmp_log("block-export-add", json!({"id": "export0", "type": "nbd", "node_name": "fmt"}))?;
        vm.qmp_log("query-block-exports", json!({}))?;

        t.qemu_nbd_list_log(&["-k", socket])?;

        t.log("\n=== Try a few invalid things ===");

        vm.qmp_log("block-export-add", json!({"id": "#invalid", "type": "nbd", "node_name": "fmt"}))?;
        vm.qmp_log("block-export-add", json!({"id": "export0", "type": "nbd", "node_name": "fmt"}))?;
        vm.qmp_log(
            "block-export-add",
            json!({"id": "export1", "type": "nbd", "node_name": "ro", "writable": true}),)?;
        vm.qmp_log("block-export-del", json!({"id": "export1"}))?;
        vm.qmp_log("query-block-exports", json!({}))?;

        t.log("\n=== Move export to an iothread ===");

        vm.qmp_log("device_add", json!({"id": "sda", "driver": "scsi-hd", "drive": "fmt"}))?;
        vm.qmp_log("query-block-exports", json!({}))?;
        t.qemu_nbd_list_log(&["-k", socket])?;

        t.log("\n=== Add export with conflicting iothread ===");

        vm.qmp_log("device_add", json!({"id": "sdb", "driver": "scsi-hd", "drive": "null"}))?;

        // Should fail because of fixed-iothread
        vm.qmp_log(
            "block-export-add",
            json!({"id": "export1", "type": "nbd", "node_name": "null",
                   "iothread": "iothread1", "fixed_iothread": true, "writable": true}),)?;

        // Should ignore the iothread conflict, but then fail because of the
        // permission conflict (and not crash)
        vm.qmp_log(
            "block-export-add",
            json!({"id": "export1", "type": "nbd", "node_name": "null",
                   "iothread": "iothread1", "fixed_iothread": false, "writable": true}),)?;

        t.log("\n=== Add a writable export ===");

        // This fails because share-rw=off
        vm.qmp_log(
            "block-export-add",
            json!({"id": "export1", "type": "nbd", "node_name": "fmt",
                   "name": "export1", "writable": true, "writethrough": true,
                   "description": "This is the writable second export"}),)?;

        vm.qmp_log("device_del", json!({"id": "sda"}))?;
        let event = vm.event_wait_with("DEVICE_DELETED", json!({"data": {"device": "sda"}}))?;
        t.log_with(event, &[Filter::QmpEvent]);
        vm.qmp_log(
            "device_add",
            json!({"id": "sda", "driver": "scsi-hd", "drive": "fmt", "share_rw": true}),)?;

        // Now it should work
        vm.qmp_log(
            "block-export-add",
            json!({"id": "export1", "type": "nbd", "node_name": "fmt",
                   "name": "export1", "writable": true, "writethrough": true,
                   "description": "This is the writable second export"}),)?;

        vm.qmp_log("query-block-exports", json!({}))?;
        t.qemu_nbd_list_log(&["-k", socket])?;

        t.log("\n=== Connect qemu-io to export1, try removing exports ===");

        let nbd_url = format!("nbd+unix:///export1?socket={socket}");
        let mut qemu_io = t.qemu_io_interactive(&["-f", "raw", &nbd_url])?;

        t.log_with(qemu_io.cmd("read -P 0x11 0 4k")?, &[Filter::QemuIo]);
        t.log_with(qemu_io.cmd("write -P 0x22 4k 4k")?, &[Filter::QemuIo]);

        vm.qmp_log("block-export-del", json!({"id": "export1"}))?;
        vm.qmp_log("block-export-del", json!({"id": "export0"}))?;
        t.log(Value::from(vm.get_qmp_events_filtered_with(false)?));
        qemu_io.close()?;

        vm.qmp_log("query-block-exports", json!({}))?;
        t.qemu_nbd_list_log(&["-k", socket])?;

        t.log("\n=== Connect qemu-io again, try force removing ===");

        let mut qemu_io = t.qemu_io_interactive(&["-f", "raw", &nbd_url])?;
        vm.qmp_log("block-export-del", json!({"id": "export1"}))?;
        vm.qmp_log("block-export-del", json!({"id": "export1", "mode": "hard"}))?;

        // This should fail now
        t.log(qemu_io.cmd("read -P 0x11 0 4k")?);
        qemu_io.close()?;

        vm.qmp_log("query-block-exports", json!({}))?;
        t.qemu_nbd_list_log(&["-k", socket])?;

        t.log("\n=== Shut down QEMU ===");
        vm.shutdown()?;
        Ok(())
    }
}
