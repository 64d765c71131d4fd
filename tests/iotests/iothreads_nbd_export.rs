//! Upstream tests/iothreads-nbd-export: an NBD export of a node in an iothread survives system_reset
//! moving it between iothreads while a client is connected.

use iotests::prelude::*;

iotests::iotest! {
    name: "iothreads-nbd-export", groups: [rw, quick],
    supported_fmts: ["qcow2"],
    supported_platforms: ["linux"],
    xfail: "QEMU under this machine's (nested) KVM, which the test's `-accel kvm` selects: in some runs the guest \
            firmware (SeaBIOS) hits `KVM internal error. Suberror: 1` (emulation failure) during the ten \
            system_resets, QEMU stops the VM (STOP event, runstate internal-error) and the next reset leaves it \
            in prelaunch, so query-status answers `running: false, status: prelaunch` (QEMU's log shows the KVM \
            error). With `-accel tcg` it never happened (12 of 12 runs); upstream's check fails the same way here \
            (4 of 8 runs)",
    xfail_intermittent: true,
    fn iothreads_nbd_export(t) {
        let path = t.scoped_file_paths(["disk1.img"]);
        let path = &path[0];
        let nbd_sock = t.scoped_file_paths_in(&sock_dir(), ["nbd.sock"]);
        let nbd_sock = &nbd_sock[0];
        let mut vm = t.qemu_machine();

        let img_size = "10M";

        t.log("Preparing disk...");
        t.qemu_img_create(&args!["-f", imgfmt(), path, img_size])?;
        vm.add_args(["-blockdev", &format!("file,node-name=disk-file,filename={path}")]);
        vm.add_args(["-blockdev", "qcow2,node-name=disk,file=disk-file"]);
        vm.add_args(["-object", "iothread,id=iothread0"]);
        vm.add_args(["-device", "virtio-blk,drive=disk,iothread=iothread0,share-rw=on"]);

        t.log("Launching VM...");
        vm.add_args(["-accel", "kvm", "-accel", "tcg"]);
        //vm.add_args(["-accel", "qtest"]);
        vm.launch()?;

        t.log("Exporting to NBD...");
        t.log(vm.qmp("nbd-server-start", kwargs! { addr: {"type": "unix", "data": {"path": nbd_sock}} })?);
        t.log(vm.qmp("block-export-add", kwargs! { type: "nbd", id: "exp0", node_name: "disk", writable: true })?);

        t.log("Connecting qemu-img...");
        let qemu_io = t.qemu_io_interactive(&args!["-f", "raw", format!("nbd+unix:///disk?socket={nbd_sock}")])?;

        t.log("Moving the NBD export to a different iothread...");
        for _ in 0..10 {
            t.log(vm.qmp("system_reset", ())?);
            sleep(0.1);
        }

        t.log("Checking that it is still alive...");
        t.log(vm.qmp("query-status", ())?);

        qemu_io.close()?;
        vm.shutdown()?;
        Ok(())
    }
}
