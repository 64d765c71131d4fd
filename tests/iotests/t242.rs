//! Upstream 242: qcow2 persistent dirty bitmaps in `qemu-img info`.
//!
//! ```python
//! # group: rw quick
//! iotests.script_initialize(supported_fmts=['qcow2'],
//!                           supported_protocols=['file'],
//!                           unsupported_imgopts=['refcount_bits', 'compat'])
//! ```

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};

use iotests::log::LogOpts;
use iotests::tools::ImgInfoOpts;
use iotests::vm::testcase::dictpath;
use iotests::{Error, Result, TestContext};
use serde_json::json;

const CHUNK: u64 = 256 * 1024;
const BITMAP_FLAG_UNKNOWN: u8 = 1 << 2;
// flag_offset = 5*cluster_size + flag_offset_in_bitmap_directory_entry
const FLAG_OFFSET: u64 = 0x5000f;

fn print_bitmap(t: &TestContext, disk: &str, extra_args: &[&str]) -> Result<()> {
    t.log("qemu-img info dump:\n");
    t.img_info_log_with(
        disk,
        ImgInfoOpts { extra_args: extra_args.iter().map(|a| a.to_string()).collect(), ..Default::default() },
    )?;
    let result = t.qemu_img_info(&["--force-share", disk])?;
    if let Some(bitmaps) = dictpath(&result, "format-specific/data")?.get("bitmaps") {
        t.log("The same bitmaps in JSON format:");
        t.log_with(bitmaps, LogOpts { filters: &[], indent: Some(2) });
    } else {
        t.log("No bitmap in JSON format output");
    }
    Ok(())
}

fn add_bitmap(t: &TestContext, disk: &str, bitmap_number: u32, persistent: bool, disabled: bool) -> Result<()> {
    let granularity = 1u64 << (13 + bitmap_number);
    let bitmap_name = format!("bitmap-{}", bitmap_number - 1);
    let mut vm = t.vm();
    vm.add_drive(disk);
    vm.launch()?;
    vm.qmp_log(
        "block-dirty-bitmap-add",
        json!({
            "node": "drive0",
            "name": bitmap_name,
            "granularity": granularity,
            "persistent": persistent,
            "disabled": disabled,
        }),
    )?;
    vm.shutdown()
}

fn write_to_disk(t: &TestContext, disk: &str, offset: u64, size: u64) -> Result<()> {
    let write = format!("write {offset} {size}");
    t.qemu_io_log(&["-c", &write, disk])?;
    Ok(())
}

fn toggle_flag(disk: &str, offset: u64) -> Result<()> {
    let io = |e| Error::io(format!("toggling a flag in {disk}"), e);
    let mut f = OpenOptions::new().read(true).write(true).open(disk).map_err(io)?;
    f.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut flags = [0u8; 1];
    f.read_exact(&mut flags).map_err(io)?;
    let toggled = flags[0] ^ BITMAP_FLAG_UNKNOWN;
    f.seek(SeekFrom::Current(-1)).map_err(io)?;
    f.write_all(&[toggled]).map_err(io)?;
    Ok(())
}

iotests::iotest! {
    name: "242", groups: [rw, quick],
    supported_fmts: ["qcow2"],
    supported_protocols: ["file"],
    unsupported_imgopts: ["refcount_bits", "compat"],
    fn t242(t) {
        let disk = t.file_path("disk");

        t.qemu_img_create(&["-f", t.imgfmt(), &disk, "1M"])?;

        // Python's loop variable outlives the loop.
        let mut num = 0;
        for n in 1..4 {
            num = n;
            let mut disabled = false;
            if num == 2 {
                disabled = true;
            }
            t.log(format!("Test {num}"));
            add_bitmap(t, &disk, num, num > 1, disabled)?;
            write_to_disk(t, &disk, u64::from(num - 1) * CHUNK, CHUNK)?;
            print_bitmap(t, &disk, &[])?;
            t.log("");
        }

        let mut vm = t.vm();
        vm.add_drive(&disk);
        vm.launch()?;
        num += 1;
        t.log(format!("Test {num}\nChecking \"in-use\" flag..."));
        print_bitmap(t, &disk, &["--force-share"])?;
        vm.shutdown()?;

        num += 1;
        t.log(format!("\nTest {num}"));
        t.qemu_img_create(&["-f", t.imgfmt(), &disk, "1M"])?;
        add_bitmap(t, &disk, 1, true, false)?;
        t.log(format!(
            "Write an unknown bitmap flag '{BITMAP_FLAG_UNKNOWN:#x}' into a new QCOW2 image at offset {FLAG_OFFSET}"
        ));
        toggle_flag(&disk, FLAG_OFFSET)?;
        t.img_info_log_with(&disk, ImgInfoOpts { check: false, ..Default::default() })?;
        toggle_flag(&disk, FLAG_OFFSET)?;
        t.log(format!("Unset the unknown bitmap flag '{BITMAP_FLAG_UNKNOWN:#x}' in the bitmap directory entry:\n"));
        t.img_info_log(&disk)?;
        t.log("Test complete");
        Ok(())
    }
}
