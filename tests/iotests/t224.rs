//! Upstream 224: json:{} filenames with qemu-internal BDSs (commit's commit_top filter node).

use iotests::prelude::*;

fn filename_of(info: Option<Value>) -> String {
    let info = info.unwrap_or_default();
    info["image"]["filename"].as_str().unwrap_or_default().to_string()
}

iotests::iotest! {
    name: "224", groups: [rw, quick],
    // Need backing file support (for arbitrary backing formats)
    supported_fmts: ["qcow2", "qcow", "qed"],
    supported_platforms: ["linux"],
    fn t224(t) {
        // There are two variations of this test:
        // (1) We do not set filter_node_name.  In that case, the commit_top
        //     driver should not appear anywhere.
        // (2) We do set filter_node_name.  In that case, it should appear.
        //
        // This for loop executes both.
        for filter_node_name in [false, true] {
            t.log("");
            t.log(format!("--- filter_node_name: {} ---", if filter_node_name { "True" } else { "False" }));
            t.log("");

            let paths = t.scoped_file_paths(["base.img", "mid.img", "top.img"]);
            let [base_img_path, mid_img_path, top_img_path] = &*paths;
            let mut vm = t.vm();

            t.qemu_img(&args!["create", "-f", imgfmt(), base_img_path, "64M"])?;
            t.qemu_img(&args!["create", "-f", imgfmt(), "-b", base_img_path, "-F", imgfmt(), mid_img_path])?;
            t.qemu_img(&args!["create", "-f", imgfmt(), "-b", mid_img_path, "-F", imgfmt(), top_img_path])?;

            // Something to commit
            t.qemu_io(&args![mid_img_path, "-c", "write -P 1 0 1M"])?;

            vm.launch()?;

            // Change the bottom-most image's backing file (to null-co://)
            // to enforce json:{} filenames
            vm.qmp_log_with(
                "blockdev-add",
                kwargs! {
                    node_name: "top",
                    driver: imgfmt(),
                    file: {
                        "driver": "file",
                        "filename": top_img_path
                    },
                    backing: {
                        "node-name": "mid",
                        "driver": imgfmt(),
                        "file": {
                            "driver": "file",
                            "filename": mid_img_path
                        },
                        "backing": {
                            "node-name": "base",
                            "driver": imgfmt(),
                            "file": {
                                "driver": "file",
                                "filename": base_img_path
                            },
                            "backing": {
                                "driver": "null-co"
                            }
                        }
                    }
                },
                &[Filter::QmpTestfiles, Filter::QmpImgfmt],
            )?;

            // As long as block-commit does not accept node names, we have to
            // get our mid/base filenames here
            let mid_name = filename_of(vm.node_info("mid")?);
            let base_name = filename_of(vm.node_info("base")?);

            ensure!(mid_name.starts_with("json:"));
            ensure!(base_name.starts_with("json:"));

            // Start the block job
            if filter_node_name {
                vm.qmp_log_with(
                    "block-commit",
                    kwargs! {
                        job_id: "commit",
                        device: "top",
                        filter_node_name: "filter_node",
                        top: mid_name,
                        base: base_name,
                        speed: 1,
                    },
                    &[Filter::QmpTestfiles, Filter::QmpImgfmt],
                )?;
            } else {
                vm.qmp_log_with(
                    "block-commit",
                    kwargs! {
                        job_id: "commit",
                        device: "top",
                        top: mid_name,
                        base: base_name,
                        speed: 1,
                    },
                    &[Filter::QmpTestfiles, Filter::QmpImgfmt],
                )?;
            }

            vm.qmp_log("job-pause", kwargs! { id: "commit" })?;

            // Get and parse top's json:{} filename
            let top_name = filename_of(vm.node_info("top")?);

            vm.shutdown()?;

            ensure!(top_name.starts_with("json:"));
            let top_options: Value = serde_json::from_str(&top_name[5..]).map_err(|e| Error::python("json.decoder.JSONDecodeError", e))?;

            let mid_options = if filter_node_name {
                // This should be present and set
                ensure!(top_options["backing"]["driver"] == "commit_top");
                // And the mid image is commit_top's backing image
                &top_options["backing"]["backing"]
            } else {
                // The mid image should appear as the immediate backing BDS
                // of top
                &top_options["backing"]
            };

            ensure!(mid_options["driver"] == imgfmt());
            ensure!(mid_options["file"]["filename"] == mid_img_path.as_str());
        }
        Ok(())
    }
}
