//! Upstream 274: some tests for short backing files and short overlays.
//!
//! ```python
//! # group: rw backing
//! iotests.script_initialize(supported_fmts=['qcow2'],
//!                           supported_platforms=['linux'],
//!                           unsupported_imgopts=['refcount_bits', 'compat'])
//! ```

use std::time::Duration;

use iotests::vm::{RunJobOptions, Vm};
use iotests::{Result, TestContext, args};
use serde_json::json;

const SIZE_SHORT: u64 = 1024 * 1024;
const SIZE_LONG: u64 = 2 * 1024 * 1024;
const SIZE_DIFF: u64 = SIZE_LONG - SIZE_SHORT;

struct Chain<'a> {
    base: &'a str,
    mid: &'a str,
    top: &'a str,
}

fn create_chain(t: &TestContext, c: &Chain<'_>) -> Result<()> {
    t.qemu_img_create(&args!["-f", t.imgfmt(), c.base, SIZE_LONG])?;
    t.qemu_img_create(&args!["-f", t.imgfmt(), "-b", c.base, "-F", t.imgfmt(), c.mid, SIZE_SHORT])?;
    t.qemu_img_create(&args!["-f", t.imgfmt(), "-b", c.mid, "-F", t.imgfmt(), c.top, SIZE_LONG])?;

    t.qemu_io_log(&args!["-c", format!("write -P 1 0 {SIZE_LONG}"), c.base])?;
    Ok(())
}

fn create_vm(t: &TestContext, c: &Chain<'_>) -> Vm {
    let mut vm = t.vm();
    vm.add_blockdev(format!("file,filename={},node-name=base-file", c.base));
    vm.add_blockdev(format!("{},file=base-file,node-name=base", t.imgfmt()));
    vm.add_blockdev(format!("file,filename={},node-name=mid-file", c.mid));
    vm.add_blockdev(format!("{},file=mid-file,node-name=mid,backing=base", t.imgfmt()));
    vm.add_drive_with(c.top, "backing=mid,node-name=top");
    vm
}

iotests::iotest! {
    name: "274", groups: [rw, backing],
    supported_fmts: ["qcow2"],
    supported_platforms: ["linux"],
    unsupported_imgopts: ["refcount_bits", "compat"],
    fn t274(t) {
        let base = t.scoped_file_paths(["base"]);
        let mid = t.scoped_file_paths(["mid"]);
        let top = t.scoped_file_paths(["top"]);
        let (base, mid, top) = (base[0].as_str(), mid[0].as_str(), top[0].as_str());
        let chain = Chain { base, mid, top };

        t.log("== Commit tests ==");

        create_chain(t, &chain)?;

        t.log("=== Check visible data ===");

        t.qemu_io_log(&args!["-c", format!("read -P 1 0 {SIZE_SHORT}"), top])?;
        t.qemu_io_log(&args!["-c", format!("read -P 0 {SIZE_SHORT} {SIZE_DIFF}"), top])?;

        t.log("=== Checking allocation status ===");

        t.qemu_io_log(&args![
            "-c", format!("alloc 0 {SIZE_SHORT}"),
            "-c", format!("alloc {SIZE_SHORT} {SIZE_DIFF}"),
            base
        ])?;

        t.qemu_io_log(&args![
            "-c", format!("alloc 0 {SIZE_SHORT}"),
            "-c", format!("alloc {SIZE_SHORT} {SIZE_DIFF}"),
            mid
        ])?;

        t.qemu_io_log(&args![
            "-c", format!("alloc 0 {SIZE_SHORT}"),
            "-c", format!("alloc {SIZE_SHORT} {SIZE_DIFF}"),
            top
        ])?;

        t.log("=== Checking map ===");

        t.qemu_img_log(&args!["map", "--output=json", base])?;
        t.qemu_img_log(&args!["map", "--output=human", base])?;
        t.qemu_img_log(&args!["map", "--output=json", mid])?;
        t.qemu_img_log(&args!["map", "--output=human", mid])?;
        t.qemu_img_log(&args!["map", "--output=json", top])?;
        t.qemu_img_log(&args!["map", "--output=human", top])?;

        t.log("=== Testing qemu-img commit (top -> mid) ===");

        t.qemu_img_log(&args!["commit", top])?;
        t.img_info_log(mid)?;
        t.qemu_io_log(&args!["-c", format!("read -P 1 0 {SIZE_SHORT}"), mid])?;
        t.qemu_io_log(&args!["-c", format!("read -P 0 {SIZE_SHORT} {SIZE_DIFF}"), mid])?;

        t.log("=== Testing HMP commit (top -> mid) ===");

        create_chain(t, &chain)?;
        {
            let mut vm = create_vm(t, &chain);
            vm.launch()?;
            vm.qmp_log("human-monitor-command", json!({"command_line": "commit drive0"}))?;
            vm.shutdown()?;
        }

        t.img_info_log(mid)?;
        t.qemu_io_log(&args!["-c", format!("read -P 1 0 {SIZE_SHORT}"), mid])?;
        t.qemu_io_log(&args!["-c", format!("read -P 0 {SIZE_SHORT} {SIZE_DIFF}"), mid])?;

        t.log("=== Testing QMP active commit (top -> mid) ===");

        create_chain(t, &chain)?;
        {
            let mut vm = create_vm(t, &chain);
            vm.launch()?;
            vm.qmp_log(
                "block-commit",
                json!({"device": "top", "base_node": "mid", "job_id": "job0", "auto_dismiss": false}),)?;
            vm.run_job_with("job0", RunJobOptions { wait: Duration::from_secs(5), ..Default::default() })?;
            vm.shutdown()?;
        }

        t.img_info_log(mid)?;
        t.qemu_io_log(&args!["-c", format!("read -P 1 0 {SIZE_SHORT}"), mid])?;
        t.qemu_io_log(&args!["-c", format!("read -P 0 {SIZE_SHORT} {SIZE_DIFF}"), mid])?;

        t.log("=== Testing qemu-img commit (top -> base) ===");

        create_chain(t, &chain)?;
        t.qemu_img_log(&args!["commit", "-b", base, top])?;
        t.img_info_log(base)?;
        t.qemu_io_log(&args!["-c", format!("read -P 1 0 {SIZE_SHORT}"), base])?;
        t.qemu_io_log(&args!["-c", format!("read -P 0 {SIZE_SHORT} {SIZE_DIFF}"), base])?;

        t.log("=== Testing QMP active commit (top -> base) ===");

        create_chain(t, &chain)?;
        {
            let mut vm = create_vm(t, &chain);
            vm.launch()?;
            vm.qmp_log(
                "block-commit",
                json!({"device": "top", "base_node": "base", "job_id": "job0", "auto_dismiss": false}),)?;
            vm.run_job_with("job0", RunJobOptions { wait: Duration::from_secs(5), ..Default::default() })?;
            vm.shutdown()?;
        }

        t.img_info_log(mid)?;
        t.qemu_io_log(&args!["-c", format!("read -P 1 0 {SIZE_SHORT}"), base])?;
        t.qemu_io_log(&args!["-c", format!("read -P 0 {SIZE_SHORT} {SIZE_DIFF}"), base])?;

        t.log("== Resize tests ==");

        // Use different sizes for different allocation modes:
        //
        // We want to have at least one test where 32 bit truncation in the size of
        // the overlapping area becomes visible. This is covered by the
        // prealloc='off' case (1G to 6G is an overlap of 5G).
        //
        // However, we can only do this for modes that don't preallocate data
        // because otherwise we might run out of space on the test host.
        //
        // We also want to test some unaligned combinations.
        for (prealloc, base_size, top_size_old, top_size_new, off) in [
            ("off", "6G", "1G", "8G", "5G"),
            ("metadata", "32G", "30G", "33G", "31G"),
            ("falloc", "10M", "5M", "15M", "9M"),
            ("full", "16M", "8M", "12M", "11M"),
            ("off", "384k", "253k", "512k", "253k"),
            ("off", "400k", "256k", "512k", "336k"),
            ("off", "512k", "256k", "500k", "436k"),
        ] {
            t.log(format!("=== preallocation={prealloc} ==="));
            t.qemu_img_create(&args!["-f", t.imgfmt(), base, base_size])?;
            t.qemu_img_create(&args!["-f", t.imgfmt(), "-b", base, "-F", t.imgfmt(), top, top_size_old])?;
            t.qemu_io_log(&args!["-c", format!("write -P 1 {off} 64k"), base])?;

            // After this, top_size_old to base_size should be allocated/zeroed.
            //
            // In theory, leaving base_size to top_size_new unallocated would be
            // correct, but in practice, if we zero out anything, we zero out
            // everything up to top_size_new.
            t.qemu_img_log(&args!["resize", "-f", t.imgfmt(), "--preallocation", prealloc, top, top_size_new])?;
            t.qemu_io_log(&args!["-c", format!("read -P 0 {off} 64k"), top])?;
            t.qemu_io_log(&args!["-c", "map", top])?;
            t.qemu_img_log(&args!["map", "--output=json", top])?;
        }
        Ok(())
    }
}
