//! iotests' `VM.run_job`: follow a job from creation to its end, logging
//! what iotests logs.

use serde_json::{Value, json};

use super::Vm;
use super::helpers::index;
use super::opts::RunJobOptions;
use super::pyval::py_str;
use crate::error::Result;
use crate::log::Msg;

impl Vm {
    /// iotests' `run_job(job)`: follow a job from creation to its end,
    /// logging its block-job events, `Job failed: …`, and the
    /// `job-complete` / `job-dismiss` commands it issues. Returns the job's
    /// error, `None` on success.
    ///
    /// It consumes the job's `JOB_STATUS_CHANGE` events (and the block-job
    /// events it logs): a test that wants to see them itself must not call
    /// it. Like iotests' `log()`, nothing is logged in a unittest-style test
    /// unless it declares `activate_logging: true`.
    ///
    /// ```no_run
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
    /// # let mut vm = t.vm(); vm.launch()?;
    /// assert_eq!(vm.run_job("job0")?, None);
    /// # Ok::<(), iotests::Error>(())
    /// ```
    pub fn run_job(&mut self, job: &str) -> Result<Option<String>> {
        self.run_job_with(job, RunJobOptions::default())
    }

    /// iotests' `run_job(job, auto_finalize, auto_dismiss, pre_finalize,
    /// cancel, wait, filters)`. `pre_finalize` gets the VM; for a hook that
    /// is a method of the test object (`pre_finalize=self.openBacking`), see
    /// [`run_job_in`](Vm::run_job_in).
    ///
    /// ```no_run
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
    /// # let mut vm = t.vm(); vm.launch()?;
    /// use iotests::{kwargs, vm::RunJobOptions};
    /// let mut check = |vm: &mut iotests::vm::Vm| vm.qmp_log("query-jobs", kwargs! {}).map(drop);
    /// let err = vm.run_job_with("job0", RunJobOptions {
    ///     auto_finalize: false,
    ///     pre_finalize: Some(&mut check),
    ///     ..Default::default()
    /// })?;
    /// # Ok::<(), iotests::Error>(())
    /// ```
    pub fn run_job_with(&mut self, job: &str, opts: RunJobOptions<'_>) -> Result<Option<String>> {
        Vm::run_job_in(self, |vm| vm, job, opts)
    }

    /// `self.vm.run_job(job, …, pre_finalize=self.method)`: [`run_job_with`]
    /// on the VM of a test object (`vm` says which: `|s| &mut s.vm`), whose
    /// `pre_finalize` hook gets the whole object, as a bound method does in
    /// Python — so a hook that a subclass overrides reads `s.vm` and the
    /// class attributes as the original reads `self.vm` and `self.…`.
    ///
    /// [`run_job_with`]: Vm::run_job_with
    ///
    /// ```no_run
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
    /// use iotests::{kwargs, vm::{RunJobOptions, Vm}};
    /// struct MirrorTest { vm: Vm, open_with_backing: bool }
    /// fn open_backing(s: &mut MirrorTest) -> iotests::Result<()> {   // def openBacking(self):
    ///     if !s.open_with_backing {
    ///         s.vm.cmd("blockdev-add", kwargs! { node_name: "backing", driver: "null-co" })?;
    ///     }
    ///     Ok(())
    /// }
    /// let mut s = MirrorTest { vm: t.vm(), open_with_backing: false };
    /// s.vm.launch()?;
    /// let mut hook = open_backing;
    /// Vm::run_job_in(&mut s, |s| &mut s.vm, "mirror-job", RunJobOptions {
    ///     auto_finalize: false,
    ///     pre_finalize: Some(&mut hook),
    ///     auto_dismiss: true,
    ///     ..Default::default()
    /// })?;
    /// # Ok::<(), iotests::Error>(())
    /// ```
    pub fn run_job_in<T>(
        owner: &mut T,
        vm: fn(&mut T) -> &mut Vm,
        job: &str,
        mut opts: RunJobOptions<'_, T>,
    ) -> Result<Option<String>> {
        let match_device = json!({"data": {"device": job}});
        let match_id = json!({"data": {"id": job}});
        let events = [
            ("BLOCK_JOB_COMPLETED", Some(&match_device)),
            ("BLOCK_JOB_CANCELLED", Some(&match_device)),
            ("BLOCK_JOB_ERROR", Some(&match_device)),
            ("BLOCK_JOB_READY", Some(&match_device)),
            ("BLOCK_JOB_PENDING", Some(&match_id)),
            ("JOB_STATUS_CHANGE", Some(&match_id)),
        ];
        let filters = opts.filters;
        let id = json!({"id": job});
        let mut error = None;
        loop {
            let this = vm(owner);
            let ev = this.events_wait_with(&events, opts.wait)?;
            let ev = this.filter_event(ev);
            if ev.get("event").and_then(Value::as_str) != Some("JOB_STATUS_CHANGE") {
                this.log.log_with(Msg::Json(ev), filters, None);
                continue;
            }
            let status = index(index(&ev, "data")?, "status")?.as_str().unwrap_or_default();
            match status {
                "aborting" => {
                    let result = this.qmp("query-jobs", ())?;
                    for j in index(&result, "return")?.as_array().into_iter().flatten() {
                        if j.get("id").and_then(Value::as_str) == Some(job) {
                            let e = py_str(index(j, "error")?);
                            this.log.log_with(format!("Job failed: {e}"), filters, None);
                            error = Some(e);
                        }
                    }
                }
                "ready" => {
                    this.qmp_log_with("job-complete", id.clone(), filters)?;
                }
                "pending" if !opts.auto_finalize => {
                    if let Some(f) = opts.pre_finalize.as_mut() {
                        f(owner)?;
                    }
                    let cmd = if opts.cancel { "job-cancel" } else { "job-finalize" };
                    vm(owner).qmp_log_with(cmd, id.clone(), filters)?;
                }
                "concluded" if !opts.auto_dismiss => {
                    this.qmp_log_with("job-dismiss", id.clone(), filters)?;
                }
                "null" => return Ok(error),
                _ => {}
            }
        }
    }
}
