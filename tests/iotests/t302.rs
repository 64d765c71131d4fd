//! Upstream 302: write a compressed qcow2 image directly into an OVA (tar) file through qemu-nbd.

use iotests::prelude::*;
use iotests::tools::{TarWriter, tar_members};

iotests::iotest! {
    name: "302", groups: [quick],
    supported_fmts: ["qcow2"],
    fn t302(t) {
        // Create source disk. Using qcow2 to enable strict comparing later, and
        // avoid issues with random filesystem on CI environment.
        let src_disk = t.file_path("disk.qcow2");
        t.qemu_img_create(&args!["-f", imgfmt(), &src_disk, "1g"])?;
        t.qemu_io(&args!["-f", imgfmt(), "-c", "write 1m 64k", &src_disk])?;

        // The use case is writing qcow2 image directly into an ova file, which
        // is a tar file with specific layout. This is tricky since we don't know the
        // size of the image before compressing, so we have to do:
        // 1. Add an ovf file.
        // 2. Find the offset of the next member data.
        // 3. Make room for image data, allocating for the worst case.
        // 4. Write compressed image data into the tar.
        // 5. Add a tar entry with the actual image size.
        // 6. Shrink the tar to the actual size, aligned to 512 bytes.

        let tar_file = t.file_path("test.ova");

        {
            let mut tar = TarWriter::create(&tar_file)?;

            // 1. Add an ovf file.

            let ovf_data = b"<xml/>";
            tar.add_file("vm.ovf", ovf_data)?;

            // 2. Find the offset of the next member data.

            let offset = tar.offset() + 512;

            // 3. Make room for image data, allocating for the worst case.

            let measure = t.qemu_img_measure(&args!["-O", "qcow2", &src_disk])?;
            let required = dictpath(&measure, "required")?.as_u64().unwrap_or_default();
            tar.set_len(offset + required)?;

            // 4. Write compressed image data into the tar.

            let nbd_sock = t.sock_path("nbd-sock");
            let nbd_uri = format!("nbd+unix:///exp?socket={nbd_sock}");

            // Use raw format to allow creating qcow2 directly into tar file.
            let actual_size = {
                let _nbd = t.qemu_nbd_popen(&args![
                    "--socket", &nbd_sock,
                    "--export-name", "exp",
                    "--format", "raw",
                    "--offset", offset,
                    &tar_file
                ])?;

                t.log("=== Target image info ===");
                // Not img_info_log as it enforces imgfmt, but now we print info on raw
                t.qemu_img_log(&args!["info", &nbd_uri])?;

                t.qemu_img(&args![
                    "convert",
                    "-f", imgfmt(),
                    "-O", "qcow2",
                    "-c",
                    &src_disk,
                    &nbd_uri
                ])?;

                t.log("=== Converted image info ===");
                t.img_info_log(&nbd_uri)?;

                t.log("=== Converted image check ===");
                t.qemu_img_log(&args!["check", &nbd_uri])?;

                t.log("=== Comparing to source disk ===");
                t.qemu_img_log(&args!["compare", &src_disk, &nbd_uri])?;

                dictpath(&t.qemu_img_check(&args![&nbd_uri])?, "image-end-offset")?.as_u64().unwrap_or_default()
            };

            // 5. Add a tar entry with the actual image size.
            // (Python writes the member's header with TarInfo.tobuf(), then
            // updates the offset and position to the location of the next
            // member.)
            //
            // 6. Shrink the tar to the actual size.

            tar.add_external("disk", actual_size)?;
            tar.finish()?;
        }

        let members: Vec<Value> = tar_members(&tar_file)?
            .into_iter()
            .map(|m| json!({"name": m.name, "size": m.size, "offset": m.offset_data}))
            .collect();
        t.log("=== OVA file contents ===");
        t.log(json!(members));
        Ok(())
    }
}
