//! Upstream tests/mirror-change-copy-mode: switch a mirror job from background to write-blocking while it runs.

use iotests::json::Subscript;
use iotests::prelude::*;
use iotests::pyfmt::value::py_truthy;

const IOPS_TARGET: u64 = 8;
const IOPS_SOURCE: u64 = IOPS_TARGET * 2;
const IMAGE_SIZE: u64 = 1024 * 1024;

fn source_img() -> String {
    os::path::join(test_dir(), format!("source.{}", imgfmt()))
}

fn target_img() -> String {
    os::path::join(test_dir(), format!("target.{}", imgfmt()))
}

fn nbd_sock() -> String {
    os::path::join(sock_dir(), "nbd.sock")
}

struct TestMirrorChangeCopyMode {
    vm: Vm,
    qsd: Option<QemuStorageDaemon>,
}

#[iotests::test_case]
impl TestMirrorChangeCopyMode {
    fn new(t: &Case) -> Self {
        TestMirrorChangeCopyMode { vm: t.vm(), qsd: None }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", "-f", imgfmt(), source_img(), IMAGE_SIZE.to_string()])?;
        t.qemu_img(&args!["create", "-f", imgfmt(), target_img(), IMAGE_SIZE.to_string()])?;

        let qsd = self.qsd.insert(t.qemu_storage_daemon_with(
            &["--nbd-server", &format!("addr.type=unix,addr.path={}", nbd_sock())],
            QsdOptions { qmp: true, ..Default::default() },
        )?);

        qsd.cmd(
            "object-add",
            json!({
                "qom-type": "throttle-group",
                "id": "thrgr-target",
                "limits": {
                    "iops-write": IOPS_TARGET,
                    "iops-write-max": IOPS_TARGET
                }
            }),
        )?;

        qsd.cmd(
            "blockdev-add",
            json!({
                "node-name": "target",
                "driver": "throttle",
                "throttle-group": "thrgr-target",
                "file": {
                    "driver": imgfmt(),
                    "file": {
                        "driver": "file",
                        "filename": target_img()
                    }
                }
            }),
        )?;

        qsd.cmd(
            "block-export-add",
            json!({
                "id": "exp0",
                "type": "nbd",
                "node-name": "target",
                "writable": true
            }),
        )?;

        self.vm = t.vm();
        self.vm.add_args([
            "-drive".to_string(),
            format!(
                "file={},if=none,format={},iops_wr={IOPS_SOURCE},iops_wr_max={IOPS_SOURCE},id=source",
                source_img(),
                imgfmt()
            ),
        ]);
        self.vm.launch()?;

        self.vm.cmd(
            "blockdev-add",
            json!({
                "node-name": "target",
                "driver": "nbd",
                "export": "target",
                "server": {
                    "type": "unix",
                    "path": nbd_sock()
                }
            }),
        )?;
        Ok(())
    }

    fn tear_down(&mut self, t: &Case) -> Result<()> {
        self.vm.shutdown()?;
        if let Some(qsd) = self.qsd.as_mut() {
            qsd.stop()?;
        }
        self.check_qemu_io_errors()?;
        self.check_images_identical(t)?;
        os::remove(source_img())?;
        os::remove(target_img())?;
        Ok(())
    }

    // Once the VM is shut down we can parse the log and see if qemu-io ran
    // without errors.
    fn check_qemu_io_errors(&mut self) -> Result<()> {
        assert_false!(self.vm.is_running());
        let log = self.vm.get_log().unwrap_or_default();
        for line in log.split('\n') {
            ensure!(!line.starts_with("Pattern verification failed"));
        }
        Ok(())
    }

    fn check_images_identical(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["compare", "-f", imgfmt(), source_img(), target_img()])?;
        Ok(())
    }

    fn start_mirror(&mut self) -> Result<()> {
        self.vm.cmd(
            "blockdev-mirror",
            kwargs! {
                job_id: "mirror",
                device: "source",
                target: "target",
                filter_node_name: "mirror-top",
                sync: "full",
                copy_mode: "background"
            },
        )?;
        Ok(())
    }

    fn test_background_to_active(&mut self) -> Result<()> {
        self.vm.hmp_qemu_io("source", &format!("write 0 {IMAGE_SIZE}"))?;
        self.vm.hmp_qemu_io("target", &format!("write 0 {IMAGE_SIZE}"))?;

        self.start_mirror()?;

        let result = self.vm.cmd("query-block-jobs", ())?;
        ensure!(!py_truthy(result.at(0)?.at("actively-synced")?));

        self.vm.event_wait("BLOCK_JOB_READY")?;

        let result = self.vm.cmd("query-block-jobs", ())?;
        ensure!(!py_truthy(result.at(0)?.at("actively-synced")?));

        // Start some background requests.
        let reqs = 4 * IOPS_SOURCE;
        let req_size = IMAGE_SIZE / reqs;
        for i in 0..reqs {
            let req = format!("aio_write -P 7 {} {req_size}", req_size * i);
            self.vm.hmp_qemu_io("source", &req)?;
        }

        // Wait for the first few requests.
        sleep(1.0);
        self.vm.qtest(&format!("clock_step {}", 1000 * 1000 * 1000))?;

        let result = self.vm.cmd("query-block-jobs", ())?;
        // There should've been new requests.
        ensure!(result.at(0)?.at("len")?.as_u64() > Some(IMAGE_SIZE));
        // To verify later that not all requests were completed at this point.
        let len_before_change = result.at(0)?.at("len")?.as_u64();

        // Change the copy mode while requests are happening.
        self.vm.cmd("block-job-change", kwargs! { id: "mirror", type: "mirror", copy_mode: "write-blocking" })?;

        // Wait until image is actively synced.
        loop {
            sleep(0.1);
            self.vm.qtest(&format!("clock_step {}", 100 * 1000 * 1000))?;
            let result = self.vm.cmd("query-block-jobs", ())?;
            if py_truthy(result.at(0)?.at("actively-synced")?) {
                break;
            }
        }

        // Because of throttling, not all requests should have been completed
        // above.
        let result = self.vm.cmd("query-block-jobs", ())?;
        ensure!(result.at(0)?.at("len")?.as_u64() > len_before_change);

        // Issue enough requests for a few seconds only touching the first half
        // of the image.
        let reqs = 4 * IOPS_TARGET;
        let req_size = IMAGE_SIZE / 2 / reqs;
        for i in 0..reqs {
            let req = format!("aio_write -P 19 {} {req_size}", req_size * i);
            self.vm.hmp_qemu_io("source", &req)?;
        }

        // Now issue a synchronous write in the second half of the image and
        // immediately verify that it was written to the target too. This would
        // fail without switching the copy mode. Note that this only produces a
        // log line and the actual checking happens during tearDown().
        let req_args = format!("-P 37 {} {req_size}", 3 * (IMAGE_SIZE / 4));
        self.vm.hmp_qemu_io("source", &format!("write {req_args}"))?;
        self.vm.hmp_qemu_io("target", &format!("read {req_args}"))?;

        self.vm.cmd("block-job-cancel", kwargs! { device: "mirror" })?;
        while self.vm.cmd("query-block-jobs", ())?.as_array().map_or(0, Vec::len) > 0 {
            sleep(0.1);
        }
        Ok(())
    }
}

iotests::iotest! {
    name: "mirror-change-copy-mode", groups: [rw],
    supported_fmts: ["qcow2", "raw"],
    supported_protocols: ["file"],
    fn mirror_change_copy_mode: unittest { TestMirrorChangeCopyMode }
}
