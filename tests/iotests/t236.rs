//! Upstream 236: dirty bitmap add/disable/enable/clear/merge inside transactions, committed and aborted.

use iotests::prelude::*;

const SIZE: u64 = 64 * 1024 * 1024;
const GRANULARITY: u64 = 64 * 1024;

const PATTERNS: [(&str, &str, &str); 4] = [
    ("0x5d", "0", "64k"),
    ("0xd5", "1M", "64k"),
    ("0xdc", "32M", "64k"),
    ("0xcd", "0x3ff0000", "64k"), // 64M - 64K
];

const OVERWRITE: [(&str, &str, &str); 4] = [
    ("0xab", "0", "64k"),         // Full overwrite
    ("0xad", "0x00f8000", "64k"), // Partial-left (1M-32K)
    ("0x1d", "0x2008000", "64k"), // Partial-right (32M+32K)
    ("0xea", "0x3fe0000", "64k"), // Adjacent-left (64M - 128K)
];

fn query_bitmaps(vm: &mut Vm) -> Result<Value> {
    let res = vm.qmp("query-block", ())?;
    let mut bitmaps = serde_json::Map::new();
    for device in res["return"].as_array().into_iter().flatten() {
        let dirty_bitmaps = device["inserted"].get("dirty-bitmaps").cloned().unwrap_or_else(|| json!([]));
        bitmaps.insert(device["device"].as_str().unwrap_or_default().to_string(), dirty_bitmaps);
    }
    Ok(json!({ "bitmaps": bitmaps }))
}

fn indent2() -> LogOpts<'static> {
    LogOpts { indent: Some(2), ..Default::default() }
}

iotests::iotest! {
    name: "236", groups: [quick],
    supported_fmts: ["generic"],
    fn t236(t) {
        let img_path = t.scoped_file_paths(["img"]);
        let img_path = &img_path[0];
        let mut vm = t.vm();

        t.log("--- Preparing image & VM ---\n");
        t.qemu_img_create(&args!["-f", imgfmt(), img_path, SIZE])?;
        vm.add_drive(img_path);
        vm.launch()?;

        t.log("\n--- Adding preliminary bitmaps A & B ---\n");
        vm.qmp_log("block-dirty-bitmap-add", kwargs! { node: "drive0", name: "bitmapA", granularity: GRANULARITY })?;
        vm.qmp_log("block-dirty-bitmap-add", kwargs! { node: "drive0", name: "bitmapB", granularity: GRANULARITY })?;

        // Dirties 4 clusters. count=262144
        t.log("\n--- Emulating writes ---\n");
        for (pattern, offset, len) in PATTERNS {
            let cmd = format!("write -P{pattern} {offset} {len}");
            t.log(&cmd);
            t.log(vm.hmp_qemu_io("drive0", &cmd)?);
        }

        t.log_with(query_bitmaps(&mut vm)?, indent2());

        t.log("\n--- Submitting & Aborting Transaction ---\n");
        vm.qmp_log_with("transaction", kwargs! { actions: [
            { "type": "block-dirty-bitmap-disable",
              "data": { "node": "drive0", "name": "bitmapB" }},
            { "type": "block-dirty-bitmap-add",
              "data": { "node": "drive0", "name": "bitmapC",
                        "granularity": GRANULARITY }},
            { "type": "block-dirty-bitmap-clear",
              "data": { "node": "drive0", "name": "bitmapA" }},
            { "type": "abort", "data": {}}
        ] }, indent2())?;
        t.log_with(query_bitmaps(&mut vm)?, indent2());

        t.log("\n--- Disabling B & Adding C ---\n");
        vm.qmp_log_with("transaction", kwargs! { actions: [
            { "type": "block-dirty-bitmap-disable",
              "data": { "node": "drive0", "name": "bitmapB" }},
            { "type": "block-dirty-bitmap-add",
              "data": { "node": "drive0", "name": "bitmapC",
                        "granularity": GRANULARITY }},
            // Purely extraneous, but test that it works:
            { "type": "block-dirty-bitmap-disable",
              "data": { "node": "drive0", "name": "bitmapC" }},
            { "type": "block-dirty-bitmap-enable",
              "data": { "node": "drive0", "name": "bitmapC" }},
        ] }, indent2())?;

        t.log("\n--- Emulating further writes ---\n");
        // Dirties 6 clusters, 3 of which are new in contrast to "A".
        // A = 64 * 1024 * (4 + 3) = 458752
        // C = 64 * 1024 * 6       = 393216
        for (pattern, offset, len) in OVERWRITE {
            let cmd = format!("write -P{pattern} {offset} {len}");
            t.log(&cmd);
            t.log(vm.hmp_qemu_io("drive0", &cmd)?);
        }

        t.log("\n--- Disabling A & C ---\n");
        vm.qmp_log_with("transaction", kwargs! { actions: [
            { "type": "block-dirty-bitmap-disable",
              "data": { "node": "drive0", "name": "bitmapA" }},
            { "type": "block-dirty-bitmap-disable",
              "data": { "node": "drive0", "name": "bitmapC" }}
        ] }, indent2())?;

        // A: 7 clusters
        // B: 4 clusters
        // C: 6 clusters
        t.log_with(query_bitmaps(&mut vm)?, indent2());

        t.log("\n--- Submitting & Aborting Merge Transaction ---\n");
        vm.qmp_log_with("transaction", kwargs! { actions: [
            { "type": "block-dirty-bitmap-add",
              "data": { "node": "drive0", "name": "bitmapD",
                        "disabled": true, "granularity": GRANULARITY }},
            { "type": "block-dirty-bitmap-merge",
              "data": { "node": "drive0", "target": "bitmapD",
                        "bitmaps": ["bitmapB", "bitmapC"] }},
            { "type": "abort", "data": {}}
        ] }, indent2())?;
        t.log_with(query_bitmaps(&mut vm)?, indent2());

        t.log("\n--- Creating D as a merge of B & C ---\n");
        // Good hygiene: create a disabled bitmap as a merge target.
        vm.qmp_log_with("transaction", kwargs! { actions: [
            { "type": "block-dirty-bitmap-add",
              "data": { "node": "drive0", "name": "bitmapD",
                        "disabled": true, "granularity": GRANULARITY }},
            { "type": "block-dirty-bitmap-merge",
              "data": { "node": "drive0", "target": "bitmapD",
                        "bitmaps": ["bitmapB", "bitmapC"] }}
        ] }, indent2())?;

        // A and D should now both have 7 clusters apiece.
        // B and C remain unchanged with 4 and 6 respectively.
        t.log_with(query_bitmaps(&mut vm)?, indent2());

        // A and D should be equivalent.
        // Some formats round the size of the disk, so don't print the checksums.
        let check_a = dictpath(
            &vm.qmp("x-debug-block-dirty-bitmap-sha256", kwargs! { node: "drive0", name: "bitmapA" })?,
            "return/sha256",
        )?
        .clone();
        let check_d = dictpath(
            &vm.qmp("x-debug-block-dirty-bitmap-sha256", kwargs! { node: "drive0", name: "bitmapD" })?,
            "return/sha256",
        )?
        .clone();
        ensure!(check_a == check_d);

        t.log("\n--- Removing bitmaps A, B, C, and D ---\n");
        vm.qmp_log("block-dirty-bitmap-remove", kwargs! { node: "drive0", name: "bitmapA" })?;
        vm.qmp_log("block-dirty-bitmap-remove", kwargs! { node: "drive0", name: "bitmapB" })?;
        vm.qmp_log("block-dirty-bitmap-remove", kwargs! { node: "drive0", name: "bitmapC" })?;
        vm.qmp_log("block-dirty-bitmap-remove", kwargs! { node: "drive0", name: "bitmapD" })?;

        t.log("\n--- Final Query ---\n");
        t.log_with(query_bitmaps(&mut vm)?, indent2());

        t.log("\n--- Done ---\n");
        vm.shutdown()?;
        Ok(())
    }
}
