//! Upstream 152: drive-mirror with source size unaligned to granularity.

use iotests::prelude::*;

fn test_img() -> String {
    os::path::join(test_dir(), "test.img")
}

fn target_img() -> String {
    os::path::join(test_dir(), "target.img")
}

struct TestUnaligned {
    vm: Vm,
}

#[iotests::test_case]
impl TestUnaligned {
    fn new(t: &Case) -> Self {
        TestUnaligned { vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", "-f", imgfmt(), test_img(), "512"])?;
        self.vm = t.vm();
        self.vm.add_drive(test_img());
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(test_img())?;
        // try: os.remove(target_img) except OSError: pass
        let _ = os::remove(target_img());
        Ok(())
    }

    fn test_unaligned(&mut self, t: &Case) -> Result<()> {
        self.vm.cmd(
            "drive-mirror",
            kwargs! { device: "drive0", sync: "full", granularity: 65536, target: target_img() },
        )?;
        self.vm.complete_and_wait()?;
        self.vm.shutdown()?;
        assert_equal!(
            t.image_size(&test_img())?,
            t.image_size(&target_img())?,
            "Target size doesn't match source when granularity when unaligend"
        );
        Ok(())
    }

    fn test_unaligned_with_update(&mut self, t: &Case) -> Result<()> {
        self.vm.cmd(
            "drive-mirror",
            kwargs! { device: "drive0", sync: "full", granularity: 65536, target: target_img() },
        )?;
        self.vm.wait_ready()?;
        self.vm.hmp_qemu_io("drive0", "write 0 512")?;
        self.vm.complete_and_wait_with(CompleteAndWait { wait_ready: false, ..Default::default() })?;
        self.vm.shutdown()?;
        assert_equal!(
            t.image_size(&test_img())?,
            t.image_size(&target_img())?,
            "Target size doesn't match source when granularity when unaligend"
        );
        Ok(())
    }
}

iotests::iotest! {
    name: "152", groups: [rw, quick],
    supported_fmts: ["raw", "qcow2"],
    supported_protocols: ["file"],
    fn t152: unittest { TestUnaligned }
}
