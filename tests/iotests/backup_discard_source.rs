//! Upstream tests/backup-discard-source: backup with discard-source=true drops the copy-before-write temp data.

use iotests::prelude::*;

fn temp_img() -> String {
    os::path::join(test_dir(), "temp")
}

fn source_img() -> String {
    os::path::join(test_dir(), "source")
}

fn target_img() -> String {
    os::path::join(test_dir(), "target")
}

const SIZE: u64 = 1024 * 1024;

struct TestBackup {
    vm: Vm,
    bitmap: Value,
}

#[iotests::test_case]
impl TestBackup {
    fn new(t: &Case) -> Self {
        TestBackup { vm: t.vm(), bitmap: Value::Null }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img_create(&args!["-f", imgfmt(), source_img(), SIZE.to_string()])?;
        t.qemu_img_create(&args!["-f", imgfmt(), temp_img(), SIZE.to_string()])?;
        t.qemu_img_create(&args!["-f", imgfmt(), target_img(), SIZE.to_string()])?;
        t.qemu_io(&args!["-c", "write 0 1M", source_img()])?;

        self.vm = t.vm();
        self.vm.launch()?;

        self.vm.cmd(
            "blockdev-add",
            json!({
                "node-name": "cbw",
                "driver": "copy-before-write",
                "file": {
                    "driver": imgfmt(),
                    "file": {
                        "driver": "file",
                        "filename": source_img(),
                    }
                },
                "target": {
                    "driver": imgfmt(),
                    "discard": "unmap",
                    "node-name": "temp",
                    "file": {
                        "driver": "file",
                        "filename": temp_img()
                    }
                }
            }),
        )?;

        self.vm.cmd(
            "blockdev-add",
            json!({
                "node-name": "access",
                "discard": "unmap",
                "driver": "snapshot-access",
                "file": "cbw"
            }),
        )?;

        self.vm.cmd(
            "blockdev-add",
            json!({
                "driver": imgfmt(),
                "node-name": "target",
                "file": {
                    "driver": "file",
                    "filename": target_img()
                }
            }),
        )?;

        self.bitmap = json!({
            "node": "temp",
            "name": "bitmap0"
        });

        self.vm.cmd("block-dirty-bitmap-add", self.bitmap.clone())?;
        Ok(())
    }

    fn tear_down(&mut self, t: &Case) -> Result<()> {
        // That should fail, because region is discarded
        self.vm.hmp_qemu_io("access", "read 0 1M")?;

        self.vm.shutdown()?;

        assert_true!(self.vm.get_log().unwrap_or_default().contains("read failed: Permission denied"));

        // Final check that temp image is empty
        let mapping = t.qemu_img_map(&[temp_img()])?;
        assert_equal!(mapping.as_array().map_or(0, Vec::len), 1);
        assert_equal!(mapping[0]["start"], 0);
        assert_equal!(mapping[0]["length"], SIZE);
        assert_equal!(mapping[0]["data"], false);

        os::remove(temp_img())?;
        os::remove(source_img())?;
        os::remove(target_img())?;
        Ok(())
    }

    fn do_backup(&mut self) -> Result<()> {
        self.vm.cmd(
            "blockdev-backup",
            kwargs! { device: "access", sync: "full", target: "target", job_id: "backup0", discard_source: true },
        )?;

        self.vm.event_wait("BLOCK_JOB_COMPLETED")?;
        Ok(())
    }

    fn get_bitmap_count(&mut self) -> Result<Value> {
        let nodes = self.vm.cmd("query-named-block-nodes", kwargs! { flat: true })?;
        let temp = nodes
            .as_array()
            .and_then(|nodes| nodes.iter().find(|n| n["node-name"] == "temp"))
            .ok_or_else(|| Error::python("StopIteration", ""))?;
        let bitmap = &temp["dirty-bitmaps"][0];
        ensure!(bitmap["name"] == self.bitmap["name"]);
        Ok(bitmap["count"].clone())
    }

    /// 1. Guest writes
    /// 2. copy-before-write operation, data is stored to temp
    /// 3. start backup(discard_source=True), check that data is
    ///    removed from temp
    fn test_discard_written(&mut self) -> Result<()> {
        // Trigger copy-before-write operation
        let result = self.vm.hmp_qemu_io("cbw", "write 0 1M")?;
        assert_qmp(&result, "return", "")?;

        // Check that data is written to temporary image
        assert_equal!(self.get_bitmap_count()?, SIZE);

        self.do_backup()
    }

    /// 1. do backup(discard_source=True), which should inform
    ///    copy-before-write that data is not needed anymore
    /// 2. Guest writes
    /// 3. Check that copy-before-write operation is not done
    fn test_discard_cbw(&mut self) -> Result<()> {
        self.do_backup()?;

        // backup job did discard operation and pollute the bitmap,
        // we have to clean the bitmap, to check next write
        assert_equal!(self.get_bitmap_count()?, SIZE);
        self.vm.cmd("block-dirty-bitmap-clear", self.bitmap.clone())?;

        // Try trigger copy-before-write operation
        let result = self.vm.hmp_qemu_io("cbw", "write 0 1M")?;
        assert_qmp(&result, "return", "")?;

        // Check that data is not written to temporary image, as region
        // is discarded from copy-before-write process
        assert_equal!(self.get_bitmap_count()?, 0);
        Ok(())
    }
}

iotests::iotest! {
    name: "backup-discard-source", groups: [],
    supported_fmts: ["qcow2"],
    supported_protocols: ["file"],
    fn backup_discard_source: unittest { TestBackup }
}
