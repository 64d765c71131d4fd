//! Upstream 298: the preallocate filter (growth, shrinking on close and reopen, truncate).

use iotests::prelude::*;

const MIB: u64 = 1024 * 1024;

fn disk() -> String {
    os::path::join(test_dir(), "disk")
}

fn overlay() -> String {
    os::path::join(test_dir(), "overlay")
}

fn refdisk() -> String {
    os::path::join(test_dir(), "refdisk")
}

fn drive_opts() -> String {
    format!(
        "node-name=disk,driver={},file.node-name=filter,file.driver=preallocate,file.file.node-name=file,file.file.filename={}",
        imgfmt(),
        disk()
    )
}

#[derive(Default)]
struct TestPreallocateBase;

#[iotests::test_case]
impl TestPreallocateBase {
    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img_create(&args!["-f", imgfmt(), disk(), 10 * MIB])?;
        Ok(())
    }

    fn tear_down(&mut self, t: &Case) -> Result<()> {
        let result = (|| {
            self.check_small()?;
            let check = t.qemu_img_check(&[disk()])?;
            assert_false!(check.get("leaks").is_some());
            assert_false!(check.get("corruptions").is_some());
            assert_equal!(check["check-errors"], 0);
            Ok(())
        })();
        // finally:
        os::remove(disk())?;
        result
    }

    fn check_big(&self) -> Result<()> {
        assert_true!(os::path::getsize(disk())? > 100 * MIB);
        Ok(())
    }

    fn check_small(&self) -> Result<()> {
        assert_true!(os::path::getsize(disk())? < 10 * MIB);
        Ok(())
    }
}

struct TestQemuImg {
    base: TestPreallocateBase,
}

#[iotests::test_case(extends = TestPreallocateBase)]
impl TestQemuImg {
    fn new() -> Self {
        TestQemuImg { base: TestPreallocateBase }
    }

    fn test_qemu_img(&mut self, t: &Case) -> Result<()> {
        let mut p = t.qemu_io_interactive(&args!["--image-opts", drive_opts()])?;

        p.cmd("write 0 1M")?;
        p.cmd("flush")?;

        self.check_big()?;

        p.close()?;
        Ok(())
    }
}

struct TestPreallocateFilter {
    base: TestPreallocateBase,
    vm: Vm,
}

#[iotests::test_case(extends = TestPreallocateBase)]
impl TestPreallocateFilter {
    fn new(t: &Case) -> Self {
        TestPreallocateFilter { base: TestPreallocateBase, vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        self.base.set_up(t)?;
        self.vm = t.vm();
        self.vm.add_drive_with(None, drive_opts());
        self.vm.launch()
    }

    fn tear_down(&mut self, t: &Case) -> Result<()> {
        self.vm.shutdown()?;
        self.base.tear_down(t)
    }

    fn test_prealloc(&mut self) -> Result<()> {
        self.vm.hmp_qemu_io("drive0", "write 0 1M")?;
        self.check_big()
    }

    fn test_external_snapshot(&mut self) -> Result<()> {
        self.test_prealloc()?;

        self.vm.cmd(
            "blockdev-snapshot-sync",
            kwargs! { node_name: "disk", snapshot_file: overlay(), snapshot_node_name: "overlay" },
        )?;

        // on reopen to  r-o base preallocation should be dropped
        self.check_small()?;

        self.vm.hmp_qemu_io("drive0", "write 1M 1M")?;

        self.vm.cmd("block-commit", kwargs! { device: "overlay" })?;
        self.vm.complete_and_wait()?;

        // commit of new megabyte should trigger preallocation
        self.check_big()
    }

    fn test_reopen_opts(&mut self) -> Result<()> {
        self.vm.cmd(
            "blockdev-reopen",
            kwargs! { options: [{
                "node-name": "disk",
                "driver": imgfmt(),
                "file": {
                    "node-name": "filter",
                    "driver": "preallocate",
                    "prealloc-size": 20 * MIB,
                    "prealloc-align": 5 * MIB,
                    "file": {
                        "node-name": "file",
                        "driver": "file",
                        "filename": disk()
                    }
                }
            }] },
        )?;

        self.vm.hmp_qemu_io("drive0", "write 0 1M")?;
        assert_true!(os::path::getsize(disk())? == 25 * MIB);
        Ok(())
    }
}

#[derive(Default)]
struct TestTruncate;

// The case names keep upstream's double underscores (`…_area__falloc`).
#[allow(non_snake_case)]
#[iotests::test_case]
impl TestTruncate {
    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img_create(&args!["-f", imgfmt(), disk(), 10 * MIB])?;
        t.qemu_img_create(&args!["-f", imgfmt(), refdisk(), 10 * MIB])?;
        Ok(())
    }

    fn tear_down(&mut self) -> Result<()> {
        os::remove(disk())?;
        os::remove(refdisk())
    }

    fn do_test(&mut self, t: &Case, prealloc_mode: &str, new_size: &str) -> Result<()> {
        t.qemu_io(&args![
            "--image-opts",
            "-c",
            "write 0 10M",
            "-c",
            format!("truncate -m {prealloc_mode} {new_size}"),
            drive_opts()
        ])?;

        t.qemu_io(&args![
            "-f",
            imgfmt(),
            "-c",
            "write 0 10M",
            "-c",
            format!("truncate -m {prealloc_mode} {new_size}"),
            refdisk()
        ])?;

        let stat = os::stat(disk())?;
        let refstat = os::stat(refdisk())?;

        // The preallocate filter may keep cluster alignment when shrinking,
        // so ignore small differences
        assert_less!(stat.st_size.abs_diff(refstat.st_size), 64 * 1024);

        // Preallocate filter may leak some internal clusters (for example, if
        // guest write far over EOF, skipping some clusters - they will remain
        // fallocated, preallocate filter don't care about such leaks, it drops
        // only trailing preallocation.
        assert_less!(stat.st_blocks.abs_diff(refstat.st_blocks) * 512, 1024 * 1024);
        Ok(())
    }

    fn test_real_shrink(&mut self, t: &Case) -> Result<()> {
        self.do_test(t, "off", "5M")
    }

    fn test_truncate_inside_preallocated_area__falloc(&mut self, t: &Case) -> Result<()> {
        self.do_test(t, "falloc", "50M")
    }

    fn test_truncate_inside_preallocated_area__metadata(&mut self, t: &Case) -> Result<()> {
        self.do_test(t, "metadata", "50M")
    }

    fn test_truncate_inside_preallocated_area__full(&mut self, t: &Case) -> Result<()> {
        self.do_test(t, "full", "50M")
    }

    fn test_truncate_inside_preallocated_area__off(&mut self, t: &Case) -> Result<()> {
        self.do_test(t, "off", "50M")
    }

    fn test_truncate_over_preallocated_area__falloc(&mut self, t: &Case) -> Result<()> {
        self.do_test(t, "falloc", "150M")
    }

    fn test_truncate_over_preallocated_area__metadata(&mut self, t: &Case) -> Result<()> {
        self.do_test(t, "metadata", "150M")
    }

    fn test_truncate_over_preallocated_area__full(&mut self, t: &Case) -> Result<()> {
        self.do_test(t, "full", "150M")
    }

    fn test_truncate_over_preallocated_area__off(&mut self, t: &Case) -> Result<()> {
        self.do_test(t, "off", "150M")
    }
}

iotests::iotest! {
    name: "298", groups: [],
    supported_fmts: ["qcow2"],
    required_fmts: ["preallocate"],
    fn t298: unittest { TestPreallocateBase, TestQemuImg, TestPreallocateFilter, TestTruncate }
}
