//! Upstream 057: internal snapshots created and deleted through QMP transactions.

use iotests::prelude::*;

fn test_drv_base_name() -> &'static str {
    "drive"
}

/// One entry of `self.expect`: `{'image': …, 'device': …, 'snapshots': […],
/// 'snapshots_name_counter': …}`; the snapshots are dicts (filled in from
/// `query-block` by `verifySnapshotInfo`).
struct DevExpect {
    image: String,
    device: String,
    snapshots: Vec<Value>,
    snapshots_name_counter: u32,
}

struct ImageSnapshotTestCase {
    image_len: u64,
    expect: Vec<DevExpect>,
    vm: Vm,
}

#[iotests::test_case]
impl ImageSnapshotTestCase {
    fn new(t: &Case) -> Self {
        ImageSnapshotTestCase { image_len: 120 * 1024 * 1024, expect: Vec::new(), vm: t.vm() }
    }

    fn _set_up(&mut self, t: &Case, test_img_base_name: &str, image_num: u32) -> Result<()> {
        self.vm = t.vm();
        for i in 0..image_num {
            let filename = format!("{test_img_base_name}{i}");
            let img = os::path::join(test_dir(), &filename);
            let device = format!("{}{i}", test_drv_base_name());
            t.qemu_img(&args!["create", "-f", imgfmt(), &img, self.image_len.to_string()])?;
            self.vm.add_drive(&img);
            self.expect.push(DevExpect { image: img, device, snapshots: Vec::new(), snapshots_name_counter: 0 });
        }
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        for dev_expect in &self.expect {
            os::remove(&dev_expect.image)?;
        }
        Ok(())
    }

    fn create_snapshot_in_transaction(&mut self, snapshot_num: u32, abort: bool) -> Result<()> {
        let mut actions = Vec::new();
        for dev_expect in &mut self.expect {
            let mut num = dev_expect.snapshots_name_counter;
            for _j in 0..snapshot_num {
                let name = format!("{}_sn{num}", dev_expect.device);
                num += 1;
                if !abort {
                    dev_expect.snapshots.push(json!({"name": name}));
                    dev_expect.snapshots_name_counter = num;
                }
                actions.push(json!({
                    "type": "blockdev-snapshot-internal-sync",
                    "data": { "device": dev_expect.device,
                              "name": name },
                }));
            }
        }

        if abort {
            actions.push(json!({
                "type": "abort",
                "data": {},
            }));
        }

        let result = self.vm.qmp("transaction", kwargs! { actions: actions })?;

        if abort {
            assert_qmp(&result, "error/class", "GenericError")?;
        } else {
            assert_qmp(&result, "return", json!({}))?;
        }
        Ok(())
    }

    fn verify_snapshot_info(&mut self) -> Result<()> {
        let result = self.vm.qmp("query-block", ())?;

        // Verify each expected result
        for dev_expect in &mut self.expect {
            // 1. Find the returned image value and snapshot info
            let mut image_result = None;
            for device in result["return"].as_array().into_iter().flatten() {
                if device["device"] == dev_expect.device.as_str() {
                    image_result = Some(&device["inserted"]["image"]);
                    break;
                }
            }
            assert_true!(image_result.is_some());
            // Do not consider zero snapshot case now
            let sn_list_result =
                dictpath(image_result.unwrap_or(&Value::Null), "snapshots")?.as_array().cloned().unwrap_or_default();
            let sn_list_expect = &mut dev_expect.snapshots;

            // 2. Verify it with expect
            assert_true!(sn_list_result.len() == sn_list_expect.len());

            for sn_expect in sn_list_expect.iter_mut() {
                let mut sn_result = None;
                for sn in &sn_list_result {
                    if sn_expect["name"] == sn["name"] {
                        sn_result = Some(sn);
                        break;
                    }
                }
                assert_true!(sn_result.is_some());
                // Fill in the detail info
                if let (Some(expect), Some(Value::Object(found))) = (sn_expect.as_object_mut(), sn_result) {
                    for (k, v) in found {
                        expect.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        Ok(())
    }

    fn delete_snapshot(&mut self, device: &str, id: Option<Value>, name: Option<Value>) -> Result<()> {
        let mut sn_expect = None;
        let mut result = Value::Null;

        assert_true!(id.is_some() || name.is_some());

        // Fill in the detail info include ID
        self.verify_snapshot_info()?;

        //find the expected snapshot list
        let sn_list_expect = self.expect.iter().position(|dev_expect| dev_expect.device == device);
        assert_true!(sn_list_expect.is_some());
        let sn_list_expect = sn_list_expect.unwrap_or_default();
        let snapshots = self.expect[sn_list_expect].snapshots.clone();

        if let (Some(id), Some(name)) = (&id, &name) {
            for sn in &snapshots {
                if &sn["id"] == id && &sn["name"] == name {
                    sn_expect = Some(sn.clone());
                    result = self.vm.qmp(
                        "blockdev-snapshot-delete-internal-sync",
                        kwargs! { device: device, id: id, name: name },
                    )?;
                    break;
                }
            }
        } else if let Some(id) = &id {
            for sn in &snapshots {
                if &sn["id"] == id {
                    sn_expect = Some(sn.clone());
                    result =
                        self.vm.qmp("blockdev-snapshot-delete-internal-sync", kwargs! { device: device, id: id })?;
                    break;
                }
            }
        } else {
            for sn in &snapshots {
                if Some(&sn["name"]) == name.as_ref() {
                    sn_expect = Some(sn.clone());
                    result = self
                        .vm
                        .qmp("blockdev-snapshot-delete-internal-sync", kwargs! { device: device, name: name })?;
                    break;
                }
            }
        }

        assert_true!(sn_expect.is_some());
        let sn_expect = sn_expect.unwrap_or_default();

        assert_qmp(&result, "return", sn_expect.clone())?;
        let list = &mut self.expect[sn_list_expect].snapshots;
        if let Some(i) = list.iter().position(|sn| *sn == sn_expect) {
            list.remove(i);
        }
        Ok(())
    }
}

struct TestSingleTransaction {
    base: ImageSnapshotTestCase,
}

#[iotests::test_case(extends = ImageSnapshotTestCase)]
impl TestSingleTransaction {
    fn new(t: &Case) -> Result<Self> {
        Ok(TestSingleTransaction { base: ImageSnapshotTestCase::new(t)? })
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        self._set_up(t, "test_a.img", 1)
    }

    fn test_create(&mut self) -> Result<()> {
        self.create_snapshot_in_transaction(1, false)?;
        self.verify_snapshot_info()
    }

    fn test_error_name_empty(&mut self) -> Result<()> {
        let actions = json!([{"type": "blockdev-snapshot-internal-sync",
          "data": { "device": self.expect[0].device,
                    "name": "" },
        }]);
        let result = self.vm.qmp("transaction", kwargs! { actions: actions })?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn test_error_device(&mut self) -> Result<()> {
        let actions = json!([{"type": "blockdev-snapshot-internal-sync",
          "data": { "device": "drive_error",
                    "name": "a" },
        }]);
        let result = self.vm.qmp("transaction", kwargs! { actions: actions })?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn test_error_exist(&mut self) -> Result<()> {
        self.create_snapshot_in_transaction(1, false)?;
        self.verify_snapshot_info()?;
        let actions = json!([{"type": "blockdev-snapshot-internal-sync",
          "data": { "device": self.expect[0].device,
                    "name": self.expect[0].snapshots[0] },
        }]);
        let result = self.vm.qmp("transaction", kwargs! { actions: actions })?;
        assert_qmp(&result, "error/class", "GenericError")
    }
}

struct TestMultipleTransaction {
    base: ImageSnapshotTestCase,
}

#[iotests::test_case(extends = ImageSnapshotTestCase)]
impl TestMultipleTransaction {
    fn new(t: &Case) -> Result<Self> {
        Ok(TestMultipleTransaction { base: ImageSnapshotTestCase::new(t)? })
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        self._set_up(t, "test_b.img", 2)
    }

    fn test_create(&mut self) -> Result<()> {
        self.create_snapshot_in_transaction(3, false)?;
        self.verify_snapshot_info()
    }

    fn test_abort(&mut self) -> Result<()> {
        self.create_snapshot_in_transaction(2, false)?;
        self.verify_snapshot_info()?;
        self.create_snapshot_in_transaction(3, true)?;
        self.verify_snapshot_info()
    }
}

struct TestSnapshotDelete {
    base: ImageSnapshotTestCase,
}

#[iotests::test_case(extends = ImageSnapshotTestCase)]
impl TestSnapshotDelete {
    fn new(t: &Case) -> Result<Self> {
        Ok(TestSnapshotDelete { base: ImageSnapshotTestCase::new(t)? })
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        self._set_up(t, "test_c.img", 1)
    }

    fn test_delete_with_id(&mut self) -> Result<()> {
        self.create_snapshot_in_transaction(2, false)?;
        self.verify_snapshot_info()?;
        let device = self.expect[0].device.clone();
        let id = self.expect[0].snapshots[0]["id"].clone();
        self.delete_snapshot(&device, Some(id), None)?;
        self.verify_snapshot_info()
    }

    fn test_delete_with_name(&mut self) -> Result<()> {
        self.create_snapshot_in_transaction(3, false)?;
        self.verify_snapshot_info()?;
        let device = self.expect[0].device.clone();
        let name = self.expect[0].snapshots[1]["name"].clone();
        self.delete_snapshot(&device, None, Some(name))?;
        self.verify_snapshot_info()
    }

    fn test_delete_with_id_and_name(&mut self) -> Result<()> {
        self.create_snapshot_in_transaction(4, false)?;
        self.verify_snapshot_info()?;
        let device = self.expect[0].device.clone();
        let id = self.expect[0].snapshots[2]["id"].clone();
        let name = self.expect[0].snapshots[2]["name"].clone();
        self.delete_snapshot(&device, Some(id), Some(name))?;
        self.verify_snapshot_info()
    }

    fn test_error_device(&mut self) -> Result<()> {
        let result =
            self.vm.qmp("blockdev-snapshot-delete-internal-sync", kwargs! { device: "drive_error", id: "0" })?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn test_error_no_id_and_name(&mut self) -> Result<()> {
        let device = self.expect[0].device.clone();
        let result = self.vm.qmp("blockdev-snapshot-delete-internal-sync", kwargs! { device: device })?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn test_error_snapshot_not_exist(&mut self) -> Result<()> {
        self.create_snapshot_in_transaction(2, false)?;
        self.verify_snapshot_info()?;
        let args = kwargs! { device: self.expect[0].device,
        id: self.expect[0].snapshots[0]["id"],
        name: self.expect[0].snapshots[1]["name"] };
        let result = self.vm.qmp("blockdev-snapshot-delete-internal-sync", args)?;
        assert_qmp(&result, "error/class", "GenericError")
    }
}

iotests::iotest! {
    name: "057", groups: [rw],
    supported_fmts: ["qcow2"],
    supported_protocols: ["file"],
    fn t057: unittest { TestSingleTransaction, TestMultipleTransaction, TestSnapshotDelete }
}
