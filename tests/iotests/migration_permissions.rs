//! Upstream tests/migration-permissions: the WRITE permission of a virtio-blk device stays unshared across migration.

use iotests::prelude::*;

fn test_img() -> String {
    os::path::join(test_dir(), "test.img")
}

fn mig_sock() -> String {
    os::path::join(sock_dir(), "mig.sock")
}

struct TestMigrationPermissions {
    vm_s: Vm,
    vm_d: Vm,
}

#[iotests::test_case]
impl TestMigrationPermissions {
    fn new(t: &Case) -> Self {
        TestMigrationPermissions { vm_s: t.vm(), vm_d: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img_create(&args!["-f", imgfmt(), test_img(), "1M"])?;

        // Set up two VMs (source and destination) accessing the same raw
        // image file with a virtio-blk device; prepare the destination for
        // migration with .add_incoming() and enable migration events
        let mut vms = Vec::new();
        for i in 0..2 {
            let mut vm = t.vm_with(&format!("{i}"));
            vm.add_blockdev(format!("file,node-name=prot,filename={}", test_img()));
            vm.add_blockdev(format!("{},node-name=fmt,file=prot", imgfmt()));
            vm.add_device("virtio-blk,drive=fmt");

            if i == 1 {
                vm.add_incoming(format!("unix:{}", mig_sock()));
            }

            vm.launch()?;

            vm.cmd("migrate-set-capabilities", kwargs! { capabilities: [{"capability": "events", "state": true}] })?;
            vms.push(vm);
        }

        self.vm_d = vms.remove(1);
        self.vm_s = vms.remove(0);
        Ok(())
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm_s.shutdown()?;
        self.vm_d.shutdown()?;
        // try: os.remove(mig_sock) except FileNotFoundError: pass
        match os::remove(mig_sock()) {
            Err(e) if !e.is_instance("FileNotFoundError") => return Err(e),
            _ => {}
        }
        os::remove(test_img())
    }

    // Migrate an image in use by a virtio-blk device to another VM and
    // verify that the WRITE permission is unshared both before and after
    // migration
    fn test_post_migration_permissions(&mut self, t: &Case) -> Result<()> {
        // Try to access the image R/W, which should fail because virtio-blk
        // has not been configured with share-rw=on
        let emsg = "ERROR (pre-migration): qemu-io should not be able to access this image, but it reported no error";
        let ctx =
            assert_raises!(t.qemu_io(&args!["-f", imgfmt(), "-c", "quit", test_img()]), "CalledProcessError", emsg);
        if !matches!(&ctx, Error::ToolFailed { output, .. } if output.contains("Is another process using the image")) {
            return Err(ctx);
        }

        // Now migrate the VM
        self.vm_s.qmp("migrate", kwargs! { uri: format!("unix:{}", mig_sock()) })?;
        ensure!(self.vm_s.wait_migration(None)?);
        ensure!(self.vm_d.wait_migration(None)?);

        // Try the same qemu-io access again, verifying that the WRITE
        // permission remains unshared
        let emsg = "ERROR (post-migration): qemu-io should not be able to access this image, but it reported no error";
        let ctx =
            assert_raises!(t.qemu_io(&args!["-f", imgfmt(), "-c", "quit", test_img()]), "CalledProcessError", emsg);
        if !matches!(&ctx, Error::ToolFailed { output, .. } if output.contains("Is another process using the image")) {
            return Err(ctx);
        }
        Ok(())
    }
}

iotests::iotest! {
    name: "migration-permissions", groups: [migration],
    // Only works with raw images because we are testing the
    // BlockBackend permissions; image format drivers may additionally
    // unshare permissions and thus tamper with the result
    supported_fmts: ["raw"],
    supported_protocols: ["file"],
    fn migration_permissions: unittest { TestMigrationPermissions }
}
