//! iotests' `QMPTestCase` assertions and waits.
//!
//! The assertions on QMP values (`dictpath`, `assert_qmp`, …) are plain
//! functions; the methods that use `self.vm` (`complete_and_wait`,
//! `cancel_and_wait`, `pause_job`, …) are methods of [`Vm`]. A failed
//! assertion is [`Error::Assertion`] carrying the message
//! Python's `AssertionError` carries; other failures (a QMP error, a
//! timeout) are the corresponding errors.
//!
//! ```no_run
//! use iotests::vm::testcase::assert_qmp;
//! use serde_json::json;
//! # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
//! # let mut vm = t.vm();
//! vm.launch()?;
//! let r = vm.qmp("drive-mirror", json!({"device": "drive0", "target": "/tmp/t.img", "sync": "full"}))?;
//! assert_qmp(&r, "return", json!({}))?;
//! vm.complete_and_wait()?;
//! # Ok::<(), iotests::Error>(())
//! ```

use std::time::Duration;

use serde_json::{Value, json};

use super::opts::{CancelAndWait, CompleteAndWait, PauseJob, WaitUntilCompleted};
use super::pyval::{py_eq, py_str};
use super::{Vm, flatten_qmp_object};
use crate::deadline::Deadline;
use crate::error::{Error, Result};

#[track_caller]
fn fail<T>(msg: String) -> Result<T> {
    Err(Error::fail(msg))
}

/// unittest's `assertEqual(first, second, msg)` on JSON values, with
/// Python's `==` (`1 == 1.0`) and its failure message, diffs included (see
/// [`pyfmt::unittest`](crate::pyfmt::unittest); the
/// [`assert_equal!`](crate::assert_equal) macro takes any operands).
///
/// ```
/// use iotests::vm::testcase::assert_equal;
/// use serde_json::json;
/// assert_equal(&json!(1), &json!(1), None)?;
/// let e = assert_equal(&json!(1), &json!(2), Some("oops")).unwrap_err();
/// assert_eq!(e.to_string(), "1 != 2 : oops");
/// # Ok::<(), iotests::Error>(())
/// ```
#[track_caller]
pub fn assert_equal(first: &Value, second: &Value, msg: Option<&str>) -> Result<()> {
    match crate::pyfmt::unittest::assert_equal(first, second, msg) {
        None => Ok(()),
        Some(m) => fail(m),
    }
}

/// A path component `name[idx]`, as iotests' `index_re` matches it (at the
/// start of the component only, as `re.match` does).
fn split_index(component: &str) -> Option<(&str, &str)> {
    let open = component.find('[')?;
    let rest = &component[open + 1..];
    let close = rest.find(']')?;
    (open > 0 && close > 0).then(|| (&component[..open], &rest[..close]))
}

/// QMPTestCase's `dictpath(d, path)`: follow `a/b[0]/c` through nested
/// objects and lists.
///
/// ```
/// use iotests::vm::testcase::dictpath;
/// use serde_json::json;
/// let d = json!({"return": [{"device": "drive0"}]});
/// assert_eq!(dictpath(&d, "return[0]/device")?, "drive0");
/// assert_eq!(dictpath(&d, "return[-1]/device")?, "drive0");
/// let e = dictpath(&d, "return[1]").unwrap_err();
/// assert_eq!(e.to_string(), r#"invalid index "1" in path "return[1]" in "[{'device': 'drive0'}]""#);
/// # Ok::<(), iotests::Error>(())
/// ```
#[track_caller]
pub fn dictpath<'a>(d: &'a Value, path: &str) -> Result<&'a Value> {
    let mut d = d;
    for component in path.split('/') {
        let m = split_index(component);
        let (component, idx) = match m {
            Some((c, i)) => (c, Some(crate::codecs::int(i)?)),
            None => (component, None),
        };
        match d.as_object().and_then(|o| o.get(component)) {
            Some(v) => d = v,
            None => return fail(format!("failed path traversal for \"{path}\" in \"{}\"", py_str(d))),
        }
        if let Some(idx) = idx {
            let Some(list) = d.as_array() else {
                return fail(format!(
                    "path component \"{component}\" in \"{path}\" is not a list in \"{}\"",
                    py_str(d)
                ));
            };
            // Python's negative indices count from the end.
            let i = if idx < 0 { list.len() as i64 + idx } else { idx };
            match usize::try_from(i).ok().and_then(|i| list.get(i)) {
                Some(v) => d = v,
                None => return fail(format!("invalid index \"{idx}\" in path \"{path}\" in \"{}\"", py_str(d))),
            }
        }
    }
    Ok(d)
}

/// QMPTestCase's `assert_qmp_absent(d, path)`: `path` leads nowhere.
///
/// ```
/// use iotests::vm::testcase::assert_qmp_absent;
/// use serde_json::json;
/// assert_qmp_absent(&json!({"data": {}}), "data/error")?;
/// let e = assert_qmp_absent(&json!({"data": {"error": "x"}}), "data/error").unwrap_err();
/// assert_eq!(e.to_string(), r#"path "data/error" has value "x""#);
/// # Ok::<(), iotests::Error>(())
/// ```
#[track_caller]
pub fn assert_qmp_absent(d: &Value, path: &str) -> Result<()> {
    match dictpath(d, path) {
        Err(Error::Assertion { .. }) => Ok(()),
        Err(e) => Err(e),
        Ok(result) => fail(format!("path \"{path}\" has value \"{}\"", py_str(result))),
    }
}

/// QMPTestCase's `assert_qmp(d, path, value)`: the value at `path` equals
/// `value` — or, if `value` is a non-empty list, any of its items (`[]` is
/// a single value).
///
/// ```
/// use iotests::vm::testcase::assert_qmp;
/// use serde_json::json;
/// let ev = json!({"data": {"status": "ready", "len": 10}});
/// assert_qmp(&ev, "data/status", json!(["running", "ready"]))?;
/// assert_qmp(&ev, "data/len", 10)?;
/// let e = assert_qmp(&ev, "data/status", "running").unwrap_err();
/// assert_eq!(e.to_string(), "'ready' != 'running'\n- ready\n+ running\n : \"data/status\" is \"ready\", expected \"running\"");
/// let e = assert_qmp(&ev, "data/len", json!([1, 2])).unwrap_err();
/// assert_eq!(e.to_string(), r#"no match for "10" in [1, 2]"#);
/// # Ok::<(), iotests::Error>(())
/// ```
#[track_caller]
pub fn assert_qmp(d: &Value, path: &str, value: impl Into<Value>) -> Result<()> {
    let value = value.into();
    let result = dictpath(d, path)?;
    match &value {
        Value::Array(list) if !list.is_empty() => {
            if list.iter().any(|v| py_eq(result, v)) {
                Ok(())
            } else {
                fail(format!("no match for \"{}\" in {}", py_str(result), py_str(&value)))
            }
        }
        _ => {
            let msg = format!("\"{path}\" is \"{}\", expected \"{}\"", py_str(result), py_str(&value));
            assert_equal(result, &value, Some(&msg))
        }
    }
}

/// QMPTestCase's `assert_json_filename_equal(json_filename, reference)`:
/// a `json:` file name whose options equal `reference` (compared
/// flattened).
///
/// ```
/// use iotests::vm::testcase::assert_json_filename_equal;
/// use serde_json::json;
/// let name = r#"json:{"driver": "raw", "file": {"driver": "file", "filename": "x"}}"#;
/// assert_json_filename_equal(name, &json!({"driver": "raw", "file.driver": "file", "file.filename": "x"}))?;
/// # Ok::<(), iotests::Error>(())
/// ```
#[track_caller]
pub fn assert_json_filename_equal(json_filename: &str, reference: &Value) -> Result<()> {
    let head: String = json_filename.chars().take(5).collect();
    assert_equal(&Value::String(head), &json!("json:"), None)?;
    let tail: String = json_filename.chars().skip(5).collect();
    let parsed: Value = serde_json::from_str(&tail).map_err(|source| Error::Json {
        context: "json: filename".into(),
        text: tail.clone(),
        source,
    })?;
    assert_equal(&Value::Object(flatten_qmp_object(&parsed)), &Value::Object(flatten_qmp_object(reference)), None)
}

fn event_name(ev: &Value) -> &str {
    ev.get("event").and_then(Value::as_str).unwrap_or("")
}

/// Python's `event['data']['len']`.
fn data_len(event: &Value) -> Result<Value> {
    event
        .get("data")
        .and_then(|d| d.get("len"))
        .cloned()
        .ok_or_else(|| Error::python("KeyError", format!("'len' in {}", py_str(event))))
}

const PAUSE_TIMEOUT: Duration = Duration::from_secs(3);

/// QMPTestCase's methods that use `self.vm`, on the VM itself:
/// `self.complete_and_wait()` is `self.vm.complete_and_wait()?`.
/// Failures are [`Error::Assertion`] with Python's messages.
impl Vm {
    /// QMPTestCase's `assert_no_active_block_jobs()`.
    #[track_caller]
    pub fn assert_no_active_block_jobs(&mut self) -> Result<()> {
        let caller = std::panic::Location::caller();
        let result = self.qmp("query-block-jobs", ())?;
        assert_qmp(&result, "return", json!([])).map_err(|e| relocate(e, caller))
    }

    /// QMPTestCase's `assert_has_block_node(node_name, file_name)`: a node
    /// with this name and/or file exists.
    #[track_caller]
    pub fn assert_has_block_node(&mut self, node_name: Option<&str>, file_name: Option<&str>) -> Result<()> {
        let caller = std::panic::Location::caller();
        let fail = |m: String| Err(Error::Assertion { message: m, location: Some(caller) });
        if node_name.is_none_or(str::is_empty) && file_name.is_none_or(str::is_empty) {
            return fail(String::new());
        }
        let result = self.qmp("query-named-block-nodes", ())?;
        let eq_or_none = |a: Option<&Value>, b: Option<&str>| match (a, b) {
            (None | Some(Value::Null), _) | (_, None) => true,
            (Some(a), Some(b)) => a == b,
        };
        for x in result.get("return").and_then(Value::as_array).into_iter().flatten() {
            if eq_or_none(x.get("node-name"), node_name) && eq_or_none(x.get("file"), file_name) {
                return Ok(());
            }
        }
        let opt = |s: Option<&str>| s.unwrap_or("None").to_string();
        fail(format!("Cannot find {} {} in result:\n{}", opt(node_name), opt(file_name), py_str(&result)))
    }

    /// QMPTestCase's `cancel_and_wait()`: cancel job `drive0` and wait for
    /// it to finish; returns the `BLOCK_JOB_COMPLETED`/`_CANCELLED` event.
    #[track_caller]
    pub fn cancel_and_wait(&mut self) -> Result<Value> {
        self.cancel_and_wait_with(CancelAndWait::default())
    }

    /// QMPTestCase's `cancel_and_wait(drive, force, resume, wait)`.
    ///
    /// ```no_run
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
    /// # let mut vm = t.vm();
    /// use iotests::vm::CancelAndWait;
    /// let event = vm.cancel_and_wait_with(CancelAndWait { force: true, ..Default::default() })?;
    /// # Ok::<(), iotests::Error>(())
    /// ```
    #[track_caller]
    pub fn cancel_and_wait_with<'a>(&mut self, o: impl Into<CancelAndWait<'a>>) -> Result<Value> {
        let o = o.into();
        let caller = std::panic::Location::caller();
        let here = |e| relocate(e, caller);
        self.cmd("block-job-cancel", json!({"device": o.drive, "force": o.force}))?;
        if o.resume {
            self.resume_drive(o.drive)?;
        }
        let mut result = None;
        while result.is_none() {
            // Python handles the whole batch, even after the event it wants.
            for event in self.get_qmp_events_with(o.wait)? {
                match event_name(&event) {
                    "BLOCK_JOB_COMPLETED" | "BLOCK_JOB_CANCELLED" => {
                        assert_qmp(&event, "data/device", o.drive).map_err(here)?;
                        result = Some(event);
                    }
                    "JOB_STATUS_CHANGE" => assert_qmp(&event, "data/id", o.drive).map_err(here)?,
                    _ => {}
                }
            }
        }
        self.assert_no_active_block_jobs().map_err(here)?;
        Ok(result.unwrap_or_default())
    }

    /// QMPTestCase's `wait_until_completed()`: wait for job `drive0`'s
    /// `BLOCK_JOB_COMPLETED` (no error, offset = length) and return it.
    #[track_caller]
    pub fn wait_until_completed(&mut self) -> Result<Value> {
        self.wait_until_completed_with(WaitUntilCompleted::default())
    }

    /// QMPTestCase's `wait_until_completed(drive, check_offset, wait, error)`.
    #[track_caller]
    pub fn wait_until_completed_with<'a>(&mut self, o: impl Into<WaitUntilCompleted<'a>>) -> Result<Value> {
        let o = o.into();
        let caller = std::panic::Location::caller();
        let here = |e| relocate(e, caller);
        loop {
            for event in self.get_qmp_events_with(o.wait)? {
                match event_name(&event) {
                    "BLOCK_JOB_COMPLETED" => {
                        assert_qmp(&event, "data/device", o.drive).map_err(here)?;
                        match o.error {
                            None => {
                                assert_qmp_absent(&event, "data/error").map_err(here)?;
                                if o.check_offset {
                                    assert_qmp(&event, "data/offset", data_len(&event)?).map_err(here)?;
                                }
                            }
                            Some(e) => assert_qmp(&event, "data/error", e).map_err(here)?,
                        }
                        self.assert_no_active_block_jobs().map_err(here)?;
                        return Ok(event);
                    }
                    "JOB_STATUS_CHANGE" => assert_qmp(&event, "data/id", o.drive).map_err(here)?,
                    _ => {}
                }
            }
        }
    }

    /// QMPTestCase's `wait_ready()`: the `BLOCK_JOB_READY` of mirror or
    /// commit job `drive0`.
    pub fn wait_ready(&mut self) -> Result<Value> {
        self.wait_ready_with("drive0")
    }

    /// QMPTestCase's `wait_ready(drive)`.
    pub fn wait_ready_with(&mut self, drive: &str) -> Result<Value> {
        let mirror = json!({"data": {"type": "mirror", "device": drive}});
        let commit = json!({"data": {"type": "commit", "device": drive}});
        self.events_wait(&[("BLOCK_JOB_READY", Some(&mirror)), ("BLOCK_JOB_READY", Some(&commit))])
    }

    /// QMPTestCase's `wait_ready_and_cancel()` for job `drive0`.
    #[track_caller]
    pub fn wait_ready_and_cancel(&mut self) -> Result<()> {
        self.wait_ready_and_cancel_with("drive0")
    }

    /// QMPTestCase's `wait_ready_and_cancel(drive)`.
    #[track_caller]
    pub fn wait_ready_and_cancel_with(&mut self, drive: &str) -> Result<()> {
        let caller = std::panic::Location::caller();
        let here = |e| relocate(e, caller);
        self.wait_ready_with(drive)?;
        let event = self.cancel_and_wait_with(drive).map_err(here)?;
        assert_equal(event.get("event").unwrap_or(&Value::Null), &json!("BLOCK_JOB_COMPLETED"), None).map_err(here)?;
        assert_qmp(&event, "data/type", "mirror").map_err(here)?;
        assert_qmp(&event, "data/offset", data_len(&event)?).map_err(here)
    }

    /// QMPTestCase's `complete_and_wait()`: wait for job `drive0` to be
    /// ready, complete it, wait until it has completed without error.
    #[track_caller]
    pub fn complete_and_wait(&mut self) -> Result<()> {
        self.complete_and_wait_with(CompleteAndWait::default())
    }

    /// QMPTestCase's `complete_and_wait(drive, wait_ready, completion_error)`.
    ///
    /// ```no_run
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
    /// # let mut vm = t.vm();
    /// use iotests::vm::CompleteAndWait;
    /// vm.complete_and_wait_with("mirror-job")?;
    /// vm.complete_and_wait_with(CompleteAndWait { wait_ready: false, ..Default::default() })?;
    /// # Ok::<(), iotests::Error>(())
    /// ```
    #[track_caller]
    pub fn complete_and_wait_with<'a>(&mut self, o: impl Into<CompleteAndWait<'a>>) -> Result<()> {
        let CompleteAndWait { drive, wait_ready, completion_error } = o.into();
        let caller = std::panic::Location::caller();
        if wait_ready {
            self.wait_ready_with(drive)?;
        }
        self.cmd("block-job-complete", json!({"device": drive}))?;
        let event = self
            .wait_until_completed_with(WaitUntilCompleted { drive, error: completion_error, ..Default::default() })
            .map_err(|e| relocate(e, caller))?;
        let ty = event.get("data").and_then(|d| d.get("type"));
        if ty.is_some_and(|t| t == "mirror" || t == "commit") {
            Ok(())
        } else {
            Err(Error::Assertion { message: "False is not true".into(), location: Some(caller) })
        }
    }

    /// QMPTestCase's `pause_wait()`: poll `query-block-jobs` until job
    /// `job0` is paused and not busy (at most 3 s); returns the job.
    #[track_caller]
    pub fn pause_wait(&mut self) -> Result<Value> {
        self.pause_wait_with("job0")
    }

    /// QMPTestCase's `pause_wait(job_id)`.
    #[track_caller]
    pub fn pause_wait_with(&mut self, job_id: &str) -> Result<Value> {
        let caller = std::panic::Location::caller();
        let deadline = Deadline::after(PAUSE_TIMEOUT, "Timeout waiting for job to pause");
        loop {
            let result = self.qmp("query-block-jobs", ())?;
            let jobs = result.get("return").and_then(Value::as_array).cloned().unwrap_or_default();
            let Some(job) = jobs.into_iter().find(|j| j.get("device").and_then(Value::as_str) == Some(job_id)) else {
                // Python's bare `assert found`.
                return Err(Error::Assertion { message: String::new(), location: Some(caller) });
            };
            let truthy = |k: &str| job.get(k).is_some_and(|v| py_eq(v, &json!(true)));
            if truthy("paused") && !truthy("busy") {
                return Ok(job);
            }
            deadline.check()?;
            deadline.sleep(Duration::from_millis(1));
        }
    }

    /// QMPTestCase's `pause_job()`: `block-job-pause` job `job0` and wait
    /// until it is paused.
    #[track_caller]
    pub fn pause_job(&mut self) -> Result<()> {
        self.pause_job_with(PauseJob::default())
    }

    /// QMPTestCase's `pause_job(job_id, wait)`.
    #[track_caller]
    pub fn pause_job_with<'a>(&mut self, o: impl Into<PauseJob<'a>>) -> Result<()> {
        let PauseJob { job_id, wait } = o.into();
        let caller = std::panic::Location::caller();
        self.cmd("block-job-pause", json!({"device": job_id}))?;
        if wait {
            self.pause_wait_with(job_id).map_err(|e| relocate(e, caller))?;
        }
        Ok(())
    }
}

/// An assertion raised inside a helper is reported at the test's line
/// that called the helper, as Python's traceback ends in the test.
fn relocate(e: Error, caller: &'static std::panic::Location<'static>) -> Error {
    match e {
        Error::Assertion { message, .. } => Error::Assertion { message, location: Some(caller) },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictpath_messages_match_python() {
        let d = json!({"a": {"b": [1, 2]}, "s": "x"});
        assert_eq!(dictpath(&d, "a/b[1]").unwrap(), &json!(2));
        let e = dictpath(&d, "a/c").unwrap_err().to_string();
        assert_eq!(e, r#"failed path traversal for "a/c" in "{'b': [1, 2]}""#);
        let e = dictpath(&d, "s[0]").unwrap_err().to_string();
        assert_eq!(e, r#"path component "s" in "s[0]" is not a list in "x""#);
        let e = dictpath(&d, "s/t").unwrap_err().to_string();
        assert_eq!(e, r#"failed path traversal for "s/t" in "x""#);
        assert!(matches!(dictpath(&d, "a/b[x]"), Err(Error::Unexpected(_))));
        // `[0]` alone is not an index (the name part must be non-empty).
        assert!(dictpath(&d, "[0]").is_err());
    }

    #[test]
    fn assert_qmp_cases() {
        let d = json!({"return": [], "n": 1, "f": null});
        assert_qmp(&d, "return", json!([])).unwrap();
        let e = assert_qmp(&d, "n", 2).unwrap_err().to_string();
        assert_eq!(e, r#"1 != 2 : "n" is "1", expected "2""#);
        let e = assert_qmp(&d, "f", "x").unwrap_err().to_string();
        assert_eq!(e, r#"None != 'x' : "f" is "None", expected "x""#);
        assert_qmp(&d, "n", serde_json::from_str::<Value>("1.0").unwrap()).unwrap();
        assert_qmp(&d, "n", true).unwrap();
    }

    #[test]
    fn json_filename() {
        let e = assert_json_filename_equal("raw:x", &json!({})).unwrap_err().to_string();
        // unittest's assertMultiLineEqual diff, as Python prints it.
        assert_eq!(e, "'raw:x' != 'json:'\n- raw:x\n+ json:\n");
        let e = assert_json_filename_equal(r#"json:{"a": 1}"#, &json!({"a": 2})).unwrap_err().to_string();
        assert_eq!(e, "{'a': 1} != {'a': 2}\n- {'a': 1}\n?       ^\n\n+ {'a': 2}\n?       ^\n");
    }
}
