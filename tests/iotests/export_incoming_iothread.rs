//! Upstream tests/export-incoming-iothread: block-export-add in an iothread while the VM waits for migration (issue 945).

use iotests::prelude::*;

const IMAGE_SIZE: u64 = 1024 * 1024;

fn test_img() -> String {
    os::path::join(test_dir(), "test.img")
}

const NODE_NAME: &str = "node0";
const IOTHREAD_ID: &str = "iothr0";

fn nbd_sock() -> String {
    os::path::join(sock_dir(), "nbd.sock")
}

struct TestExportIncomingIothread {
    vm: Vm,
}

#[iotests::test_case]
impl TestExportIncomingIothread {
    fn new(t: &Case) -> Self {
        TestExportIncomingIothread { vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img_create(&args!["-f", imgfmt(), test_img(), IMAGE_SIZE.to_string()])?;

        self.vm = t.vm();
        self.vm.add_object(format!("iothread,id={IOTHREAD_ID}"));
        self.vm.add_blockdev([
            format!("driver={}", imgfmt()),
            format!("node-name={NODE_NAME}"),
            "file.driver=file".to_string(),
            format!("file.filename={}", test_img()),
        ]);
        self.vm.add_incoming("defer");
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(test_img())
    }

    fn test_export_add(&mut self) -> Result<()> {
        self.vm.cmd(
            "nbd-server-start",
            json!({
                "addr": {
                    "type": "unix",
                    "data": {
                        "path": nbd_sock()
                    }
                }
            }),
        )?;

        // Regression test for issue 945: This should not fail an assertion
        self.vm.cmd(
            "block-export-add",
            json!({
                "type": "nbd",
                "id": "exp0",
                "node-name": NODE_NAME,
                "iothread": IOTHREAD_ID
            }),
        )?;
        Ok(())
    }
}

iotests::iotest! {
    name: "export-incoming-iothread", groups: [rw, quick, migration],
    supported_fmts: ["generic"],
    unsupported_fmts: ["luks"], // Would need a secret
    supported_protocols: ["file"],
    fn export_incoming_iothread: unittest { TestExportIncomingIothread }
}
