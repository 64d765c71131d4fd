//! Upstream tests/mirror-top-perms: mirror-top keeps the source's permissions, so another VM cannot take the image.

use iotests::prelude::*;
use iotests::vm::VmError;

const IMAGE_SIZE: u64 = 1024 * 1024;

fn source() -> String {
    os::path::join(test_dir(), "source.img")
}

struct TestMirrorTopPerms {
    vm: Vm,
    vm_b: Option<Vm>,
}

#[iotests::test_case]
impl TestMirrorTopPerms {
    fn new(t: &Case) -> Self {
        TestMirrorTopPerms { vm: t.vm(), vm_b: None }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", "-f", imgfmt(), source(), IMAGE_SIZE.to_string()])?;
        self.vm = t.vm();
        self.vm.add_drive(source());
        self.vm.add_blockdev(format!("null-co,node-name=null,size={IMAGE_SIZE}"));
        self.vm.launch()?;

        // Will be created by the test function itself
        self.vm_b = None;
        Ok(())
    }

    fn tear_down(&mut self) -> Result<()> {
        match self.vm.shutdown() {
            Ok(()) | Err(Error::Vm(VmError::AbnormalShutdown { .. })) => {}
            Err(e) => return Err(e),
        }

        if let Some(vm_b) = self.vm_b.as_mut() {
            vm_b.shutdown()?;
        }

        os::remove(source())?;
        Ok(())
    }

    /// Before commit 53431b9086b28, mirror-top used to not take any
    /// permissions but WRITE and share all permissions.  Because it
    /// is inserted between the source's original parents and the
    /// source, there generally was no parent that would have taken or
    /// unshared any permissions on the source, which means that an
    /// external process could access the image unhindered by locks.
    /// (Unless there was a parent above the protocol node that would
    /// take its own locks, e.g. a format driver.)
    /// This is bad enough, but if the mirror job is then cancelled,
    /// the mirroring VM tries to take back the image, restores the
    /// original permissions taken and unshared, and assumes this must
    /// just work.  But it will not, and so the VM aborts.
    ///
    /// Commit 53431b9086b28 made mirror keep the original permissions
    /// and so no other process can "steal" the image.
    ///
    /// (Note that you cannot really do the same with the target image
    /// and then completing the job, because the mirror job always
    /// took/unshared the correct permissions on the target.  For
    /// example, it does not share READ_CONSISTENT, which makes it
    /// difficult to let some other qemu process open the image.)
    fn test_cancel(&mut self, t: &Case) -> Result<()> {
        self.vm.cmd("blockdev-mirror", kwargs! { job_id: "mirror", device: "drive0", target: "null", sync: "full" })?;

        self.vm.event_wait("BLOCK_JOB_READY")?;

        // We want this to fail because the image cannot be locked.
        // If it does not fail, continue still and see what happens.
        let vm_b = self.vm_b.insert(t.vm_with("b"));
        // Must use -blockdev -device so we can use share-rw.
        // (And we need share-rw=on because mirror-top was always
        // forced to take the WRITE permission so it can write to the
        // source image.)
        vm_b.add_blockdev(format!("file,node-name=drive0,filename={}", source()));
        vm_b.add_device("virtio-blk,drive=drive0,share-rw=on");
        // (Python silences QMP logging errors with change_log_level('qemu.qmp')
        // here: the toolkit's diagnostics never enter the test's output.)
        match vm_b.launch() {
            Ok(()) => t.print("ERROR: VM B launched successfully, this should not have happened"),
            Err(Error::Vm(VmError::LaunchFailure { output, .. })) => {
                ensure!(output.unwrap_or_default().contains("Is another process using the image"));
            }
            Err(e) => return Err(e),
        }

        self.vm.cmd("block-job-cancel", kwargs! { device: "mirror" })?;

        self.vm.event_wait("BLOCK_JOB_COMPLETED")?;
        Ok(())
    }
}

iotests::iotest! {
    name: "mirror-top-perms", groups: [rw],
    // No metadata format driver supported, because they would for
    // example always unshare the WRITE permission.  The raw driver
    // just passes through the permissions from the guest device, and
    // those are the permissions that we want to test.
    supported_fmts: ["raw"],
    supported_protocols: ["file"],
    fn mirror_top_perms: unittest { TestMirrorTopPerms }
}
