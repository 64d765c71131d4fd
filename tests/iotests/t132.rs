//! Upstream 132: drive-mirror while the source is discarded (discard=unmap); the target must match.

use iotests::prelude::*;

fn test_img() -> String {
    os::path::join(test_dir(), "test.img")
}

fn target_img() -> String {
    os::path::join(test_dir(), "target.img")
}

struct TestSingleDrive {
    vm: Vm,
}

impl TestSingleDrive {
    const IMAGE_LEN: u64 = 2 * 1024 * 1024; // MB
}

#[iotests::test_case]
impl TestSingleDrive {
    fn new(t: &Case) -> Self {
        TestSingleDrive { vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        // Write data to the image so we can compare later
        t.qemu_img(&args!["create", "-f", imgfmt(), test_img(), TestSingleDrive::IMAGE_LEN])?;
        t.qemu_io(&args!["-f", imgfmt(), "-c", "write -P0x5d 0 2M", test_img()])?;

        self.vm = t.vm();
        self.vm.add_drive_with(test_img(), "discard=unmap");
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(test_img())?;
        // try: os.remove(target_img) except OSError: pass
        let _ = os::remove(target_img());
        Ok(())
    }

    fn test_mirror_discard(&mut self, t: &Case) -> Result<()> {
        self.vm.cmd("drive-mirror", kwargs! { device: "drive0", sync: "full", target: target_img() })?;
        self.vm.hmp_qemu_io("drive0", "discard 0 64k")?;
        self.vm.complete_and_wait_with("drive0")?;
        self.vm.shutdown()?;
        assert_true!(
            t.compare_images(&test_img(), &target_img())?,
            "target image does not match source after mirroring"
        );
        Ok(())
    }
}

iotests::iotest! {
    name: "132", groups: [rw, quick],
    supported_fmts: ["raw", "qcow2"],
    supported_protocols: ["file"],
    fn t132: unittest { TestSingleDrive }
}
