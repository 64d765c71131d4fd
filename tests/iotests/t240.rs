//! Upstream 240: SCSI disks on virtio-scsi with iothreads: unplug/replug, one node on two disks and two
//! iothreads, and a node that is also an NBD export.

use iotests::prelude::*;

fn nbd_sock(t: &Case) -> String {
    t.file_path_in(&sock_dir(), "nbd.sock")
}

struct TestCase {
    test_driver: &'static str,
    vm: Vm,
}

#[iotests::test_case]
impl TestCase {
    fn new(t: &Case) -> Self {
        TestCase { test_driver: "null-co", vm: t.vm() }
    }

    fn required_drivers(&self) -> Vec<&'static str> {
        vec![self.test_driver]
    }

    #[skip_if_unsupported(self.required_drivers())]
    fn set_up(&mut self, t: &Case) -> Result<()> {
        self.vm = t.vm();
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()
    }

    fn test1(&mut self, t: &Case) -> Result<()> {
        t.log("==Unplug a SCSI disk and then plug it again==");
        self.vm.qmp_log("blockdev-add", kwargs! { driver: "null-co", read_zeroes: true, node_name: "hd0" })?;
        self.vm.qmp_log("object-add", kwargs! { qom_type: "iothread", id: "iothread0" })?;
        self.vm.qmp_log_with(
            "device_add",
            kwargs! { id: "scsi0", driver: "virtio-scsi", iothread: "iothread0" },
            &[Filter::QmpVirtioScsi],
        )?;
        self.vm.qmp_log("device_add", kwargs! { id: "scsi-hd0", driver: "scsi-hd", drive: "hd0" })?;
        self.vm.qmp_log("device_del", kwargs! { id: "scsi-hd0" })?;
        self.vm.event_wait("DEVICE_DELETED")?;
        self.vm.qmp_log("device_add", kwargs! { id: "scsi-hd0", driver: "scsi-hd", drive: "hd0" })?;
        self.vm.qmp_log("device_del", kwargs! { id: "scsi-hd0" })?;
        self.vm.event_wait("DEVICE_DELETED")?;
        self.vm.qmp_log("blockdev-del", kwargs! { node_name: "hd0" })?;
        Ok(())
    }

    fn test2(&mut self, t: &Case) -> Result<()> {
        t.log("==Attach two SCSI disks using the same block device and the same iothread==");
        self.vm.qmp_log(
            "blockdev-add",
            kwargs! { driver: "null-co", read_zeroes: true, node_name: "hd0", read_only: true },
        )?;
        self.vm.qmp_log("object-add", kwargs! { qom_type: "iothread", id: "iothread0" })?;
        self.vm.qmp_log_with(
            "device_add",
            kwargs! { id: "scsi0", driver: "virtio-scsi", iothread: "iothread0" },
            &[Filter::QmpVirtioScsi],
        )?;

        self.vm.qmp_log("device_add", kwargs! { id: "scsi-hd0", driver: "scsi-hd", drive: "hd0" })?;
        self.vm.qmp_log("device_add", kwargs! { id: "scsi-hd1", driver: "scsi-hd", drive: "hd0" })?;
        self.vm.qmp_log("device_del", kwargs! { id: "scsi-hd0" })?;
        self.vm.event_wait("DEVICE_DELETED")?;
        self.vm.qmp_log("device_del", kwargs! { id: "scsi-hd1" })?;
        self.vm.event_wait("DEVICE_DELETED")?;
        self.vm.qmp_log("blockdev-del", kwargs! { node_name: "hd0" })?;
        Ok(())
    }

    fn test3(&mut self, t: &Case) -> Result<()> {
        t.log("==Attach two SCSI disks using the same block device but different iothreads==");

        self.vm.qmp_log(
            "blockdev-add",
            kwargs! { driver: "null-co", read_zeroes: true, node_name: "hd0", read_only: true },
        )?;

        self.vm.qmp_log("object-add", kwargs! { qom_type: "iothread", id: "iothread0" })?;
        self.vm.qmp_log("object-add", kwargs! { qom_type: "iothread", id: "iothread1" })?;

        self.vm.qmp_log_with(
            "device_add",
            kwargs! { id: "scsi0", driver: "virtio-scsi", iothread: "iothread0" },
            &[Filter::QmpVirtioScsi],
        )?;
        self.vm.qmp_log_with(
            "device_add",
            kwargs! { id: "scsi1", driver: "virtio-scsi", iothread: "iothread1" },
            &[Filter::QmpVirtioScsi],
        )?;

        self.vm.qmp_log("device_add", kwargs! { id: "scsi-hd0", driver: "scsi-hd", drive: "hd0", bus: "scsi0.0" })?;
        self.vm.qmp_log("device_add", kwargs! { id: "scsi-hd1", driver: "scsi-hd", drive: "hd0", bus: "scsi1.0" })?;

        self.vm.qmp_log("device_del", kwargs! { id: "scsi-hd0" })?;
        self.vm.event_wait("DEVICE_DELETED")?;
        self.vm.qmp_log("device_add", kwargs! { id: "scsi-hd1", driver: "scsi-hd", drive: "hd0", bus: "scsi1.0" })?;

        self.vm.qmp_log("device_del", kwargs! { id: "scsi-hd1" })?;
        self.vm.event_wait("DEVICE_DELETED")?;
        self.vm.qmp_log("blockdev-del", kwargs! { node_name: "hd0" })?;
        Ok(())
    }

    fn test4(&mut self, t: &Case) -> Result<()> {
        t.log("==Attach a SCSI disks using the same block device as a NBD server==");

        self.vm.qmp_log(
            "blockdev-add",
            kwargs! { driver: "null-co", read_zeroes: true, node_name: "hd0", read_only: true },
        )?;

        self.vm.qmp_log_with(
            "nbd-server-start",
            kwargs! { addr: {"type": "unix", "data": {"path": nbd_sock(t)}} },
            &[Filter::QmpTestfiles],
        )?;

        self.vm.qmp_log("nbd-server-add", kwargs! { device: "hd0" })?;

        self.vm.qmp_log("object-add", kwargs! { qom_type: "iothread", id: "iothread0" })?;
        self.vm.qmp_log_with(
            "device_add",
            kwargs! { id: "scsi0", driver: "virtio-scsi", iothread: "iothread0" },
            &[Filter::QmpVirtioScsi],
        )?;
        self.vm.qmp_log("device_add", kwargs! { id: "scsi-hd0", driver: "scsi-hd", drive: "hd0" })?;
        Ok(())
    }
}

iotests::iotest! {
    name: "240", groups: [quick],
    activate_logging: true,
    xfail: "QEMU 10.0's virtio-scsi no longer refuses the hotplug: since iothread-vq-mapping (10.0), \
            virtio_scsi_hotplug() calls blk_set_aio_context(sd->conf.blk, ctx, NULL) and ignores its failure \
            (\"I/O will still work\"), so in test3 attaching scsi-hd1 (iothread1) to hd0, already used by \
            scsi-hd0 (iothread0), succeeds instead of `Cannot change iothread of active block backend`, and the \
            later re-add fails with `Duplicate device ID 'scsi-hd1'`. 240.out predates that change (240 is not in \
            the `auto` group, so `make check` does not run it); upstream's check shows the same two-line diff in \
            every cell here",
    fn t240: unittest { TestCase }
}
