//! Upstream 260: temporary external snapshot when we have bitmaps.
//!
//! ```python
//! # group: rw quick
//! iotests.script_initialize(
//!     supported_fmts=['qcow2'],
//!     unsupported_imgopts=['compat']
//! )
//! ```

use std::ops::ControlFlow;

use iotests::filters::{self, Filter};
use iotests::harness::assert_true;
use iotests::vm::Vm;
use iotests::vm::testcase::dictpath;
use iotests::{Error, Result, TestContext, args};
use serde_json::json;

const SIZE: u64 = 64 * 1024 * 3;

fn print_bitmap(t: &TestContext, msg: &str, vm: &mut Vm) -> Result<()> {
    let result = vm.qmp("query-block", ())?;
    let result = dictpath(&result, "return[0]")?;
    let empty = json!({});
    let info = result.get("inserted").unwrap_or(&empty);
    if let Some(bitmaps) = info.get("dirty-bitmaps") {
        let bitmap = bitmaps.get(0).ok_or_else(|| Error::fail(format!("IndexError: no bitmap in {bitmaps}")))?;
        let name = dictpath(bitmap, "name")?.as_str().unwrap_or_default().to_string();
        let count = dictpath(bitmap, "count")?.as_u64().ok_or_else(|| Error::fail("count is not an int"))?;
        t.log(format!("{msg}: name={name} dirty-clusters={}", count / 64 / 1024));
    } else {
        t.log(format!("{msg}: not found"));
    }
    Ok(())
}

fn test(t: &TestContext, base: &str, top: &str, persistent: bool, restart: bool) -> Result<ControlFlow<()>> {
    assert_true(persistent || !restart, "assert persistent or not restart")?;
    t.log(format!(
        "\nTestcase {}persistent {} restart\n",
        if persistent { "" } else { "non-" },
        if restart { "with" } else { "without" }
    ));

    t.qemu_img_create(&args!["-f", t.imgfmt(), base, SIZE])?;

    let mut vm = t.vm();
    vm.add_drive(base);
    vm.launch()?;

    vm.qmp_log("block-dirty-bitmap-add", json!({"node": "drive0", "name": "bitmap0", "persistent": persistent}))?;
    vm.hmp_qemu_io("drive0", "write 0 64K")?;
    print_bitmap(t, "initial bitmap", &mut vm)?;

    vm.qmp_log_with(
        "blockdev-snapshot-sync",
        json!({"device": "drive0", "snapshot_file": top, "format": t.imgfmt()}),
        &[Filter::QmpTestfiles],
    )?;
    vm.hmp_qemu_io("drive0", "write 64K 512")?;
    print_bitmap(t, "check that no bitmaps are in snapshot", &mut vm)?;

    if restart {
        t.log("... Restart ...");
        vm.shutdown()?;
        vm = t.vm();
        vm.add_drive(top);
        vm.launch()?;
    }

    vm.qmp_log_with("block-commit", json!({"device": "drive0", "top": top}), &[Filter::QmpTestfiles])?;
    let ev = vm.events_wait(&[("BLOCK_JOB_READY", None), ("BLOCK_JOB_COMPLETED", None)])?;
    t.log(filters::qmp_event(ev.clone()));
    if ev["event"] == "BLOCK_JOB_COMPLETED" {
        vm.shutdown()?;
        t.log(vm.get_log().unwrap_or("None"));
        return Ok(ControlFlow::Break(()));
    }

    vm.qmp_log("block-job-complete", json!({"device": "drive0"}))?;
    let ev = vm.event_wait("BLOCK_JOB_COMPLETED")?;
    t.log(filters::qmp_event(ev));
    print_bitmap(t, "check bitmap after commit", &mut vm)?;

    vm.hmp_qemu_io("drive0", "write 128K 64K")?;
    print_bitmap(t, "check updated bitmap", &mut vm)?;

    vm.shutdown()?;
    Ok(ControlFlow::Continue(()))
}

iotests::iotest! {
    name: "260", groups: [rw, quick],
    supported_fmts: ["qcow2"],
    unsupported_imgopts: ["compat"],
    fn t260(t) {
        let [base, top] = t.file_paths(["base", "top"]);

        // `exit()` in test() ends the script.
        for (persistent, restart) in [(false, false), (true, false), (true, true)] {
            if test(t, &base, &top, persistent, restart)?.is_break() {
                break;
            }
        }
        Ok(())
    }
}
