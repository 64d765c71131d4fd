//! Upstream tests/migrate-bitmaps-postcopy-test: dirty bitmaps migrated in postcopy, and early shutdown or kill of either side.

use iotests::json::py_repr;
use iotests::prelude::*;

const DEBUG: bool = false;

fn disk_a() -> String {
    os::path::join(test_dir(), "disk_a")
}

fn disk_b() -> String {
    os::path::join(test_dir(), "disk_b")
}

const SIZE: &str = "256G";

fn fifo() -> String {
    os::path::join(test_dir(), "mig_fifo")
}

const GRANULARITY: u64 = 512;
const NB_BITMAPS: u64 = 15;

const GIB: u64 = 1024 * 1024 * 1024;

const DISCARDS1: [(u64, u64); 4] = [(0, GIB), (2 * GIB + 512 * 5, 512), (3 * GIB + 512 * 5, 512), (100 * GIB, GIB)];

const DISCARDS2: [(u64, u64); 4] =
    [(3 * GIB + 512 * 8, 512), (4 * GIB + 512 * 8, 512), (50 * GIB, GIB), (100 * GIB + GIB / 2, GIB)];

fn apply_discards(vm: &mut Vm, discards: &[(u64, u64)]) -> Result<()> {
    for d in discards {
        vm.hmp_qemu_io("drive0", &format!("discard {} {}", d.0, d.1))?;
    }
    Ok(())
}

fn event_seconds(event: &Value) -> f64 {
    let number = |v: &Value| v.as_f64().unwrap_or_default();
    number(&event["timestamp"]["seconds"]) + number(&event["timestamp"]["microseconds"]) / 1000000.0
}

fn event_dist(e1: &Value, e2: &Value) -> f64 {
    event_seconds(e2) - event_seconds(e1)
}

fn check_bitmaps(vm: &mut Vm, count: usize) -> Result<()> {
    let result = vm.qmp("query-block", ())?;

    let info = dictpath(&result, "return[0]")?.get("inserted").cloned().unwrap_or_else(|| json!({}));

    if count == 0 {
        ensure!(info.get("dirty-bitmaps").is_none());
    } else {
        ensure!(dictpath(&info, "dirty-bitmaps")?.as_array().map(Vec::len) == Some(count));
    }
    Ok(())
}

struct TestDirtyBitmapPostcopyMigration {
    vm_a: Vm,
    vm_b: Vm,
    vm_a_events: Vec<Value>,
    vm_b_events: Vec<Value>,
}

#[iotests::test_case]
impl TestDirtyBitmapPostcopyMigration {
    fn new(t: &Case) -> Self {
        TestDirtyBitmapPostcopyMigration { vm_a: t.vm(), vm_b: t.vm(), vm_a_events: vec![], vm_b_events: vec![] }
    }

    fn tear_down(&mut self, t: &Case) -> Result<()> {
        if DEBUG {
            self.vm_a_events.extend(self.vm_a.get_qmp_events()?);
            self.vm_b_events.extend(self.vm_b.get_qmp_events()?);
            for e in &mut self.vm_a_events {
                e["vm"] = json!("SRC");
            }
            for e in &mut self.vm_b_events {
                e["vm"] = json!("DST");
            }
            let events: Vec<&Value> = self.vm_a_events.iter().chain(&self.vm_b_events).collect();
            let mut events: Vec<(u64, u64, String, String, String)> = events
                .iter()
                .map(|e| {
                    let data = e.get("data").map_or_else(String::new, py_repr);
                    (
                        e["timestamp"]["seconds"].as_u64().unwrap_or_default(),
                        e["timestamp"]["microseconds"].as_u64().unwrap_or_default(),
                        e["vm"].as_str().unwrap_or_default().to_string(),
                        e["event"].as_str().unwrap_or_default().to_string(),
                        data,
                    )
                })
                .collect();
            events.sort();
            for e in events {
                t.print(format!("{}.{:06} {} {} {}", e.0, e.1, e.2, e.3, e.4));
            }
        }

        self.vm_a.shutdown()?;
        self.vm_b.shutdown()?;
        os::remove(disk_a())?;
        os::remove(disk_b())?;
        os::remove(fifo())
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        os::mkfifo(fifo())?;
        t.qemu_img(&args!["create", "-f", imgfmt(), disk_a(), SIZE])?;
        t.qemu_img(&args!["create", "-f", imgfmt(), disk_b(), SIZE])?;
        self.vm_a = t.vm_with("a");
        self.vm_a.add_drive_with(disk_a(), "discard=unmap");
        self.vm_b = t.vm_with("b");
        self.vm_b.add_drive_with(disk_b(), "discard=unmap");
        self.vm_b.add_incoming(format!("exec: cat '{}'", fifo()));
        self.vm_a.launch()?;
        self.vm_b.launch()?;

        // collect received events for debug
        self.vm_a_events = vec![];
        self.vm_b_events = vec![];
        Ok(())
    }

    /// Run migration until RESUME event on target. Return this event.
    fn start_postcopy(&mut self) -> Result<(Value, Value, Value)> {
        for i in 0..NB_BITMAPS {
            self.vm_a.cmd(
                "block-dirty-bitmap-add",
                kwargs! { node: "drive0", name: format!("bitmap{i}"), granularity: GRANULARITY, persistent: true },
            )?;
        }

        let result = self.vm_a.qmp("x-debug-block-dirty-bitmap-sha256", kwargs! { node: "drive0", name: "bitmap0" })?;
        let empty_sha256 = dictpath(&result, "return/sha256")?.clone();

        apply_discards(&mut self.vm_a, &DISCARDS1)?;

        let result = self.vm_a.qmp("x-debug-block-dirty-bitmap-sha256", kwargs! { node: "drive0", name: "bitmap0" })?;
        let discards1_sha256 = dictpath(&result, "return/sha256")?.clone();

        // Check, that updating the bitmap by discards works
        ensure!(discards1_sha256 != empty_sha256);

        // We want to calculate resulting sha256. Do it in bitmap0, so, disable
        // other bitmaps
        for i in 1..NB_BITMAPS {
            self.vm_a.cmd("block-dirty-bitmap-disable", kwargs! { node: "drive0", name: format!("bitmap{i}") })?;
        }

        apply_discards(&mut self.vm_a, &DISCARDS2)?;

        let result = self.vm_a.qmp("x-debug-block-dirty-bitmap-sha256", kwargs! { node: "drive0", name: "bitmap0" })?;
        let all_discards_sha256 = dictpath(&result, "return/sha256")?.clone();

        // Now, enable some bitmaps, to be updated during migration
        for i in (2..NB_BITMAPS).step_by(2) {
            self.vm_a.cmd("block-dirty-bitmap-enable", kwargs! { node: "drive0", name: format!("bitmap{i}") })?;
        }

        let caps = json!([{"capability": "dirty-bitmaps", "state": true},
                          {"capability": "events", "state": true}]);

        self.vm_a.cmd("migrate-set-capabilities", kwargs! { capabilities: caps })?;

        self.vm_b.cmd("migrate-set-capabilities", kwargs! { capabilities: caps })?;

        self.vm_a.cmd("migrate", kwargs! { uri: format!("exec:cat>{}", fifo()) })?;

        self.vm_a.cmd("migrate-start-postcopy", ())?;

        let event_resume = self.vm_b.event_wait("RESUME")?;
        self.vm_b_events.push(event_resume.clone());
        Ok((event_resume, discards1_sha256, all_discards_sha256))
    }

    fn test_postcopy_success(&mut self, t: &Case) -> Result<()> {
        let (event_resume, discards1_sha256, all_discards_sha256) = self.start_postcopy()?;

        // enabled bitmaps should be updated
        apply_discards(&mut self.vm_b, &DISCARDS2)?;

        let match_ = json!({"data": {"status": "completed"}});
        let event_complete = self.vm_b.event_wait_with("MIGRATION", &match_)?;
        self.vm_b_events.push(event_complete.clone());

        // take queued event, should already been happened
        let event_stop = self.vm_a.event_wait("STOP")?;
        self.vm_a_events.push(event_stop.clone());

        let downtime = event_dist(&event_stop, &event_resume);
        let postcopy_time = event_dist(&event_resume, &event_complete);

        ensure!(downtime * 10.0 < postcopy_time);
        if DEBUG {
            t.print(format!("downtime: {downtime}"));
            t.print(format!("postcopy_time: {postcopy_time}"));
        }

        // check that there are no bitmaps stored on source
        self.vm_a_events.extend(self.vm_a.get_qmp_events()?);
        self.vm_a.shutdown()?;
        self.vm_a.launch()?;
        check_bitmaps(&mut self.vm_a, 0)?;

        // check that bitmaps are migrated and persistence works
        check_bitmaps(&mut self.vm_b, NB_BITMAPS as usize)?;
        self.vm_b.shutdown()?;
        // recreate vm_b, so there is no incoming option, which prevents
        // loading bitmaps from disk
        self.vm_b = t.vm_with("b");
        self.vm_b.add_drive(disk_b());
        self.vm_b.launch()?;
        check_bitmaps(&mut self.vm_b, NB_BITMAPS as usize)?;

        // Check content of migrated bitmaps. Still, don't waste time checking
        // every bitmap
        for i in (0..NB_BITMAPS).step_by(5) {
            let result = self
                .vm_b
                .qmp("x-debug-block-dirty-bitmap-sha256", kwargs! { node: "drive0", name: format!("bitmap{i}") })?;
            let sha = if i % 2 != 0 { &discards1_sha256 } else { &all_discards_sha256 };
            assert_qmp(&result, "return/sha256", sha.clone())?;
        }
        Ok(())
    }

    fn test_early_shutdown_destination(&mut self, t: &Case) -> Result<()> {
        self.start_postcopy()?;

        self.vm_b_events.extend(self.vm_b.get_qmp_events()?);

        // While being here, let's check that we can't remove in-flight bitmaps.
        for vm in [&mut self.vm_a, &mut self.vm_b] {
            for i in 0..NB_BITMAPS {
                let result =
                    vm.qmp("block-dirty-bitmap-remove", kwargs! { node: "drive0", name: format!("bitmap{i}") })?;
                assert_qmp(
                    &result,
                    "error/desc",
                    format!("Bitmap 'bitmap{i}' is currently in use by another operation and cannot be used"),
                )?;
            }
        }

        self.vm_b.shutdown()?;
        // recreate vm_b, so there is no incoming option, which prevents
        // loading bitmaps from disk
        self.vm_b = t.vm_with("b");
        self.vm_b.add_drive(disk_b());
        self.vm_b.launch()?;
        check_bitmaps(&mut self.vm_b, 0)?;

        // Bitmaps will be lost if we just shutdown the vm, as they are marked
        // to skip storing to disk when prepared for migration. And that's
        // correct, as actual data may be modified in target vm, so we play
        // safe.
        // Still, this mark would be taken away if we do 'cont', and bitmaps
        // become persistent again. (see iotest 169 for such behavior case)
        let result = self.vm_a.qmp("query-status", ())?;
        ensure!(dictpath(&result, "return/running")? == false);
        self.vm_a_events.extend(self.vm_a.get_qmp_events()?);
        self.vm_a.shutdown()?;
        self.vm_a.launch()?;
        check_bitmaps(&mut self.vm_a, 0)
    }

    fn test_early_kill_source(&mut self) -> Result<()> {
        self.start_postcopy()?;

        self.vm_a_events = self.vm_a.get_qmp_events()?;
        self.vm_a.kill()?;

        self.vm_a.launch()?;

        let match_ = json!({"data": {"status": "completed"}});
        let e_complete = self.vm_b.event_wait_with("MIGRATION", &match_)?;
        self.vm_b_events.push(e_complete);

        check_bitmaps(&mut self.vm_a, 0)?;
        check_bitmaps(&mut self.vm_b, 0)
    }
}

iotests::iotest! {
    name: "migrate-bitmaps-postcopy-test", groups: [rw, migration],
    supported_fmts: ["qcow2"],
    unsupported_imgopts: ["compat"],
    fn migrate_bitmaps_postcopy_test: unittest { TestDirtyBitmapPostcopyMigration }
}
