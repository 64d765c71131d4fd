//! Upstream 155: mirror (drive-/blockdev-mirror) and commit with various target backing chains; the source chain stays intact.

use iotests::prelude::*;

fn back0_img() -> String {
    os::path::join(test_dir(), format!("back0.{}", imgfmt()))
}

fn back1_img() -> String {
    os::path::join(test_dir(), format!("back1.{}", imgfmt()))
}

fn back2_img() -> String {
    os::path::join(test_dir(), format!("back2.{}", imgfmt()))
}

fn source_img() -> String {
    os::path::join(test_dir(), format!("source.{}", imgfmt()))
}

fn target_img() -> String {
    os::path::join(test_dir(), format!("target.{}", imgfmt()))
}

// Class variables for controlling its behavior:
//
// existing: If True, explicitly create the target image and blockdev-add it
// target_backing: If existing is True: Use this filename as the backing file
//                 of the target image
//                 (None: no backing file)
// target_blockdev_backing: If existing is True: Pass this dict as "backing"
//                          for the blockdev-add command
//                          (None: do not pass "backing")
// target_real_backing: If existing is True: The real filename of the backing
//                      image during runtime, only makes sense if
//                      target_blockdev_backing is not None
//                      (None: same as target_backing)
// target_open_with_backing: If True, the target image is added with its backing
//                           chain opened right away. If False, blockdev-add
//                           opens it without a backing file and job completion
//                           is supposed to open the backing chain.
// use_iothread: If True, an iothread is configured for the virtio-blk device
//               that uses the image being mirrored

struct BaseClass {
    target_blockdev_backing: Option<Value>,
    target_real_backing: Option<&'static str>,
    target_open_with_backing: bool,
    use_iothread: bool,
    // Set by the subclasses (Python's AttributeError if one forgot is not
    // reproduced: they all set what they use).
    existing: bool,
    target_backing: Option<&'static str>,
    cmd: &'static str,
    vm: Vm,
}

#[iotests::test_case]
impl BaseClass {
    fn new(t: &Case) -> Self {
        BaseClass {
            target_blockdev_backing: None,
            target_real_backing: None,
            target_open_with_backing: true,
            use_iothread: false,
            existing: false,
            target_backing: None,
            cmd: "",
            vm: t.vm(),
        }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", "-f", imgfmt(), back0_img(), "1440K"])?;
        t.qemu_img(&args!["create", "-f", imgfmt(), "-b", back0_img(), "-F", imgfmt(), back1_img()])?;
        t.qemu_img(&args!["create", "-f", imgfmt(), "-b", back1_img(), "-F", imgfmt(), back2_img()])?;
        t.qemu_img(&args!["create", "-f", imgfmt(), "-b", back2_img(), "-F", imgfmt(), source_img()])?;

        self.vm = t.vm();
        // Add the BDS via blockdev-add so it stays around after the mirror block
        // job has been completed
        let blockdev = json!({"node-name": "source",
                              "driver": imgfmt(),
                              "file": {"driver": "file",
                                       "filename": source_img()}});
        let opts = self.vm.qmp_to_opts(&blockdev)?;
        self.vm.add_blockdev(opts);

        let iothread = if self.use_iothread {
            self.vm.add_object("iothread,id=iothread0");
            ",iothread=iothread0"
        } else {
            ""
        };

        self.vm.add_device(format!("virtio-scsi{iothread}"));
        self.vm.add_device("scsi-hd,id=qdev0,drive=source");

        self.vm.launch()?;

        self.assert_intact_source_backing_chain(t)?;

        if self.existing {
            if let Some(target_backing) = self.target_backing {
                t.qemu_img(&args!["create", "-f", imgfmt(), "-b", target_backing, "-F", "raw", target_img(), "1440K"])?;
            } else {
                t.qemu_img(&args!["create", "-f", imgfmt(), target_img(), "1440K"])?;
            }

            if self.cmd == "blockdev-mirror" {
                let mut options = json!({ "node-name": "target",
                                          "driver": imgfmt(),
                                          "file": { "driver": "file",
                                                    "node-name": "target-file",
                                                    "filename": target_img() } });

                if !self.target_open_with_backing {
                    options["backing"] = Value::Null;
                } else if let Some(backing) = &self.target_blockdev_backing {
                    options["backing"] = backing.clone();
                }

                self.vm.cmd("blockdev-add", options)?;
            }
        }
        Ok(())
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(source_img())?;
        os::remove(back2_img())?;
        os::remove(back1_img())?;
        os::remove(back0_img())?;
        // try: os.remove(target_img) except OSError: pass
        let _ = os::remove(target_img());
        Ok(())
    }

    fn find_block_node(&mut self, t: &Case, node_name: Option<&str>, qdev: Option<&str>) -> Result<Value> {
        if let Some(qdev) = qdev {
            let result = self.vm.qmp("query-block", ())?;
            for device in result["return"].as_array().into_iter().flatten() {
                if device["qdev"] == qdev {
                    if let Some(node_name) = node_name {
                        assert_qmp(device, "inserted/node-name", node_name)?;
                    }
                    return Ok(device["inserted"].clone());
                }
            }
        } else {
            let result = self.vm.qmp("query-named-block-nodes", ())?;
            for node in result["return"].as_array().into_iter().flatten() {
                if Some(node["node-name"].as_str().unwrap_or_default()) == node_name {
                    return Ok(node.clone());
                }
            }
        }

        Err(t.fail(format!("Cannot find node {}/{}", qdev.unwrap_or("None"), node_name.unwrap_or("None"))))
    }

    #[allow(clippy::repeat_once)] // 'image' + '/backing-image' * 1 + '/filename', as in Python
    fn assert_intact_source_backing_chain(&mut self, t: &Case) -> Result<()> {
        let node = self.find_block_node(t, Some("source"), None)?;

        assert_qmp(&node, &format!("image{}/filename", "/backing-image".repeat(0)), source_img())?;
        assert_qmp(&node, &format!("image{}/filename", "/backing-image".repeat(1)), back2_img())?;
        assert_qmp(&node, &format!("image{}/filename", "/backing-image".repeat(2)), back1_img())?;
        assert_qmp(&node, &format!("image{}/filename", "/backing-image".repeat(3)), back0_img())?;
        assert_qmp_absent(&node, &format!("image{}", "/backing-image".repeat(4)))?;
        Ok(())
    }

    fn assert_correct_backing_image(&mut self, node: &Value, default_image: Option<String>) -> Result<()> {
        let image = if self.existing {
            match self.target_real_backing {
                Some(real) => Some(real.to_string()),
                None => self.target_backing.map(str::to_string),
            }
        } else {
            default_image
        };

        if let Some(image) = image {
            assert_qmp(node, "image/backing-image/filename", image)?;
        } else {
            assert_qmp_absent(node, "image/backing-image")?;
        }
        Ok(())
    }
}

// Class variables for controlling its behavior:
//
// cmd: Mirroring command to execute, either drive-mirror or blockdev-mirror

struct MirrorBaseClass {
    base: BaseClass,
    /// `self.openBacking`: the subclasses override it, and `runMirror`
    /// hands it to `run_job` as `pre_finalize` (a virtual method).
    open_backing: fn(&mut MirrorBaseClass) -> Result<()>,
}

#[iotests::test_case(extends = BaseClass)]
impl MirrorBaseClass {
    fn new(t: &Case) -> Result<Self> {
        Ok(MirrorBaseClass { base: BaseClass::new(t)?, open_backing: MirrorBaseClass::open_backing })
    }

    fn open_backing(&mut self) -> Result<()> {
        Ok(())
    }

    fn run_mirror(&mut self, sync: &str) -> Result<()> {
        let cmd = self.cmd;
        if cmd == "blockdev-mirror" {
            self.vm.cmd(
                cmd,
                kwargs! { job_id: "mirror-job", device: "source", sync: sync, target: "target", auto_finalize: false },
            )?;
        } else {
            let mode = if self.existing { "existing" } else { "absolute-paths" };
            self.vm.cmd(
                cmd,
                kwargs! {
                    job_id: "mirror-job", device: "source", sync: sync, target: target_img(),
                    format: imgfmt(), mode: mode, node_name: "target", auto_finalize: false
                },
            )?;
        }

        let mut open_backing = self.open_backing;
        Vm::run_job_in(
            self,
            |s| &mut s.vm,
            "mirror-job",
            RunJobOptions {
                auto_finalize: false,
                pre_finalize: Some(&mut open_backing),
                auto_dismiss: true,
                ..Default::default()
            },
        )?;
        Ok(())
    }

    fn test_full(&mut self, t: &Case) -> Result<()> {
        self.run_mirror("full")?;

        let node = self.find_block_node(t, Some("target"), Some("qdev0"))?;
        self.assert_correct_backing_image(&node, None)?;
        self.assert_intact_source_backing_chain(t)
    }

    fn test_top(&mut self, t: &Case) -> Result<()> {
        self.run_mirror("top")?;

        let node = self.find_block_node(t, Some("target"), Some("qdev0"))?;
        self.assert_correct_backing_image(&node, Some(back2_img()))?;
        self.assert_intact_source_backing_chain(t)
    }

    fn test_none(&mut self, t: &Case) -> Result<()> {
        self.run_mirror("none")?;

        let node = self.find_block_node(t, Some("target"), Some("qdev0"))?;
        self.assert_correct_backing_image(&node, Some(source_img()))?;
        self.assert_intact_source_backing_chain(t)
    }
}

// Attach the backing chain only during completion, with blockdev-reopen
struct TestBlockdevMirrorReopen {
    base: MirrorBaseClass,
}

#[iotests::test_case(extends = MirrorBaseClass)]
impl TestBlockdevMirrorReopen {
    fn new(t: &Case) -> Result<Self> {
        let mut base = MirrorBaseClass::new(t)?;
        base.cmd = "blockdev-mirror";
        base.existing = true;
        base.target_backing = Some("null-co://");
        base.target_open_with_backing = false;
        base.open_backing = TestBlockdevMirrorReopen::open_backing;
        Ok(TestBlockdevMirrorReopen { base })
    }

    fn open_backing(this: &mut MirrorBaseClass) -> Result<()> {
        if !this.target_open_with_backing {
            this.vm.cmd("blockdev-add", kwargs! { node_name: "backing", driver: "null-co" })?;
            this.vm.cmd(
                "blockdev-reopen",
                kwargs! { options: [{
                    "node-name": "target",
                    "driver": imgfmt(),
                    "file": "target-file",
                    "backing": "backing"
                }] },
            )?;
        }
        Ok(())
    }
}

// Attach the backing chain only during completion, with blockdev-snapshot
struct TestBlockdevMirrorSnapshot {
    base: MirrorBaseClass,
}

#[iotests::test_case(extends = MirrorBaseClass)]
impl TestBlockdevMirrorSnapshot {
    fn new(t: &Case) -> Result<Self> {
        let mut base = MirrorBaseClass::new(t)?;
        base.cmd = "blockdev-mirror";
        base.existing = true;
        base.target_backing = Some("null-co://");
        base.target_open_with_backing = false;
        base.open_backing = TestBlockdevMirrorSnapshot::open_backing;
        Ok(TestBlockdevMirrorSnapshot { base })
    }

    fn open_backing(this: &mut MirrorBaseClass) -> Result<()> {
        if !this.target_open_with_backing {
            this.vm.cmd("blockdev-add", kwargs! { node_name: "backing", driver: "null-co" })?;
            this.vm.cmd("blockdev-snapshot", kwargs! { node: "backing", overlay: "target" })?;
        }
        Ok(())
    }
}

struct TestCommit {
    base: BaseClass,
}

#[iotests::test_case(extends = BaseClass)]
impl TestCommit {
    fn new(t: &Case) -> Result<Self> {
        let mut base = BaseClass::new(t)?;
        base.existing = false;
        Ok(TestCommit { base })
    }

    #[allow(clippy::repeat_once)] // 'image' + '/backing-image' * 1 + '/filename', as in Python
    fn test_commit(&mut self, t: &Case) -> Result<()> {
        self.vm.cmd("block-commit", kwargs! { job_id: "commit-job", device: "source", base: back1_img() })?;

        self.vm.event_wait("BLOCK_JOB_READY")?;

        self.vm.cmd("block-job-complete", kwargs! { device: "commit-job" })?;

        self.vm.event_wait("BLOCK_JOB_COMPLETED")?;

        let node = self.find_block_node(t, None, Some("qdev0"))?;
        assert_qmp(&node, &format!("image{}/filename", "/backing-image".repeat(0)), back1_img())?;
        assert_qmp(&node, &format!("image{}/filename", "/backing-image".repeat(1)), back0_img())?;
        assert_qmp_absent(&node, &format!("image{}/filename", "/backing-image".repeat(2)))?;

        self.assert_intact_source_backing_chain(t)
    }
}

iotests::iotest! {
    name: "155", groups: [rw],
    supported_fmts: ["qcow2"],
    supported_protocols: ["file"],
    // BaseClass = None; MirrorBaseClass = None: the abstract bases are not listed.
    fn t155: unittest {
        TestDriveMirrorAbsolutePaths: MirrorBaseClass { cmd: "drive-mirror", existing: false },
        TestDriveMirrorExistingNoBacking: MirrorBaseClass { cmd: "drive-mirror", existing: true, target_backing: None },
        TestDriveMirrorExistingBacking: MirrorBaseClass {
            cmd: "drive-mirror", existing: true, target_backing: Some("null-co://")
        },
        TestBlockdevMirrorNoBacking: MirrorBaseClass { cmd: "blockdev-mirror", existing: true, target_backing: None },
        TestBlockdevMirrorBacking: MirrorBaseClass {
            cmd: "blockdev-mirror", existing: true, target_backing: Some("null-co://")
        },
        TestBlockdevMirrorForcedBacking: MirrorBaseClass {
            cmd: "blockdev-mirror",
            existing: true,
            target_backing: None,
            target_blockdev_backing: Some(json!({ "driver": "null-co" })),
            target_real_backing: Some("null-co://")
        },
        TestBlockdevMirrorReopen,
        TestBlockdevMirrorReopenIothread: TestBlockdevMirrorReopen { use_iothread: true },
        TestBlockdevMirrorSnapshot,
        TestBlockdevMirrorSnapshotIothread: TestBlockdevMirrorSnapshot { use_iothread: true },
        TestCommit,
    }
}
