//! iotests' `QMPTestCase` assertions and waits, as plain functions.
//!
//! Python's methods use `self.vm`; these take the VM as their first
//! argument. A failed assertion is [`Error::Assertion`] carrying the message
//! Python's `AssertionError` carries; other failures (a QMP error, a
//! timeout) are the corresponding errors.
//!
//! ```no_run
//! use iotests::vm::testcase::{assert_qmp, complete_and_wait};
//! use serde_json::json;
//! # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
//! # let mut vm = t.vm();
//! vm.launch()?;
//! let r = vm.qmp("drive-mirror", json!({"device": "drive0", "target": "/tmp/t.img", "sync": "full"}))?;
//! assert_qmp(&r, "return", json!({}))?;
//! complete_and_wait(&mut vm, "drive0", true, None)?;
//! # Ok::<(), iotests::Error>(())
//! ```

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::pyval::{assert_equal_message, py_eq, py_str};
use super::{DEFAULT_EVENT_TIMEOUT, Vm, VmError, flatten_qmp_object};
use crate::error::{Error, Result};

fn fail<T>(msg: String) -> Result<T> {
    Err(Error::Assertion(msg))
}

/// unittest's `assertEqual(first, second, msg)` on JSON values, with
/// Python's `==` (`1 == 1.0`) and its failure message
/// (`first != second : msg`; unittest's diff of two dicts, lists or strings
/// is left out).
///
/// ```
/// use iotests::vm::testcase::assert_equal;
/// use serde_json::json;
/// assert_equal(&json!(1), &json!(1), None)?;
/// let e = assert_equal(&json!(1), &json!(2), Some("oops")).unwrap_err();
/// assert_eq!(e.to_string(), "1 != 2 : oops");
/// # Ok::<(), iotests::Error>(())
/// ```
pub fn assert_equal(first: &Value, second: &Value, msg: Option<&str>) -> Result<()> {
    if py_eq(first, second) { Ok(()) } else { fail(assert_equal_message(first, second, msg)) }
}

/// A path component `name[idx]`, as iotests' `index_re` matches it (at the
/// start of the component only, as `re.match` does).
fn split_index(component: &str) -> Option<(&str, &str)> {
    let open = component.find('[')?;
    let rest = &component[open + 1..];
    let close = rest.find(']')?;
    (open > 0 && close > 0).then(|| (&component[..open], &rest[..close]))
}

/// Python's `int(text)` for an index.
fn py_int(text: &str) -> Result<i64> {
    text.trim().replace('_', "").parse().map_err(|_| {
        VmError::Unexpected(format!("ValueError: invalid literal for int() with base 10: '{text}'")).into()
    })
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
pub fn dictpath<'a>(d: &'a Value, path: &str) -> Result<&'a Value> {
    let mut d = d;
    for component in path.split('/') {
        let m = split_index(component);
        let (component, idx) = match m {
            Some((c, i)) => (c, Some(py_int(i)?)),
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
pub fn assert_qmp_absent(d: &Value, path: &str) -> Result<()> {
    match dictpath(d, path) {
        Err(Error::Assertion(_)) => Ok(()),
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
/// assert_eq!(e.to_string(), r#"'ready' != 'running' : "data/status" is "ready", expected "running""#);
/// let e = assert_qmp(&ev, "data/len", json!([1, 2])).unwrap_err();
/// assert_eq!(e.to_string(), r#"no match for "10" in [1, 2]"#);
/// # Ok::<(), iotests::Error>(())
/// ```
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

/// QMPTestCase's `assert_no_active_block_jobs()`.
pub fn assert_no_active_block_jobs(vm: &mut Vm) -> Result<()> {
    let result = vm.qmp("query-block-jobs", ())?;
    assert_qmp(&result, "return", json!([]))
}

/// QMPTestCase's `assert_has_block_node(node_name, file_name)`: some node
/// in `query-named-block-nodes` has this node name and/or file name.
pub fn assert_has_block_node(vm: &mut Vm, node_name: Option<&str>, file_name: Option<&str>) -> Result<()> {
    if node_name.is_none_or(str::is_empty) && file_name.is_none_or(str::is_empty) {
        return fail(String::new());
    }
    let result = vm.qmp("query-named-block-nodes", ())?;
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

/// QMPTestCase's `cancel_and_wait(drive, force, resume, wait)`: cancel a
/// block job and wait (up to `wait` for each batch of events) until it
/// completes or is cancelled; returns that event.
pub fn cancel_and_wait(vm: &mut Vm, drive: &str, force: bool, resume: bool, wait: Duration) -> Result<Value> {
    vm.cmd("block-job-cancel", json!({"device": drive, "force": force}))?;
    if resume {
        vm.resume_drive(drive)?;
    }
    let mut result = None;
    while result.is_none() {
        // Python handles the whole batch, even after the event it wants.
        for event in vm.get_qmp_events(wait)? {
            match event_name(&event) {
                "BLOCK_JOB_COMPLETED" | "BLOCK_JOB_CANCELLED" => {
                    assert_qmp(&event, "data/device", drive)?;
                    result = Some(event);
                }
                "JOB_STATUS_CHANGE" => assert_qmp(&event, "data/id", drive)?,
                _ => {}
            }
        }
    }
    assert_no_active_block_jobs(vm)?;
    Ok(result.unwrap_or_default())
}

/// Python's `event['data']['len']`.
fn data_len(event: &Value) -> Result<Value> {
    event
        .get("data")
        .and_then(|d| d.get("len"))
        .cloned()
        .ok_or_else(|| VmError::Unexpected(format!("KeyError: 'len' in {}", py_str(event))).into())
}

/// QMPTestCase's `wait_until_completed(drive, check_offset, wait, error)`:
/// wait for `BLOCK_JOB_COMPLETED` of `drive`, check its error (none, or
/// `error`) and, without error, that `offset == len` if `check_offset`.
pub fn wait_until_completed(
    vm: &mut Vm,
    drive: &str,
    check_offset: bool,
    wait: Duration,
    error: Option<&str>,
) -> Result<Value> {
    loop {
        for event in vm.get_qmp_events(wait)? {
            match event_name(&event) {
                "BLOCK_JOB_COMPLETED" => {
                    assert_qmp(&event, "data/device", drive)?;
                    match error {
                        None => {
                            assert_qmp_absent(&event, "data/error")?;
                            if check_offset {
                                assert_qmp(&event, "data/offset", data_len(&event)?)?;
                            }
                        }
                        Some(e) => assert_qmp(&event, "data/error", e)?,
                    }
                    assert_no_active_block_jobs(vm)?;
                    return Ok(event);
                }
                "JOB_STATUS_CHANGE" => assert_qmp(&event, "data/id", drive)?,
                _ => {}
            }
        }
    }
}

/// QMPTestCase's `wait_ready(drive)`: wait (60 s) for `BLOCK_JOB_READY` of
/// a mirror or commit job on `drive`.
pub fn wait_ready(vm: &mut Vm, drive: &str) -> Result<Value> {
    let mirror = json!({"data": {"type": "mirror", "device": drive}});
    let commit = json!({"data": {"type": "commit", "device": drive}});
    vm.events_wait(&[("BLOCK_JOB_READY", Some(&mirror)), ("BLOCK_JOB_READY", Some(&commit))], DEFAULT_EVENT_TIMEOUT)
}

/// QMPTestCase's `wait_ready_and_cancel(drive)`: a mirror job that becomes
/// ready and, cancelled, completes with `offset == len`.
pub fn wait_ready_and_cancel(vm: &mut Vm, drive: &str) -> Result<()> {
    wait_ready(vm, drive)?;
    let event = cancel_and_wait(vm, drive, false, false, DEFAULT_EVENT_TIMEOUT)?;
    assert_equal(event.get("event").unwrap_or(&Value::Null), &json!("BLOCK_JOB_COMPLETED"), None)?;
    assert_qmp(&event, "data/type", "mirror")?;
    assert_qmp(&event, "data/offset", data_len(&event)?)
}

/// QMPTestCase's `complete_and_wait(drive, wait_ready, completion_error)`:
/// (wait for the job to be ready,) `block-job-complete` it and wait until it
/// has completed (with `completion_error`, if given).
pub fn complete_and_wait(
    vm: &mut Vm,
    drive: &str,
    wait_ready_first: bool,
    completion_error: Option<&str>,
) -> Result<()> {
    if wait_ready_first {
        wait_ready(vm, drive)?;
    }
    vm.cmd("block-job-complete", json!({"device": drive}))?;
    let event = wait_until_completed(vm, drive, true, DEFAULT_EVENT_TIMEOUT, completion_error)?;
    let ty = event.get("data").and_then(|d| d.get("type"));
    if ty.is_some_and(|t| t == "mirror" || t == "commit") { Ok(()) } else { fail("False is not true".into()) }
}

/// How long [`pause_wait`] waits (iotests' `Timeout(3, …)`).
const PAUSE_TIMEOUT: Duration = Duration::from_secs(3);

/// QMPTestCase's `pause_wait(job_id)`: wait (3 s) until the block job is
/// paused and not busy; returns its `query-block-jobs` entry. Not in time
/// is [`Error::Timeout`] "Timeout waiting for job to pause".
pub fn pause_wait(vm: &mut Vm, job_id: &str) -> Result<Value> {
    let deadline = Instant::now() + PAUSE_TIMEOUT;
    loop {
        let result = vm.qmp("query-block-jobs", ())?;
        let jobs = result.get("return").and_then(Value::as_array).cloned().unwrap_or_default();
        let Some(job) = jobs.into_iter().find(|j| j.get("device").and_then(Value::as_str) == Some(job_id)) else {
            // Python's bare `assert found`.
            return fail(String::new());
        };
        let truthy = |k: &str| job.get(k).is_some_and(|v| py_eq(v, &json!(true)));
        if truthy("paused") && !truthy("busy") {
            return Ok(job);
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout { what: "Timeout waiting for job to pause".into(), log: String::new() });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// QMPTestCase's `pause_job(job_id, wait)`: `block-job-pause`, then
/// [`pause_wait`] if `wait`.
pub fn pause_job(vm: &mut Vm, job_id: &str, wait: bool) -> Result<()> {
    vm.cmd("block-job-pause", json!({"device": job_id}))?;
    if wait {
        pause_wait(vm, job_id)?;
    }
    Ok(())
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
        assert!(matches!(dictpath(&d, "a/b[x]"), Err(Error::Vm(_))));
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
        assert_eq!(e, "'raw:x' != 'json:'");
        let e = assert_json_filename_equal(r#"json:{"a": 1}"#, &json!({"a": 2})).unwrap_err().to_string();
        assert_eq!(e, "{'a': 1} != {'a': 2}");
    }
}
