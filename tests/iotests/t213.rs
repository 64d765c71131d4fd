//! Upstream 213: test vhdx and file image creation.
//!
//! ```python
//! # group: rw quick
//! iotests.script_initialize(
//!     supported_fmts=['vhdx'],
//!     supported_protocols=['file'],
//! )
//! ```

use iotests::Filter;
use serde_json::json;

iotests::iotest! {
    name: "213", groups: [rw, quick],
    supported_fmts: ["vhdx"],
    supported_protocols: ["file"],
    fn t213(t) {
        let imgfmt = t.imgfmt();

        let disk_path = t.scoped_file_paths(["t.vhdx"]);
        let disk_path = &disk_path[0];
        let mut vm = t.vm();

        //
        // Successful image creation (defaults)
        //
        t.log("=== Successful image creation (defaults) ===");
        t.log("");

        let size = 128 * 1024 * 1024;

        vm.launch()?;
        vm.blockdev_create(json!({ "driver": "file",
                                   "filename": disk_path,
                                   "size": 0 }))?;

        vm.qmp_log_with("blockdev-add", json!({"driver": "file", "filename": disk_path,
                                          "node_name": "imgfile"}),
                   &[Filter::QmpTestfiles])?;

        vm.blockdev_create(json!({ "driver": imgfmt,
                                   "file": "imgfile",
                                   "size": size }))?;
        vm.shutdown()?;

        t.img_info_log(disk_path)?;

        //
        // Successful image creation (explicit defaults)
        //
        t.log("=== Successful image creation (explicit defaults) ===");
        t.log("");

        // Choose a different size to show that we got a new image
        let size = 64 * 1024 * 1024;

        vm.launch()?;
        vm.blockdev_create(json!({ "driver": "file",
                                   "filename": disk_path,
                                   "size": 0 }))?;
        vm.blockdev_create(json!({ "driver": imgfmt,
                                   "file": {
                                       "driver": "file",
                                       "filename": disk_path,
                                   },
                                   "size": size,
                                   "log-size": 1048576,
                                   "block-size": 8388608,
                                   "subformat": "dynamic",
                                   "block-state-zero": true }))?;
        vm.shutdown()?;

        t.img_info_log(disk_path)?;

        //
        // Successful image creation (with non-default options)
        //
        t.log("=== Successful image creation (with non-default options) ===");
        t.log("");

        // Choose a different size to show that we got a new image
        let size = 32 * 1024 * 1024;

        vm.launch()?;
        vm.blockdev_create(json!({ "driver": "file",
                                   "filename": disk_path,
                                   "size": 0 }))?;
        vm.blockdev_create(json!({ "driver": imgfmt,
                                   "file": {
                                       "driver": "file",
                                       "filename": disk_path,
                                   },
                                   "size": size,
                                   "log-size": 8388608,
                                   "block-size": 268435456,
                                   "subformat": "fixed",
                                   "block-state-zero": false }))?;
        vm.shutdown()?;

        t.img_info_log(disk_path)?;

        //
        // Invalid BlockdevRef
        //
        t.log("=== Invalid BlockdevRef ===");
        t.log("");

        vm.launch()?;
        vm.blockdev_create(json!({ "driver": imgfmt,
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
        vm.blockdev_create(json!({ "driver": imgfmt,
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
        vm.blockdev_create(json!({ "driver": imgfmt,
                                   "file": "node0",
                                   "size": 70368744177664u64 }))?;
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
        // 3. 2^63 - 512 (generally valid, but with the image header the file will
        //                exceed 63 bits)
        // 4. 2^46 + 1 (one byte more than maximum image size)

        t.log("=== Invalid sizes ===");
        t.log("");

        vm.launch()?;
        for size in [18446744073709551104u64, 9223372036854775808,
                     9223372036854775296, 70368744177665] {
            vm.blockdev_create(json!({ "driver": imgfmt,
                                       "file": "node0",
                                       "size": size }))?;
        }
        vm.shutdown()?;

        //
        // Invalid block size
        //
        t.log("=== Invalid block size ===");
        t.log("");

        vm.launch()?;
        for bsize in [1234567u64, 128, 3145728, 536870912, 0] {
            vm.blockdev_create(json!({ "driver": imgfmt,
                                       "file": "node0",
                                       "size": 67108864,
                                       "block-size": bsize }))?;
        }
        vm.shutdown()?;

        //
        // Invalid log size
        //
        t.log("=== Invalid log size ===");
        t.log("");

        vm.launch()?;
        for lsize in [1234567u64, 128, 4294967296, 0] {
            vm.blockdev_create(json!({ "driver": imgfmt,
                                       "file": "node0",
                                       "size": 67108864,
                                       "log-size": lsize }))?;
        }
        vm.shutdown()?;
        Ok(())
    }
}
