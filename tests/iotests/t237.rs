//! Upstream 237: test vmdk and file image creation.
//!
//! ```python
//! # group: rw quick
//! iotests.script_initialize(supported_fmts=['vmdk'])
//! ```

use iotests::Filter;
use serde_json::json;

iotests::iotest! {
    name: "237", groups: [rw, quick],
    supported_fmts: ["vmdk"],
    fn t237(t) {
        let imgfmt = t.imgfmt();

        let disk_path = t.scoped_file_paths(["t.vmdk"]);
        let disk_path = &disk_path[0];
        let extent1_path = t.scoped_file_paths(["t.vmdk.1"]);
        let extent1_path = &extent1_path[0];
        let extent2_path = t.scoped_file_paths(["t.vmdk.2"]);
        let extent2_path = &extent2_path[0];
        let extent3_path = t.scoped_file_paths(["t.vmdk.3"]);
        let extent3_path = &extent3_path[0];
        let mut vm = t.vm();

        //
        // Successful image creation (defaults)
        //
        t.log("=== Successful image creation (defaults) ===");
        t.log("");

        let size = 5u64 * 1024 * 1024 * 1024;

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
        // Successful image creation (inline blockdev-add, explicit defaults)
        //
        t.log("=== Successful image creation (inline blockdev-add, explicit defaults) ===");
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
                                   "extents": [],
                                   "subformat": "monolithicSparse",
                                   "adapter-type": "ide",
                                   "hwversion": "4",
                                   "zeroed-grain": false }))?;
        vm.shutdown()?;

        t.img_info_log(disk_path)?;

        //
        // Successful image creation (non-default options)
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
                                   "extents": [],
                                   "subformat": "monolithicSparse",
                                   "adapter-type": "buslogic",
                                   "zeroed-grain": true }))?;
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
        // Adapter types
        //

        t.log("=== Adapter types ===");
        t.log("");

        vm.add_blockdev(format!("driver=file,filename={disk_path},node-name=node0"));

        // Valid
        t.log("== Valid adapter types ==");
        t.log("");

        vm.launch()?;
        for adapter_type in ["ide", "buslogic", "lsilogic", "legacyESX"] {
            vm.blockdev_create(json!({ "driver": imgfmt,
                                       "file": "node0",
                                       "size": size,
                                       "adapter-type": adapter_type }))?;
        }
        vm.shutdown()?;

        // Invalid
        t.log("== Invalid adapter types ==");
        t.log("");

        vm.launch()?;
        for adapter_type in [json!("foo"), json!("IDE"), json!("legacyesx"), json!(1)] {
            vm.blockdev_create(json!({ "driver": imgfmt,
                                       "file": "node0",
                                       "size": size,
                                       "adapter-type": adapter_type }))?;
        }
        vm.shutdown()?;

        //
        // Other subformats
        //
        t.log("=== Other subformats ===");
        t.log("");

        for path in [extent1_path, extent2_path, extent3_path] {
            t.qemu_img_create(&["-f", imgfmt, path, "0"])?;
        }

        vm.add_blockdev(format!("driver=file,filename={extent1_path},node-name=ext1"));
        vm.add_blockdev(format!("driver=file,filename={extent2_path},node-name=ext2"));
        vm.add_blockdev(format!("driver=file,filename={extent3_path},node-name=ext3"));

        // Missing extent
        t.log("== Missing extent ==");
        t.log("");

        vm.launch()?;
        vm.blockdev_create(json!({ "driver": imgfmt,
                                   "file": "node0",
                                   "size": size,
                                   "subformat": "monolithicFlat" }))?;
        vm.shutdown()?;

        // Correct extent
        t.log("== Correct extent ==");
        t.log("");

        vm.launch()?;
        vm.blockdev_create(json!({ "driver": imgfmt,
                                   "file": "node0",
                                   "size": size,
                                   "subformat": "monolithicFlat",
                                   "extents": ["ext1"] }))?;
        vm.shutdown()?;

        // Extra extent
        t.log("== Extra extent ==");
        t.log("");

        vm.launch()?;
        vm.blockdev_create(json!({ "driver": imgfmt,
                                   "file": "node0",
                                   "size": 512,
                                   "subformat": "monolithicFlat",
                                   "extents": ["ext1", "ext2", "ext3"] }))?;
        vm.shutdown()?;

        // Split formats
        t.log("== Split formats ==");
        t.log("");

        for size in [512u64, 1073741824, 2147483648, 5368709120] {
            for subfmt in ["twoGbMaxExtentFlat", "twoGbMaxExtentSparse"] {
                t.log(format!("= {subfmt} {size} ="));
                t.log("");

                let num_extents = (size as f64 / 2.0f64.powi(31)).ceil() as u64;
                let extents: Vec<String> = (1..num_extents + 1).map(|i| format!("ext{i}")).collect();

                vm.launch()?;
                vm.blockdev_create(json!({ "driver": imgfmt,
                                           "file": "node0",
                                           "size": size,
                                           "subformat": subfmt,
                                           "extents": extents }))?;
                vm.shutdown()?;

                t.img_info_log(disk_path)?;
            }
        }
        Ok(())
    }
}
