//! Upstream 216: copy-on-read tests using a COR filter node.
//!
//! ```python
//! # group: rw quick
//! iotests.script_initialize(supported_fmts=['qcow2', 'qcow', 'qed', 'vmdk'],
//!                           supported_platforms=['linux'])
//! ```

use serde_json::json;

iotests::iotest! {
    name: "216", groups: [rw, quick],
    supported_fmts: ["qcow2", "qcow", "qed", "vmdk"],
    supported_platforms: ["linux"],
    // qcow (v1) syncs after every 4 KiB cluster it allocates: the 64 MiB
    // copy-on-read takes 3-4 minutes on a loaded machine (upstream's too).
    timeout: 900,
    fn t216(t) {
        t.log("");
        t.log("=== Copy-on-read across nodes ===");
        t.log("");

        // The old copy-on-read mechanism without a filter node cannot request
        // WRITE_UNCHANGED permissions for its child.  Therefore it just tries
        // to sneak its write by the usual permission system and holds its
        // fingers crossed.  However, that sneaking does not work so well when
        // there is a filter node in the way: That will receive the write
        // request and re-issue a new one to its child, which this time is a
        // proper write request that will make the permission system cough --
        // unless there is someone at the top (like a guest device) that has
        // requested write permissions.
        //
        // A COR filter node, however, can request the proper permissions for
        // its child and therefore is not hit by this issue.

        let base = t.scoped_file_paths(["base.img"]);
        let base_img_path = &base[0];
        let top = t.scoped_file_paths(["top.img"]);
        let top_img_path = &top[0];
        let mut vm = t.vm();

        t.log("--- Setting up images ---");
        t.log("");

        t.qemu_img(&["create", "-f", t.imgfmt(), base_img_path, "64M"])?;
        t.qemu_io(&[base_img_path.as_str(), "-c", "write -P 1 0M 1M"])?;
        t.qemu_img(&["create", "-f", t.imgfmt(), "-b", base_img_path, "-F", t.imgfmt(), top_img_path])?;
        t.qemu_io(&[top_img_path.as_str(), "-c", "write -P 2 1M 1M"])?;

        t.log("Done");

        t.log("");
        t.log("--- Doing COR ---");
        t.log("");

        // Compare with e.g. the following:
        //   vm.add_drive_raw('if=none,node-name=node0,copy-on-read=on,driver=raw,' \
        //                    'file.driver=%s,file.file.filename=%s' %
        //                       (iotests.imgfmt, top_img_path))
        // (Remove the blockdev-add instead.)
        // ((Not tested here because it hits an assertion in the permission
        //   system.))

        vm.launch()?;

        t.log(vm.qmp(
            "blockdev-add",
            json!({
                "node-name": "node0",
                "driver": "copy-on-read",
                "file": {
                    "driver": "raw",
                    "file": {
                        "driver": "copy-on-read",
                        "file": {
                            "driver": "raw",
                            "file": {
                                "driver": t.imgfmt(),
                                "file": {
                                    "driver": "file",
                                    "filename": top_img_path
                                },
                                "backing": {
                                    "driver": t.imgfmt(),
                                    "file": {
                                        "driver": "file",
                                        "filename": base_img_path
                                    }
                                }
                            }
                        }
                    }
                }
            }),
        )?);

        // Trigger COR
        t.log(vm.qmp("human-monitor-command", json!({"command-line": "qemu-io node0 \"read 0 64M\""}))?);

        vm.shutdown()?;

        t.log("");
        t.log("--- Checking COR result ---");
        t.log("");

        t.qemu_io(&[base_img_path.as_str(), "-c", "discard 0 64M"])?;
        t.qemu_io(&[top_img_path.as_str(), "-c", "read -P 1 0M 1M"])?;
        t.qemu_io(&[top_img_path.as_str(), "-c", "read -P 2 1M 1M"])?;

        t.log("Done");
        Ok(())
    }
}
