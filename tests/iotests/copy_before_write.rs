//! Upstream tests/copy-before-write: the copy-before-write filter's on-cbw-error and cbw-timeout behaviour.

use iotests::filters::{self, PyRegex};
use iotests::prelude::*;

fn temp_img() -> String {
    os::path::join(test_dir(), "temp")
}

fn source_img() -> String {
    os::path::join(test_dir(), "source")
}

const SIZE: &str = "1M";

struct TestCbwError {
    vm: Vm,
}

#[iotests::test_case]
impl TestCbwError {
    fn new(t: &Case) -> Self {
        TestCbwError { vm: t.qemu_machine() }
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(temp_img())?;
        os::remove(source_img())?;
        Ok(())
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img_create(&args!["-f", imgfmt(), source_img(), SIZE])?;
        t.qemu_img_create(&args!["-f", imgfmt(), temp_img(), SIZE])?;
        t.qemu_io(&args!["-c", "write 0 1M", source_img()])?;

        let opts = ["-nodefaults", "-display", "none", "-machine", "none"];
        // QEMUMachine(iotests.qemu_prog, opts, base_temp_dir=iotests.test_dir)
        self.vm = t.qemu_machine();
        self.vm.add_args(opts);
        self.vm.launch()
    }

    fn do_cbw_error(&mut self, on_cbw_error: &str) -> Result<String> {
        self.vm.cmd(
            "blockdev-add",
            json!({
                "node-name": "cbw",
                "driver": "copy-before-write",
                "on-cbw-error": on_cbw_error,
                "file": {
                    "driver": imgfmt(),
                    "file": {
                        "driver": "file",
                        "filename": source_img(),
                    }
                },
                "target": {
                    "driver": imgfmt(),
                    "file": {
                        "driver": "blkdebug",
                        "image": {
                            "driver": "file",
                            "filename": temp_img()
                        },
                        "inject-error": [
                            {
                                "event": "write_aio",
                                "errno": 5,
                                "immediately": false,
                                "once": true
                            }
                        ]
                    }
                }
            }),
        )?;

        self.vm.cmd(
            "blockdev-add",
            json!({
                "node-name": "access",
                "driver": "snapshot-access",
                "file": "cbw"
            }),
        )?;

        let result = self.vm.qmp("human-monitor-command", kwargs! { command_line: "qemu-io cbw \"write 0 1M\"" })?;
        assert_qmp(&result, "return", "")?;

        let result = self.vm.qmp("human-monitor-command", kwargs! { command_line: "qemu-io access \"read 0 1M\"" })?;
        assert_qmp(&result, "return", "")?;

        self.vm.shutdown()?;
        let log = self.vm.get_log().unwrap_or_default();
        let log = filters::qtest(log);
        let log = filters::qemu_io(&log);
        Ok(log)
    }

    /// break-snapshot behavior:
    /// Guest write succeed, but further snapshot-read fails, as snapshot is
    /// broken.
    fn test_break_snapshot_on_cbw_error(&mut self) -> Result<()> {
        let log = self.do_cbw_error("break-snapshot")?;

        assert_equal!(
            log,
            "\
wrote 1048576/1048576 bytes at offset 0
1 MiB, X ops; XX:XX:XX.X (XXX YYY/sec and XXX ops/sec)
read failed: Permission denied
"
        );
        Ok(())
    }

    /// break-guest-write behavior:
    /// Guest write fails, but snapshot-access continues working and further
    /// snapshot-read succeeds.
    fn test_break_guest_write_on_cbw_error(&mut self) -> Result<()> {
        let log = self.do_cbw_error("break-guest-write")?;

        assert_equal!(
            log,
            "\
write failed: Input/output error
read 1048576/1048576 bytes at offset 0
1 MiB, X ops; XX:XX:XX.X (XXX YYY/sec and XXX ops/sec)
"
        );
        Ok(())
    }

    fn do_cbw_timeout(&mut self, on_cbw_error: &str) -> Result<String> {
        self.vm.cmd(
            "object-add",
            json!({
                "qom-type": "throttle-group",
                "id": "group0",
                "limits": {"bps-write": 300 * 1024}
            }),
        )?;

        self.vm.cmd(
            "blockdev-add",
            json!({
                "node-name": "cbw",
                "driver": "copy-before-write",
                "on-cbw-error": on_cbw_error,
                "cbw-timeout": 1,
                "file": {
                    "driver": imgfmt(),
                    "file": {
                        "driver": "file",
                        "filename": source_img(),
                    }
                },
                "target": {
                    "driver": "throttle",
                    "throttle-group": "group0",
                    "file": {
                        "driver": "qcow2",
                        "file": {
                            "driver": "file",
                            "filename": temp_img()
                        }
                    }
                }
            }),
        )?;

        self.vm.cmd(
            "blockdev-add",
            json!({
                "node-name": "access",
                "driver": "snapshot-access",
                "file": "cbw"
            }),
        )?;

        let result = self.vm.qmp("human-monitor-command", kwargs! { command_line: "qemu-io cbw \"write 0 512K\"" })?;
        assert_qmp(&result, "return", "")?;

        // We need second write to trigger throttling
        let result =
            self.vm.qmp("human-monitor-command", kwargs! { command_line: "qemu-io cbw \"write 512K 512K\"" })?;
        assert_qmp(&result, "return", "")?;

        let result = self.vm.qmp("human-monitor-command", kwargs! { command_line: "qemu-io access \"read 0 1M\"" })?;
        assert_qmp(&result, "return", "")?;

        self.vm.shutdown()?;
        let log = self.vm.get_log().unwrap_or_default();
        let log = PyRegex::new(r"^\[I \d+\.\d+\] OPENED\n")?.sub(log, "");
        let log = PyRegex::new(r"\[I \+\d+\.\d+\] CLOSED\n?$")?.sub(&log, "");
        let log = filters::qemu_io(&log);
        Ok(log)
    }

    fn test_timeout_break_guest(&mut self) -> Result<()> {
        let log = self.do_cbw_timeout("break-guest-write")?;
        // macOS and FreeBSD tend to represent ETIMEDOUT as
        // "Operation timed out", when Linux prefer
        // "Connection timed out"
        let log = log.replace("Operation timed out", "Connection timed out");
        assert_equal!(
            log,
            "\
wrote 524288/524288 bytes at offset 0
512 KiB, X ops; XX:XX:XX.X (XXX YYY/sec and XXX ops/sec)
write failed: Connection timed out
read 1048576/1048576 bytes at offset 0
1 MiB, X ops; XX:XX:XX.X (XXX YYY/sec and XXX ops/sec)
"
        );
        Ok(())
    }

    fn test_timeout_break_snapshot(&mut self) -> Result<()> {
        let log = self.do_cbw_timeout("break-snapshot")?;
        assert_equal!(
            log,
            "\
wrote 524288/524288 bytes at offset 0
512 KiB, X ops; XX:XX:XX.X (XXX YYY/sec and XXX ops/sec)
wrote 524288/524288 bytes at offset 524288
512 KiB, X ops; XX:XX:XX.X (XXX YYY/sec and XXX ops/sec)
read failed: Permission denied
"
        );
        Ok(())
    }
}

iotests::iotest! {
    name: "copy-before-write", groups: [auto, backup],
    supported_fmts: ["qcow2"],
    supported_protocols: ["file"],
    required_fmts: ["copy-before-write"],
    fn copy_before_write: unittest { TestCbwError }
}
