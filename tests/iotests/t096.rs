//! Upstream 096: snapshots move the throttling configuration to the active layer.

use iotests::prelude::*;

struct TestLiveSnapshot {
    base_img: String,
    target_img: String,
    group: &'static str,
    iops: u64,
    iops_size: u64,
    vm: Vm,
}

#[iotests::test_case]
impl TestLiveSnapshot {
    fn new(t: &Case) -> Self {
        TestLiveSnapshot {
            base_img: os::path::join(test_dir(), "base.img"),
            target_img: os::path::join(test_dir(), "target.img"),
            group: "mygroup",
            iops: 6000,
            iops_size: 1024,
            vm: t.vm(),
        }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        let mut opts = Vec::new();
        opts.push("node-name=base".to_string());
        opts.push(format!("throttling.group={}", self.group));
        opts.push(format!("throttling.iops-total={}", self.iops));
        opts.push(format!("throttling.iops-size={}", self.iops_size));
        t.qemu_img(&args!["create", "-f", imgfmt(), self.base_img, "100M"])?;
        self.vm = t.vm();
        self.vm.add_drive_with(&self.base_img, opts.join(",").as_str());
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(&self.base_img)?;
        os::remove(&self.target_img)
    }

    fn check_config(&mut self, active_layer: &str) -> Result<()> {
        let result = self.vm.qmp("query-block", ())?;
        for r in result["return"].as_array().into_iter().flatten() {
            let r = &r["inserted"];
            if r["node-name"] == active_layer {
                assert_equal!(r["group"], self.group);
                assert_equal!(r["iops"], self.iops);
                assert_equal!(r["iops_size"], self.iops_size);
            } else {
                assert_false!(r.get("group").is_some());
                assert_equal!(r["iops"], 0);
                assert_false!(r.get("iops_size").is_some());
            }
        }
        Ok(())
    }

    #[allow(non_snake_case)]
    fn testSnapshot(&mut self) -> Result<()> {
        self.check_config("base")?;
        self.vm.qmp(
            "blockdev-snapshot-sync",
            kwargs! {
                node_name: "base",
                snapshot_node_name: "target",
                snapshot_file: self.target_img,
                format: imgfmt(),
            },
        )?;
        self.check_config("target")
    }
}

iotests::iotest! {
    name: "096", groups: [rw, quick],
    supported_fmts: ["qcow2"],
    supported_protocols: ["file"],
    fn t096: unittest { TestLiveSnapshot }
}
