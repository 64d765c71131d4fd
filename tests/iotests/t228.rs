//! Upstream 228: when a backing file is considered overridden (thus, a
//! json:{} filename is generated for the overlay) and when it is not.
//!
//! ```python
//! # group: rw quick
//! iotests.script_initialize(
//!     supported_fmts=['qcow2', 'qed'],
//!     supported_platforms=['linux'],
//! )
//! ```

use iotests::vm::testcase::dictpath;
use iotests::{Error, Filter, Result, TestContext};
use serde_json::{Value, json};

/// Python's `node['a']['b']` on a string value.
fn str_at<'a>(node: &'a Value, path: &str) -> Result<&'a str> {
    dictpath(node, path)?.as_str().ok_or_else(|| Error::fail(format!("{path} is not a string in {node}")))
}

fn log_node_info(t: &TestContext, node: Option<Value>) -> Result<()> {
    let node = node.ok_or_else(|| Error::fail("TypeError: 'NoneType' object is not subscriptable"))?;
    t.log("");

    t.log_with(format!("bs->filename: {}", str_at(&node, "image/filename")?), &[Filter::Testfiles, Filter::Imgfmt]);
    t.log_with(
        format!("bs->backing_file: {}", str_at(&node, "image/full-backing-filename")?),
        &[Filter::Testfiles, Filter::Imgfmt],
    );

    if node["image"].get("backing-image").is_some() {
        t.log_with(
            format!("bs->backing->bs->filename: {}", str_at(&node, "image/backing-image/filename")?),
            &[Filter::Testfiles, Filter::Imgfmt],
        );
    } else {
        t.log("bs->backing: (none)");
    }

    t.log("");
    Ok(())
}

iotests::iotest! {
    name: "228", groups: [rw, quick],
    supported_fmts: ["qcow2", "qed"],
    supported_platforms: ["linux"],
    fn t228(t) {
        let base = t.scoped_file_paths(["base.img"]);
        let base_img_path = &base[0];
        let top = t.scoped_file_paths(["top.img"]);
        let top_img_path = &top[0];
        let mut vm = t.vm();

        t.qemu_img(&["create", "-f", t.imgfmt(), base_img_path, "64M"])?;
        // Choose a funny way to describe the backing filename
        t.qemu_img(&["create", "-f", t.imgfmt(), "-b", &format!("file:{base_img_path}"), "-F", t.imgfmt(), top_img_path])?;

        vm.launch()?;

        t.log("--- Implicit backing file ---");
        t.log("");

        vm.qmp_log_with(
            "blockdev-add",
            json!({
                "node_name": "node0",
                "driver": t.imgfmt(),
                "file": {
                    "driver": "file",
                    "filename": top_img_path
                },
            }),
            &[Filter::QmpTestfiles, Filter::QmpImgfmt],)?;

        // Filename should be plain, and the backing node filename should
        // not contain the "file:" prefix
        log_node_info(t, vm.node_info("node0")?)?;

        vm.qmp_log("blockdev-del", json!({"node_name": "node0"}))?;

        t.log("");
        t.log("--- change-backing-file ---");
        t.log("");

        vm.qmp_log_with(
            "blockdev-add",
            json!({
                "node_name": "node0",
                "driver": t.imgfmt(),
                "file": {
                    "driver": "file",
                    "filename": top_img_path
                },
            }),
            &[Filter::QmpTestfiles, Filter::QmpImgfmt],)?;

        // Changing the backing file to a qemu-reported filename should
        // result in qemu accepting the corresponding BDS as the implicit
        // backing BDS (and thus not generate a json:{} filename).
        // So, first, query the backing filename.

        let node = vm.node_info("node0")?.unwrap_or_default();
        let backing_filename = str_at(&node, "image/backing-image/filename")?.to_string();

        // Next, change the backing file to something different

        vm.qmp_log_with(
            "change-backing-file",
            json!({"image_node_name": "node0", "device": "node0", "backing_file": "null-co://"}),
            &[Filter::QmpTestfiles],)?;

        // Now, verify that we get a json:{} filename
        // (Image header says "null-co://", actual backing file still is
        // base_img_path)

        log_node_info(t, vm.node_info("node0")?)?;

        // Change it back
        // (To get header and backing file in sync)

        vm.qmp_log_with(
            "change-backing-file",
            json!({"image_node_name": "node0", "device": "node0", "backing_file": backing_filename}),
            &[Filter::QmpTestfiles],)?;

        // And verify that we get our original results

        log_node_info(t, vm.node_info("node0")?)?;

        // Finally, try a "file:" prefix.  While this is actually what we
        // originally had in the image header, qemu will not reopen the
        // backing file here, so it cannot verify that this filename
        // "resolves" to the actual backing BDS's filename and will thus
        // consider both to be different.
        // (This may be fixed in the future.)

        vm.qmp_log_with(
            "change-backing-file",
            json!({"image_node_name": "node0", "device": "node0", "backing_file": format!("file:{backing_filename}")}),
            &[Filter::QmpTestfiles],)?;

        // So now we should get a json:{} filename

        log_node_info(t, vm.node_info("node0")?)?;

        // Remove and re-attach so we can see that (as in our first try),
        // opening the image anew helps qemu resolve the header backing
        // filename.

        vm.qmp_log("blockdev-del", json!({"node_name": "node0"}))?;

        vm.qmp_log_with(
            "blockdev-add",
            json!({
                "node_name": "node0",
                "driver": t.imgfmt(),
                "file": {
                    "driver": "file",
                    "filename": top_img_path
                },
            }),
            &[Filter::QmpTestfiles, Filter::QmpImgfmt],)?;

        log_node_info(t, vm.node_info("node0")?)?;

        vm.qmp_log("blockdev-del", json!({"node_name": "node0"}))?;

        t.log("");
        t.log("--- Override backing file ---");
        t.log("");

        // For this test, we need the plain filename in the image header
        // (because qemu cannot "canonicalize"/"resolve" the backing
        // filename unless the backing file is opened implicitly with the
        // overlay)
        t.qemu_img(&["create", "-f", t.imgfmt(), "-b", base_img_path, "-F", t.imgfmt(), top_img_path])?;

        // You can only reliably override backing options by using a node
        // reference (or by specifying file.filename, but, well...)
        vm.qmp_log("blockdev-add", json!({"node_name": "null", "driver": "null-co"}))?;

        vm.qmp_log_with(
            "blockdev-add",
            json!({
                "node_name": "node0",
                "driver": t.imgfmt(),
                "file": {
                    "driver": "file",
                    "filename": top_img_path
                },
                "backing": "null",
            }),
            &[Filter::QmpTestfiles, Filter::QmpImgfmt],)?;

        // Should get a json:{} filename (and bs->backing_file is
        // null-co://, because that field actually has not much to do
        // with the header backing filename (except that it is changed by
        // change-backing-file))

        log_node_info(t, vm.node_info("node0")?)?;

        // Detach the backing file by reopening the whole thing

        vm.qmp_log("blockdev-del", json!({"node_name": "node0"}))?;
        vm.qmp_log("blockdev-del", json!({"node_name": "null"}))?;

        vm.qmp_log_with(
            "blockdev-add",
            json!({
                "node_name": "node0",
                "driver": t.imgfmt(),
                "file": {
                    "driver": "file",
                    "filename": top_img_path
                },
                "backing": null,
            }),
            &[Filter::QmpTestfiles, Filter::QmpImgfmt],)?;

        // Should get a json:{} filename (because we overrode the backing
        // file to not be there)

        log_node_info(t, vm.node_info("node0")?)?;

        // Open the original backing file

        vm.qmp_log_with(
            "blockdev-add",
            json!({
                "node_name": "original-backing",
                "driver": t.imgfmt(),
                "file": {
                    "driver": "file",
                    "filename": base_img_path
                },
            }),
            &[Filter::QmpTestfiles, Filter::QmpImgfmt],)?;

        // Attach the original backing file to its overlay

        vm.qmp_log("blockdev-snapshot", json!({"node": "original-backing", "overlay": "node0"}))?;

        // This should give us the original plain result

        log_node_info(t, vm.node_info("node0")?)?;

        vm.qmp_log("blockdev-del", json!({"node_name": "node0"}))?;
        vm.qmp_log("blockdev-del", json!({"node_name": "original-backing"}))?;

        vm.shutdown()
    }
}
