//! Upstream 206: test qcow2 and file image creation.
//!
//! ```python
//! # group: rw
//! iotests.script_initialize(supported_fmts=['qcow2'],
//!                           supported_protocols=['file'])
//! ```

use iotests::Filter;
use serde_json::json;

iotests::iotest! {
    name: "206", groups: [rw],
    supported_fmts: ["qcow2"],
    supported_protocols: ["file"],
    fn t206(t) {
        t.verify_working_luks()?;
        let imgfmt = t.imgfmt();

        let disk_path = t.scoped_file_paths(["t.qcow2"]);
        let disk_path = &disk_path[0];
        let backing_path = t.scoped_file_paths(["t.qcow2.base"]);
        let backing_path = &backing_path[0];
        let mut vm = t.vm();

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

        vm.qmp_log_with("blockdev-add",
                   json!({"driver": "file", "filename": disk_path,
                          "node_name": "imgfile"}),
                   &[Filter::QmpTestfiles])?;

        vm.blockdev_create(json!({ "driver": imgfmt,
                                   "file": "imgfile",
                                   "size": size }))?;
        vm.shutdown()?;

        t.img_info_log(disk_path)?;

        //
        // Successful image creation (inline blockdev-add, explicit defaults)
        //
        t.log("=== Successful image creation (inline blockdev-add, explicit defaults) ===");
        t.log("");

        // Choose a different size to show that we got a new image
        let size = 64 * 1024 * 1024;

        vm.launch()?;
        vm.blockdev_create(json!({ "driver": "file",
                                   "filename": disk_path,
                                   "size": 0,
                                   "preallocation": "off",
                                   "nocow": false }))?;

        vm.blockdev_create(json!({ "driver": imgfmt,
                                   "file": {
                                       "driver": "file",
                                       "filename": disk_path,
                                   },
                                   "size": size,
                                   "version": "v3",
                                   "cluster-size": 65536,
                                   "preallocation": "off",
                                   "lazy-refcounts": false,
                                   "refcount-bits": 16 }))?;
        vm.shutdown()?;

        t.img_info_log(disk_path)?;

        //
        // Successful image creation (v3 non-default options)
        //
        t.log("=== Successful image creation (v3 non-default options) ===");
        t.log("");

        // Choose a different size to show that we got a new image
        let size = 32 * 1024 * 1024;

        vm.launch()?;
        vm.blockdev_create(json!({ "driver": "file",
                                   "filename": disk_path,
                                   "size": 0,
                                   "preallocation": "falloc",
                                   "nocow": true }))?;

        vm.blockdev_create(json!({ "driver": imgfmt,
                                   "file": {
                                       "driver": "file",
                                       "filename": disk_path,
                                   },
                                   "size": size,
                                   "version": "v3",
                                   "cluster-size": 2097152,
                                   "preallocation": "metadata",
                                   "lazy-refcounts": true,
                                   "refcount-bits": 1 }))?;
        vm.shutdown()?;

        t.img_info_log(disk_path)?;

        //
        // Successful image creation (v2 non-default options)
        //
        t.log("=== Successful image creation (v2 non-default options) ===");
        t.log("");

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
                                   "backing-file": backing_path,
                                   "backing-fmt": "qcow2",
                                   "version": "v2",
                                   "cluster-size": 512 }))?;
        vm.shutdown()?;

        t.img_info_log(disk_path)?;

        //
        // Successful image creation (encrypted)
        //
        t.log("=== Successful image creation (encrypted) ===");
        t.log("");

        vm.launch()?;
        vm.blockdev_create(json!({ "driver": imgfmt,
                                   "file": {
                                       "driver": "file",
                                       "filename": disk_path,
                                   },
                                   "size": size,
                                   "encrypt": {
                                       "format": "luks",
                                       "key-secret": "keysec0",
                                       "cipher-alg": "aes-128",
                                       "cipher-mode": "cbc",
                                       "ivgen-alg": "plain64",
                                       "ivgen-hash-alg": "md5",
                                       "hash-alg": "sha1",
                                       "iter-time": 10,
                                   }}))?;
        vm.shutdown()?;

        t.img_info_log(disk_path)?;

        //
        // Invalid BlockdevRef
        //
        t.log("=== Invalid BlockdevRef ===");
        t.log("");

        vm.launch()?;
        vm.blockdev_create(json!({ "driver": imgfmt,
                                   "file": "this doesn't exist",
                                   "size": size }))?;
        vm.shutdown()?;

        //
        // Invalid sizes
        //
        t.log("=== Invalid sizes ===");

        // TODO Negative image sizes aren't handled correctly, but this is a problem
        // with QAPI's implementation of the 'size' type and affects other commands
        // as well. Once this is fixed, we may want to add a test case here.
        //
        // 1. Misaligned image size
        // 2. 2^64 - 512
        // 3. 2^63 = 8 EB (qemu-img enforces image sizes less than this)
        // 4. 2^63 - 512 (generally valid, but qcow2 can't handle images this size)

        vm.add_blockdev(format!("driver=file,filename={disk_path},node-name=node0"));

        vm.launch()?;
        for size in [1234u64, 18446744073709551104, 9223372036854775808,
                     9223372036854775296, 9223372035781033984] {
            vm.blockdev_create(json!({ "driver": imgfmt,
                                       "file": "node0",
                                       "size": size }))?;
        }
        vm.shutdown()?;

        //
        // Invalid version
        //
        t.log("=== Invalid version ===");

        vm.launch()?;
        vm.blockdev_create(json!({ "driver": imgfmt,
                                   "file": "node0",
                                   "size": 67108864,
                                   "version": "v1" }))?;
        vm.blockdev_create(json!({ "driver": imgfmt,
                                   "file": "node0",
                                   "size": 67108864,
                                   "version": "v2",
                                   "lazy-refcounts": true }))?;
        vm.blockdev_create(json!({ "driver": imgfmt,
                                   "file": "node0",
                                   "size": 67108864,
                                   "version": "v2",
                                   "refcount-bits": 8 }))?;
        vm.shutdown()?;

        //
        // Invalid backing file options
        //
        t.log("=== Invalid backing file options ===");

        vm.launch()?;
        vm.blockdev_create(json!({ "driver": imgfmt,
                                   "file": "node0",
                                   "size": 67108864,
                                   "backing-file": "/dev/null",
                                   "preallocation": "full" }))?;
        vm.blockdev_create(json!({ "driver": imgfmt,
                                   "file": "node0",
                                   "size": 67108864,
                                   "backing-fmt": imgfmt }))?;
        vm.shutdown()?;

        //
        // Invalid cluster size
        //
        t.log("=== Invalid cluster size ===");

        vm.launch()?;
        for csize in [1234, 128, 4194304, 0] {
            vm.blockdev_create(json!({ "driver": imgfmt,
                                       "file": "node0",
                                       "size": 67108864,
                                       "cluster-size": csize }))?;
        }
        vm.blockdev_create(json!({ "driver": imgfmt,
                                   "file": "node0",
                                   "size": 281474976710656u64,
                                   "cluster-size": 512 }))?;
        vm.shutdown()?;

        //
        // Invalid refcount width
        //
        t.log("=== Invalid refcount width ===");

        vm.launch()?;
        for refcount_bits in [128, 0, 7] {
            vm.blockdev_create(json!({ "driver": imgfmt,
                                       "file": "node0",
                                       "size": 67108864,
                                       "refcount-bits": refcount_bits }))?;
        }
        vm.shutdown()?;
        Ok(())
    }
}
