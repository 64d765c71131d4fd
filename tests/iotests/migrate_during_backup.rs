//! Upstream tests/migrate-during-backup: migration fails cleanly while a paused backup job runs.

use iotests::prelude::*;

fn disk_a() -> String {
    os::path::join(test_dir(), "disk_a")
}

fn disk_b() -> String {
    os::path::join(test_dir(), "disk_b")
}

const SIZE: &str = "1M";

fn mig_file() -> String {
    os::path::join(test_dir(), "mig_file")
}

fn mig_cmd() -> String {
    format!("exec: cat > {}", mig_file())
}

struct TestMigrateDuringBackup {
    vm: Vm,
}

#[iotests::test_case]
impl TestMigrateDuringBackup {
    fn new(t: &Case) -> Self {
        TestMigrateDuringBackup { vm: t.vm() }
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(disk_a())?;
        os::remove(disk_b())?;
        os::remove(mig_file())
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img_create(&args!["-f", imgfmt(), disk_a(), SIZE])?;
        t.qemu_img_create(&args!["-f", imgfmt(), disk_b(), SIZE])?;
        t.qemu_io(&args!["-c", format!("write 0 {SIZE}"), disk_a()])?;

        self.vm = t.vm();
        self.vm.add_drive(disk_a());
        self.vm.launch()?;
        self.vm.cmd(
            "blockdev-add",
            json!({
                "node-name": "target",
                "driver": imgfmt(),
                "file": {
                    "driver": "file",
                    "filename": disk_b()
                }
            }),
        )?;
        Ok(())
    }

    fn test_migrate(&mut self) -> Result<()> {
        self.vm.cmd(
            "blockdev-backup",
            kwargs! {
                device: "drive0",
                target: "target",
                sync: "full",
                speed: 1,
                x_perf: {
                    "max-workers": 1,
                    "max-chunk": 64 * 1024
                }
            },
        )?;

        self.vm.cmd("job-pause", kwargs! { id: "drive0" })?;

        self.vm.cmd("migrate-set-capabilities", kwargs! { capabilities: [{"capability": "events", "state": true}] })?;
        self.vm.cmd("migrate", kwargs! { uri: mig_cmd() })?;

        let completed = json!({"data": {"status": "completed"}});
        let failed = json!({"data": {"status": "failed"}});
        let e = self.vm.events_wait(&[("MIGRATION", Some(&completed)), ("MIGRATION", Some(&failed))])?;

        // Don't assert that e is 'failed' now: this way we'll miss
        // possible crash when backup continues :)

        self.vm.cmd("block-job-set-speed", kwargs! { device: "drive0", speed: 0 })?;
        self.vm.cmd("job-resume", kwargs! { id: "drive0" })?;

        // For future: if something changes so that both migration
        // and backup pass, let's not miss that moment, as it may
        // be a bug as well as improvement.
        assert_qmp(&e, "data/status", "failed")
    }
}

iotests::iotest! {
    name: "migrate-during-backup", groups: [migration],
    supported_fmts: ["qcow2"],
    supported_protocols: ["file"],
    fn migrate_during_backup: unittest { TestMigrateDuringBackup }
}
