//! Upstream 246: persistent dirty bitmaps across image resizes.
//!
//! ```python
//! # group: rw quick
//! iotests.script_initialize(supported_fmts=['qcow2'],
//!                           unsupported_imgopts=['compat'])
//! ```

use iotests::log::LogOpts;
use iotests::vm::Vm;
use iotests::vm::testcase::dictpath;
use iotests::{Error, Result};
use serde_json::{Map, Value, json};

const SIZE: u64 = 64 * 1024 * 1024 * 1024;
const GRAN_SMALL: u64 = 32 * 1024;
const GRAN_LARGE: u64 = 128 * 1024;

fn query_bitmaps(vm: &mut Vm) -> Result<Value> {
    let res = vm.qmp("query-block", ())?;
    let mut bitmaps = Map::new();
    for device in dictpath(&res, "return")?.as_array().into_iter().flatten() {
        let device_name = device["device"].as_str().ok_or_else(|| Error::fail("KeyError: 'device'"))?.to_string();
        let dirty_bitmaps = device.get("inserted").and_then(|i| i.get("dirty-bitmaps")).cloned();
        bitmaps.insert(device_name, dirty_bitmaps.unwrap_or_else(|| json!([])));
    }
    Ok(json!({"bitmaps": bitmaps}))
}

iotests::iotest! {
    name: "246", groups: [rw, quick],
    supported_fmts: ["qcow2"],
    unsupported_imgopts: ["compat"],
    fn t246(t) {
        let img = t.scoped_file_paths(["img"]);
        let img_path = &img[0];
        let mut vm = t.vm();

        t.log("--- Preparing image & VM ---\n");
        t.qemu_img_create(&["-f", t.imgfmt(), img_path, &SIZE.to_string()])?;
        vm.add_drive(img_path);

        t.log("--- 1st Boot (Establish Baseline Image) ---\n");
        vm.launch()?;

        t.log("\n--- Adding bitmaps Small, Medium, Large, and Transient ---\n");
        vm.qmp_log(
            "block-dirty-bitmap-add",
            json!({"node": "drive0", "name": "Small", "granularity": GRAN_SMALL, "persistent": true}),)?;
        vm.qmp_log("block-dirty-bitmap-add", json!({"node": "drive0", "name": "Medium", "persistent": true}))?;
        vm.qmp_log(
            "block-dirty-bitmap-add",
            json!({"node": "drive0", "name": "Large", "granularity": GRAN_LARGE, "persistent": true}),)?;
        vm.qmp_log(
            "block-dirty-bitmap-add",
            json!({"node": "drive0", "name": "Transient", "persistent": false}),)?;

        t.log("--- Forcing flush of bitmaps to disk ---\n");
        t.log_with(query_bitmaps(&mut vm)?, LogOpts { filters: &[], indent: Some(2) });
        vm.shutdown()?;

        t.log("--- 2nd Boot (Grow Image) ---\n");
        vm.launch()?;
        t.log_with(query_bitmaps(&mut vm)?, LogOpts { filters: &[], indent: Some(2) });

        t.log("--- Adding new bitmap, growing image, and adding 2nd new bitmap ---");
        vm.qmp_log("block-dirty-bitmap-add", json!({"node": "drive0", "name": "New", "persistent": true}))?;
        vm.qmp_log("human-monitor-command", json!({"command_line": "block_resize drive0 70G"}))?;
        vm.qmp_log("block-dirty-bitmap-add", json!({"node": "drive0", "name": "Newtwo", "persistent": true}))?;
        t.log_with(query_bitmaps(&mut vm)?, LogOpts { filters: &[], indent: Some(2) });

        t.log("--- Forcing flush of bitmaps to disk ---\n");
        vm.shutdown()?;

        t.log("--- 3rd Boot (Shrink Image) ---\n");
        vm.launch()?;
        t.log_with(query_bitmaps(&mut vm)?, LogOpts { filters: &[], indent: Some(2) });

        t.log("--- Adding \"NewB\" bitmap, removing \"New\" bitmap ---");
        vm.qmp_log("block-dirty-bitmap-add", json!({"node": "drive0", "name": "NewB", "persistent": true}))?;
        vm.qmp_log("block-dirty-bitmap-remove", json!({"node": "drive0", "name": "New"}))?;

        t.log("--- Truncating image ---\n");
        vm.qmp_log("human-monitor-command", json!({"command_line": "block_resize drive0 50G"}))?;

        t.log("--- Adding \"NewC\" bitmap, removing \"NewTwo\" bitmap ---");
        vm.qmp_log("block-dirty-bitmap-add", json!({"node": "drive0", "name": "NewC", "persistent": true}))?;
        vm.qmp_log("block-dirty-bitmap-remove", json!({"node": "drive0", "name": "Newtwo"}))?;

        t.log("--- Forcing flush of bitmaps to disk ---\n");
        vm.shutdown()?;

        t.log("--- 4th Boot (Verification and Cleanup) ---\n");
        vm.launch()?;
        t.log_with(query_bitmaps(&mut vm)?, LogOpts { filters: &[], indent: Some(2) });

        t.log("--- Removing all Bitmaps ---\n");
        vm.qmp_log("block-dirty-bitmap-remove", json!({"node": "drive0", "name": "Small"}))?;
        vm.qmp_log("block-dirty-bitmap-remove", json!({"node": "drive0", "name": "Medium"}))?;
        vm.qmp_log("block-dirty-bitmap-remove", json!({"node": "drive0", "name": "Large"}))?;
        vm.qmp_log("block-dirty-bitmap-remove", json!({"node": "drive0", "name": "NewB"}))?;
        vm.qmp_log("block-dirty-bitmap-remove", json!({"node": "drive0", "name": "NewC"}))?;
        t.log_with(query_bitmaps(&mut vm)?, LogOpts { filters: &[], indent: Some(2) });

        t.log("\n--- Done ---");
        vm.shutdown()
    }
}
