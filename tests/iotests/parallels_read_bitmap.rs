//! Upstream tests/parallels-read-bitmap: parallels loads its bitmap.
//!
//! ```python
//! # (no group line)
//! iotests.script_initialize(supported_fmts=['parallels'])
//! ```
//!
//! Needs upstream's sample image `parallels-with-bitmap.bz2` (from
//! `SAMPLE_IMG_DIR`, or the QEMU source tree named by `IOTESTS_QEMU_SRC`).

use iotests::Error;

iotests::iotest! {
    name: "parallels-read-bitmap", groups: [],
    supported_fmts: ["parallels"],
    fn parallels_read_bitmap(t) {
        let nbd_sock = t.sock_path("nbd-sock");
        let disk = t.file_path("disk");
        let bitmap = "e4f2eed0-37fe-4539-b50b-85d2e7fd235f";
        let nbd_opts =
            format!("driver=nbd,server.type=unix,server.path={nbd_sock},x-dirty-bitmap=qemu:dirty-bitmap:{bitmap}");

        t.unarchive_sample_image("parallels-with-bitmap", &disk)?;

        {
            let _nbd = t.qemu_nbd_popen(&[
                "--read-only",
                &format!("--socket={nbd_sock}"),
                &format!("--bitmap={bitmap}"),
                "-f",
                t.imgfmt(),
                &disk,
            ])?;
            let chunks = t.qemu_img_map(&["--image-opts", &nbd_opts])?;
            let cluster = 64 * 1024;

            t.log("dirty clusters (cluster size is 64K):");
            for c in chunks.as_array().into_iter().flatten() {
                let (Some(start), Some(length)) = (c["start"].as_u64(), c["length"].as_u64()) else {
                    return Err(Error::fail(format!("qemu-img map: no start/length in {c}")));
                };
                if start % cluster != 0 {
                    return Err(Error::fail("assert c['start'] % cluster == 0"));
                }
                if length % cluster != 0 {
                    return Err(Error::fail("assert c['length'] % cluster == 0"));
                }
                if c["data"].as_bool() == Some(true) {
                    continue;
                }

                let a = start / cluster;
                let b = (start + length) / cluster;
                if b - a > 1 {
                    t.log(format!("{a}-{}", b - 1));
                } else {
                    t.log(a.to_string());
                }
            }
        }
        Ok(())
    }
}
