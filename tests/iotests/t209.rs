//! Upstream 209: tests for NBD BLOCK_STATUS extension.
//!
//! ```python
//! # group: rw quick
//! iotests.script_initialize(supported_fmts=['qcow2'])
//! ```

use iotests::args;

iotests::iotest! {
    name: "209", groups: [rw, quick],
    supported_fmts: ["qcow2"],
    fn t209(t) {
        let disk = t.file_path("disk");
        let nbd_sock = t.sock_path("nbd-sock");
        let nbd_uri = format!("nbd+unix:///exp?socket={nbd_sock}");

        t.qemu_img_create(&args!["-f", t.imgfmt(), &disk, "1M"])?;
        t.qemu_io(&args!["-f", t.imgfmt(), "-c", "write 0 512K", &disk])?;

        t.qemu_nbd(&args!["-k", &nbd_sock, "-x", "exp", "-f", t.imgfmt(), &disk])?;
        t.qemu_img_log(&args!["map", "-f", "raw", "--output=json", &nbd_uri])?;
        t.log("done."); // avoid new line at the end of output file
        Ok(())
    }
}
