//! Upstream tests/luks-detached-header: LUKS volumes with a detached header (raw and qcow2 payloads): creation
//! and I/O.

use iotests::json::dumps;
use iotests::prelude::*;

const IMAGE_SIZE: u64 = 128 * 1024 * 1024;

fn luks_img() -> String {
    os::path::join(test_dir(), "luks.img")
}

fn detached_header_img1() -> String {
    os::path::join(test_dir(), "detached_header.img1")
}

fn detached_header_img2() -> String {
    os::path::join(test_dir(), "detached_header.img2")
}

fn detached_payload_raw_img() -> String {
    os::path::join(test_dir(), "detached_payload_raw.img")
}

fn detached_payload_qcow2_img() -> String {
    os::path::join(test_dir(), "detached_payload_qcow2.img")
}

fn detached_header_raw_img() -> String {
    "json:".to_string()
        + &dumps(
            &json!({
                "driver": "luks",
                "file": {"filename": detached_payload_raw_img()},
                "header": {
                    "filename": detached_header_img1(),
                },
            }),
            false,
            None,
        )
}

fn detached_header_qcow2_img() -> String {
    "json:".to_string()
        + &dumps(
            &json!({
                "driver": "luks",
                "file": {"filename": detached_payload_qcow2_img()},
                "header": {"filename": detached_header_img2()},
            }),
            false,
            None,
        )
}

const SECRET_OBJ: &str = "secret,id=sec0,data=foo";
const LUKS_OPTS: &str = "key-secret=sec0";

struct TestDetachedLUKSHeader {
    vm: Vm,
}

#[iotests::test_case]
impl TestDetachedLUKSHeader {
    fn new(t: &Case) -> Self {
        TestDetachedLUKSHeader { vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        self.vm = t.vm();
        self.vm.add_object(SECRET_OBJ);
        self.vm.launch()?;

        // 1. Create the normal LUKS disk with 128M size
        self.vm.blockdev_create(json!({"driver": "file", "filename": luks_img(), "size": 0}))?;
        self.vm.qmp_log(
            "blockdev-add",
            kwargs! {
                driver: "file",
                filename: luks_img(),
                node_name: "luks-1-storage",
            },
        )?;
        let result = self.vm.blockdev_create(json!({
            "driver": imgfmt(),
            "file": "luks-1-storage",
            "key-secret": "sec0",
            "size": IMAGE_SIZE,
            "iter-time": 10,
        }))?;
        // None is expected
        assert_equal!(result, None::<Value>);

        // 2. Create the LUKS disk with detached header (raw)

        // Create detached LUKS header
        self.vm.blockdev_create(json!({"driver": "file", "filename": detached_header_img1(), "size": 0}))?;
        self.vm.qmp_log(
            "blockdev-add",
            kwargs! {
                driver: "file",
                filename: detached_header_img1(),
                node_name: "luks-2-header-storage",
            },
        )?;

        // Create detached LUKS raw payload
        self.vm.blockdev_create(json!({"driver": "file", "filename": detached_payload_raw_img(), "size": 0}))?;
        self.vm.qmp_log(
            "blockdev-add",
            kwargs! {
                driver: "file",
                filename: detached_payload_raw_img(),
                node_name: "luks-2-payload-storage",
            },
        )?;

        // Format LUKS disk with detached header
        let result = self.vm.blockdev_create(json!({
            "driver": imgfmt(),
            "header": "luks-2-header-storage",
            "file": "luks-2-payload-storage",
            "key-secret": "sec0",
            "preallocation": "full",
            "size": IMAGE_SIZE,
            "iter-time": 10,
        }))?;
        assert_equal!(result, None::<Value>);

        self.vm.shutdown()?;

        // 3. Create the LUKS disk with detached header (qcow2)

        // Create detached LUKS header using qemu-img
        let res = t.qemu_img_create(&args![
            "-f",
            "luks",
            "--object",
            SECRET_OBJ,
            "-o",
            LUKS_OPTS,
            "-o",
            "detached-header=true",
            detached_header_img2(),
        ])?;
        ensure!(res.returncode == 0);

        // Create detached LUKS qcow2 payload
        let res = t.qemu_img_create(&args!["-f", "qcow2", detached_payload_qcow2_img(), IMAGE_SIZE.to_string()])?;
        ensure!(res.returncode == 0);
        Ok(())
    }

    fn tear_down(&mut self, t: &Case) -> Result<()> {
        os::remove(luks_img())?;
        os::remove(detached_header_img1())?;
        os::remove(detached_header_img2())?;
        os::remove(detached_payload_raw_img())?;
        os::remove(detached_payload_qcow2_img())?;

        // Check if there was any qemu-io run that failed
        let log = self.vm.get_log().unwrap_or_default();
        if log.contains("Pattern verification failed") {
            t.print("ERROR: Pattern verification failed:");
            t.print(log);
            return Err(t.fail("qemu-io pattern verification failed"));
        }
        Ok(())
    }

    fn test_img_creation(&mut self, t: &Case) -> Result<()> {
        // Check if the images created above are expected

        let info = t.qemu_img_info(&[luks_img()])?;
        let data = dictpath(&info, "format-specific")?;
        assert_equal!(dictpath(data, "type")?, imgfmt());
        assert_equal!(dictpath(data, "data/detached-header")?, false);

        let info = t.qemu_img_info(&[detached_header_raw_img()])?;
        let data = dictpath(&info, "format-specific")?;
        assert_equal!(dictpath(data, "type")?, imgfmt());
        assert_equal!(dictpath(data, "data/detached-header")?, true);

        let info = t.qemu_img_info(&[detached_header_qcow2_img()])?;
        let data = dictpath(&info, "format-specific")?;
        assert_equal!(dictpath(data, "type")?, imgfmt());
        assert_equal!(dictpath(data, "data/detached-header")?, true);

        // Check if preallocation works
        let info = t.qemu_img_info(&[detached_payload_raw_img()])?;
        let size = dictpath(&info, "actual-size")?;
        assert_greater_equal!(size, IMAGE_SIZE);
        Ok(())
    }

    fn test_detached_luks_header(&mut self) -> Result<()> {
        self.vm.launch()?;

        // 1. Add the disk created above

        // Add normal LUKS disk
        self.vm.qmp_log(
            "blockdev-add",
            kwargs! {
                driver: "file",
                filename: luks_img(),
                node_name: "luks-1-storage",
            },
        )?;
        let result = self.vm.qmp_log(
            "blockdev-add",
            kwargs! {
                driver: "luks",
                file: "luks-1-storage",
                key_secret: "sec0",
                node_name: "luks-1-format",
            },
        )?;

        // Expected result{ "return": {} }
        assert_qmp(&result, "return", json!({}))?;

        // Add detached LUKS header with raw payload
        self.vm.qmp_log(
            "blockdev-add",
            kwargs! {
                driver: "file",
                filename: detached_header_img1(),
                node_name: "luks-header1-storage",
            },
        )?;

        self.vm.qmp_log(
            "blockdev-add",
            kwargs! {
                driver: "file",
                filename: detached_payload_raw_img(),
                node_name: "luks-2-payload-raw-storage",
            },
        )?;

        let result = self.vm.qmp_log(
            "blockdev-add",
            kwargs! {
                driver: imgfmt(),
                header: "luks-header1-storage",
                file: "luks-2-payload-raw-storage",
                key_secret: "sec0",
                node_name: "luks-2-payload-raw-format",
            },
        )?;
        assert_qmp(&result, "return", json!({}))?;

        // Add detached LUKS header with qcow2 payload
        self.vm.qmp_log(
            "blockdev-add",
            kwargs! {
                driver: "file",
                filename: detached_header_img2(),
                node_name: "luks-header2-storage",
            },
        )?;

        self.vm.qmp_log(
            "blockdev-add",
            kwargs! {
                driver: "file",
                filename: detached_payload_qcow2_img(),
                node_name: "luks-3-payload-qcow2-storage",
            },
        )?;

        let result = self.vm.qmp_log(
            "blockdev-add",
            kwargs! {
                driver: imgfmt(),
                header: "luks-header2-storage",
                file: "luks-3-payload-qcow2-storage",
                key_secret: "sec0",
                node_name: "luks-3-payload-qcow2-format",
            },
        )?;
        assert_qmp(&result, "return", json!({}))?;

        // 2. Do I/O test

        // Do some I/O to the image to see whether it still works
        // (Pattern verification will be checked by tearDown())

        // Normal LUKS disk
        let result = self.vm.qmp_log(
            "human-monitor-command",
            kwargs! { command_line: r#"qemu-io luks-1-format "write -P 40 0 64k""# },
        )?;
        assert_qmp(&result, "return", "")?;

        let result = self.vm.qmp_log(
            "human-monitor-command",
            kwargs! { command_line: r#"qemu-io luks-1-format "read -P 40 0 64k""# },
        )?;
        assert_qmp(&result, "return", "")?;

        // Detached LUKS header with raw payload
        let cmd = r#"qemu-io luks-2-payload-raw-format "write -P 41 0 64k""#;
        let result = self.vm.qmp("human-monitor-command", kwargs! { command_line: cmd })?;
        assert_qmp(&result, "return", "")?;

        let cmd = r#"qemu-io luks-2-payload-raw-format "read -P 41 0 64k""#;
        let result = self.vm.qmp("human-monitor-command", kwargs! { command_line: cmd })?;
        assert_qmp(&result, "return", "")?;

        // Detached LUKS header with qcow2 payload
        let cmd = r#"qemu-io luks-3-payload-qcow2-format "write -P 42 0 64k""#;
        let result = self.vm.qmp("human-monitor-command", kwargs! { command_line: cmd })?;
        assert_qmp(&result, "return", "")?;

        let cmd = r#"qemu-io luks-3-payload-qcow2-format "read -P 42 0 64k""#;
        let result = self.vm.qmp("human-monitor-command", kwargs! { command_line: cmd })?;
        assert_qmp(&result, "return", "")?;

        self.vm.shutdown()
    }
}

iotests::iotest! {
    name: "luks-detached-header", groups: [rw, auto],
    // Test image creation and I/O
    supported_fmts: ["luks"],
    supported_protocols: ["file"],
    // Evidence: upstream's own check fails the same way (oracle luks-detached-header.diff: the same qemu-img
    // command line and error in setUp, for both cases); QEMU's fix is commit 6eda39a87f4f ("block: remove
    // 'detached-header' option from opts after use", stable 10.0.7), which bisects the breakage to e818c01ae6e7.
    xfail: "qemu-img 10.0.2 refuses `create -f luks -o detached-header=true` (\"Parameter 'detached-header' is \
            unexpected\"), so setUp fails for both cases: QEMU commit e818c01ae6e7 dropped the option from the \
            QAPI schema while block/crypto.c still passes it on (qemu_opt_get_bool instead of \
            qemu_opt_get_bool_del); reported on qemu-devel (\"Some iotests are failing with -luks\", 2025-09)",
    fn luks_detached_header: unittest { TestDetachedLUKSHeader }
}
