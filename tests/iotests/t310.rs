//! Upstream 310: copy-on-read tests using a COR filter with a bottom node.
//!
//! ```python
//! # group: rw quick
//! iotests.script_initialize(supported_fmts=['qcow2'],
//!                           supported_platforms=['linux'])
//! ```

use iotests::args;
use serde_json::json;

iotests::iotest! {
    name: "310", groups: [rw, quick],
    supported_fmts: ["qcow2"],
    supported_platforms: ["linux"],
    fn t310(t) {
        t.log("");
        t.log("=== Copy-on-read across nodes ===");
        t.log("");

        // This test is similar to the 216 one by Hanna Reitz <hreitz@redhat.com>
        // The difference is that this test case involves a bottom node to the
        // COR filter driver.

        // with FilePath(...) as ..., VM() as vm: the VM drops (shuts down)
        // before the files are removed.
        let files = t.scoped_file_paths(["base.img", "mid.img", "top.img"]);
        let [base_img_path, mid_img_path, top_img_path] = &*files;
        let mut vm = t.vm();

        t.log("--- Setting up images ---");
        t.log("");

        t.qemu_img(&args!["create", "-f", t.imgfmt(), base_img_path, "64M"])?;
        t.qemu_io(&[base_img_path, "-c", "write -P 1 0M 1M"])?;
        t.qemu_io(&[base_img_path, "-c", "write -P 1 3M 1M"])?;
        t.qemu_img(&args!["create", "-f", t.imgfmt(), "-b", base_img_path, "-F", t.imgfmt(), mid_img_path])?;
        t.qemu_io(&[mid_img_path, "-c", "write -P 3 2M 1M"])?;
        t.qemu_io(&[mid_img_path, "-c", "write -P 3 4M 1M"])?;
        t.qemu_img(&args!["create", "-f", t.imgfmt(), "-b", mid_img_path, "-F", t.imgfmt(), top_img_path])?;
        t.qemu_io(&[top_img_path, "-c", "write -P 2 1M 1M"])?;

        //      0 1 2 3 4
        // top    2
        // mid      3   3
        // base 1     1

        t.log("Done");

        t.log("");
        t.log("--- Doing COR ---");
        t.log("");

        vm.launch()?;

        t.log(vm.qmp(
            "blockdev-add",
            json!({
                "node-name": "node0",
                "driver": "copy-on-read",
                "bottom": "node2",
                "file": {
                    "driver": t.imgfmt(),
                    "file": {
                        "driver": "file",
                        "filename": top_img_path,
                    },
                    "backing": {
                        "node-name": "node2",
                        "driver": t.imgfmt(),
                        "file": {
                            "driver": "file",
                            "filename": mid_img_path,
                        },
                        "backing": {
                            "driver": t.imgfmt(),
                            "file": {
                                "driver": "file",
                                "filename": base_img_path,
                            },
                        },
                    },
                },
            }),
        )?);

        // Trigger COR
        t.log(vm.qmp("human-monitor-command", json!({"command-line": "qemu-io node0 \"read 0 5M\""}))?);

        vm.shutdown()?;

        t.log("");
        t.log("--- Checking COR result ---");
        t.log("");

        // Detach backing to check that we can read the data from the top level now
        t.qemu_img(&args!["rebase", "-u", "-b", "", "-f", t.imgfmt(), top_img_path])?;

        t.qemu_io(&[top_img_path, "-c", "read -P 0 0 1M"])?;
        t.qemu_io(&[top_img_path, "-c", "read -P 2 1M 1M"])?;
        t.qemu_io(&[top_img_path, "-c", "read -P 3 2M 1M"])?;
        t.qemu_io(&[top_img_path, "-c", "read -P 0 3M 1M"])?;
        t.qemu_io(&[top_img_path, "-c", "read -P 3 4M 1M"])?;

        t.log("Done");
        Ok(())
    }
}
