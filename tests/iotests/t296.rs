//! Upstream 296: encryption key management versus image sharing (two VMs and qemu-img on one LUKS image).

use iotests::json::dumps;
use iotests::prelude::*;

fn test_img() -> String {
    os::path::join(test_dir(), "test.img")
}

#[derive(Clone)]
struct Secret {
    id: String,
    // you are not supposed to see the password...
    secret: String,
}

impl Secret {
    fn new(index: usize) -> Secret {
        Secret { id: format!("keysec{index}"), secret: format!("hunter{index}") }
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn secret(&self) -> &str {
        &self.secret
    }

    fn to_cmdline_object(&self) -> Vec<String> {
        vec![format!("secret,id={},data={}", self.id, self.secret)]
    }

    fn to_qmp_object(&self) -> Value {
        json!({ "qom-type" : "secret", "id": self.id(),
                "data": self.secret() })
    }
}

////////////////////////////////////////////////////////////////////////////////

struct EncryptionSetupTestCase {
    vm1: Vm,
    vm2: Vm,
    secrets: Vec<Secret>,
}

#[iotests::test_case]
impl EncryptionSetupTestCase {
    fn new(t: &Case) -> Self {
        EncryptionSetupTestCase { vm1: t.vm_with("VM1"), vm2: t.vm_with("VM2"), secrets: Vec::new() }
    }

    // test case startup
    fn set_up(&mut self, t: &Case) -> Result<()> {
        // start the VMs
        self.vm1 = t.vm_with("VM1");
        self.vm2 = t.vm_with("VM2");
        self.vm1.launch()?;
        self.vm2.launch()?;

        // create the secrets and load 'em into the VMs
        self.secrets = (0..4).map(Secret::new).collect();
        for secret in &self.secrets {
            self.vm1.cmd("object-add", secret.to_qmp_object())?;
            self.vm2.cmd("object-add", secret.to_qmp_object())?;
        }
        Ok(())
    }

    // test case shutdown
    fn tear_down(&mut self) -> Result<()> {
        // stop the VM
        self.vm1.shutdown()?;
        self.vm2.shutdown()
    }

    ///////////////////////////////////////////////////////////////////////////
    // create the encrypted block device using qemu-img
    fn create_img(&self, t: &Case, file: &str, secret: &Secret) -> Result<()> {
        let mut args = args!["create", "--object"];
        args.extend(secret.to_cmdline_object());
        args.extend(args![
            "-f",
            imgfmt(),
            "-o",
            format!("key-secret={}", secret.id()),
            "-o",
            "iter-time=10",
            file,
            "1M"
        ]);
        t.qemu_img(&args)?;
        t.log("");
        Ok(())
    }

    // attempts to add a key using qemu-img
    fn add_key(&self, t: &Case, file: &str, secret: &Secret, new_secret: &Secret) -> Result<()> {
        let image_options = json!({
        "key-secret" : secret.id(),
        "driver" : imgfmt(),
        "file" : {
            "driver":"file",
            "filename": file,
            }
        });

        let mut args = args!["amend", "--object"];
        args.extend(secret.to_cmdline_object());
        args.push("--object".into());
        args.extend(new_secret.to_cmdline_object());
        args.extend(args![
            "-o",
            "state=active",
            "-o",
            format!("new-secret={}", new_secret.id()),
            "-o",
            "iter-time=10",
            format!("json:{}", dumps(&image_options, false, None))
        ]);
        // Expected to fail. Log output.
        let output = t.qemu_img_cmd(&args).check(false).run()?.stdout;

        t.log_with(output, &[Filter::TestDir]);
        Ok(())
    }

    ///////////////////////////////////////////////////////////////////////////
    // open an encrypted block device
    // (`openImageQmp(vm, id, file, secret, readOnly = False, reOpen = False)`)
    fn open_image_qmp(
        vm: &mut Vm,
        id: &str,
        _file: &str,
        secret: &Secret,
        read_only: bool,
        re_open: bool,
    ) -> Result<()> {
        let command = if re_open { "blockdev-reopen" } else { "blockdev-add" };

        let opts = json!({
            "driver": imgfmt(),
            "node-name": id,
            "read-only": read_only,
            "key-secret" : secret.id(),
            "file": {
                "driver": "file",
                "filename": test_img(),
            }
        });

        if re_open {
            vm.cmd(command, kwargs! { options: [opts] })?;
        } else {
            vm.cmd(command, opts)?;
        }
        Ok(())
    }

    ///////////////////////////////////////////////////////////////////////////
    // add virtio-blk consumer for a block device
    // (`addImageUser(vm, id, disk_id, share_rw=False)`)
    fn add_image_user(t: &Case, vm: &mut Vm, id: &str, disk_id: &str, share_rw: bool) -> Result<()> {
        let result = vm.qmp(
            "device_add",
            json!({
                "driver": "virtio-blk",
                "id": id,
                "drive": disk_id,
                "share-rw" : share_rw
            }),
        )?;

        t.log(result);
        Ok(())
    }

    // close the encrypted block device
    fn close_image_qmp(vm: &mut Vm, id: &str) -> Result<()> {
        vm.cmd("blockdev-del", json!({"node-name": id}))?;
        Ok(())
    }

    ///////////////////////////////////////////////////////////////////////////

    // add a key to an encrypted block device
    fn add_key_qmp(t: &Case, vm: &mut Vm, id: &str, new_secret: &Secret) -> Result<()> {
        let args = json!({
            "node-name": id,
            "job-id" : "job0",
            "options" : {
                "state"     : "active",
                "driver"    : imgfmt(),
                "new-secret": new_secret.id(),
                "iter-time" : 10
            },
        });

        let result = vm.qmp("x-blockdev-amend", args)?;
        t.log(result);
        // Run the job only if it was created
        // (`events_wait([event], timeout=0.0)`: only an event at hand)
        let event = ("JOB_STATUS_CHANGE", json!({"data": {"id": "job0", "status": "created"}}));
        if vm.event_poll(event.0, Some(&event.1))?.is_some() {
            vm.run_job("job0")?;
        }
        Ok(())
    }

    // test that when the image opened by two qemu processes,
    // neither of them can update the encryption keys
    fn test1(&mut self, t: &Case) -> Result<()> {
        let secrets = self.secrets.clone();
        self.create_img(t, &test_img(), &secrets[0])?;

        // VM1 opens the image and adds a key
        Self::open_image_qmp(&mut self.vm1, "testdev", &test_img(), &secrets[0], false, false)?;
        Self::add_key_qmp(t, &mut self.vm1, "testdev", &secrets[1])?;

        // VM2 opens the image
        Self::open_image_qmp(&mut self.vm2, "testdev", &test_img(), &secrets[0], false, false)?;

        // neither VMs now should be able to add a key
        Self::add_key_qmp(t, &mut self.vm1, "testdev", &secrets[2])?;
        Self::add_key_qmp(t, &mut self.vm2, "testdev", &secrets[2])?;

        // VM 1 closes the image
        Self::close_image_qmp(&mut self.vm1, "testdev")?;

        // now VM2 can add the key
        Self::add_key_qmp(t, &mut self.vm2, "testdev", &secrets[2])?;

        // qemu-img should also not be able to add a key
        self.add_key(t, &test_img(), &secrets[0], &secrets[2])?;

        // cleanup
        Self::close_image_qmp(&mut self.vm2, "testdev")?;
        os::remove(test_img())
    }

    // test that when the image opened by two qemu processes,
    // even if first VM opens it read-only, the second can't update encryption
    // keys
    fn test2(&mut self, t: &Case) -> Result<()> {
        let secrets = self.secrets.clone();
        self.create_img(t, &test_img(), &secrets[0])?;

        // VM1 opens the image readonly
        Self::open_image_qmp(&mut self.vm1, "testdev", &test_img(), &secrets[0], true, false)?;

        // VM2 opens the image
        Self::open_image_qmp(&mut self.vm2, "testdev", &test_img(), &secrets[0], false, false)?;

        // VM1 can't add a key since image is readonly
        Self::add_key_qmp(t, &mut self.vm1, "testdev", &secrets[2])?;

        // VM2 can't add a key since VM is has the image opened
        Self::add_key_qmp(t, &mut self.vm2, "testdev", &secrets[2])?;

        //VM1 reopens the image read-write
        Self::open_image_qmp(&mut self.vm1, "testdev", &test_img(), &secrets[0], false, true)?;

        // VM1 still can't add the key
        Self::add_key_qmp(t, &mut self.vm1, "testdev", &secrets[2])?;

        // VM2 gets away
        Self::close_image_qmp(&mut self.vm2, "testdev")?;

        // VM1 now can add the key
        Self::add_key_qmp(t, &mut self.vm1, "testdev", &secrets[2])?;

        Self::close_image_qmp(&mut self.vm1, "testdev")?;
        os::remove(test_img())
    }

    // test that two VMs can't open the same luks image by default
    // and attach it to a guest device
    fn test3(&mut self, t: &Case) -> Result<()> {
        let secrets = self.secrets.clone();
        self.create_img(t, &test_img(), &secrets[0])?;

        Self::open_image_qmp(&mut self.vm1, "testdev", &test_img(), &secrets[0], false, false)?;
        Self::add_image_user(t, &mut self.vm1, "testctrl", "testdev", false)?;

        Self::open_image_qmp(&mut self.vm2, "testdev", &test_img(), &secrets[0], false, false)?;
        Self::add_image_user(t, &mut self.vm2, "testctrl", "testdev", false)
    }

    // test that two VMs can attach the same luks image to a guest device,
    // if both use share-rw=on
    fn test4(&mut self, t: &Case) -> Result<()> {
        let secrets = self.secrets.clone();
        self.create_img(t, &test_img(), &secrets[0])?;

        Self::open_image_qmp(&mut self.vm1, "testdev", &test_img(), &secrets[0], false, false)?;
        Self::add_image_user(t, &mut self.vm1, "testctrl", "testdev", true)?;

        Self::open_image_qmp(&mut self.vm2, "testdev", &test_img(), &secrets[0], false, false)?;
        Self::add_image_user(t, &mut self.vm2, "testctrl", "testdev", true)
    }
}

iotests::iotest! {
    name: "296", groups: [rw],
    // support only raw luks since luks encrypted qcow2 is a proper
    // format driver which doesn't allow any sharing
    supported_fmts: ["luks"],
    activate_logging: true,
    // Evidence: upstream's own check fails the same way in every luks cell (the oracle's 296.diff: the
    // same log up to each abort, then `qemu received signal 6`); the backtrace in QEMU's fix, commit
    // c86488abaf01 ("block: fix luks 'amend' when run in coroutine", stable 10.0.7), runs
    // blockdev_amend_run -> qcrypto_block_luks_amend_options -> block_crypto_read_func.
    xfail: "QEMU 10.0.2 aborts on the first x-blockdev-amend job that runs on a luks node (test1, test2): the \
            job's coroutine calls block_crypto_read_func(), which takes the main-loop graph lock \
            (block/graph-lock.c: bdrv_graph_rdlock_main_loop: Assertion `!qemu_in_coroutine()' failed); a \
            regression of QEMU commit 1f051dcbdf2e, reported on qemu-devel (\"Some iotests are failing with \
            -luks\", 2025-09); test3 and test4 pass",
    fn t296: unittest { EncryptionSetupTestCase }
}
