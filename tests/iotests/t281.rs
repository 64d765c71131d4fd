//! Upstream 281: regressions with nodes in iothreads (bitmaps, NBD mirror, aborted transactions, NBD timers).

use iotests::prelude::*;

const IMAGE_LEN: u64 = 64 * 1024 * 1024;

fn create_images(t: &Case, images: &[(&str, String)]) -> Result<()> {
    for (_, path) in images {
        t.qemu_img(&args!["create", "-f", imgfmt(), path, IMAGE_LEN])?;
    }
    Ok(())
}

fn remove_images(images: &[(&str, String)]) -> Result<()> {
    for (_, path) in images {
        os::remove(path)?;
    }
    Ok(())
}

/// Test for RHBZ#1782175
struct TestDirtyBitmapIOThread {
    images: Vec<(&'static str, String)>,
    vm: Vm,
}

#[iotests::test_case]
impl TestDirtyBitmapIOThread {
    fn new(t: &Case) -> Self {
        let drive0_img = os::path::join(test_dir(), "drive0.img");
        let images = vec![("drive0", drive0_img)];
        TestDirtyBitmapIOThread { images, vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        create_images(t, &self.images)?;

        self.vm = t.vm();
        self.vm.add_object("iothread,id=iothread0");

        for (name, path) in &self.images {
            self.vm.add_blockdev(format!("driver=file,filename={path},node-name=file_{name}"));
            self.vm.add_blockdev(format!("driver=qcow2,file=file_{name},node-name={name}"));
        }

        self.vm.launch()?;
        self.vm.qmp("x-blockdev-set-iothread", kwargs! { node_name: "drive0", iothread: "iothread0", force: true })?;
        Ok(())
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        remove_images(&self.images)
    }

    fn test_add_dirty_bitmap(&mut self) -> Result<()> {
        self.vm.cmd("block-dirty-bitmap-add", kwargs! { node: "drive0", name: "bitmap1", persistent: true })?;
        Ok(())
    }
}

/// Test for RHBZ#1746217 & RHBZ#1773517
struct TestNBDMirrorIOThread {
    nbd_sock: String,
    drive0_img: String,
    mirror_img: String,
    images: Vec<(&'static str, String)>,
    vm_src: Vm,
    vm_tgt: Vm,
}

#[iotests::test_case]
impl TestNBDMirrorIOThread {
    fn new(t: &Case) -> Self {
        let nbd_sock = os::path::join(sock_dir(), "nbd.sock");
        let drive0_img = os::path::join(test_dir(), "drive0.img");
        let mirror_img = os::path::join(test_dir(), "mirror.img");
        let images = vec![("drive0", drive0_img.clone()), ("mirror", mirror_img.clone())];
        TestNBDMirrorIOThread { nbd_sock, drive0_img, mirror_img, images, vm_src: t.vm(), vm_tgt: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        create_images(t, &self.images)?;

        self.vm_src = t.vm_with("src");
        self.vm_src.add_object("iothread,id=iothread0");
        self.vm_src.add_blockdev(format!("driver=file,filename={},node-name=file0", self.drive0_img));
        self.vm_src.add_blockdev("driver=qcow2,file=file0,node-name=drive0");
        self.vm_src.launch()?;
        self.vm_src
            .qmp("x-blockdev-set-iothread", kwargs! { node_name: "drive0", iothread: "iothread0", force: true })?;

        self.vm_tgt = t.vm_with("tgt");
        self.vm_tgt.add_object("iothread,id=iothread0");
        self.vm_tgt.add_blockdev(format!("driver=file,filename={},node-name=file0", self.mirror_img));
        self.vm_tgt.add_blockdev("driver=qcow2,file=file0,node-name=drive0");
        self.vm_tgt.launch()?;
        self.vm_tgt
            .qmp("x-blockdev-set-iothread", kwargs! { node_name: "drive0", iothread: "iothread0", force: true })?;
        Ok(())
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm_src.shutdown()?;
        self.vm_tgt.shutdown()?;
        remove_images(&self.images)
    }

    fn test_nbd_mirror(&mut self) -> Result<()> {
        self.vm_tgt.cmd(
            "nbd-server-start",
            kwargs! {
                addr: {
                    "type": "unix",
                    "data": { "path": self.nbd_sock }
                }
            },
        )?;

        self.vm_tgt.cmd("nbd-server-add", kwargs! { device: "drive0", writable: true })?;

        self.vm_src.cmd(
            "drive-mirror",
            kwargs! {
                device: "drive0",
                target: format!("nbd+unix:///drive0?socket={}", self.nbd_sock),
                sync: "full",
                mode: "existing",
                speed: 64 * 1024 * 1024,
                job_id: "j1"
            },
        )?;

        self.vm_src.event_wait("BLOCK_JOB_READY")?;
        Ok(())
    }
}

/// Test for RHBZ#1779036
struct TestExternalSnapshotAbort {
    drive0_img: String,
    snapshot_img: String,
    images: Vec<(&'static str, String)>,
    vm: Vm,
}

#[iotests::test_case]
impl TestExternalSnapshotAbort {
    fn new(t: &Case) -> Self {
        let drive0_img = os::path::join(test_dir(), "drive0.img");
        let snapshot_img = os::path::join(test_dir(), "snapshot.img");
        let images = vec![("drive0", drive0_img.clone()), ("snapshot", snapshot_img.clone())];
        TestExternalSnapshotAbort { drive0_img, snapshot_img, images, vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        create_images(t, &self.images)?;

        self.vm = t.vm();
        self.vm.add_object("iothread,id=iothread0");
        self.vm.add_blockdev(format!("driver=file,filename={},node-name=file0", self.drive0_img));
        self.vm.add_blockdev("driver=qcow2,file=file0,node-name=drive0");
        self.vm.launch()?;
        self.vm.qmp("x-blockdev-set-iothread", kwargs! { node_name: "drive0", iothread: "iothread0", force: true })?;
        Ok(())
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        remove_images(&self.images)
    }

    fn test_external_snapshot_abort(&mut self) -> Result<()> {
        // Use a two actions transaction with a bogus values on the second
        // one to trigger an abort of the transaction.
        let result = self.vm.qmp(
            "transaction",
            kwargs! { actions: [
                {
                    "type": "blockdev-snapshot-sync",
                    "data": { "node-name": "drive0",
                              "snapshot-file": self.snapshot_img,
                              "snapshot-node-name": "snap1",
                              "mode": "absolute-paths",
                              "format": "qcow2" }
                },
                {
                    "type": "blockdev-snapshot-sync",
                    "data": { "node-name": "drive0",
                              "snapshot-file": "/fakesnapshot",
                              "snapshot-node-name": "snap2",
                              "mode": "absolute-paths",
                              "format": "qcow2" }
                },
            ] },
        )?;

        // Crashes on failure, we expect this error.
        assert_qmp(&result, "error/class", "GenericError")
    }
}

/// Test for RHBZ#1782111
struct TestBlockdevBackupAbort {
    images: Vec<(&'static str, String)>,
    vm: Vm,
}

#[iotests::test_case]
impl TestBlockdevBackupAbort {
    fn new(t: &Case) -> Self {
        let drive0_img = os::path::join(test_dir(), "drive0.img");
        let drive1_img = os::path::join(test_dir(), "drive1.img");
        let snap0_img = os::path::join(test_dir(), "snap0.img");
        let snap1_img = os::path::join(test_dir(), "snap1.img");
        let images = vec![("drive0", drive0_img), ("drive1", drive1_img), ("snap0", snap0_img), ("snap1", snap1_img)];
        TestBlockdevBackupAbort { images, vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        create_images(t, &self.images)?;

        self.vm = t.vm();
        self.vm.add_object("iothread,id=iothread0");
        self.vm.add_device("virtio-scsi,iothread=iothread0");

        for (name, path) in &self.images {
            self.vm.add_blockdev(format!("driver=file,filename={path},node-name=file_{name}"));
            self.vm.add_blockdev(format!("driver=qcow2,file=file_{name},node-name={name}"));
        }

        self.vm.add_device("scsi-hd,drive=drive0");
        self.vm.add_device("scsi-hd,drive=drive1");
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        remove_images(&self.images)
    }

    fn test_blockdev_backup_abort(&mut self) -> Result<()> {
        // Use a two actions transaction with a bogus values on the second
        // one to trigger an abort of the transaction.
        let result = self.vm.qmp(
            "transaction",
            kwargs! { actions: [
                {
                    "type": "blockdev-backup",
                    "data": { "device": "drive0",
                              "target": "snap0",
                              "sync": "full",
                              "job-id": "j1" }
                },
                {
                    "type": "blockdev-backup",
                    "data": { "device": "drive1",
                              "target": "snap1",
                              "sync": "full" }
                },
            ] },
        )?;

        // Hangs on failure, we expect this error.
        assert_qmp(&result, "error/class", "GenericError")
    }
}

/// Test for RHBZ#2033626
struct TestYieldingAndTimers {
    sock: String,
    qsd: Option<QemuStorageDaemon>,
    vm: Vm,
}

#[iotests::test_case]
impl TestYieldingAndTimers {
    fn new(t: &Case) -> Self {
        TestYieldingAndTimers { sock: os::path::join(sock_dir(), "nbd.sock"), qsd: None, vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        self.create_nbd_export(t)?;

        // Simple VM with an NBD block device connected to the NBD export
        // provided by the QSD, and an (initially unused) iothread
        self.vm = t.vm();
        self.vm.add_object("iothread,id=iothr");
        self.vm.add_blockdev(format!(
            "nbd,node-name=nbd,server.type=unix,server.path={},export=exp,reconnect-delay=1,open-timeout=1",
            self.sock
        ));

        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.stop_nbd_export()?;
        self.vm.shutdown()
    }

    fn test_timers_with_blockdev_del(&mut self, t: &Case) -> Result<()> {
        // The NBD BDS will have had an active open timer, because setUp() gave
        // a positive value for @open-timeout.  It should be gone once the BDS
        // has been opened.
        // (But there used to be a bug where it remained active, which will
        // become important below.)

        // Stop and restart the NBD server, and do some I/O on the client to
        // trigger a reconnect and start the reconnect delay timer
        self.stop_nbd_export()?;
        self.create_nbd_export(t)?;

        let result = self.vm.qmp("human-monitor-command", kwargs! { command_line: "qemu-io nbd \"write 0 512\"" })?;
        assert_qmp(&result, "return", "")?;

        // Reconnect is done, so the reconnect delay timer should be gone.
        // (This is similar to how the open timer should be gone after open,
        // and similarly there used to be a bug where it was not gone.)

        // Delete the BDS to see whether both timers are gone.  If they are not,
        // they will remain active, fire later, and then access freed data.
        // (Or, with "block/nbd: Assert there are no timers when closed"
        // applied, the assertions added in that patch will fail.)
        self.vm.cmd("blockdev-del", kwargs! { node_name: "nbd" })?;

        // Give the timers some time to fire (both have a timeout of 1 s).
        // (Sleeping in an iotest may ring some alarm bells, but note that if
        // the timing is off here, the test will just always pass.  If we kill
        // the VM too early, then we just kill the timers before they can fire,
        // thus not see the error, and so the test will pass.)
        sleep(2.0);
        Ok(())
    }

    fn test_yield_in_iothread(&mut self) -> Result<()> {
        // Move the NBD node to the I/O thread; the NBD block driver should
        // attach the connection's QIOChannel to that thread's AioContext, too
        self.vm.cmd("x-blockdev-set-iothread", kwargs! { node_name: "nbd", iothread: "iothr" })?;

        // Do some I/O that will be throttled by the QSD, so that the network
        // connection hopefully will yield here.  When it is resumed, it must
        // then be resumed in the I/O thread's AioContext.
        let result = self.vm.qmp("human-monitor-command", kwargs! { command_line: "qemu-io nbd \"read 0 128K\"" })?;
        assert_qmp(&result, "return", "")
    }

    fn create_nbd_export(&mut self, t: &Case) -> Result<()> {
        ensure!(self.qsd.is_none());

        // Export a throttled null-co BDS: Reads are throttled (max 64 kB/s),
        // writes are not.
        self.qsd = Some(t.qemu_storage_daemon(&args![
            "--object",
            "throttle-group,id=thrgr,x-bps-read=65536,x-bps-read-max=65536",
            "--blockdev",
            "null-co,node-name=null,read-zeroes=true",
            "--blockdev",
            "throttle,node-name=thr,file=null,throttle-group=thrgr",
            "--nbd-server",
            format!("addr.type=unix,addr.path={}", self.sock),
            "--export",
            "nbd,id=exp,node-name=thr,name=exp,writable=true"
        ])?);
        Ok(())
    }

    fn stop_nbd_export(&mut self) -> Result<()> {
        // self.qsd.stop() on None is an AttributeError in Python
        let mut qsd = self
            .qsd
            .take()
            .ok_or_else(|| Error::python("AttributeError", "'NoneType' object has no attribute 'stop'"))?;
        qsd.stop()?;
        Ok(())
    }
}

iotests::iotest! {
    name: "281", groups: [rw],
    supported_fmts: ["qcow2"],
    supported_protocols: ["file"],
    unsupported_imgopts: ["compat"],
    fn t281: unittest {
        TestDirtyBitmapIOThread,
        TestNBDMirrorIOThread,
        TestExternalSnapshotAbort,
        TestBlockdevBackupAbort,
        TestYieldingAndTimers,
    }
}
