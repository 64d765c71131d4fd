//! Upstream tests/qsd-migrate: migration between VMs whose disks are NBD
//! exports of two storage daemons, handed over with blockdev-set-active.
//!
//! ```python
//! # group: rw quick
//! iotests.script_initialize(supported_fmts=['qcow2', 'qed', 'raw'],
//!                           supported_protocols=['file'],
//!                           supported_platforms=['linux'])
//! ```

use iotests::Filter;
use iotests::args;
use iotests::tools::QsdOptions;
use iotests::vm::HmpQemuIo;
use serde_json::json;

iotests::iotest! {
    name: "qsd-migrate", groups: [rw, quick],
    supported_fmts: ["qcow2", "qed", "raw"],
    supported_protocols: ["file"],
    supported_platforms: ["linux"],
    fn qsd_migrate(t) {
        let path = t.scoped_file_paths(["disk.img"]);
        let nbd_src = t.scoped_file_paths_in(t.sock_dir(), ["nbd-src.sock"]);
        let nbd_dst = t.scoped_file_paths_in(t.sock_dir(), ["nbd-dst.sock"]);
        let mig_sock = t.scoped_file_paths_in(t.sock_dir(), ["migrate.sock"]);
        let (path, nbd_src, nbd_dst, mig_sock) = (&path[0], &nbd_src[0], &nbd_dst[0], &mig_sock[0]);
        let mut vm_src = t.vm_with("-src");
        let mut vm_dst = t.vm_with("-dst");

        let img_size = "10M";

        t.log("Preparing disk...");
        t.qemu_img_create(&args!["-f", t.imgfmt(), path, img_size])?;

        t.log("Launching source QSD...");
        let mut qsd_src = t.qemu_storage_daemon_with(
            &args![
                "--blockdev",
                format!("file,node-name=disk-file,filename={path}"),
                "--blockdev",
                format!("{},file=disk-file,node-name=disk-fmt", t.imgfmt()),
                "--nbd-server",
                format!("addr.type=unix,addr.path={nbd_src}"),
                "--export",
                "nbd,id=exp0,node-name=disk-fmt,writable=true,allow-inactive=true",
            ], QsdOptions { qmp: true, ..Default::default() },)?;

        t.log("Launching source VM...");
        vm_src.add_args([
            "-blockdev".to_string(),
            format!("nbd,node-name=disk,server.type=unix,server.path={nbd_src},export=disk-fmt"),
        ]);
        vm_src.add_args(["-device", "virtio-blk,drive=disk,id=virtio0"]);
        vm_src.launch()?;

        t.log("Launching destination QSD...");
        let mut qsd_dst = t.qemu_storage_daemon_with(
            &args![
                "--blockdev",
                format!("file,node-name=disk-file,filename={path},active=off"),
                "--blockdev",
                format!("{},file=disk-file,node-name=disk-fmt,active=off", t.imgfmt()),
                "--nbd-server",
                format!("addr.type=unix,addr.path={nbd_dst}"),
                "--export",
                "nbd,id=exp0,node-name=disk-fmt,writable=true,allow-inactive=true",
            ], QsdOptions { qmp: true, instance_id: "b".into(), ..Default::default() },)?;

        t.log("Launching destination VM...");
        vm_dst.add_args([
            "-blockdev".to_string(),
            format!("nbd,node-name=disk,server.type=unix,server.path={nbd_dst},export=disk-fmt"),
        ]);
        vm_dst.add_args(["-device", "virtio-blk,drive=disk,id=virtio0"]);
        vm_dst.add_args(["-incoming".to_string(), format!("unix:{mig_sock}")]);
        vm_dst.launch()?;

        t.log("\nTest I/O on the source");
        vm_src.hmp_qemu_io_with("virtio0/virtio-backend", "write -P 0x11 0 4k", HmpQemuIo { use_log: true, qdev: true })?;
        vm_src.hmp_qemu_io_with("virtio0/virtio-backend", "read -P 0x11 0 4k", HmpQemuIo { use_log: true, qdev: true })?;

        t.log("\nStarting migration...");

        let mig_caps = json!([
            {"capability": "events", "state": true},
            {"capability": "pause-before-switchover", "state": true},
        ]);
        vm_src.qmp_log("migrate-set-capabilities", json!({"capabilities": mig_caps}))?;
        vm_dst.qmp_log("migrate-set-capabilities", json!({"capabilities": mig_caps}))?;
        vm_src.qmp_log_with("migrate", json!({"uri": format!("unix:{mig_sock}")}), &[Filter::QmpTestfiles])?;

        vm_src.event_wait_with("MIGRATION", json!({"data": {"status": "pre-switchover"}}))?;

        t.log("\nPre-switchover: Reconfigure QSD instances");

        t.log(qsd_src.qmp("blockdev-set-active", json!({"active": false}))?);

        // Reading is okay from both sides while the image is inactive. Note that
        // the destination may have stale data until it activates the image, though.
        vm_src.hmp_qemu_io_with("virtio0/virtio-backend", "read -P 0x11 0 4k", HmpQemuIo { use_log: true, qdev: true })?;
        vm_dst.hmp_qemu_io_with("virtio0/virtio-backend", "read 0 4k", HmpQemuIo { use_log: true, qdev: true })?;

        t.log(qsd_dst.qmp("blockdev-set-active", json!({"active": true}))?);

        t.log("\nCompleting migration...");

        vm_src.qmp_log("migrate-continue", json!({"state": "pre-switchover"}))?;
        vm_dst.event_wait_with("MIGRATION", json!({"data": {"status": "completed"}}))?;

        t.log("\nTest I/O on the destination");

        // Now the destination must see what the source wrote
        vm_dst.hmp_qemu_io_with("virtio0/virtio-backend", "read -P 0x11 0 4k", HmpQemuIo { use_log: true, qdev: true })?;

        // And be able to overwrite it
        vm_dst.hmp_qemu_io_with("virtio0/virtio-backend", "write -P 0x22 0 4k", HmpQemuIo { use_log: true, qdev: true })?;
        vm_dst.hmp_qemu_io_with("virtio0/virtio-backend", "read -P 0x22 0 4k", HmpQemuIo { use_log: true, qdev: true })?;

        t.log("\nDone");

        vm_src.shutdown()?;
        t.log("\n--- vm_src log ---");
        if let Some(log) = vm_src.get_log().filter(|l| !l.is_empty()) {
            t.log_with(log, &[Filter::Qtest, Filter::QemuIo]);
        }
        qsd_src.stop()?;

        vm_dst.shutdown()?;
        t.log("\n--- vm_dst log ---");
        if let Some(log) = vm_dst.get_log().filter(|l| !l.is_empty()) {
            t.log_with(log, &[Filter::Qtest, Filter::QemuIo]);
        }
        qsd_dst.stop()?;
        Ok(())
    }
}
