//! Upstream 254: external snapshot with bitmap copying and moving.
//!
//! ```python
//! # group: rw backing quick
//! iotests.script_initialize(supported_fmts=['qcow2'],
//!                           unsupported_imgopts=['compat'])
//! ```

use iotests::args;
use iotests::filters::Filter;
use iotests::log::LogOpts;
use iotests::vm::testcase::dictpath;
use serde_json::json;

iotests::iotest! {
    name: "254", groups: [rw, backing, quick],
    supported_fmts: ["qcow2"],
    unsupported_imgopts: ["compat"],
    fn t254(t) {
        let [disk, top] = t.file_paths(["disk", "top"]);
        let size = 1024 * 1024;

        t.qemu_img_create(&args!["-f", t.imgfmt(), &disk, size])?;

        let mut vm = t.vm();
        vm.add_drive_with(&disk, "node-name=base");
        vm.launch()?;

        vm.qmp_log("block-dirty-bitmap-add", json!({"node": "drive0", "name": "bitmap0"}))?;
        vm.qmp_log(
            "block-dirty-bitmap-add",
            json!({"node": "drive0", "name": "bitmap1", "persistent": true}),)?;
        vm.qmp_log(
            "block-dirty-bitmap-add",
            json!({"node": "drive0", "name": "bitmap2", "persistent": true}),)?;

        vm.hmp_qemu_io("drive0", "write 0 512K")?;

        vm.qmp_log_with(
            "transaction",
            json!({"actions": [
                {"type": "blockdev-snapshot-sync",
                 "data": {"device": "drive0", "snapshot-file": top,
                          "snapshot-node-name": "snap"}},

                // copy non-persistent bitmap0
                {"type": "block-dirty-bitmap-add",
                 "data": {"node": "snap", "name": "bitmap0"}},
                {"type": "block-dirty-bitmap-merge",
                 "data": {"node": "snap", "target": "bitmap0",
                          "bitmaps": [{"node": "base", "name": "bitmap0"}]}},

                // copy persistent bitmap1, original will be saved to base image
                {"type": "block-dirty-bitmap-add",
                 "data": {"node": "snap", "name": "bitmap1", "persistent": true}},
                {"type": "block-dirty-bitmap-merge",
                 "data": {"node": "snap", "target": "bitmap1",
                          "bitmaps": [{"node": "base", "name": "bitmap1"}]}},

                // move persistent bitmap2, original will be removed and not saved
                // to base image
                {"type": "block-dirty-bitmap-add",
                 "data": {"node": "snap", "name": "bitmap2", "persistent": true}},
                {"type": "block-dirty-bitmap-merge",
                 "data": {"node": "snap", "target": "bitmap2",
                          "bitmaps": [{"node": "base", "name": "bitmap2"}]}},
                {"type": "block-dirty-bitmap-remove",
                 "data": {"node": "base", "name": "bitmap2"}}
            ]}), LogOpts { filters: &[Filter::QmpTestfiles], indent: Some(2) },)?;

        let result = vm.qmp("query-block", ())?;
        let result = dictpath(&result, "return[0]")?;
        t.log(format!(
            "query-block: device = {}, node-name = {}, dirty-bitmaps:",
            iotests::json::py_repr(dictpath(result, "device")?),
            iotests::json::py_repr(dictpath(result, "inserted/node-name")?)
        ));
        t.log_with(dictpath(result, "inserted/dirty-bitmaps")?.clone(), LogOpts { filters: &[], indent: Some(2) });
        t.log("\nbitmaps in backing image:");
        t.log_with(
            dictpath(result, "inserted/image/backing-image/format-specific/data/bitmaps")?.clone(), LogOpts { filters: &[], indent: Some(2) },);

        vm.shutdown()?;
        Ok(())
    }
}
