//! Upstream tests/remove-bitmap-from-backing: removing a persistent bitmap
//! from a backing node.
//!
//! ```python
//! # (no group line)
//! iotests.script_initialize(supported_fmts=['qcow2'],
//!                           unsupported_imgopts=['compat'])
//! ```

use iotests::args;
use iotests::harness::assert_true;
use iotests::json::py_repr;
use iotests::vm::testcase::dictpath;
use serde_json::json;

iotests::iotest! {
    name: "remove-bitmap-from-backing", groups: [],
    supported_fmts: ["qcow2"],
    unsupported_imgopts: ["compat"],
    fn remove_bitmap_from_backing(t) {
        let [top, base] = t.file_paths(["top", "base"]);
        let size = "1M";

        t.qemu_img_create(&args!["-f", t.imgfmt(), &base, size])?;
        t.qemu_img_create(&args!["-f", t.imgfmt(), "-b", &base, "-F", t.imgfmt(), &top, size])?;

        t.qemu_img(&["bitmap", "--add", &base, "bitmap0"])?;
        // Just assert that our method of checking bitmaps in the image works.
        assert_true(
            dictpath(&t.qemu_img_info(&[&base])?, "format-specific/data")?.get("bitmaps").is_some(),
            "assert 'bitmaps' in qemu_img_info(base)['format-specific']['data']",
        )?;

        let mut vm = t.vm();
        vm.add_drive_with(&top, "backing.node-name=base");
        vm.launch()?;

        t.log("Trying to remove persistent bitmap from r-o base node, should fail:");
        vm.qmp_log("block-dirty-bitmap-remove", json!({"node": "base", "name": "bitmap0"}))?;

        let mut new_base_opts = json!({
            "options": [{
                "node-name": "base",
                "driver": "qcow2",
                "file": {
                    "driver": "file",
                    "filename": base
                },
                "read-only": false
            }]
        });

        // Don't want to bother with filtering qmp_log for reopen command
        let result = vm.qmp("blockdev-reopen", new_base_opts.clone())?;
        if result != json!({"return": {}}) {
            t.log(format!("Failed to reopen: {}", py_repr(&result)));
        }

        t.log("Remove persistent bitmap from base node reopened to RW:");
        vm.qmp_log("block-dirty-bitmap-remove", json!({"node": "base", "name": "bitmap0"}))?;

        new_base_opts["options"][0]["read-only"] = json!(true);
        let result = vm.qmp("blockdev-reopen", new_base_opts)?;
        if result != json!({"return": {}}) {
            t.log(format!("Failed to reopen: {}", py_repr(&result)));
        }

        vm.shutdown()?;

        if dictpath(&t.qemu_img_info(&[&base])?, "format-specific/data")?.get("bitmaps").is_some() {
            t.log("ERROR: Bitmap is still in the base image");
        }
        Ok(())
    }
}
