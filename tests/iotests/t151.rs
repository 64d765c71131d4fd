//! Upstream 151: active mirroring (copy-mode write-blocking), also under a throttled source with NBD clients.
//!
//! The test methods keep Python's camelCase names: unittest prints them
//! (failure headers, verbose mode) and sorts the cases by them.

use iotests::prelude::*;
use iotests::tools::ToolPopen;

fn source_img() -> String {
    os::path::join(test_dir(), format!("source.{}", imgfmt()))
}

fn target_img() -> String {
    os::path::join(test_dir(), format!("target.{}", imgfmt()))
}

struct TestActiveMirror {
    image_len: u64,
    potential_writes_in_flight: bool,
    vm: Vm,
}

#[iotests::test_case]
#[allow(non_snake_case)]
impl TestActiveMirror {
    fn new(t: &Case) -> Self {
        TestActiveMirror {
            image_len: 128 * 1024 * 1024, // MB
            potential_writes_in_flight: true,
            vm: t.vm(),
        }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", "-f", imgfmt(), source_img(), "128M"])?;
        t.qemu_img(&args!["create", "-f", imgfmt(), target_img(), "128M"])?;

        let blk_source = json!({"id": "source",
                                "if": "none",
                                "node-name": "source-node",
                                "driver": imgfmt(),
                                "file": {"driver": "blkdebug",
                                         "image": {"driver": "file",
                                                   "filename": source_img()}}});

        let blk_target = json!({"node-name": "target-node",
                                "driver": imgfmt(),
                                "file": {"driver": "file",
                                         "filename": target_img()}});

        self.vm = t.vm();
        let source_opts = self.vm.qmp_to_opts(&blk_source)?;
        self.vm.add_drive_raw(source_opts);
        let target_opts = self.vm.qmp_to_opts(&blk_target)?;
        self.vm.add_blockdev(target_opts);
        self.vm.add_device("virtio-blk,id=vblk,drive=source");
        self.vm.launch()
    }

    fn tear_down(&mut self, t: &Case) -> Result<()> {
        self.vm.shutdown()?;

        if !self.potential_writes_in_flight {
            assert_true!(t.compare_images(&source_img(), &target_img())?, "mirror target does not match source");
        }

        os::remove(source_img())?;
        os::remove(target_img())
    }

    fn do_active_io(&mut self, sync_source_and_target: bool) -> Result<()> {
        let image_len = self.image_len;
        let mib = 1024 * 1024;

        // Fill the source image
        self.vm.hmp_qemu_io("source", &format!("write -P 1 0 {image_len}"))?;

        // Start some background requests
        for offset in (image_len / 8..3 * image_len / 8).step_by(mib) {
            self.vm.hmp_qemu_io("source", &format!("aio_write -P 2 {offset} 1M"))?;
        }
        for offset in (2 * image_len / 8..3 * image_len / 8).step_by(mib) {
            self.vm.hmp_qemu_io("source", &format!("aio_write -z {offset} 1M"))?;
        }

        // Start the block job
        self.vm.cmd(
            "blockdev-mirror",
            kwargs! {
                job_id: "mirror",
                filter_node_name: "mirror-node",
                device: "source-node",
                target: "target-node",
                sync: "full",
                copy_mode: "write-blocking"
            },
        )?;

        // Start some more requests
        for offset in (3 * image_len / 8..5 * image_len / 8).step_by(mib) {
            self.vm.hmp_qemu_io("source", &format!("aio_write -P 3 {offset} 1M"))?;
        }
        for offset in (4 * image_len / 8..5 * image_len / 8).step_by(mib) {
            self.vm.hmp_qemu_io("source", &format!("aio_write -z {offset} 1M"))?;
        }

        // Wait for the READY event
        self.vm.wait_ready_with("mirror")?;

        // Now start some final requests; all of these (which land on
        // the source) should be settled using the active mechanism.
        // The mirror code itself asserts that the source BDS's dirty
        // bitmap will stay clean between READY and COMPLETED.
        for offset in (5 * image_len / 8..7 * image_len / 8).step_by(mib) {
            self.vm.hmp_qemu_io("source", &format!("aio_write -P 3 {offset} 1M"))?;
        }
        for offset in (6 * image_len / 8..7 * image_len / 8).step_by(mib) {
            self.vm.hmp_qemu_io("source", &format!("aio_write -z {offset} 1M"))?;
        }

        if sync_source_and_target {
            // If source and target should be in sync after the mirror,
            // we have to flush before completion
            self.vm.hmp_qemu_io("source", "aio_flush")?;
            self.potential_writes_in_flight = false;
        }

        self.vm.complete_and_wait_with(CompleteAndWait { drive: "mirror", wait_ready: false, ..Default::default() })
    }

    fn testActiveIO(&mut self) -> Result<()> {
        self.do_active_io(false)
    }

    fn testActiveIOFlushed(&mut self) -> Result<()> {
        self.do_active_io(true)
    }

    fn testUnalignedActiveIO(&mut self) -> Result<()> {
        // Fill the source image
        let _result = self.vm.hmp_qemu_io("source", "write -P 1 0 2M")?;

        // Start the block job (very slowly)
        self.vm.cmd(
            "blockdev-mirror",
            kwargs! {
                job_id: "mirror",
                filter_node_name: "mirror-node",
                device: "source-node",
                target: "target-node",
                sync: "full",
                copy_mode: "write-blocking",
                buf_size: 1048576 / 4,
                speed: 1
            },
        )?;

        // Start an unaligned request to a dirty area
        let _result = self.vm.hmp_qemu_io("source", &format!("write -P 2 {} 1", 1048576 + 42))?;

        // Let the job finish
        self.vm.cmd("block-job-set-speed", kwargs! { device: "mirror", speed: 0 })?;
        self.vm.complete_and_wait_with("mirror")?;

        self.potential_writes_in_flight = false;
        Ok(())
    }

    fn testIntersectingActiveIO(&mut self) -> Result<()> {
        // Fill the source image
        let _result = self.vm.hmp_qemu_io("source", "write -P 1 0 2M")?;

        // Start the block job (very slowly)
        self.vm.cmd(
            "blockdev-mirror",
            kwargs! {
                job_id: "mirror",
                filter_node_name: "mirror-node",
                device: "source-node",
                target: "target-node",
                sync: "full",
                copy_mode: "write-blocking",
                speed: 1
            },
        )?;

        self.vm.hmp_qemu_io("source", "break write_aio A")?;
        self.vm.hmp_qemu_io("source", "aio_write 0 1M")?; // 1
        self.vm.hmp_qemu_io("source", "wait_break A")?;
        self.vm.hmp_qemu_io("source", "aio_write 0 2M")?; // 2
        self.vm.hmp_qemu_io("source", "aio_write 0 2M")?; // 3

        // Now 2 and 3 are in mirror_wait_on_conflicts, waiting for 1

        self.vm.hmp_qemu_io("source", "break write_aio B")?;
        self.vm.hmp_qemu_io("source", "aio_write 1M 2M")?; // 4
        self.vm.hmp_qemu_io("source", "wait_break B")?;

        // 4 doesn't wait for 2 and 3, because they didn't yet set
        // in_flight_bitmap. So, nothing prevents 4 to go except for our
        // break-point B.

        self.vm.hmp_qemu_io("source", "resume A")?;

        // Now we resumed 1, so 2 and 3 goes to the next iteration of while loop
        // in mirror_wait_on_conflicts(). They don't exit, as bitmap is dirty
        // due to request 4.
        // In the past at that point 2 and 3 would wait for each other producing
        // a dead-lock. Now this is fixed and they will wait for request 4.

        self.vm.hmp_qemu_io("source", "resume B")?;

        // After resuming 4, one of 2 and 3 goes first and set in_flight_bitmap,
        // so the other will wait for it.

        self.vm.cmd("block-job-set-speed", kwargs! { device: "mirror", speed: 0 })?;
        self.vm.complete_and_wait_with("mirror")?;

        self.potential_writes_in_flight = false;
        Ok(())
    }
}

/// One second of the virtual clock, in nanoseconds.
const ONE_SECOND_NS: u64 = 1000 * 1000 * 1000;

/// How long tearDown waits for a background request before stepping the
/// clock. Python's `p.wait(timeout=0.0)` makes that loop spin; this QEMU has
/// no qtest accelerator, so `clock_step` fails at once ("FAIL Unknown
/// command") and the throttle runs on the real clock: the spin burnt ~20 s
/// of CPU per run (next to QEMU, on a shared machine) for the same wall
/// time. The clock still steps only while the request is pending.
const SETTLE_WAIT: Duration = Duration::from_millis(20);

struct TestThrottledWithNbdExportBase {
    image_len: u64,
    iops: Option<u64>,
    background_processes: Vec<ToolPopen>,
    vm: Vm,
    nbd_sock: String,
    nbd_url: String,
}

#[iotests::test_case]
impl TestThrottledWithNbdExportBase {
    fn new(t: &Case) -> Self {
        TestThrottledWithNbdExportBase {
            image_len: 128 * 1024 * 1024, // MB
            iops: None,
            background_processes: Vec::new(),
            vm: t.vm(),
            nbd_sock: String::new(),
            nbd_url: String::new(),
        }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        // Must be set by subclasses
        assert_is_not_none!(self.iops);

        t.qemu_img(&args!["create", "-f", imgfmt(), source_img(), "128M"])?;
        t.qemu_img(&args!["create", "-f", imgfmt(), target_img(), "128M"])?;

        self.vm = t.vm();
        self.vm.launch()?;

        self.vm.cmd(
            "object-add",
            json!({
                "qom-type": "throttle-group",
                "id": "thrgr",
                "limits": {
                    "iops-total": self.iops,
                    "iops-total-max": self.iops
                }
            }),
        )?;

        self.vm.cmd(
            "blockdev-add",
            json!({
                "node-name": "source-node",
                "driver": "throttle",
                "throttle-group": "thrgr",
                "file": {
                    "driver": imgfmt(),
                    "file": {
                        "driver": "file",
                        "filename": source_img()
                    }
                }
            }),
        )?;

        self.vm.cmd(
            "blockdev-add",
            json!({
                "node-name": "target-node",
                "driver": imgfmt(),
                "file": {
                    "driver": "file",
                    "filename": target_img()
                }
            }),
        )?;

        self.nbd_sock = t.sock_path("nbd.sock");
        self.nbd_url = format!("nbd+unix:///source-node?socket={}", self.nbd_sock);

        self.vm.cmd(
            "nbd-server-start",
            kwargs! { addr: {
                "type": "unix",
                "data": {
                    "path": self.nbd_sock
                }
            } },
        )?;

        self.vm
            .cmd("block-export-add", kwargs! { id: "exp0", type: "nbd", node_name: "source-node", writable: true })?;
        Ok(())
    }

    fn tear_down(&mut self) -> Result<()> {
        // Wait for background requests to settle
        while let Some(mut p) = self.background_processes.pop() {
            // try: p.wait(…); break / except subprocess.TimeoutExpired: clock_step
            loop {
                match p.wait(SETTLE_WAIT) {
                    Ok(_) => break,
                    Err(Error::Timeout { .. }) => {
                        self.vm.qtest(&format!("clock_step {ONE_SECOND_NS}"))?;
                    }
                    Err(e) => return Err(e),
                }
            }
        }

        // Cancel ongoing block jobs
        let jobs = self.vm.qmp("query-jobs", ())?;
        for job in dictpath(&jobs, "return")?.as_array().into_iter().flatten() {
            self.vm.qmp("block-job-cancel", kwargs! { device: job["id"], force: true })?;
        }

        loop {
            self.vm.qtest(&format!("clock_step {ONE_SECOND_NS}"))?;
            let jobs = self.vm.qmp("query-jobs", ())?;
            if dictpath(&jobs, "return")?.as_array().map_or(0, Vec::len) == 0 {
                break;
            }
        }

        self.vm.shutdown()?;
        os::remove(source_img())?;
        os::remove(target_img())
    }
}

struct TestLowThrottledWithNbdExport {
    base: TestThrottledWithNbdExportBase,
}

#[iotests::test_case(extends = TestThrottledWithNbdExportBase)]
#[allow(non_snake_case)]
impl TestLowThrottledWithNbdExport {
    fn new(t: &Case) -> Result<Self> {
        let mut base = TestThrottledWithNbdExportBase::new(t)?;
        base.iops = Some(16);
        Ok(TestLowThrottledWithNbdExport { base })
    }

    /// Throttle the source node, then issue a whole bunch of external requests
    /// while the mirror job (in write-blocking mode) is running.  We want to
    /// see background requests being issued even while the source is under
    /// full load by active writes, so that progress can be made towards READY.
    fn testUnderLoad(&mut self, t: &Case) -> Result<()> {
        let iops = self.iops.unwrap_or_default();

        // Fill the first half of the source image; do not fill the second half,
        // that is where we will have active requests occur.  This ensures that
        // active mirroring itself will not directly contribute to the job's
        // progress (because when the job was started, those areas were not
        // intended to be copied, so active mirroring will only lead to not
        // losing progress, but also not making any).
        let image_len = self.image_len;
        self.vm.hmp_qemu_io("source-node", &format!("aio_write -P 1 0 {}", image_len / 2))?;
        self.vm.qtest(&format!("clock_step {ONE_SECOND_NS}"))?;

        // Launch the mirror job
        let mirror_buf_size = 65536;
        self.vm.cmd(
            "blockdev-mirror",
            kwargs! {
                job_id: "mirror",
                filter_node_name: "mirror-node",
                device: "source-node",
                target: "target-node",
                sync: "full",
                copy_mode: "write-blocking",
                buf_size: mirror_buf_size
            },
        )?;

        // We create the external requests via qemu-io processes on the NBD
        // server.  Have their offset start in the middle of the image so they
        // do not overlap with the background requests (which start from the
        // beginning).
        let mut active_request_offset = image_len / 2;
        let active_request_len = 4096;

        // Create enough requests to saturate the node for 5 seconds
        for _ in 0..5 * iops {
            let req = format!("write -P 42 {active_request_offset} {active_request_len}");
            active_request_offset += active_request_len;
            let p = t.qemu_io_popen(&args!["-f", "nbd", self.nbd_url, "-c", req])?;
            self.background_processes.push(p);
        }

        // Now advance the clock one I/O operation at a time by the 4 seconds
        // (i.e. one less than 5).  We expect the mirror job to issue background
        // operations here, even though active requests are still in flight.
        // The active requests will take precedence, however, because they have
        // been issued earlier than mirror's background requests.
        // Once the active requests we have started above are done (i.e. after 5
        // virtual seconds), we expect those background requests to be worked
        // on.  We only advance 4 seconds here to avoid race conditions.
        for _ in 0..4 * iops {
            let step = ONE_SECOND_NS.div_ceil(iops);
            self.vm.qtest(&format!("clock_step {step}"))?;
        }

        // Note how much remains to be done until the mirror job is finished
        let job_status = dictpath(&self.vm.qmp("query-jobs", ())?, "return[0]")?.clone();
        let start_remaining = job_status["total-progress"].as_i64().unwrap_or_default()
            - job_status["current-progress"].as_i64().unwrap_or_default();

        // Create a whole bunch of more active requests
        for _ in 0..10 * iops {
            let req = format!("write -P 42 {active_request_offset} {active_request_len}");
            active_request_offset += active_request_len;
            let p = t.qemu_io_popen(&args!["-f", "nbd", self.nbd_url, "-c", req])?;
            self.background_processes.push(p);
        }

        // Let the clock advance more.  After 1 second, as noted above, we
        // expect the background requests to be worked on.  Give them a couple
        // of seconds (specifically 4) to see their impact.
        for _ in 0..5 * iops {
            let step = ONE_SECOND_NS.div_ceil(iops);
            self.vm.qtest(&format!("clock_step {step}"))?;
        }

        // Note how much remains to be done now.  We expect this number to be
        // reduced thanks to those background requests.
        let job_status = dictpath(&self.vm.qmp("query-jobs", ())?, "return[0]")?.clone();
        let end_remaining = job_status["total-progress"].as_i64().unwrap_or_default()
            - job_status["current-progress"].as_i64().unwrap_or_default();

        // See that indeed progress was being made on the job, even while the
        // node was saturated with active requests
        assert_greater!(start_remaining - end_remaining, 0);
        Ok(())
    }
}

struct TestHighThrottledWithNbdExport {
    base: TestThrottledWithNbdExportBase,
}

#[iotests::test_case(extends = TestThrottledWithNbdExportBase)]
#[allow(non_snake_case)]
impl TestHighThrottledWithNbdExport {
    fn new(t: &Case) -> Result<Self> {
        let mut base = TestThrottledWithNbdExportBase::new(t)?;
        base.iops = Some(1024);
        Ok(TestHighThrottledWithNbdExport { base })
    }

    /// Issue requests on the mirror source node right as the mirror is
    /// instated.  It's possible that requests occur before the actual job is
    /// created, but after the node has been put into the graph.  Write
    /// requests across the node must in that case be forwarded to the source
    /// node without attempting to mirror them (there is no job object yet, so
    /// attempting to access it would cause a segfault).
    /// We do this with a lightly throttled node (i.e. quite high IOPS limit).
    /// Using throttling seems to increase reproductivity, but if the limit is
    /// too low, all requests allowed per second will be submitted before
    /// mirror_start_job() gets to the problematic point.
    fn testActiveOnCreation(&mut self, t: &Case) -> Result<()> {
        let iops = self.iops.unwrap_or_default();

        // Let qemu-img bench create write requests (enough for two seconds on
        // the virtual clock)
        let bench_args = args!["bench", "-w", "-d", "1024", "-f", "nbd", "-c", iops * 2, self.nbd_url];
        let mut argv = t.env().qemu_img_args()?;
        argv.extend(bench_args);
        let p = t.qemu_tool_popen("qemu-img", &argv, true)?;
        self.background_processes.push(p);

        // Give qemu-img bench time to start up and issue requests
        sleep(1.0);
        // Flush the request queue, so new requests can come in right as we
        // start blockdev-mirror
        self.vm.qtest(&format!("clock_step {ONE_SECOND_NS}"))?;

        self.vm.cmd(
            "blockdev-mirror",
            kwargs! {
                job_id: "mirror",
                device: "source-node",
                target: "target-node",
                sync: "full",
                copy_mode: "write-blocking"
            },
        )?;
        Ok(())
    }
}

iotests::iotest! {
    name: "151", groups: [rw],
    supported_fmts: ["qcow2", "raw"],
    supported_protocols: ["file"],
    fn t151: unittest { TestActiveMirror, TestLowThrottledWithNbdExport, TestHighThrottledWithNbdExport }
}
