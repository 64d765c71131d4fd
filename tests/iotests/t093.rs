//! Upstream 093: I/O throttling (block_set_io_throttle limits, bursts, throttle groups and their names,
//! removable media), measured against qtest's virtual clock.

use iotests::prelude::*;
use serde_json::Map;

const NSEC_PER_SEC: u64 = 1_000_000_000;

/// A Python dict of throttling parameters, in insertion order.
type Params = Map<String, Value>;

/// `dict(...)` of `(name, value)` pairs.
fn params_of(pairs: &[(&str, u64)]) -> Params {
    pairs.iter().map(|(k, v)| (k.to_string(), json!(v))).collect()
}

/// `params[key]` as a number (`KeyError` when missing, as in Python).
fn param(params: &Params, key: &str) -> Result<u64> {
    params.get(key).and_then(Value::as_u64).ok_or_else(|| Error::python("KeyError", format!("'{key}'")))
}

/// `dict([(k, 0) for k in params])`
fn zeroed(params: &Params) -> Params {
    params.keys().map(|k| (k.clone(), json!(0))).collect()
}

struct ThrottleTestCase {
    test_driver: &'static str,
    max_drives: u64,
    vm: Vm,
}

#[iotests::test_case]
impl ThrottleTestCase {
    fn new(t: &Case) -> Self {
        ThrottleTestCase { test_driver: "null-aio", max_drives: 3, vm: t.vm() }
    }

    fn blockstats(&mut self, device: &str) -> Result<(u64, u64, u64, u64)> {
        let result = self.vm.qmp("query-blockstats", ())?;
        for r in dictpath(&result, "return")?.as_array().into_iter().flatten() {
            if *dictpath(r, "device")? == device {
                let stat = dictpath(r, "stats")?;
                // `stat['rd_bytes']`…: a KeyError when missing, as in Python.
                let n = |k: &str| dictpath(stat, k).map(|v| v.as_u64().unwrap_or_default());
                return Ok((n("rd_bytes")?, n("rd_operations")?, n("wr_bytes")?, n("wr_operations")?));
            }
        }
        Err(Error::exception(format!("Device not found for blockstats: {device}")))
    }

    fn required_drivers(&self) -> Vec<&'static str> {
        vec![self.test_driver]
    }

    #[skip_if_unsupported(self.required_drivers())]
    fn set_up(&mut self, t: &Case) -> Result<()> {
        self.vm = t.vm();
        for _ in 0..self.max_drives {
            self.vm.add_drive_with(format!("{}://", self.test_driver), "file.read-zeroes=on");
        }
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()
    }

    fn configure_throttle(&mut self, ndrives: u64, params: &mut Params) -> Result<()> {
        params.insert("group".into(), json!("test"));

        // Set the I/O throttling parameters to all drives
        for i in 0..ndrives {
            params.insert("device".into(), json!(format!("drive{i}")));
            self.vm.cmd("block_set_io_throttle", Value::Object(params.clone()))?;
        }
        Ok(())
    }

    fn do_test_throttle(&mut self, ndrives: u64, seconds: u64, params: &Params, first_drive: u64) -> Result<()> {
        let check_limit = |limit: u64, num: u64| {
            // IO throttling algorithm is discrete, allow 10% error so the test
            // is more robust
            let (seconds, limit, num, ndrives) = (seconds as f64, limit as f64, num as f64, ndrives as f64);
            limit == 0.0 || (num < seconds * limit * 1.1 / ndrives && num > seconds * limit * 0.9 / ndrives)
        };

        // Set vm clock to a known value
        let ns = seconds * NSEC_PER_SEC;
        self.vm.qtest(&format!("clock_step {ns}"))?;

        // Submit enough requests so the throttling mechanism kicks
        // in. The throttled requests won't be executed until we
        // advance the virtual clock.
        let rq_size = 512;
        let mut rd_nr = (param(params, "bps")? / rq_size / 2)
            .max(param(params, "bps_rd")? / rq_size)
            .max(param(params, "iops")? / 2)
            .max(param(params, "iops_rd")?);
        rd_nr *= seconds * 2;
        rd_nr /= ndrives;
        let mut wr_nr = (param(params, "bps")? / rq_size / 2)
            .max(param(params, "bps_wr")? / rq_size)
            .max(param(params, "iops")? / 2)
            .max(param(params, "iops_wr")?);
        wr_nr *= seconds * 2;
        wr_nr /= ndrives;

        // Send I/O requests to all drives
        for i in 0..rd_nr {
            for drive in 0..ndrives {
                let idx = first_drive + drive;
                self.vm.hmp_qemu_io(&format!("drive{idx}"), &format!("aio_read {} {rq_size}", i * rq_size))?;
            }
        }

        for i in 0..wr_nr {
            for drive in 0..ndrives {
                let idx = first_drive + drive;
                self.vm.hmp_qemu_io(&format!("drive{idx}"), &format!("aio_write {} {rq_size}", i * rq_size))?;
            }
        }

        // We'll store the I/O stats for each drive in these arrays
        let n = ndrives as usize;
        let mut start = vec![(0, 0, 0, 0); n];
        let mut end = vec![(0, 0, 0, 0); n];

        // Read the stats before advancing the clock
        for (i, s) in start.iter_mut().enumerate() {
            let idx = first_drive + i as u64;
            *s = self.blockstats(&format!("drive{idx}"))?;
        }

        self.vm.qtest(&format!("clock_step {ns}"))?;

        // Read the stats after advancing the clock
        for (i, e) in end.iter_mut().enumerate() {
            let idx = first_drive + i as u64;
            *e = self.blockstats(&format!("drive{idx}"))?;
        }

        // Check that the I/O is within the limits and evenly distributed
        for i in 0..n {
            let rd_bytes = end[i].0 - start[i].0;
            let rd_iops = end[i].1 - start[i].1;
            let wr_bytes = end[i].2 - start[i].2;
            let wr_iops = end[i].3 - start[i].3;

            assert_true!(check_limit(param(params, "bps")?, rd_bytes + wr_bytes));
            assert_true!(check_limit(param(params, "bps_rd")?, rd_bytes));
            assert_true!(check_limit(param(params, "bps_wr")?, wr_bytes));
            assert_true!(check_limit(param(params, "iops")?, rd_iops + wr_iops));
            assert_true!(check_limit(param(params, "iops_rd")?, rd_iops));
            assert_true!(check_limit(param(params, "iops_wr")?, wr_iops));
        }

        // Allow remaining requests to finish.  We submitted twice as many to
        // ensure the throttle limit is reached.
        self.vm.qtest(&format!("clock_step {ns}"))?;
        Ok(())
    }

    // Connect N drives to a VM and test I/O in all of them
    fn test_all(&mut self) -> Result<()> {
        let params = params_of(&[
            ("bps", 4096),
            ("bps_rd", 4096),
            ("bps_wr", 4096),
            ("iops", 10),
            ("iops_rd", 10),
            ("iops_wr", 10),
        ]);
        // Repeat the test with different numbers of drives
        for ndrives in 1..self.max_drives + 1 {
            // Pick each out of all possible params and test
            for tk in params.keys() {
                let mut limits = zeroed(&params);
                limits.insert(tk.clone(), json!(param(&params, tk)? * ndrives));
                self.configure_throttle(ndrives, &mut limits)?;
                self.do_test_throttle(ndrives, 5, &limits, 0)?;
            }
        }
        Ok(())
    }

    // Connect N drives to a VM and test I/O in just one of them a time
    fn test_one(&mut self) -> Result<()> {
        let params = params_of(&[
            ("bps", 4096),
            ("bps_rd", 4096),
            ("bps_wr", 4096),
            ("iops", 10),
            ("iops_rd", 10),
            ("iops_wr", 10),
        ]);
        // Repeat the test for each one of the drives
        for drive in 0..self.max_drives {
            // Pick each out of all possible params and test
            for tk in params.keys() {
                let mut limits = zeroed(&params);
                limits.insert(tk.clone(), json!(param(&params, tk)? * self.max_drives));
                self.configure_throttle(self.max_drives, &mut limits)?;
                self.do_test_throttle(1, 5, &limits, drive)?;
            }
        }
        Ok(())
    }

    fn test_burst(&mut self) -> Result<()> {
        let params = params_of(&[
            ("bps", 4096),
            ("bps_rd", 4096),
            ("bps_wr", 4096),
            ("iops", 10),
            ("iops_rd", 10),
            ("iops_wr", 10),
        ]);
        let ndrives = 1;
        // Pick each out of all possible params and test
        for tk in params.keys() {
            let rate = param(&params, tk)? * ndrives;
            let burst_rate = rate * 7;
            let burst_length = 4;

            // Configure the throttling settings
            let mut settings = zeroed(&params);
            settings.insert(tk.clone(), json!(rate));
            settings.insert(format!("{tk}_max"), json!(burst_rate));
            settings.insert(format!("{tk}_max_length"), json!(burst_length));
            self.configure_throttle(ndrives, &mut settings)?;

            // Wait for the bucket to empty so we can do bursts
            let wait_ns = NSEC_PER_SEC * burst_length * burst_rate / rate;
            self.vm.qtest(&format!("clock_step {wait_ns}"))?;

            // Test I/O at the max burst rate
            let mut limits = zeroed(&params);
            limits.insert(tk.clone(), json!(burst_rate));
            self.do_test_throttle(ndrives, burst_length, &limits, 0)?;

            // Now test I/O at the normal rate
            limits.insert(tk.clone(), json!(rate));
            self.do_test_throttle(ndrives, 5, &limits, 0)?;
        }
        Ok(())
    }

    // Test that removing a drive from a throttle group should not
    // affect the remaining members of the group.
    // https://bugzilla.redhat.com/show_bug.cgi?id=1535914
    fn test_remove_group_member(&mut self) -> Result<()> {
        // Create a throttle group with two drives
        // and set a 4 KB/s read limit.
        let mut params =
            params_of(&[("bps", 0), ("bps_rd", 4096), ("bps_wr", 0), ("iops", 0), ("iops_rd", 0), ("iops_wr", 0)]);
        self.configure_throttle(2, &mut params)?;

        // Read 4KB from drive0. This is performed immediately.
        self.vm.hmp_qemu_io("drive0", "aio_read 0 4096")?;

        // Read 2KB. The I/O limit has been exceeded so this
        // request is throttled and a timer is set to wake it up.
        self.vm.hmp_qemu_io("drive0", "aio_read 0 2048")?;

        // Read 2KB again. We're still over the I/O limit so this is
        // request is also throttled, but no new timer is set since
        // there's already one.
        self.vm.hmp_qemu_io("drive0", "aio_read 0 2048")?;

        // Read from drive1. This request is also throttled, and no
        // timer is set in drive1 because there's already one in
        // drive0.
        self.vm.hmp_qemu_io("drive1", "aio_read 0 4096")?;

        // At this point only the first 4KB have been read from drive0.
        // The other requests are throttled.
        assert_equal!(self.blockstats("drive0")?.0, 4096);
        assert_equal!(self.blockstats("drive1")?.0, 0);

        // Remove drive0 from the throttle group and disable its I/O limits.
        // drive1 remains in the group with a throttled request.
        params.insert("bps_rd".into(), json!(0));
        params.insert("device".into(), json!("drive0"));
        self.vm.cmd("block_set_io_throttle", Value::Object(params.clone()))?;

        // Removing the I/O limits from drive0 drains its two pending requests.
        // The read request in drive1 is still throttled.
        assert_equal!(self.blockstats("drive0")?.0, 8192);
        assert_equal!(self.blockstats("drive1")?.0, 0);

        // Advance the clock 5 seconds. This completes the request in drive1
        self.vm.qtest(&format!("clock_step {}", 5 * NSEC_PER_SEC))?;

        // Now all requests have been processed.
        assert_equal!(self.blockstats("drive0")?.0, 8192);
        assert_equal!(self.blockstats("drive1")?.0, 4096);
        Ok(())
    }
}

struct ThrottleTestGroupNames {
    max_drives: u64,
    vm: Vm,
}

#[iotests::test_case]
impl ThrottleTestGroupNames {
    fn new(t: &Case) -> Self {
        ThrottleTestGroupNames { max_drives: 3, vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        self.vm = t.vm();
        for _ in 0..self.max_drives {
            self.vm.add_drive_with("null-co://", "throttling.iops-total=100,file.read-zeroes=on");
        }
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()
    }

    fn set_io_throttle(&mut self, device: &str, params: &mut Params) -> Result<()> {
        params.insert("device".into(), json!(device));
        self.vm.cmd("block_set_io_throttle", Value::Object(params.clone()))?;
        Ok(())
    }

    fn verify_name(&mut self, device: &str, name: Option<&str>) -> Result<()> {
        let result = self.vm.qmp("query-block", ())?;
        for r in dictpath(&result, "return")?.as_array().into_iter().flatten() {
            if r["device"] == device {
                let info = dictpath(r, "inserted")?;
                if let Some(name) = name {
                    assert_equal!(dictpath(info, "group")?, name);
                } else {
                    assert_false!(info.get("group").is_some());
                }
                return Ok(());
            }
        }

        Err(Error::exception(format!("No group information found for '{device}'")))
    }

    fn test_group_naming(&mut self) -> Result<()> {
        let mut params =
            params_of(&[("bps", 0), ("bps_rd", 0), ("bps_wr", 0), ("iops", 0), ("iops_rd", 0), ("iops_wr", 0)]);

        // Check the drives added using the command line.
        // The default throttling group name is the device name.
        for i in 0..self.max_drives {
            let devname = format!("drive{i}");
            self.verify_name(&devname, Some(&devname))?;
        }

        // Clear throttling settings => the group name is gone.
        for i in 0..self.max_drives {
            let devname = format!("drive{i}");
            self.set_io_throttle(&devname, &mut params)?;
            self.verify_name(&devname, None)?;
        }

        // Set throttling settings using block_set_io_throttle and
        // check the default group names.
        params.insert("iops".into(), json!(10));
        for i in 0..self.max_drives {
            let devname = format!("drive{i}");
            self.set_io_throttle(&devname, &mut params)?;
            self.verify_name(&devname, Some(&devname))?;
        }

        // Set a custom group name for each device
        for i in 0..3 {
            let devname = format!("drive{i}");
            let groupname = format!("group{i}");
            params.insert("group".into(), json!(groupname));
            self.set_io_throttle(&devname, &mut params)?;
            self.verify_name(&devname, Some(&groupname))?;
        }

        // Put drive0 in group1 and check that all other devices remain
        // unchanged
        params.insert("group".into(), json!("group1"));
        self.set_io_throttle("drive0", &mut params)?;
        self.verify_name("drive0", Some("group1"))?;
        for i in 1..self.max_drives {
            let devname = format!("drive{i}");
            let groupname = format!("group{i}");
            self.verify_name(&devname, Some(&groupname))?;
        }

        // Put drive0 in group2 and check that all other devices remain
        // unchanged
        params.insert("group".into(), json!("group2"));
        self.set_io_throttle("drive0", &mut params)?;
        self.verify_name("drive0", Some("group2"))?;
        for i in 1..self.max_drives {
            let devname = format!("drive{i}");
            let groupname = format!("group{i}");
            self.verify_name(&devname, Some(&groupname))?;
        }

        // Clear throttling settings from drive0 check that all other
        // devices remain unchanged
        params.insert("iops".into(), json!(0));
        self.set_io_throttle("drive0", &mut params)?;
        self.verify_name("drive0", None)?;
        for i in 1..self.max_drives {
            let devname = format!("drive{i}");
            let groupname = format!("group{i}");
            self.verify_name(&devname, Some(&groupname))?;
        }
        Ok(())
    }
}

struct ThrottleTestRemovableMedia {
    vm: Vm,
}

#[iotests::test_case]
impl ThrottleTestRemovableMedia {
    fn new(t: &Case) -> Self {
        ThrottleTestRemovableMedia { vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        self.vm = t.vm();
        self.vm.add_device(format!("{},id=virtio-scsi", "virtio-scsi"));
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()
    }

    fn test_removable_media(&mut self) -> Result<()> {
        // Add a couple of dummy nodes named cd0 and cd1
        self.vm.cmd("blockdev-add", kwargs! { driver: "null-co", read_zeroes: true, node_name: "cd0" })?;
        self.vm.cmd("blockdev-add", kwargs! { driver: "null-co", read_zeroes: true, node_name: "cd1" })?;

        // Attach a CD drive with cd0 inserted
        self.vm.cmd("device_add", kwargs! { driver: "scsi-cd", id: "dev0", drive: "cd0" })?;

        // Set I/O limits
        let args = json!({ "id": "dev0", "iops": 100, "iops_rd": 0, "iops_wr": 0,
                                         "bps":  50,  "bps_rd": 0,  "bps_wr": 0 });
        self.vm.cmd("block_set_io_throttle", args.clone())?;

        // Check that the I/O limits have been set
        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/iops", 100)?;
        assert_qmp(&result, "return[0]/inserted/bps", 50)?;

        // Now eject cd0 and insert cd1
        self.vm.cmd("blockdev-open-tray", kwargs! { id: "dev0" })?;
        self.vm.cmd("blockdev-remove-medium", kwargs! { id: "dev0" })?;
        self.vm.cmd("blockdev-insert-medium", kwargs! { id: "dev0", node_name: "cd1" })?;

        // Check that the I/O limits are still the same
        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/iops", 100)?;
        assert_qmp(&result, "return[0]/inserted/bps", 50)?;

        // Eject cd1
        self.vm.cmd("blockdev-remove-medium", kwargs! { id: "dev0" })?;

        // Check that we can't set limits if the device has no medium
        let result = self.vm.qmp("block_set_io_throttle", args)?;
        assert_qmp(&result, "error/class", "GenericError")?;

        // Remove the CD drive
        self.vm.cmd("device_del", kwargs! { id: "dev0" })?;
        Ok(())
    }
}

iotests::iotest! {
    name: "093", groups: [throttle],
    supported_fmts: ["raw"],
    before_main: |t| {
        if !t.supported_formats(false)?.iter().any(|f| f == "null-co") {
            return t.notrun("null-co driver support missing");
        }
        Ok(())
    },
    xfail: "needs QEMU's qtest accelerator, which this QEMU build lacks (`qemu-system-x86_64 -accel help`: tcg, kvm): \
            only accel=qtest registers the qtest clock commands, so every `clock_step` answers \
            `FAIL Unknown command 'clock_step'`, and only under qtest_enabled() do throttle groups use \
            QEMU_CLOCK_VIRTUAL (block/throttle-groups.c; otherwise QEMU_CLOCK_REALTIME). The 8 clock-driven \
            ThrottleTestCase/ThrottleTestCoroutine cases therefore measure ~no I/O (`False is not true`, \
            `0 != 4096`), as upstream's check does here; ThrottleTestGroupNames and ThrottleTestRemovableMedia pass",
    fn t093: unittest {
        ThrottleTestCase,
        ThrottleTestCoroutine: ThrottleTestCase { test_driver: "null-co" },
        ThrottleTestGroupNames,
        ThrottleTestRemovableMedia,
    }
}
