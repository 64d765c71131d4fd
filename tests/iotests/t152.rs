//! Upstream 152: drive-mirror with source size unaligned to granularity.
//!
//! ```python
//! # group: rw quick
//! iotests.main(supported_fmts=['raw', 'qcow2'], supported_protocols=['file'])
//! ```

use iotests::harness::{Case, TestCase};
use iotests::vm::CompleteAndWait;
use iotests::vm::Vm;
use iotests::vm::testcase::assert_equal;
use iotests::{Error, Result, args};
use serde_json::json;

struct TestUnaligned {
    vm: Vm,
    test_img: String,
    target_img: String,
}

impl TestCase for TestUnaligned {
    fn set_up(t: &Case) -> Result<Self> {
        // Python: os.path.join(iotests.test_dir, 'test.img'), not file_path().
        let test_img = format!("{}/test.img", t.test_dir());
        let target_img = format!("{}/target.img", t.test_dir());
        t.qemu_img(&args!["create", "-f", t.imgfmt(), &test_img, "512"])?;
        let mut vm = t.vm();
        vm.add_drive(&test_img);
        vm.launch()?;
        Ok(TestUnaligned { vm, test_img, target_img })
    }

    fn tear_down(&mut self, _t: &Case) -> Result<()> {
        self.vm.shutdown()?;
        std::fs::remove_file(&self.test_img).map_err(|e| Error::io(format!("removing {}", self.test_img), e))?;
        iotests::context::try_remove(&self.target_img);
        Ok(())
    }
}

impl TestUnaligned {
    fn test_unaligned(&mut self, t: &Case) -> Result<()> {
        self.vm.cmd(
            "drive-mirror",
            json!({"device": "drive0", "sync": "full", "granularity": 65536, "target": self.target_img}),
        )?;
        self.vm.complete_and_wait()?;
        self.vm.shutdown()?;
        assert_equal(
            &json!(t.image_size(&self.test_img)?),
            &json!(t.image_size(&self.target_img)?),
            Some("Target size doesn't match source when granularity when unaligend"),
        )
    }

    fn test_unaligned_with_update(&mut self, t: &Case) -> Result<()> {
        self.vm.cmd(
            "drive-mirror",
            json!({"device": "drive0", "sync": "full", "granularity": 65536, "target": self.target_img}),
        )?;
        self.vm.wait_ready()?;
        self.vm.hmp_qemu_io("drive0", "write 0 512")?;
        self.vm.complete_and_wait_with(CompleteAndWait { wait_ready: false, ..Default::default() })?;
        self.vm.shutdown()?;
        assert_equal(
            &json!(t.image_size(&self.test_img)?),
            &json!(t.image_size(&self.target_img)?),
            Some("Target size doesn't match source when granularity when unaligend"),
        )
    }
}

iotests::iotest! {
    name: "152", groups: [rw, quick],
    supported_fmts: ["raw", "qcow2"],
    supported_protocols: ["file"],
    fn t152: unittest {
        TestUnaligned: [test_unaligned, test_unaligned_with_update],
    }
}
