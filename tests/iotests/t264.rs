//! Upstream 264: backup and mirror to an NBD target survive the server going away (reconnect-delay), and cancel quickly.

use std::time::Instant;

use iotests::globals::{current, file_path};
use iotests::prelude::*;
use iotests::pyfmt::value::py_truthy;

fn disk_a() -> String {
    file_path("disk_a")
}

fn disk_b() -> String {
    file_path("disk_b")
}

fn nbd_sock() -> String {
    current().sock_path("nbd-sock")
}

#[allow(dead_code)] // upstream defines it and does not use it either
fn nbd_uri() -> String {
    format!("nbd+unix:///?socket={}", nbd_sock())
}

const WAIT_LIMIT: f64 = 3.0;
const WAIT_STEP: f64 = 0.2;

struct TestNbdReconnect {
    vm: Vm,
}

#[iotests::test_case]
impl TestNbdReconnect {
    fn new(t: &Case) -> Self {
        TestNbdReconnect { vm: t.vm() }
    }

    fn init_vm(&mut self, t: &Case, disk_size: u64) -> Result<()> {
        t.qemu_img_create(&args!["-f", imgfmt(), disk_a(), disk_size.to_string()])?;
        t.qemu_img_create(&args!["-f", imgfmt(), disk_b(), disk_size.to_string()])?;
        self.vm = t.vm();
        self.vm.add_drive(disk_a());
        self.vm.launch()?;
        self.vm.hmp_qemu_io("drive0", &format!("write 0 {disk_size}"))?;
        Ok(())
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(disk_a())?;
        os::remove(disk_b())?;
        Ok(())
    }

    /// Stat job with nbd target and kill the server
    fn start_job(&mut self, t: &Case, job: &str) -> Result<()> {
        ensure!(["blockdev-backup", "blockdev-mirror"].contains(&job));
        {
            let _nbd = t.qemu_nbd_popen(&args!["-k", nbd_sock(), "-f", imgfmt(), disk_b()])?;
            self.vm.cmd(
                "blockdev-add",
                json!({"node-name": "backup0",
                       "driver": "raw",
                       "file": {"driver": "nbd",
                                "server": {"type": "unix",
                                           "path": nbd_sock()},
                                "reconnect-delay": 10}}),
            )?;
            self.vm.cmd(job, kwargs! { device: "drive0", sync: "full", target: "backup0", speed: 1024 * 1024 })?;

            // Wait for some progress
            let mut t = 0.0;
            let mut jobs = Value::Null;
            while t < WAIT_LIMIT {
                jobs = self.vm.qmp("query-block-jobs", ())?["return"].clone();
                if py_truthy(&jobs) && jobs[0]["offset"].as_u64().unwrap_or(0) > 0 {
                    break;
                }
                sleep(WAIT_STEP);
                t += WAIT_STEP;
            }

            // jobs and jobs[0]['offset'] > 0
            let started = if py_truthy(&jobs) { json!(jobs[0]["offset"].as_u64().unwrap_or(0) > 0) } else { jobs };
            assert_true!(started); // job started
        }

        let jobs = self.vm.qmp("query-block-jobs", ())?["return"].clone();
        // Check that job is still in progress
        assert_true!(jobs);
        assert_true!(jobs[0]["offset"].as_u64() < jobs[0]["len"].as_u64());

        self.vm.cmd("block-job-set-speed", kwargs! { device: "drive0", speed: 0 })?;

        // Emulate server down time for 1 second
        sleep(1.0);
        Ok(())
    }

    fn test_backup(&mut self, t: &Case) -> Result<()> {
        let size = 5 * 1024 * 1024;
        self.init_vm(t, size)?;
        self.start_job(t, "blockdev-backup")?;

        let _nbd = t.qemu_nbd_popen(&args!["-k", nbd_sock(), "-f", imgfmt(), disk_b()])?;
        let e = self.vm.event_wait("BLOCK_JOB_COMPLETED")?;
        assert_equal!(e["data"]["offset"], size);
        self.vm.cmd("blockdev-del", kwargs! { node_name: "backup0" })?;
        Ok(())
    }

    fn cancel_job(&mut self) -> Result<()> {
        self.vm.cmd("block-job-cancel", kwargs! { device: "drive0", force: true })?;

        let start_t = Instant::now();
        self.vm.event_wait("BLOCK_JOB_CANCELLED")?;
        let delta_t = start_t.elapsed().as_secs_f64();
        assert_true!(delta_t < 5.0);
        Ok(())
    }

    fn test_mirror_cancel(&mut self, t: &Case) -> Result<()> {
        // Mirror speed limit doesn't work well enough, it seems that mirror
        // will run many parallel requests anyway. MAX_IN_FLIGHT is 16 and
        // MAX_IO_BYTES is 1M in mirror.c, so let's use 20M disk.
        self.init_vm(t, 20 * 1024 * 1024)?;
        self.start_job(t, "blockdev-mirror")?;
        self.cancel_job()
    }

    fn test_backup_cancel(&mut self, t: &Case) -> Result<()> {
        self.init_vm(t, 5 * 1024 * 1024)?;
        self.start_job(t, "blockdev-backup")?;
        self.cancel_job()
    }
}

iotests::iotest! {
    name: "264", groups: [rw],
    supported_fmts: ["qcow2"],
    fn t264: unittest { TestNbdReconnect }
}
