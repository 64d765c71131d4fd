//! Upstream 303: qcow2.py's dump-header (text and JSON) of images with bitmaps and compression types.

use iotests::prelude::*;

const CHUNK: u64 = 1024 * 1024;

fn create_bitmap(t: &TestContext, disk: &str, bitmap_number: u32, disabled: bool) -> Result<()> {
    let granularity = 1u64 << (14 + bitmap_number);
    let bitmap_name = format!("bitmap-{bitmap_number}");
    let mut args = args!["bitmap", "--add", "-g", granularity, "-f", imgfmt(), disk, bitmap_name];
    if disabled {
        args.push("--disable".into());
    }

    t.qemu_img(&args)?;
    Ok(())
}

fn write_to_disk(t: &TestContext, disk: &str, offset: u64, size: u64) -> Result<()> {
    let write = format!("write {offset} {size}");
    t.qemu_io_log(&args!["-c", write, disk])?;
    Ok(())
}

fn add_bitmap(t: &TestContext, disk: &str, num: u32, begin: u64, end: u64, disabled: bool) -> Result<()> {
    t.log(format!("Add bitmap {num}"));
    create_bitmap(t, disk, num, disabled)?;
    for i in begin..end {
        write_to_disk(t, disk, i * CHUNK, CHUNK)?;
    }
    t.log("");
    Ok(())
}

fn test(t: &TestContext, disk: &str, compression_type: &str, json_output: bool) -> Result<()> {
    t.qemu_img_create(&args!["-f", imgfmt(), "-o", format!("compression_type={compression_type}"), disk, "10M"])?;
    add_bitmap(t, disk, 1, 0, 6, false)?;
    add_bitmap(t, disk, 2, 6, 8, true)?;

    let mut cmd = vec![disk, "dump-header"];
    if json_output {
        cmd.push("-j");
    }

    t.qcow2_py(&cmd)?;
    Ok(())
}

iotests::iotest! {
    name: "303", groups: [rw, quick],
    supported_fmts: ["qcow2"],
    unsupported_imgopts: ["refcount_bits", "compat"],
    fn t303(t) {
        t.verify_qcow2_zstd_compression()?;

        let disk = t.file_path("disk");

        test(t, &disk, "zlib", false)?;
        test(t, &disk, "zstd", true)?;
        Ok(())
    }
}
