//! Upstream 299: shutdown when a bitmap is exported through the NBD server.
//!
//! ```python
//! # group: auto quick
//! # The test is unrelated to formats, restrict it to qcow2 to avoid extra runs
//! iotests.script_initialize(
//!     supported_fmts=['qcow2'],
//! )
//! ```

use iotests::filters::Filter;
use serde_json::json;

iotests::iotest! {
    name: "299", groups: [auto, quick],
    supported_fmts: ["qcow2"],
    fn t299(t) {
        let nbd_sock = t.sock_path("nbd.sock");
        let nbd_uri = format!("nbd+unix:///disk?socket={nbd_sock}");
        let _size = 1024 * 1024;

        let mut vm = t.vm();
        vm.launch()?;

        vm.qmp_log(
            "blockdev-add",
            json!({
                "node-name": "disk",
                "driver": "null-co",
                "size": 1024 * 1024,
            }),)?;

        vm.qmp_log(
            "block-dirty-bitmap-add",
            json!({
                "node": "disk",
                "name": "bitmap0"
            }),)?;

        vm.qmp_log_with(
            "nbd-server-start",
            json!({
                "addr": {
                    "type": "unix",
                    "data": {"path": nbd_sock}
                }
            }),
            &[Filter::QmpTestfiles],)?;

        vm.qmp_log(
            "nbd-server-add",
            json!({
                "device": "disk",
                "writable": true,
                "bitmap": "bitmap0"
            }),)?;

        let mut p = t.qemu_io_interactive(&["-f", "raw", &nbd_uri])?;
        // wait for connection and check it:
        t.log_with(p.cmd("read 0 512")?.trim_end(), &[Filter::QemuIo]);

        vm.shutdown()?;

        p.close()?;
        Ok(())
    }
}
