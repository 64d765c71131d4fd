//! Upstream 210: test luks and file image creation.
//!
//! ```python
//! # group: rw
//! iotests.script_initialize(
//!     supported_fmts=['luks'],
//!     supported_protocols=['file'],
//! )
//! ```

use iotests::Filter;
use iotests::tools::ImgInfoOpts;
use serde_json::json;

iotests::iotest! {
    name: "210", groups: [rw],
    supported_fmts: ["luks"],
    supported_protocols: ["file"],
    fn t210(t) {
        let imgfmt = t.imgfmt();

        let disk_path = t.scoped_file_paths(["t.luks"]);
        let disk_path = &disk_path[0];
        let mut vm = t.vm();

        // TODO Proper support for images to be used with imgopts and/or protocols
        let luks_info_log = || {
            t.img_info_log_with(
                &format!("driver=luks,file.driver=file,file.filename={disk_path},key-secret=keysec0"),
                ImgInfoOpts {
                    filter_path: Some(disk_path.clone()),
                    extra_args: vec!["--object".into(), "secret,id=keysec0,data=foo".into()],
                    use_image_opts: true,
                    ..Default::default()
                },)
        };

        vm.add_object("secret,id=keysec0,data=foo");

        //
        // Successful image creation (defaults)
        //
        t.log("=== Successful image creation (defaults) ===");
        t.log("");

        let size = 128 * 1024 * 1024;

        vm.launch()?;
        vm.blockdev_create(json!({ "driver": "file",
                                   "filename": disk_path,
                                   "size": 0 }))?;

        vm.qmp_log_with("blockdev-add", json!({"driver": "file", "filename": disk_path,
                                          "node_name": "imgfile"}),
                   &[Filter::QmpTestfiles])?;

        vm.blockdev_create(json!({ "driver": imgfmt,
                                   "file": "imgfile",
                                   "key-secret": "keysec0",
                                   "size": size,
                                   "iter-time": 10 }))?;
        vm.shutdown()?;

        luks_info_log()?;

        //
        // Successful image creation (with non-default options)
        //
        t.log("=== Successful image creation (with non-default options) ===");
        t.log("");

        let size = 64 * 1024 * 1024;

        vm.launch()?;
        vm.blockdev_create(json!({ "driver": "file",
                                   "filename": disk_path,
                                   "size": 0 }))?;
        vm.blockdev_create(json!({ "driver": imgfmt,
                                   "file": {
                                       "driver": "file",
                                       "filename": disk_path,
                                   },
                                   "size": size,
                                   "key-secret": "keysec0",
                                   "cipher-alg": "aes-128",
                                   "cipher-mode": "cbc",
                                   "ivgen-alg": "plain64",
                                   "ivgen-hash-alg": "md5",
                                   "hash-alg": "sha1",
                                   "iter-time": 10 }))?;
        vm.shutdown()?;

        luks_info_log()?;

        //
        // Invalid BlockdevRef
        //
        t.log("=== Invalid BlockdevRef ===");
        t.log("");

        let size = 64 * 1024 * 1024;

        vm.launch()?;
        vm.blockdev_create(json!({ "driver": imgfmt,
                                   "file": "this doesn't exist",
                                   "size": size }))?;
        vm.shutdown()?;

        //
        // Zero size
        //
        t.log("=== Zero size ===");
        t.log("");

        vm.add_blockdev(format!("driver=file,filename={disk_path},node-name=node0"));
        vm.launch()?;
        vm.blockdev_create(json!({ "driver": imgfmt,
                                   "file": "node0",
                                   "key-secret": "keysec0",
                                   "size": 0,
                                   "iter-time": 10 }))?;
        vm.shutdown()?;

        luks_info_log()?;

        //
        // Invalid sizes
        //

        // TODO Negative image sizes aren't handled correctly, but this is a problem
        // with QAPI's implementation of the 'size' type and affects other commands as
        // well. Once this is fixed, we may want to add a test case here.

        // 1. 2^64 - 512
        // 2. 2^63 = 8 EB (qemu-img enforces image sizes less than this)
        // 3. 2^63 - 512 (generally valid, but with the crypto header the file will
        //                exceed 63 bits)
        t.log("=== Invalid sizes ===");
        t.log("");

        vm.launch()?;
        for size in [18446744073709551104u64, 9223372036854775808, 9223372036854775296] {
            vm.blockdev_create(json!({ "driver": imgfmt,
                                       "file": "node0",
                                       "key-secret": "keysec0",
                                       "size": size }))?;
        }
        vm.shutdown()?;

        //
        // Resize image with invalid sizes
        //
        t.log("=== Resize image with invalid sizes ===");
        t.log("");

        vm.add_blockdev("driver=luks,file=node0,key-secret=keysec0,node-name=node1");
        vm.launch()?;
        vm.qmp_log("block_resize", json!({"node_name": "node1", "size": 9223372036854775296u64}))?;
        vm.qmp_log("block_resize", json!({"node_name": "node1", "size": 9223372036854775808u64}))?;
        vm.qmp_log("block_resize", json!({"node_name": "node1", "size": 18446744073709551104u64}))?;
        vm.qmp_log("block_resize", json!({"node_name": "node1", "size": -9223372036854775808i64}))?;
        vm.shutdown()?;

        luks_info_log()?;
        Ok(())
    }
}
