//! Upstream 196: incoming migration clears qcow2 autoclear feature bits an old QEMU may have set.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};

use iotests::prelude::*;

fn disk() -> String {
    os::path::join(test_dir(), "disk")
}

fn migfile() -> String {
    os::path::join(test_dir(), "migfile")
}

struct TestInvalidateAutoclear {
    vm_a: Vm,
    vm_b: Vm,
}

#[iotests::test_case]
impl TestInvalidateAutoclear {
    fn new(t: &Case) -> Self {
        TestInvalidateAutoclear { vm_a: t.vm_with("a"), vm_b: t.vm_with("b") }
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm_a.shutdown()?;
        self.vm_b.shutdown()?;
        os::remove(disk())?;
        os::remove(migfile())
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", "-f", imgfmt(), disk(), "1M"])?;

        self.vm_a = t.vm_with("a");
        self.vm_a.add_drive(disk());
        self.vm_a.launch()?;

        self.vm_b = t.vm_with("b");
        self.vm_b.add_drive(disk());
        self.vm_b.add_incoming(format!("exec: cat '{}'", migfile()));
        Ok(())
    }

    fn test_migration(&mut self) -> Result<()> {
        self.vm_a.cmd("migrate", kwargs! { uri: format!("exec:cat>{}", migfile()) })?;
        assert_not_equal!(self.vm_a.event_wait("STOP")?, Value::Null);

        {
            let mut f = OpenOptions::new().read(true).write(true).open(disk()).context("opening disk")?;
            f.seek(SeekFrom::Start(88)).context("seeking in disk")?; // first byte of autoclear_features field
            f.write_all(b"\xff").context("writing disk")?;
        }

        self.vm_b.launch()?;
        loop {
            let result = self.vm_b.qmp("query-status", ())?;
            if result["return"]["status"] == "running" {
                break;
            }
        }

        {
            let mut f = OpenOptions::new().read(true).open(disk()).context("opening disk")?;
            f.seek(SeekFrom::Start(88)).context("seeking in disk")?;
            let mut byte = Vec::new();
            f.take(1).read_to_end(&mut byte).context("reading disk")?;
            assert_equal!(byte, b"\x00");
        }
        Ok(())
    }
}

iotests::iotest! {
    name: "196", groups: [rw, quick, migration],
    supported_fmts: ["qcow2"],
    supported_protocols: ["file"],
    unsupported_imgopts: ["compat"],
    fn t196: unittest { TestInvalidateAutoclear }
}
