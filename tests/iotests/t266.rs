//! Upstream 266: test VPC and file image creation.
//!
//! ```python
//! # group: rw quick
//! iotests.script_main(main,
//!                     supported_fmts=['vpc'],
//!                     supported_protocols=['file'])
//! ```

use iotests::tools::ImgInfoOpts;
use iotests::vm::Vm;
use iotests::{Filter, Result, TestContext};
use serde_json::json;

// Successful image creation (defaults)
fn implicit_defaults(t: &TestContext, vm: &mut Vm, _file_path: &str) -> Result<()> {
    t.log("=== Successful image creation (defaults) ===");
    t.log("");

    // 8 heads, 964 cyls/head, 17 secs/cyl
    // (Close to 64 MB)
    let size = 8 * 964 * 17 * 512;

    vm.blockdev_create(json!({ "driver": t.imgfmt(),
                "file": "protocol-node",
                "size": size }))?;
    Ok(())
}

// Successful image creation (explicit defaults)
fn explicit_defaults(t: &TestContext, vm: &mut Vm, _file_path: &str) -> Result<()> {
    t.log("=== Successful image creation (explicit defaults) ===");
    t.log("");

    // 16 heads, 964 cyls/head, 17 secs/cyl
    // (Close to 128 MB)
    let size = 16 * 964 * 17 * 512;

    vm.blockdev_create(json!({ "driver": t.imgfmt(),
                "file": "protocol-node",
                "size": size,
                "subformat": "dynamic",
                "force-size": false }))?;
    Ok(())
}

// Successful image creation (non-default options)
fn non_defaults(t: &TestContext, vm: &mut Vm, _file_path: &str) -> Result<()> {
    t.log("=== Successful image creation (non-default options) ===");
    t.log("");

    // Not representable in CHS (fine with force-size=True)
    let size = 1048576;

    vm.blockdev_create(json!({ "driver": t.imgfmt(),
                "file": "protocol-node",
                "size": size,
                "subformat": "fixed",
                "force-size": true }))?;
    Ok(())
}

// Size not representable in CHS with force-size=False
fn non_chs_size_without_force(t: &TestContext, vm: &mut Vm, _file_path: &str) -> Result<()> {
    t.log("=== Size not representable in CHS ===");
    t.log("");

    // Not representable in CHS (will not work with force-size=False)
    let size = 1048576;

    vm.blockdev_create(json!({ "driver": t.imgfmt(),
                "file": "protocol-node",
                "size": size,
                "force-size": false }))?;
    Ok(())
}

// Zero size
fn zero_size(t: &TestContext, vm: &mut Vm, _file_path: &str) -> Result<()> {
    t.log("=== Zero size===");
    t.log("");

    vm.blockdev_create(json!({ "driver": t.imgfmt(),
                "file": "protocol-node",
                "size": 0 }))?;
    Ok(())
}

// Maximum CHS size
fn maximum_chs_size(t: &TestContext, vm: &mut Vm, _file_path: &str) -> Result<()> {
    t.log("=== Maximum CHS size===");
    t.log("");

    vm.blockdev_create(json!({ "driver": t.imgfmt(),
                "file": "protocol-node",
                "size": 16u64 * 65535 * 255 * 512 }))?;
    Ok(())
}

// Actual maximum size
fn maximum_size(t: &TestContext, vm: &mut Vm, _file_path: &str) -> Result<()> {
    t.log("=== Actual maximum size===");
    t.log("");

    vm.blockdev_create(json!({ "driver": t.imgfmt(),
                "file": "protocol-node",
                "size": 0xff000000u64 * 512,
                "force-size": true }))?;
    Ok(())
}

type TestFunc = fn(&TestContext, &mut Vm, &str) -> Result<()>;

iotests::iotest! {
    name: "266", groups: [rw, quick],
    supported_fmts: ["vpc"],
    supported_protocols: ["file"],
    fn t266(t) {
        let test_funcs: [TestFunc; 7] = [implicit_defaults, explicit_defaults, non_defaults,
                                         non_chs_size_without_force, zero_size, maximum_chs_size,
                                         maximum_size];
        for test_func in test_funcs {
            let file_path = t.scoped_file_paths(["t.vpc"]);
            let file_path = &file_path[0];
            let mut vm = t.vm();

            vm.launch()?;

            t.log("--- Creating empty file ---");
            vm.blockdev_create(json!({ "driver": "file",
                                       "filename": file_path,
                                       "size": 0 }))?;

            vm.qmp_log_with("blockdev-add", json!({"driver": "file", "filename": file_path,
                                              "node_name": "protocol-node"}),
                       &[Filter::QmpTestfiles])?;
            t.log("");

            test_func(t, &mut vm, file_path)?;
            t.log("");

            vm.shutdown()?;
            t.img_info_log_with(file_path, ImgInfoOpts { check: false, ..Default::default() })?;
        }
        Ok(())
    }
}
