//! The keyword arguments of iotests' VM helpers and QMPTestCase methods.
//!
//! Each helper with Python defaults comes twice: `foo(required…)` uses
//! Python's defaults, `foo_with(required…, opts)` takes the optional
//! parameters as one value — the parameter itself when Python has only one,
//! else one of these structs: fields named after Python's keywords,
//! `Default` being Python's defaults. Each struct also converts from its
//! most used keyword, so the common case stays short:
//!
//! ```no_run
//! # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
//! # let mut vm = t.vm();
//! use iotests::vm::{Drive, EventWait};
//! use serde_json::json;
//! let img = t.file_path("img");
//! vm.add_drive_with(&img, "node-name=top");                          // add_drive(img, 'node-name=top')
//! vm.add_drive_with(None, Drive { opts: "media=cdrom".into(), interface: "ide", ..Default::default() });
//! vm.launch()?;
//! vm.event_wait_with("BLOCK_JOB_READY", json!({"data": {"device": "drive0"}}))?;  // match=…
//! vm.event_wait_with("STOP", EventWait { timeout: 3.0.into(), ..Default::default() })?;
//! # Ok::<(), iotests::Error>(())
//! ```

use std::time::Duration;

use serde_json::{Map, Value};

use super::{DEFAULT_EVENT_TIMEOUT, Vm};
use crate::error::Result;
use crate::filters::Filter;
use crate::qmp::Wait;

/// `VM.add_drive(path, opts='', interface='virtio', img_format=imgfmt)`'s
/// optional parameters; converts from `opts` alone.
#[derive(Debug, Clone, Default)]
pub struct Drive<'a> {
    /// Appended to the drive's options (`''`).
    pub opts: String,
    /// `if=` (`'virtio'` when empty).
    pub interface: &'a str,
    /// `format=` (`None`: `IMGFMT`).
    pub img_format: Option<&'a str>,
}

impl From<&str> for Drive<'_> {
    fn from(opts: &str) -> Self {
        Drive { opts: opts.to_string(), ..Default::default() }
    }
}

impl From<String> for Drive<'_> {
    fn from(opts: String) -> Self {
        Drive { opts, ..Default::default() }
    }
}

impl From<&String> for Drive<'_> {
    fn from(opts: &String) -> Self {
        Drive { opts: opts.clone(), ..Default::default() }
    }
}

/// `event_wait(name, timeout=60.0, match=None)`'s optional parameters;
/// converts from `match` (a JSON value) or from `timeout` (seconds or a
/// [`Duration`]).
#[derive(Debug, Clone)]
pub struct EventWait {
    /// How long to wait (60 s).
    pub timeout: Wait,
    /// The pattern the event must match (see [`event_match`](crate::qmp::event_match)).
    pub match_: Option<Value>,
}

impl Default for EventWait {
    fn default() -> Self {
        EventWait { timeout: Wait::For(DEFAULT_EVENT_TIMEOUT), match_: None }
    }
}

impl From<Value> for EventWait {
    fn from(pattern: Value) -> Self {
        EventWait { match_: Some(pattern), ..Default::default() }
    }
}

impl From<&Value> for EventWait {
    fn from(pattern: &Value) -> Self {
        EventWait { match_: Some(pattern.clone()), ..Default::default() }
    }
}

impl From<f64> for EventWait {
    fn from(secs: f64) -> Self {
        EventWait { timeout: secs.into(), ..Default::default() }
    }
}

impl From<Duration> for EventWait {
    fn from(d: Duration) -> Self {
        EventWait { timeout: d.into(), ..Default::default() }
    }
}

/// `hmp_qemu_io(drive, cmd, use_log=False, qdev=False)`'s optional
/// parameters.
#[derive(Debug, Clone, Copy, Default)]
pub struct HmpQemuIo {
    /// Log the command and its response.
    pub use_log: bool,
    /// `drive` names a qdev device (`qemu-io -d`).
    pub qdev: bool,
}

/// `blockdev_create(options, job_id='job0', filters=None)`'s optional
/// parameters; converts from `job_id`.
#[derive(Debug, Clone, Copy)]
pub struct BlockdevCreate<'a> {
    /// The job's id (`'job0'`).
    pub job_id: &'a str,
    /// Filters for what is logged (`None`: `[filter_qmp_testfiles]`).
    pub filters: Option<&'a [Filter]>,
}

impl Default for BlockdevCreate<'_> {
    fn default() -> Self {
        BlockdevCreate { job_id: "job0", filters: None }
    }
}

impl<'a> From<&'a str> for BlockdevCreate<'a> {
    fn from(job_id: &'a str) -> Self {
        BlockdevCreate { job_id, ..Default::default() }
    }
}

/// `get_bitmap(node_name, bitmap_name, recording=None, bitmaps=None)`'s
/// optional parameters.
#[derive(Debug, Clone, Copy, Default)]
pub struct GetBitmap<'a> {
    /// Only a bitmap whose `recording` is this.
    pub recording: Option<bool>,
    /// A [`Vm::query_bitmaps`] result to search instead of asking QEMU.
    pub bitmaps: Option<&'a Map<String, Value>>,
}

impl<'a> From<&'a Map<String, Value>> for GetBitmap<'a> {
    /// `bitmaps=`, the keyword most used (upstream 257): search a
    /// [`Vm::query_bitmaps`] result.
    ///
    /// ```
    /// let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("qcow2")).unwrap();
    /// let mut vm = t.vm(); // not launched: a given `bitmaps` asks QEMU nothing
    /// let bitmaps = serde_json::json!({"drive0": [{"name": "bitmap0", "count": 0}]});
    /// let bitmaps = bitmaps.as_object().unwrap();
    /// let b = vm.get_bitmap_with("drive0", "bitmap0", bitmaps).unwrap();
    /// assert_eq!(b.unwrap()["count"], 0);
    /// assert!(vm.get_bitmap_with("drive0", "", bitmaps).unwrap().is_none());
    /// ```
    fn from(bitmaps: &'a Map<String, Value>) -> Self {
        GetBitmap { bitmaps: Some(bitmaps), ..Default::default() }
    }
}

/// QMPTestCase's `cancel_and_wait(drive='drive0', force=False,
/// resume=False, wait=60.0)`; converts from `drive`.
///
/// ```
/// let o = iotests::vm::CancelAndWait { force: true, ..Default::default() };
/// assert_eq!((o.drive, o.resume, o.wait.as_secs()), ("drive0", false, 60));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CancelAndWait<'a> {
    /// The job's device (`'drive0'`).
    pub drive: &'a str,
    /// `block-job-cancel`'s `force` (`False`).
    pub force: bool,
    /// Resume the drive's blkdebug breakpoint after cancelling (`False`).
    pub resume: bool,
    /// How long each wait for events may take (60 s).
    pub wait: Duration,
}

impl Default for CancelAndWait<'_> {
    fn default() -> Self {
        CancelAndWait { drive: "drive0", force: false, resume: false, wait: DEFAULT_EVENT_TIMEOUT }
    }
}

impl<'a> From<&'a str> for CancelAndWait<'a> {
    fn from(drive: &'a str) -> Self {
        CancelAndWait { drive, ..Default::default() }
    }
}

/// QMPTestCase's `wait_until_completed(drive='drive0', check_offset=True,
/// wait=60.0, error=None)`; converts from `drive`.
#[derive(Debug, Clone, Copy)]
pub struct WaitUntilCompleted<'a> {
    /// The job's device (`'drive0'`).
    pub drive: &'a str,
    /// Check that the completed job's offset equals its length (`True`).
    pub check_offset: bool,
    /// How long each wait for events may take (60 s).
    pub wait: Duration,
    /// The error the job must complete with (`None`: none).
    pub error: Option<&'a str>,
}

impl Default for WaitUntilCompleted<'_> {
    fn default() -> Self {
        WaitUntilCompleted { drive: "drive0", check_offset: true, wait: DEFAULT_EVENT_TIMEOUT, error: None }
    }
}

impl<'a> From<&'a str> for WaitUntilCompleted<'a> {
    fn from(drive: &'a str) -> Self {
        WaitUntilCompleted { drive, ..Default::default() }
    }
}

/// QMPTestCase's `complete_and_wait(drive='drive0', wait_ready=True,
/// completion_error=None)`; converts from `drive`.
#[derive(Debug, Clone, Copy)]
pub struct CompleteAndWait<'a> {
    /// The job's device (`'drive0'`).
    pub drive: &'a str,
    /// Wait for `BLOCK_JOB_READY` first (`True`).
    pub wait_ready: bool,
    /// The error the job must complete with (`None`: none).
    pub completion_error: Option<&'a str>,
}

impl Default for CompleteAndWait<'_> {
    fn default() -> Self {
        CompleteAndWait { drive: "drive0", wait_ready: true, completion_error: None }
    }
}

impl<'a> From<&'a str> for CompleteAndWait<'a> {
    fn from(drive: &'a str) -> Self {
        CompleteAndWait { drive, ..Default::default() }
    }
}

/// QMPTestCase's `pause_job(job_id='job0', wait=True)`; converts from
/// `job_id`.
#[derive(Debug, Clone, Copy)]
pub struct PauseJob<'a> {
    /// The job's device (`'job0'`).
    pub job_id: &'a str,
    /// Wait until it is paused (`True`).
    pub wait: bool,
}

impl Default for PauseJob<'_> {
    fn default() -> Self {
        PauseJob { job_id: "job0", wait: true }
    }
}

impl<'a> From<&'a str> for PauseJob<'a> {
    fn from(job_id: &'a str) -> Self {
        PauseJob { job_id, ..Default::default() }
    }
}

/// A callback [`Vm::run_job_with`] calls when the job is pending, with the
/// VM — or, for [`Vm::run_job_in`], with the test object `T` that owns it.
pub type PreFinalize<'a, T = Vm> = &'a mut dyn FnMut(&mut T) -> Result<()>;

/// `run_job(job, auto_finalize=True, auto_dismiss=False,
/// pre_finalize=None, cancel=False, wait=60.0, filters=())`'s optional
/// parameters. `T` is what `pre_finalize` gets: the VM, or with
/// [`Vm::run_job_in`] the test object that owns it.
///
/// ```
/// use iotests::vm::RunJobOptions;
/// let o: RunJobOptions = RunJobOptions { auto_dismiss: true, ..Default::default() };
/// assert!(o.auto_finalize && !o.cancel && o.wait == std::time::Duration::from_secs(60));
/// ```
pub struct RunJobOptions<'a, T = Vm> {
    /// The job was started with `auto-finalize` (default `true`); if not,
    /// `run_job` finalizes (or cancels) it when it is pending.
    pub auto_finalize: bool,
    /// The job was started with `auto-dismiss` (default `false`); if not,
    /// `run_job` dismisses it when it has concluded.
    pub auto_dismiss: bool,
    /// Called when the job is pending, before `job-finalize` / `job-cancel`.
    pub pre_finalize: Option<PreFinalize<'a, T>>,
    /// Cancel the job when it is pending instead of finalizing it.
    pub cancel: bool,
    /// How long to wait for each event (default 60 s).
    pub wait: Duration,
    /// Filters for everything logged.
    pub filters: &'a [Filter],
}

impl<T> Default for RunJobOptions<'_, T> {
    fn default() -> Self {
        RunJobOptions {
            auto_finalize: true,
            auto_dismiss: false,
            pre_finalize: None,
            cancel: false,
            wait: DEFAULT_EVENT_TIMEOUT,
            filters: &[],
        }
    }
}

impl<T> std::fmt::Debug for RunJobOptions<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunJobOptions")
            .field("auto_finalize", &self.auto_finalize)
            .field("auto_dismiss", &self.auto_dismiss)
            .field("pre_finalize", &self.pre_finalize.is_some())
            .field("cancel", &self.cancel)
            .field("wait", &self.wait)
            .field("filters", &self.filters)
            .finish()
    }
}
