//! Upstream 165: persistent dirty bitmaps survive restarts, read-only opens and reopening read-write.

use iotests::filters;
use iotests::prelude::*;

fn disk() -> String {
    os::path::join(test_dir(), "disk")
}

const DISK_SIZE: u64 = 0x40000000; // 1G

// regions for qemu_io: (start, count) in bytes
const REGIONS1: [(u64, u64); 2] = [(0x0fff00, 0x10000), (0x200000, 0x100000)];

const REGIONS2: [(u64, u64); 2] = [(0x10000000, 0x20000), (0x3fff0000, 0x10000)];

struct TestPersistentDirtyBitmap {
    vm: Vm,
}

#[iotests::test_case]
impl TestPersistentDirtyBitmap {
    fn new(t: &Case) -> Self {
        TestPersistentDirtyBitmap { vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", "-f", imgfmt(), disk(), DISK_SIZE])?;
        Ok(())
    }

    fn tear_down(&mut self) -> Result<()> {
        os::remove(disk())
    }

    fn mk_vm(&self, t: &Case) -> Vm {
        let mut vm = t.vm();
        vm.add_drive_with(disk(), "node-name=node0");
        vm
    }

    fn mk_vm_ro(&self, t: &Case) -> Vm {
        let mut vm = t.vm();
        vm.add_drive_with(disk(), "readonly=on,node-name=node0");
        vm
    }

    fn get_sha256(&mut self) -> Result<Value> {
        let result = self.vm.qmp("x-debug-block-dirty-bitmap-sha256", kwargs! { node: "drive0", name: "bitmap0" })?;
        Ok(dictpath(&result, "return/sha256")?.clone())
    }

    fn check_bitmap(&mut self, sha256: &Value) -> Result<()> {
        let result = self.vm.qmp("x-debug-block-dirty-bitmap-sha256", kwargs! { node: "drive0", name: "bitmap0" })?;
        assert_qmp(&result, "return/sha256", sha256.clone())
    }

    fn write_regions(&mut self, regions: &[(u64, u64)]) -> Result<()> {
        for r in regions {
            self.vm.hmp_qemu_io("drive0", &format!("write {} {}", r.0, r.1))?;
        }
        Ok(())
    }

    fn qmp_add_bitmap(&mut self) -> Result<()> {
        self.vm.qmp("block-dirty-bitmap-add", kwargs! { node: "drive0", name: "bitmap0", persistent: true })?;
        Ok(())
    }

    fn test_persistent(&mut self, t: &Case) -> Result<()> {
        self.vm = self.mk_vm(t);
        self.vm.launch()?;
        self.qmp_add_bitmap()?;

        self.write_regions(&REGIONS1)?;
        let sha256 = self.get_sha256()?;

        self.vm.shutdown()?;

        self.vm = self.mk_vm_ro(t);
        self.vm.launch()?;
        self.vm.shutdown()?;

        //catch 'Persistent bitmaps are lost' possible error
        let log = filters::qtest(self.vm.get_log().unwrap_or_default());
        if !log.is_empty() {
            t.print(log);
        }

        self.vm = self.mk_vm(t);
        self.vm.launch()?;

        self.check_bitmap(&sha256)?;
        self.write_regions(&REGIONS2)?;
        let sha256 = self.get_sha256()?;

        self.vm.shutdown()?;
        self.vm.launch()?;

        self.check_bitmap(&sha256)?;

        self.vm.shutdown()
    }

    fn test_reopen_rw(&mut self, t: &Case) -> Result<()> {
        self.vm = self.mk_vm(t);
        self.vm.launch()?;
        self.qmp_add_bitmap()?;

        // Calculate hashes

        self.write_regions(&REGIONS1)?;
        let sha256_1 = self.get_sha256()?;

        self.write_regions(&REGIONS2)?;
        let sha256_2 = self.get_sha256()?;
        ensure!(sha256_1 != sha256_2); // Otherwise, it's not very interesting.

        self.vm.cmd("block-dirty-bitmap-clear", kwargs! { node: "drive0", name: "bitmap0" })?;

        // Start with regions1

        self.write_regions(&REGIONS1)?;
        ensure!(sha256_1 == self.get_sha256()?);

        self.vm.shutdown()?;

        self.vm = self.mk_vm_ro(t);
        self.vm.launch()?;

        ensure!(sha256_1 == self.get_sha256()?);

        // Check that we are in RO mode and can't modify bitmap.
        self.write_regions(&REGIONS2)?;
        ensure!(sha256_1 == self.get_sha256()?);

        // Reopen to RW
        self.vm.cmd(
            "blockdev-reopen",
            kwargs! { options: [{
                "node-name": "node0",
                "driver": imgfmt(),
                "file": {
                    "driver": "file",
                    "filename": disk()
                },
                "read-only": false
            }] },
        )?;

        // Check that bitmap is reopened to RW and we can write to it.
        self.write_regions(&REGIONS2)?;
        ensure!(sha256_2 == self.get_sha256()?);

        self.vm.shutdown()
    }
}

iotests::iotest! {
    name: "165", groups: [rw, quick],
    supported_fmts: ["qcow2"],
    supported_protocols: ["file"],
    unsupported_imgopts: ["compat"],
    fn t165: unittest { TestPersistentDirtyBitmap }
}
