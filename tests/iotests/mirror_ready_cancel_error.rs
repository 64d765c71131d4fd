//! Upstream tests/mirror-ready-cancel-error: cancel a READY mirror job whose final flush fails (transient/persistent).

use iotests::prelude::*;

const IMAGE_SIZE: u64 = 1024 * 1024;

fn source() -> String {
    os::path::join(test_dir(), "source.img")
}

fn target() -> String {
    os::path::join(test_dir(), "target.img")
}

struct TestMirrorReadyCancelError {
    vm: Vm,
}

#[iotests::test_case]
impl TestMirrorReadyCancelError {
    fn new(t: &Case) -> Self {
        TestMirrorReadyCancelError { vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img_create(&args!["-f", imgfmt(), source(), IMAGE_SIZE.to_string()])?;
        t.qemu_img_create(&args!["-f", imgfmt(), target(), IMAGE_SIZE.to_string()])?;

        // Ensure that mirror will copy something before READY so the
        // target format layer will forward the pre-READY flush to its
        // file child
        t.qemu_io(&args!["-c", "write -P 1 0 64k", source()])?;

        self.vm = t.vm();
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(source())?;
        os::remove(target())?;
        Ok(())
    }

    fn add_blockdevs(&mut self, once: bool) -> Result<()> {
        self.vm.cmd(
            "blockdev-add",
            json!({
                "node-name": "source",
                "driver": imgfmt(),
                "file": {
                    "driver": "file",
                    "filename": source()
                }
            }),
        )?;

        // blkdebug notes:
        // Enter state 2 on the first flush, which happens before the
        // job enters the READY state.  The second flush will happen
        // when the job is about to complete, and we want that one to
        // fail.
        self.vm.cmd(
            "blockdev-add",
            json!({
                "node-name": "target",
                "driver": imgfmt(),
                "file": {
                    "driver": "blkdebug",
                    "image": {
                        "driver": "file",
                        "filename": target()
                    },
                    "set-state": [{
                        "event": "flush_to_disk",
                        "state": 1,
                        "new_state": 2
                    }],
                    "inject-error": [{
                        "event": "flush_to_disk",
                        "once": once,
                        "immediately": true,
                        "state": 2
                    }]
                }
            }),
        )?;
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
                on_target_error: "stop"
            },
        )?;
        Ok(())
    }

    fn cancel_mirror_with_error(&mut self) -> Result<()> {
        self.vm.event_wait("BLOCK_JOB_READY")?;

        // Write something so will not leave the job immediately, but
        // flush first (which will fail, thanks to blkdebug)
        let res = self
            .vm
            .qmp("human-monitor-command", kwargs! { command_line: "qemu-io mirror-top \"write -P 2 0 64k\"" })?;
        assert_qmp(&res, "return", "")?;

        // Drain status change events
        // (event_wait('JOB_STATUS_CHANGE', timeout=0.0): None when none is queued)
        while self.vm.event_poll("JOB_STATUS_CHANGE", None)?.is_some() {}

        self.vm.cmd("block-job-cancel", kwargs! { device: "mirror" })?;

        self.vm.event_wait("BLOCK_JOB_ERROR")?;
        Ok(())
    }

    fn test_transient_error(&mut self) -> Result<()> {
        self.add_blockdevs(true)?;
        self.start_mirror()?;
        self.cancel_mirror_with_error()?;

        loop {
            let e = self.vm.event_wait("JOB_STATUS_CHANGE")?;
            if e["data"]["status"] == "standby" {
                // Transient error, try again
                self.vm.qmp("block-job-resume", kwargs! { device: "mirror" })?;
            } else if e["data"]["status"] == "null" {
                break;
            }
        }
        Ok(())
    }

    fn test_persistent_error(&mut self) -> Result<()> {
        self.add_blockdevs(false)?;
        self.start_mirror()?;
        self.cancel_mirror_with_error()?;

        loop {
            let e = self.vm.event_wait("JOB_STATUS_CHANGE")?;
            if e["data"]["status"] == "standby" {
                // Persistent error, no point in continuing
                self.vm.qmp("block-job-cancel", kwargs! { device: "mirror", force: true })?;
            } else if e["data"]["status"] == "null" {
                break;
            }
        }
        Ok(())
    }
}

iotests::iotest! {
    name: "mirror-ready-cancel-error", groups: [rw, quick],
    // LUKS would require special key-secret handling in add_blockdevs()
    supported_fmts: ["generic"],
    unsupported_fmts: ["luks"],
    supported_protocols: ["file"],
    fn mirror_ready_cancel_error: unittest { TestMirrorReadyCancelError }
}
