//! Upstream tests/reopen-file: blockdev-reopen switching a format node's file child to another node.

use iotests::prelude::*;

const IMAGE_SIZE: u64 = 1024 * 1024;

fn test_img() -> String {
    os::path::join(test_dir(), "test.img")
}

struct TestReopenFile {
    vm: Vm,
}

#[iotests::test_case]
impl TestReopenFile {
    fn new(t: &Case) -> Self {
        TestReopenFile { vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        let res = t.qemu_img_create(&args!["-f", imgfmt(), test_img(), IMAGE_SIZE.to_string()])?;
        ensure!(res.returncode == 0);

        // Add format driver node ('format') on top of the file ('file'), then
        // add another raw node ('raw') on top of 'file' so for the reopen we
        // can just switch from 'file' to 'raw'
        self.vm = t.vm();
        let format = self.vm.qmp_to_opts(&json!({
            "driver": imgfmt(),
            "node-name": "format",
            "file": {
                "driver": "file",
                "node-name": "file",
                "filename": test_img()
            }
        }))?;
        self.vm.add_blockdev(format);
        let raw = self.vm.qmp_to_opts(&json!({
            "driver": "raw",
            "node-name": "raw",
            "file": "file"
        }))?;
        self.vm.add_blockdev(raw);
        self.vm.launch()
    }

    fn tear_down(&mut self, t: &Case) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(test_img())?;

        // Check if there was any qemu-io run that failed
        let log = self.vm.get_log().unwrap_or_default();
        if log.contains("Pattern verification failed") {
            t.print("ERROR: Pattern verification failed:");
            t.print(log);
            return Err(t.fail("qemu-io pattern verification failed"));
        }
        Ok(())
    }

    fn test_reopen_file(&mut self) -> Result<()> {
        self.vm.cmd(
            "blockdev-reopen",
            kwargs! { options: [{
                "driver": imgfmt(),
                "node-name": "format",
                "file": "raw"
            }] },
        )?;

        // Do some I/O to the image to see whether it still works
        // (Pattern verification will be checked by tearDown())
        let result =
            self.vm.qmp("human-monitor-command", kwargs! { command_line: r#"qemu-io format "write -P 42 0 64k""# })?;
        assert_qmp(&result, "return", "")?;

        let result =
            self.vm.qmp("human-monitor-command", kwargs! { command_line: r#"qemu-io format "read -P 42 0 64k""# })?;
        assert_qmp(&result, "return", "")?;
        Ok(())
    }
}

iotests::iotest! {
    name: "reopen-file", groups: [rw, quick],
    // Must support creating images and reopen
    supported_fmts: ["qcow", "qcow2", "qed", "raw", "vdi", "vhdx", "vmdk", "vpc"],
    supported_protocols: ["file"],
    fn reopen_file: unittest { TestReopenFile }
}
