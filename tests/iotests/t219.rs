//! Upstream 219: the job-* QMP commands with block jobs, through every job state.

use iotests::filters::qmp_event as filter_qmp_event;
use iotests::prelude::*;
use iotests::qmp::Kwargs;

const IMG_SIZE: u64 = 4 * 1024 * 1024;

fn pause_wait(vm: &mut Vm, job_id: &str) -> Result<Value> {
    with_timeout(3.0, "Timeout waiting for job to pause", |d| {
        loop {
            d.check()?;
            let result = vm.qmp("query-jobs", ())?;
            for job in dictpath(&result, "return")?.as_array().into_iter().flatten() {
                let status = dictpath(job, "status")?;
                if *dictpath(job, "id")? == job_id && (status == "paused" || status == "standby") {
                    return Ok(job.clone());
                }
            }
        }
    })
}

/// Test that block-job-pause/resume and job-pause/resume can be mixed
fn test_pause_resume(t: &TestContext, vm: &mut Vm) -> Result<()> {
    for (pause_cmd, pause_arg) in [("block-job-pause", "device"), ("job-pause", "id")] {
        for (resume_cmd, resume_arg) in [("block-job-resume", "device"), ("job-resume", "id")] {
            t.log(format!("=== Testing {pause_cmd}/{resume_cmd} ==="));

            t.log(vm.qmp(pause_cmd, Kwargs::from(json!({ pause_arg: "job0" })))?);
            pause_wait(vm, "job0")?;
            t.log(filter_qmp_event(vm.event_wait("JOB_STATUS_CHANGE")?));
            let mut result = vm.qmp("query-jobs", ())?;
            t.log(&result);

            let old_progress = dictpath(&result, "return[0]/current-progress")?.clone();
            let total_progress = dictpath(&result, "return[0]/total-progress")?.clone();

            t.log(vm.qmp(resume_cmd, Kwargs::from(json!({ resume_arg: "job0" })))?);
            t.log(filter_qmp_event(vm.event_wait("JOB_STATUS_CHANGE")?));
            if old_progress.as_u64() < total_progress.as_u64() {
                // Wait for the job to advance
                while *dictpath(&result, "return[0]/current-progress")? == old_progress {
                    result = vm.qmp("query-jobs", ())?;
                }
                t.log(&result);
            } else {
                // Already reached the end, so the job cannot advance
                // any further; therefore, the query-jobs result can be
                // logged immediately
                t.log(vm.qmp("query-jobs", ())?);
            }
        }
    }
    Ok(())
}

fn test_job_lifecycle(
    t: &TestContext,
    vm: &mut Vm,
    job: &str,
    job_args: Kwargs,
    has_ready: bool,
    is_mirror: bool,
) -> Result<()> {
    // job_args.get('auto-finalize', True)
    let auto_finalize = job_args.get("auto-finalize").and_then(Value::as_bool).unwrap_or(true);
    let auto_dismiss = job_args.get("auto-dismiss").and_then(Value::as_bool).unwrap_or(true);
    let py_bool = |b: bool| if b { "True" } else { "False" };

    t.log("");
    t.log("");
    t.log(format!(
        "Starting block job: {job} (auto-finalize: {}; auto-dismiss: {})",
        py_bool(auto_finalize),
        py_bool(auto_dismiss)
    ));
    t.log(vm.qmp(job, kwargs! { job_id: "job0", ..job_args })?);

    // Depending on the storage, the first request may or may not have completed
    // yet (and the total progress may not have been fully determined yet), so
    // filter out the progress. Later query-job calls don't need the filtering
    // because the progress is made deterministic by the block job speed
    let mut result = vm.qmp("query-jobs", ())?;
    for j in result["return"].as_array_mut().into_iter().flatten() {
        j["current-progress"] = json!("FILTERED");
        j["total-progress"] = json!("FILTERED");
    }
    t.log(result);

    // undefined -> created -> running
    t.log(filter_qmp_event(vm.event_wait("JOB_STATUS_CHANGE")?));
    t.log(filter_qmp_event(vm.event_wait("JOB_STATUS_CHANGE")?));

    // Wait for total-progress to stabilize
    while dictpath(&vm.qmp("query-jobs", ())?, "return[0]/total-progress")?.as_u64() < Some(IMG_SIZE) {}

    // RUNNING state:
    // pause/resume should work, complete/finalize/dismiss should error out
    t.log("");
    t.log("Pause/resume in RUNNING");
    test_pause_resume(t, vm)?;

    t.log(vm.qmp("job-complete", kwargs! { id: "job0" })?);
    t.log(vm.qmp("job-finalize", kwargs! { id: "job0" })?);
    t.log(vm.qmp("job-dismiss", kwargs! { id: "job0" })?);

    t.log(vm.qmp("block-job-complete", kwargs! { device: "job0" })?);
    t.log(vm.qmp("block-job-finalize", kwargs! { id: "job0" })?);
    t.log(vm.qmp("block-job-dismiss", kwargs! { id: "job0" })?);

    // Let the job complete (or transition to READY if it supports that)
    t.log(vm.qmp("block-job-set-speed", kwargs! { device: "job0", speed: 0 })?);
    if has_ready {
        t.log("");
        t.log("Waiting for READY state...");
        vm.event_wait("BLOCK_JOB_READY")?;
        t.log(filter_qmp_event(vm.event_wait("JOB_STATUS_CHANGE")?));
        t.log(vm.qmp("query-jobs", ())?);

        // READY state:
        // pause/resume/complete should work, finalize/dismiss should error out
        t.log("");
        t.log("Pause/resume in READY");
        test_pause_resume(t, vm)?;

        t.log(vm.qmp("job-finalize", kwargs! { id: "job0" })?);
        t.log(vm.qmp("job-dismiss", kwargs! { id: "job0" })?);

        t.log(vm.qmp("block-job-finalize", kwargs! { id: "job0" })?);
        t.log(vm.qmp("block-job-dismiss", kwargs! { id: "job0" })?);

        // Transition to WAITING
        t.log(vm.qmp("job-complete", kwargs! { id: "job0" })?);
    }

    // Move to WAITING and PENDING state
    t.log("");
    t.log("Waiting for PENDING state...");
    t.log(filter_qmp_event(vm.event_wait("JOB_STATUS_CHANGE")?));
    t.log(filter_qmp_event(vm.event_wait("JOB_STATUS_CHANGE")?));
    if is_mirror {
        t.log(filter_qmp_event(vm.event_wait("JOB_STATUS_CHANGE")?));
        t.log(filter_qmp_event(vm.event_wait("JOB_STATUS_CHANGE")?));
    }

    if !auto_finalize {
        // PENDING state:
        // finalize should work, pause/complete/dismiss should error out
        t.log(vm.qmp("query-jobs", ())?);

        t.log(vm.qmp("job-pause", kwargs! { id: "job0" })?);
        t.log(vm.qmp("job-complete", kwargs! { id: "job0" })?);
        t.log(vm.qmp("job-dismiss", kwargs! { id: "job0" })?);

        t.log(vm.qmp("block-job-pause", kwargs! { device: "job0" })?);
        t.log(vm.qmp("block-job-complete", kwargs! { device: "job0" })?);
        t.log(vm.qmp("block-job-dismiss", kwargs! { id: "job0" })?);

        // Transition to CONCLUDED
        t.log(vm.qmp("job-finalize", kwargs! { id: "job0" })?);
    }

    // Move to CONCLUDED state
    t.log(filter_qmp_event(vm.event_wait("JOB_STATUS_CHANGE")?));

    if !auto_dismiss {
        // CONCLUDED state:
        // dismiss should work, pause/complete/finalize should error out
        t.log(vm.qmp("query-jobs", ())?);

        t.log(vm.qmp("job-pause", kwargs! { id: "job0" })?);
        t.log(vm.qmp("job-complete", kwargs! { id: "job0" })?);
        t.log(vm.qmp("job-finalize", kwargs! { id: "job0" })?);

        t.log(vm.qmp("block-job-pause", kwargs! { device: "job0" })?);
        t.log(vm.qmp("block-job-complete", kwargs! { device: "job0" })?);
        t.log(vm.qmp("block-job-finalize", kwargs! { id: "job0" })?);

        // Transition to NULL
        t.log(vm.qmp("job-dismiss", kwargs! { id: "job0" })?);
    }

    // Move to NULL state
    t.log(filter_qmp_event(vm.event_wait("JOB_STATUS_CHANGE")?));
    t.log(vm.qmp("query-jobs", ())?);
    Ok(())
}

iotests::iotest! {
    name: "219", groups: [rw],
    supported_fmts: ["qcow2"],
    fn t219(t) {
        let paths = t.scoped_file_paths(["disk.img", "copy.img"]);
        let [disk_path, copy_path] = &*paths;
        let mut vm = t.vm();

        t.qemu_img_create(&args!["-f", imgfmt(), disk_path, IMG_SIZE])?;
        t.qemu_io(&args!["-c", format!("write 0 {IMG_SIZE}"), "-f", imgfmt(), disk_path])?;

        t.log("Launching VM...");
        let opts = vm.qmp_to_opts(&json!({
            "driver": imgfmt(),
            "node-name": "drive0-node",
            "file": {
                "driver": "file",
                "filename": disk_path,
            },
        }))?;
        vm.add_blockdev(opts);
        vm.launch()?;

        // In order to keep things deterministic (especially progress in query-job,
        // but related to this also automatic state transitions like job
        // completion), but still get pause points often enough to avoid making this
        // test very slow, it's important to have the right ratio between speed and
        // copy-chunk-size.
        //
        // Chose 64k copy-chunk-size both for mirror (by buf_size) and backup (by
        // x-max-chunk). The slice time, i.e. the granularity of the rate limiting
        // is 100ms. With a speed of 256k per second, we can get four pause points
        // per second. This gives us 250ms per iteration, which should be enough to
        // stay deterministic.

        test_job_lifecycle(t, &mut vm, "drive-mirror", Kwargs::from(json!({
            "device": "drive0-node",
            "target": copy_path,
            "sync": "full",
            "speed": 262144,
            "buf_size": 65536,
        })), true, false)?;

        for auto_finalize in [true, false] {
            for auto_dismiss in [true, false] {
                test_job_lifecycle(t, &mut vm, "drive-backup", Kwargs::from(json!({
                    "device": "drive0-node",
                    "target": copy_path,
                    "sync": "full",
                    "speed": 262144,
                    "x-perf": {"max-chunk": 65536},
                    "auto-finalize": auto_finalize,
                    "auto-dismiss": auto_dismiss,
                })), false, true)?;
            }
        }

        vm.shutdown()?;
        Ok(())
    }
}
