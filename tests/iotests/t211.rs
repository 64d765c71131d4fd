//! Upstream 211: test vdi and file image creation.
//!
//! ```python
//! # group: rw quick
//! iotests.script_initialize(
//!     supported_fmts=['vdi'],
//!     supported_protocols=['file'],
//! )
//! ```

use iotests::vm::Vm;
use iotests::{Filter, Result, TestContext};
use serde_json::{Value, json};

fn blockdev_create(t: &TestContext, vm: &mut Vm, options: Value) -> Result<()> {
    let error = vm.blockdev_create(options)?;
    // Python's `'…' in error`: a substring of the job's error string, or a
    // key of the command's error object.
    let insufficient = match &error {
        Some(Value::String(e)) => e.contains("Could not allocate bmap"),
        Some(Value::Object(e)) => e.contains_key("Could not allocate bmap"),
        _ => false,
    };
    if insufficient {
        return t.notrun("Insufficient memory");
    }
    Ok(())
}

iotests::iotest! {
    name: "211", groups: [rw, quick],
    supported_fmts: ["vdi"],
    supported_protocols: ["file"],
    fn t211(t) {
        let imgfmt = t.imgfmt();

        let disk_path = t.scoped_file_paths(["t.vdi"]);
        let disk_path = &disk_path[0];
        let mut vm = t.vm();

        //
        // Successful image creation (defaults)
        //
        t.log("=== Successful image creation (defaults) ===");
        t.log("");

        let size = 128 * 1024 * 1024;

        vm.launch()?;
        blockdev_create(t, &mut vm, json!({ "driver": "file",
                                            "filename": disk_path,
                                            "size": 0 }))?;

        vm.qmp_log_with("blockdev-add", json!({"driver": "file", "filename": disk_path,
                                          "node_name": "imgfile"}),
                   &[Filter::QmpTestfiles])?;

        blockdev_create(t, &mut vm, json!({ "driver": imgfmt,
                                            "file": "imgfile",
                                            "size": size }))?;
        vm.shutdown()?;

        t.img_info_log(disk_path)?;
        t.log(t.qemu_img_map(&[disk_path])?);

        //
        // Successful image creation (explicit defaults)
        //
        t.log("=== Successful image creation (explicit defaults) ===");
        t.log("");

        let size = 64 * 1024 * 1024;

        vm.launch()?;
        blockdev_create(t, &mut vm, json!({ "driver": "file",
                                            "filename": disk_path,
                                            "size": 0 }))?;
        blockdev_create(t, &mut vm, json!({ "driver": imgfmt,
                                            "file": {
                                                "driver": "file",
                                                "filename": disk_path,
                                            },
                                            "size": size,
                                            "preallocation": "off" }))?;
        vm.shutdown()?;

        t.img_info_log(disk_path)?;
        t.log(t.qemu_img_map(&[disk_path])?);

        //
        // Successful image creation (with non-default options)
        //
        t.log("=== Successful image creation (with non-default options) ===");
        t.log("");

        let size = 32 * 1024 * 1024;

        vm.launch()?;
        blockdev_create(t, &mut vm, json!({ "driver": "file",
                                            "filename": disk_path,
                                            "size": 0 }))?;
        blockdev_create(t, &mut vm, json!({ "driver": imgfmt,
                                            "file": {
                                                "driver": "file",
                                                "filename": disk_path,
                                            },
                                            "size": size,
                                            "preallocation": "metadata" }))?;
        vm.shutdown()?;

        t.img_info_log(disk_path)?;
        t.log(t.qemu_img_map(&[disk_path])?);

        //
        // Invalid BlockdevRef
        //
        t.log("=== Invalid BlockdevRef ===");
        t.log("");

        vm.launch()?;
        blockdev_create(t, &mut vm, json!({ "driver": imgfmt,
                                            "file": "this doesn't exist",
                                            "size": size }))?;
        vm.shutdown()?;

        //
        // Zero size
        //
        t.log("=== Zero size ===");
        t.log("");

        vm.add_blockdev(format!("driver=file,filename={disk_path},node-name=node0"));
        vm.launch()?;
        blockdev_create(t, &mut vm, json!({ "driver": imgfmt,
                                            "file": "node0",
                                            "size": 0 }))?;
        vm.shutdown()?;

        t.img_info_log(disk_path)?;

        //
        // Maximum size
        //
        t.log("=== Maximum size ===");
        t.log("");

        vm.launch()?;
        blockdev_create(t, &mut vm, json!({ "driver": imgfmt,
                                            "file": "node0",
                                            "size": 562949819203584u64 }))?;
        vm.shutdown()?;

        t.img_info_log(disk_path)?;

        //
        // Invalid sizes
        //

        // TODO Negative image sizes aren't handled correctly, but this is a problem
        // with QAPI's implementation of the 'size' type and affects other commands
        // as well. Once this is fixed, we may want to add a test case here.

        // 1. 2^64 - 512
        // 2. 2^63 = 8 EB (qemu-img enforces image sizes less than this)
        // 3. 0x1fffff8000001 (one byte more than maximum image size for VDI)

        t.log("=== Invalid sizes ===");
        t.log("");

        vm.launch()?;
        for size in [18446744073709551104u64, 9223372036854775808, 562949819203585] {
            blockdev_create(t, &mut vm, json!({ "driver": imgfmt,
                                                "file": "node0",
                                                "size": size }))?;
        }
        vm.shutdown()?;
        Ok(())
    }
}
