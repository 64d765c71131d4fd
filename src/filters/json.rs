//! The JSON (`qmp_*`) filters.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::text::{Testfiles, generated_node_ids_cow, imgfmt_cow, virtio_scsi_cow};
use super::{Key, Scope};

/// `filter_qmp_event`: an event's `timestamp` seconds/microseconds → the
/// strings `"SECS"`/`"USECS"`, only if it has a `timestamp`.
///
/// In Python this also turns an `OrderedDict` into a plain `dict` (see
/// [`Filter::QmpEvent`](super::Filter::QmpEvent)). A `timestamp` that is not
/// an object (a `TypeError` in Python) is left as it is.
///
/// ```
/// use serde_json::json;
/// let ev = json!({"event": "STOP", "timestamp": {"seconds": 17, "microseconds": 5}});
/// assert_eq!(
///     iotests::filters::qmp_event(ev),
///     json!({"event": "STOP", "timestamp": {"seconds": "SECS", "microseconds": "USECS"}})
/// );
/// ```
pub fn qmp_event(mut event: Value) -> Value {
    let Value::Object(map) = &mut event else { return event };
    if let Some(Value::Object(ts)) = small_get_mut(map, "timestamp") {
        for (key, mask) in [("seconds", "SECS"), ("microseconds", "USECS")] {
            let mask = Value::String(mask.into());
            // Assigning in place spares allocating the key. Either way an
            // existing key keeps its position, as a dict assignment does.
            match small_get_mut(ts, key) {
                Some(v) => *v = mask,
                None => {
                    ts.insert(key.into(), mask);
                }
            }
        }
    }
    event
}

/// `map.get_mut(key)`; for the handful of keys of an event, comparing them
/// is cheaper than hashing `key`.
fn small_get_mut<'a>(map: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Value> {
    if map.len() > 8 {
        return map.get_mut(key);
    }
    map.iter_mut().find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// `filter_qmp(qmsg, filter_fn)`: replace every scalar in a JSON tree with
/// `f(key, value)`, where the key is the member name or list index. Objects
/// and lists are walked, never passed to `f`; a bare scalar is passed with
/// key `None`, as upstream does.
///
/// ```
/// use iotests::filters::{qmp, Key};
/// use serde_json::{json, Value};
/// let f = |k: Option<Key<'_>>, v: Value| match (k, v) {
///     (Some(Key::Name("id")), _) => json!("ID"),
///     (_, Value::Number(_)) => json!(0),
///     (_, v) => v,
/// };
/// assert_eq!(qmp(json!({"id": 3, "l": [1, {"id": "x"}]}), &f), json!({"id": "ID", "l": [0, {"id": "ID"}]}));
/// assert_eq!(qmp(json!(5), &f), json!(0));
/// ```
pub fn qmp(qmsg: Value, f: &dyn Fn(Option<Key<'_>>, Value) -> Value) -> Value {
    match qmsg {
        Value::Array(mut items) => {
            for (i, v) in items.iter_mut().enumerate() {
                *v = walk(v.take(), Key::Index(i), f);
            }
            Value::Array(items)
        }
        Value::Object(mut map) => {
            for (k, v) in map.iter_mut() {
                *v = walk(v.take(), Key::Name(k), f);
            }
            Value::Object(map)
        }
        scalar => f(None, scalar),
    }
}

fn walk(v: Value, key: Key<'_>, f: &dyn Fn(Option<Key<'_>>, Value) -> Value) -> Value {
    if v.is_object() || v.is_array() { qmp(v, f) } else { f(Some(key), v) }
}

/// Upstream's `_filter` helpers: apply a text filter to string values only.
///
/// This is [`qmp`] with a function that leaves everything but strings
/// alone, walking the tree in place: no value is moved out and back, and a
/// string the filter does not change is not copied.
fn strings(mut qmsg: Value, text: impl Fn(Cow<'static, str>) -> Cow<'static, str>) -> Value {
    fn walk(v: &mut Value, text: &impl Fn(Cow<'static, str>) -> Cow<'static, str>) {
        match v {
            Value::String(s) => *s = text(Cow::Owned(std::mem::take(s))).into_owned(),
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, text)),
            Value::Object(map) => map.values_mut().for_each(|v| walk(v, text)),
            _ => {}
        }
    }
    walk(&mut qmsg, &text);
    qmsg
}

/// `filter_qmp_testfiles`: [`testfiles`](super::testfiles) on every string value.
///
/// ```
/// use iotests::filters::{qmp_testfiles, Scope};
/// use serde_json::json;
/// let scope = Scope { test_dir: "/t".into(), pid: 9, ..Scope::default() };
/// assert_eq!(qmp_testfiles(&scope, json!({"file": "/t/9-a"})), json!({"file": "TEST_DIR/PID-a"}));
/// ```
pub fn qmp_testfiles(scope: &Scope, qmsg: Value) -> Value {
    qmp_testfiles_with(&Testfiles::new(scope), qmsg)
}

/// [`qmp_testfiles`] with the scope's [`Testfiles`] at hand.
pub(crate) fn qmp_testfiles_with(testfiles: &Testfiles, qmsg: Value) -> Value {
    strings(qmsg, |s| testfiles.apply(s))
}

/// `filter_qmp_virtio_scsi`: [`virtio_scsi`](super::virtio_scsi) on every string value.
///
/// ```
/// use serde_json::json;
/// assert_eq!(
///     iotests::filters::qmp_virtio_scsi(json!([{"driver": "virtio-scsi-ccw"}])),
///     json!([{"driver": "virtio-scsi"}])
/// );
/// ```
pub fn qmp_virtio_scsi(qmsg: Value) -> Value {
    strings(qmsg, virtio_scsi_cow)
}

/// `filter_qmp_generated_node_ids`: [`generated_node_ids`](super::generated_node_ids)
/// on every string value.
///
/// ```
/// use serde_json::json;
/// assert_eq!(
///     iotests::filters::qmp_generated_node_ids(json!({"node-name": "#block123"})),
///     json!({"node-name": "NODE_NAME"})
/// );
/// ```
pub fn qmp_generated_node_ids(qmsg: Value) -> Value {
    strings(qmsg, generated_node_ids_cow)
}

/// `filter_qmp_imgfmt`: [`imgfmt`](super::imgfmt) on every string value.
///
/// ```
/// use iotests::filters::{qmp_imgfmt, Scope};
/// use serde_json::json;
/// let scope = Scope { imgfmt: "qcow2".into(), ..Scope::default() };
/// assert_eq!(qmp_imgfmt(&scope, json!({"driver": "qcow2"})), json!({"driver": "IMGFMT"}));
/// ```
pub fn qmp_imgfmt(scope: &Scope, qmsg: Value) -> Value {
    strings(qmsg, |s| imgfmt_cow(scope, s))
}
