//! iotests' VM helpers: `qmp_log`, `hmp`, `run_job`, `blockdev_create`,
//! migration and bitmap helpers, `assert_block_path`. Each logs exactly
//! what iotests logs.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::opts::{BlockdevCreate, GetBitmap, HmpQemuIo, RunJobOptions};
use super::pyval::{py_eq, py_str, py_type};
use super::{DEFAULT_EVENT_TIMEOUT, Vm};
use crate::deadline::Deadline;
use crate::error::{Error, Result};
use crate::filters::Filter;
use crate::kwargs;
use crate::log::{LogOpts, Msg};
use crate::qmp::Kwargs;

/// iotests' `VM.flatten_qmp_object(obj)`: leaves of a JSON tree keyed by
/// their dotted paths (`a.b.0.c`), in tree order.
///
/// ```
/// use serde_json::json;
/// let flat = iotests::vm::flatten_qmp_object(&json!({"driver": "qcow2", "file": {"driver": "file"}, "l": [1]}));
/// assert_eq!(serde_json::Value::Object(flat), json!({"driver": "qcow2", "file.driver": "file", "l.0": 1}));
/// ```
pub fn flatten_qmp_object(obj: &Value) -> Map<String, Value> {
    fn walk(obj: &Value, output: &mut Map<String, Value>, basestr: String) {
        match obj {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, output, format!("{basestr}{i}."));
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    walk(v, output, format!("{basestr}{k}."));
                }
            }
            // Strip the trailing '.'.
            leaf => {
                let mut key = basestr;
                key.pop();
                output.insert(key, leaf.clone());
            }
        }
    }
    let mut output = Map::new();
    walk(obj, &mut output, String::new());
    output
}

/// iotests' `VM.qmp_to_opts(obj)`: a JSON tree as `key=value,…` options.
/// Like Python, a leaf that is not a string is an error (`TypeError`).
///
/// ```
/// use serde_json::json;
/// let opts = iotests::vm::qmp_to_opts(&json!({"driver": "qcow2", "file": {"driver": "file", "filename": "x"}}))?;
/// assert_eq!(opts, "driver=qcow2,file.driver=file,file.filename=x");
/// assert!(iotests::vm::qmp_to_opts(&json!({"size": 1})).is_err());
/// # Ok::<(), iotests::Error>(())
/// ```
pub fn qmp_to_opts(obj: &Value) -> Result<String> {
    let mut out = Vec::new();
    for (key, value) in flatten_qmp_object(obj) {
        match value {
            Value::String(s) => out.push(format!("{key}={s}")),
            v => {
                return Err(Error::python(
                    "TypeError",
                    format!("can only concatenate str (not \"{}\") to str", py_type(&v)),
                ));
            }
        }
    }
    Ok(out.join(","))
}

/// Python's `d[key]` on a JSON object, with Python's `KeyError` text.
pub(super) fn index<'a>(d: &'a Value, key: &str) -> Result<&'a Value> {
    d.get(key).ok_or_else(|| Error::python("KeyError", format!("'{key}' in {}", py_str(d))))
}

impl Vm {
    /// iotests' `VM.flatten_qmp_object(obj)`; see [`flatten_qmp_object`].
    pub fn flatten_qmp_object(&self, obj: &Value) -> Map<String, Value> {
        flatten_qmp_object(obj)
    }

    /// iotests' `VM.qmp_to_opts(obj)`; see [`qmp_to_opts`].
    pub fn qmp_to_opts(&self, obj: &Value) -> Result<String> {
        qmp_to_opts(obj)
    }

    /// iotests' `qmp_log(cmd, **kwargs)`: log the command (`{"execute":
    /// cmd, "arguments": ordered_qmp(kwargs)}`), run it, log the response
    /// (keys sorted). Returns the response.
    ///
    /// `args` are Python's keyword arguments: [`kwargs!`](crate::kwargs)
    /// (`node_name: "x"`), or a `json!` object read the same way (a key
    /// written `node-name` sorts as `node_name` would); top-level `_` become
    /// `-`.
    ///
    /// ```no_run
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
    /// # let mut vm = t.vm(); vm.launch()?;
    /// use iotests::kwargs;
    /// vm.qmp_log("block-dirty-bitmap-add", kwargs! { node: "drive0", name: "bitmap0" })?;
    /// // {"execute": "block-dirty-bitmap-add", "arguments": {"name": "bitmap0", "node": "drive0"}}
    /// // {"return": {}}
    /// # Ok::<(), iotests::Error>(())
    /// ```
    pub fn qmp_log(&mut self, cmd: &str, args: impl Into<Kwargs>) -> Result<Value> {
        self.qmp_log_with(cmd, args, LogOpts::default())
    }

    /// iotests' `qmp_log(cmd, filters, indent, **kwargs)`: as
    /// [`qmp_log`](Vm::qmp_log), both lines through `filters` and with
    /// `indent`. Returns the response as filtered, as Python's filters edit
    /// it in place.
    ///
    /// ```no_run
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
    /// # let mut vm = t.vm(); vm.launch()?;
    /// use iotests::{kwargs, Filter};
    /// let path = t.file_path("img");
    /// vm.qmp_log_with("blockdev-add", kwargs! { driver: "file", filename: path, node_name: "f" },
    ///                 &[Filter::QmpTestfiles])?;
    /// # Ok::<(), iotests::Error>(())
    /// ```
    pub fn qmp_log_with<'a>(
        &mut self,
        cmd: &str,
        args: impl Into<Kwargs>,
        opts: impl Into<LogOpts<'a>>,
    ) -> Result<Value> {
        let LogOpts { filters, indent } = opts.into();
        let args: Kwargs = args.into();
        let mut full_cmd = Map::new();
        full_cmd.insert("execute".into(), cmd.into());
        full_cmd.insert("arguments".into(), args.ordered());
        self.log.log_with(Msg::Ordered(Value::Object(full_cmd)), filters, indent);
        let result = self.qmp(cmd, args)?;
        let filtered = self.log.apply(Msg::Json(result.clone()), filters);
        self.log.log_with(filtered.clone(), &[], indent);
        Ok(filtered.as_json().cloned().unwrap_or(result))
    }

    /// iotests' `hmp(command_line)`: `human-monitor-command`; returns the
    /// raw response.
    pub fn hmp(&mut self, command_line: &str) -> Result<Value> {
        self.hmp_with(command_line, false)
    }

    /// iotests' `hmp(command_line, use_log)`: logged with
    /// [`qmp_log`](Vm::qmp_log) if `use_log`.
    pub fn hmp_with(&mut self, command_line: &str, use_log: bool) -> Result<Value> {
        let args = kwargs! { command_line: command_line };
        if use_log { self.qmp_log("human-monitor-command", args) } else { self.qmp("human-monitor-command", args) }
    }

    /// iotests' `pause_drive(drive)`: blkdebug breakpoints on `read_aio`
    /// and `write_aio`.
    pub fn pause_drive(&mut self, drive: &str) -> Result<()> {
        self.pause_drive_with(drive, None)
    }

    /// iotests' `pause_drive(drive, event)`: a blkdebug breakpoint on
    /// `event`, or on `read_aio` and `write_aio` when `None`.
    pub fn pause_drive_with(&mut self, drive: &str, event: Option<&str>) -> Result<()> {
        match event {
            None => {
                self.pause_drive_with(drive, Some("read_aio"))?;
                self.pause_drive_with(drive, Some("write_aio"))
            }
            Some(event) => self.hmp(&format!("qemu-io {drive} \"break {event} bp_{drive}\"")).map(drop),
        }
    }

    /// iotests' `resume_drive(drive)`: remove the breakpoint.
    pub fn resume_drive(&mut self, drive: &str) -> Result<()> {
        self.hmp(&format!("qemu-io {drive} \"remove_break bp_{drive}\"")).map(drop)
    }

    /// iotests' `hmp_qemu_io(drive, cmd)`: run a qemu-io command on a drive
    /// through HMP; returns the raw response.
    ///
    /// ```no_run
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
    /// # let mut vm = t.vm(); vm.launch()?;
    /// vm.hmp_qemu_io("drive0", "write -P 0x5a 0 64k")?;
    /// # Ok::<(), iotests::Error>(())
    /// ```
    pub fn hmp_qemu_io(&mut self, drive: &str, cmd: &str) -> Result<Value> {
        self.hmp_qemu_io_with(drive, cmd, HmpQemuIo::default())
    }

    /// iotests' `hmp_qemu_io(drive, cmd, use_log, qdev)`: logged if
    /// `use_log`; `drive` names a qdev device if `qdev`.
    pub fn hmp_qemu_io_with(&mut self, drive: &str, cmd: &str, opts: HmpQemuIo) -> Result<Value> {
        let d = if opts.qdev { "-d " } else { "" };
        self.hmp_with(&format!("qemu-io {d}{drive} \"{cmd}\""), opts.use_log)
    }

    /// Python's `filter_qmp_event(event)`.
    pub(super) fn filter_event(&self, ev: Value) -> Value {
        match self.log.apply(Msg::Json(ev.clone()), &[Filter::QmpEvent]) {
            Msg::Json(v) | Msg::Ordered(v) => v,
            Msg::Text(_) => ev,
        }
    }

    /// iotests' `get_qmp_events_filtered()`: the pending events (waiting
    /// up to 60 s for one) with their timestamps replaced by `SECS` /
    /// `USECS`.
    pub fn get_qmp_events_filtered(&mut self) -> Result<Vec<Value>> {
        self.get_qmp_events_filtered_with(DEFAULT_EVENT_TIMEOUT)
    }

    /// iotests' `get_qmp_events_filtered(wait)`.
    pub fn get_qmp_events_filtered_with(&mut self, wait: impl Into<crate::qmp::Wait>) -> Result<Vec<Value>> {
        let events = self.get_qmp_events_with(wait)?;
        Ok(events.into_iter().map(|e| self.filter_event(e)).collect())
    }

    /// iotests' `blockdev_create(options)`: run `blockdev-create` as job
    /// `job0` through [`qmp_log`](Vm::qmp_log) and [`run_job`](Vm::run_job)
    /// (filtered by `filter_qmp_testfiles`), then log an empty line. Returns
    /// the job's error string, or the command's `error` object if it failed
    /// to start, or `None`.
    ///
    /// ```no_run
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
    /// # let mut vm = t.vm(); vm.launch()?;
    /// use serde_json::json;
    /// let path = t.file_path("t.img");
    /// std::fs::File::create(&path).unwrap();
    /// vm.cmd("blockdev-add", json!({"driver": "file", "filename": path, "node-name": "f"}))?;
    /// let res = vm.blockdev_create(json!({"driver": "qcow2", "file": "f", "size": 1048576}))?;
    /// assert_eq!(res, None);
    /// # Ok::<(), iotests::Error>(())
    /// ```
    pub fn blockdev_create(&mut self, options: Value) -> Result<Option<Value>> {
        self.blockdev_create_with(options, BlockdevCreate::default())
    }

    /// iotests' `blockdev_create(options, job_id, filters)`: `filters`
    /// `None` is `[filter_qmp_testfiles]`, as in Python.
    ///
    /// ```no_run
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
    /// # let mut vm = t.vm(); vm.launch()?;
    /// use iotests::vm::BlockdevCreate;
    /// use serde_json::json;
    /// vm.blockdev_create_with(json!({"driver": "file", "filename": "/tmp/x", "size": 0}), "job1")?;
    /// vm.blockdev_create_with(json!({"driver": "file", "filename": "/tmp/y", "size": 0}),
    ///                         BlockdevCreate { filters: Some(&[]), ..Default::default() })?;
    /// # Ok::<(), iotests::Error>(())
    /// ```
    pub fn blockdev_create_with<'a>(
        &mut self,
        options: Value,
        opts: impl Into<BlockdevCreate<'a>>,
    ) -> Result<Option<Value>> {
        let BlockdevCreate { job_id, filters } = opts.into();
        let default = [Filter::QmpTestfiles];
        let filters = filters.unwrap_or(&default);
        let args = kwargs! { job_id: job_id, options: options };
        let result = self.qmp_log_with("blockdev-create", args, filters)?;
        let job_result = if let Some(ret) = result.get("return") {
            if !py_eq(ret, &json!({})) {
                return Err(Error::fail(String::new()));
            }
            self.run_job_with(job_id, RunJobOptions { filters, ..Default::default() })?.map(Value::String)
        } else {
            Some(index(&result, "error")?.clone())
        };
        self.log.log("");
        Ok(job_result)
    }

    /// iotests' `enable_migration_events(name)`.
    pub fn enable_migration_events(&mut self, name: &str) -> Result<()> {
        self.log.log(format!("Enabling migration QMP events on {name}..."));
        let caps = json!({"capabilities": [{"capability": "events", "state": true}]});
        let r = self.qmp("migrate-set-capabilities", caps)?;
        self.log.log(Msg::Json(r));
        Ok(())
    }

    /// iotests' `wait_migration(expect_runstate)`: log `MIGRATION` events
    /// (timestamps filtered) until it completes or fails; on completion,
    /// wait for the run state `expect_runstate` (at most 60 s; `None`: do
    /// not wait, as in Python). Returns whether it completed.
    pub fn wait_migration(&mut self, expect_runstate: Option<&str>) -> Result<bool> {
        self.wait_migration_until(expect_runstate, None)
    }

    /// [`wait_migration`](Vm::wait_migration) inside iotests' `Timeout`
    /// block: every wait ends at `deadline`, which then fails with its
    /// message — Python's SIGALRM interrupts the wait the same way.
    ///
    /// ```no_run
    /// # fn main() -> iotests::Result<()> {
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("qcow2"))?;
    /// # let mut vm = t.vm();
    /// iotests::tools::with_timeout(3.0, "Migration does not complete", |d| {
    ///     vm.wait_migration_until(Some("postmigrate"), Some(d))
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn wait_migration_until(&mut self, expect_runstate: Option<&str>, deadline: Option<&Deadline>) -> Result<bool> {
        let limit = |default: Duration| deadline.map_or(default, |d| d.remaining().min(default));
        let expired = |e: Error| match deadline {
            Some(d) if d.expired() => d.error().into(),
            _ => e,
        };
        let event = loop {
            let event = self.event_wait_with("MIGRATION", limit(DEFAULT_EVENT_TIMEOUT)).map_err(expired)?;
            self.log.log_with(Msg::Json(event.clone()), &[Filter::QmpEvent], None);
            let status = index(index(&event, "data")?, "status")?;
            if status == "completed" || status == "failed" {
                break event;
            }
        };
        if event["data"]["status"] != "completed" {
            return Ok(false);
        }
        // Python's `runstate = None; while runstate != expect_runstate:`
        // does not query at all when no run state is expected.
        if expect_runstate.is_none() {
            return Ok(true);
        }
        // The event may come in finish-migrate: wait for the run state.
        let runstate_deadline = Deadline::within(limit(DEFAULT_EVENT_TIMEOUT));
        loop {
            let r = self.qmp("query-status", ())?;
            let runstate = index(index(&r, "return")?, "status")?.as_str();
            if runstate == expect_runstate {
                return Ok(true);
            }
            if let Some(d) = deadline.filter(|d| d.expired()) {
                return Err(d.error().into());
            }
            if runstate_deadline.expired() {
                return Err(Error::Timeout {
                    what: format!("waiting for run state {expect_runstate:?} after migration (last: {runstate:?})"),
                    log: String::new(),
                });
            }
            runstate_deadline.sleep(Duration::from_millis(5));
        }
    }

    /// iotests' `node_info(node_name)`: the node's entry in
    /// `query-named-block-nodes`.
    pub fn node_info(&mut self, node_name: &str) -> Result<Option<Value>> {
        let nodes = self.qmp("query-named-block-nodes", ())?;
        let list = index(&nodes, "return")?.as_array().cloned().unwrap_or_default();
        Ok(list.into_iter().find(|x| x.get("node-name").and_then(Value::as_str) == Some(node_name)))
    }

    /// iotests' `query_bitmaps()`: node name → its `dirty-bitmaps`.
    pub fn query_bitmaps(&mut self) -> Result<Map<String, Value>> {
        let res = self.qmp("query-named-block-nodes", ())?;
        let mut out = Map::new();
        for device in index(&res, "return")?.as_array().into_iter().flatten() {
            if let Some(bitmaps) = device.get("dirty-bitmaps") {
                out.insert(py_str(index(device, "node-name")?), bitmaps.clone());
            }
        }
        Ok(out)
    }

    /// iotests' `get_bitmap(node_name, bitmap_name)`: one bitmap from
    /// [`query_bitmaps`](Vm::query_bitmaps).
    pub fn get_bitmap(&mut self, node_name: &str, bitmap_name: &str) -> Result<Option<Value>> {
        self.get_bitmap_with(node_name, bitmap_name, GetBitmap::default())
    }

    /// iotests' `get_bitmap(node_name, bitmap_name, recording, bitmaps)`:
    /// from `bitmaps` (a [`query_bitmaps`](Vm::query_bitmaps) result) if
    /// given, and only if its `recording` is as given.
    pub fn get_bitmap_with<'a>(
        &mut self,
        node_name: &str,
        bitmap_name: &str,
        opts: impl Into<GetBitmap<'a>>,
    ) -> Result<Option<Value>> {
        let GetBitmap { recording, bitmaps } = opts.into();
        let owned;
        let bitmaps = match bitmaps {
            Some(b) => b,
            None => {
                owned = self.query_bitmaps()?;
                &owned
            }
        };
        let list = bitmaps.get(node_name).ok_or_else(|| Error::python("KeyError", format!("'{node_name}'")))?;
        for bitmap in list.as_array().into_iter().flatten() {
            if bitmap.get("name").and_then(Value::as_str).unwrap_or("") == bitmap_name {
                let rec = bitmap.get("recording").unwrap_or(&Value::Null);
                if recording.is_none_or(|r| py_eq(rec, &Value::Bool(r))) {
                    return Ok(Some(bitmap.clone()));
                }
            }
        }
        Ok(None)
    }

    /// iotests' `check_bitmap_status(node_name, bitmap_name, fields)`:
    /// whether the bitmap has all of `fields` (a JSON object) with equal
    /// values.
    pub fn check_bitmap_status(&mut self, node_name: &str, bitmap_name: &str, fields: &Value) -> Result<bool> {
        let Some(ret) = self.get_bitmap(node_name, bitmap_name)? else {
            return Err(Error::python("AttributeError", "'NoneType' object has no attribute 'items'"));
        };
        let fields = fields.as_object().cloned().unwrap_or_default();
        Ok(fields.iter().all(|(k, v)| ret.get(k).is_some_and(|r| py_eq(r, v))))
    }

    /// iotests' `assert_block_path(root, path, expected_node, graph)`:
    /// the node reached from node `root` along `path` (`/backing/file`)
    /// is `expected_node` (`None`: there is none). `graph` is a
    /// `x-debug-query-block-graph` result, queried when `None`. Failures
    /// are [`Error::Assertion`] with iotests' messages.
    pub fn assert_block_path(
        &mut self,
        root: &str,
        path: &str,
        expected_node: Option<&str>,
        graph: Option<&Value>,
    ) -> Result<()> {
        let queried;
        let graph = match graph {
            Some(g) => g,
            None => {
                queried = index(&self.qmp("x-debug-query-block-graph", ())?, "return")?.clone();
                &queried
            }
        };
        let fail = |m: String| Err(Error::fail(m));
        let mut iter_path = path.split('/');
        if iter_path.next() != Some("") {
            return fail(String::new());
        }
        let nodes: Vec<&Value> = index(graph, "nodes")?.as_array().into_iter().flatten().collect();
        let edges: Vec<&Value> = index(graph, "edges")?.as_array().into_iter().flatten().collect();
        let mut node = nodes.iter().copied().find(|n| n.get("name").and_then(Value::as_str) == Some(root));
        if node.is_none() {
            return fail(format!("Root node {root} not found"));
        }
        for child_name in iter_path {
            let Some(n) = node else {
                return fail(format!("Cannot follow path {root}{path}"));
            };
            let parent = index(n, "id")?;
            let child = edges
                .iter()
                .find(|e| e.get("parent") == Some(parent) && e.get("name").and_then(Value::as_str) == Some(child_name))
                .and_then(|e| e.get("child"));
            node = child.and_then(|c| nodes.iter().copied().find(|n| n.get("id") == Some(c)));
        }
        let expected = expected_node.unwrap_or("None");
        match node {
            None if expected_node.is_some() => fail(format!("No node found under {path} (but expected {expected})")),
            None => Ok(()),
            Some(n) => {
                let name = index(n, "name")?;
                if expected_node.is_some_and(|e| name == e) {
                    Ok(())
                } else {
                    fail(format!("Found node {} under {path} (but expected {expected})", py_str(name)))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn flatten_keeps_order_and_overwrites_like_a_dict() {
        let flat = flatten_qmp_object(&json!({"b": {"x": 1}, "a": [true, {"y": null}]}));
        let keys: Vec<&str> = flat.keys().map(String::as_str).collect();
        assert_eq!(keys, ["b.x", "a.0", "a.1.y"]);
        assert_eq!(Value::Object(flatten_qmp_object(&json!(5))), json!({"": 5}));
    }

    #[test]
    fn qmp_to_opts_type_error() {
        let e = qmp_to_opts(&json!({"a": "x", "b": {"c": 1.5}})).unwrap_err().to_string();
        assert_eq!(e, "TypeError: can only concatenate str (not \"float\") to str");
    }
}
