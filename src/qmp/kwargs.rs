//! Python's `**kwargs` for QMP commands.
//!
//! python/qemu's `vm.qmp('cmd', node_name='x')` turns every top-level `_`
//! of a keyword into `-` before sending (`node-name`), while
//! `vm.qmp('cmd', {'node_name': 'x'})` — a dict — is sent as written.
//! iotests' `qmp_log` logs the command as `ordered_qmp(kwargs)`: keys
//! sorted by the keyword names *as written* (`a0` < `a_1`), then converted.
//! [`Kwargs`] keeps the names as written so both come out as in Python;
//! build one with [`kwargs!`](crate::kwargs).

use serde_json::{Map, Value};

use super::Args;

/// Keyword arguments of a QMP command, named as Python would write them
/// (`node_name`, `job_id`): python/qemu turns their top-level `_` into `-`
/// on the wire, and `qmp_log` sorts them by these names.
///
/// ```
/// use iotests::kwargs;
/// let k = kwargs! { node_name: "disk", size: 512, "file": {"driver": "file"} };
/// assert_eq!(k.to_args(), serde_json::json!({"node-name": "disk", "size": 512, "file": {"driver": "file"}}));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Kwargs {
    /// The keywords in the order written; `None` when the value given was
    /// not a JSON object (it is then sent as is, and QEMU will say so).
    map: Map<String, Value>,
    other: Option<Value>,
}

impl Kwargs {
    /// No arguments.
    pub fn new() -> Kwargs {
        Kwargs::default()
    }

    /// Add (or replace) keyword `name`, as Python's `kwargs[name] = value`.
    ///
    /// ```
    /// let mut k = iotests::qmp::Kwargs::new();
    /// k.insert("job_id", "job0");
    /// assert_eq!(k.to_args()["job-id"], "job0");
    /// ```
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<Value>) -> &mut Kwargs {
        self.map.insert(name.into(), value.into());
        self
    }

    /// Python's `d.update(other)`, and `f(a=1, **other)`: every keyword of
    /// `other`, in its order, added or replacing the value of the same name.
    /// (`kwargs! { a: 1, ..other }` does the same.)
    ///
    /// ```
    /// let mut k = iotests::kwargs! { device: "drive0", sync: "full" };
    /// k.update(&iotests::kwargs! { sync: "top", target: "node1" });
    /// assert_eq!(k.to_args(), serde_json::json!({"device": "drive0", "sync": "top", "target": "node1"}));
    /// ```
    pub fn update(&mut self, other: &Kwargs) -> &mut Kwargs {
        for (name, value) in &other.map {
            self.map.insert(name.clone(), value.clone());
        }
        if other.other.is_some() {
            // Not a mapping: sent as is, as `From<Value>` keeps it.
            self.other.clone_from(&other.other);
        }
        self
    }

    /// The value of keyword `name` (either spelling).
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.map.get(name).or_else(|| self.map.iter().find(|(k, _)| same_name(k, name)).map(|(_, v)| v))
    }

    /// Python's `kwargs.items()`: the keywords as written, with their
    /// values, in order (none when the arguments are not a JSON object).
    /// With [`FromIterator`], a dict comprehension over them:
    ///
    /// ```
    /// use iotests::{kwargs, qmp::Kwargs};
    /// let kwargs = kwargs! { job_id: "j", bitmap: None::<&str>, bitmap_mode: "never" };
    /// // {key: val for key, val in kwargs.items() if val is not None}
    /// let kwargs: Kwargs = kwargs.items().filter(|(_, val)| !val.is_null()).collect();
    /// assert_eq!(kwargs.to_args(), serde_json::json!({"job-id": "j", "bitmap-mode": "never"}));
    /// ```
    pub fn items(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Python's `kwargs.setdefault(name, value)`: add keyword `name` unless
    /// it is there (in either spelling, as [`get`](Kwargs::get) finds it:
    /// both would name the same QMP argument); returns its value.
    ///
    /// ```
    /// let mut kwargs = iotests::kwargs! { job_id: "j" };
    /// kwargs.setdefault("auto-finalize", false);
    /// kwargs.setdefault("job-id", "other");
    /// assert_eq!(kwargs.to_args(), serde_json::json!({"job-id": "j", "auto-finalize": false}));
    /// ```
    pub fn setdefault(&mut self, name: &str, value: impl Into<Value>) -> &Value {
        let key = match self.map.keys().find(|k| k.as_str() == name || same_name(k, name)) {
            Some(k) => k.clone(),
            None => {
                self.map.insert(name.to_string(), value.into());
                name.to_string()
            }
        };
        &self.map[&key]
    }

    /// Whether there are no arguments.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty() && self.other.is_none()
    }

    /// The arguments as python/qemu sends them for `**kwargs`: top-level
    /// `_` become `-`, order as written.
    pub fn to_args(&self) -> Value {
        if let Some(other) = &self.other {
            return other.clone();
        }
        Value::Object(self.map.iter().map(|(k, v)| (k.replace('_', "-"), v.clone())).collect())
    }

    /// The keywords as written, unconverted (Python's `kwargs` dict itself).
    ///
    /// ```
    /// let k = iotests::kwargs! { node_name: "x" };
    /// assert_eq!(k.to_args_as_written(), serde_json::json!({"node_name": "x"}));
    /// ```
    pub fn to_args_as_written(&self) -> Value {
        match &self.other {
            Some(other) => other.clone(),
            None => Value::Object(self.map.clone()),
        }
    }

    /// iotests' `ordered_qmp(kwargs)`, what `qmp_log` logs as `arguments`:
    /// top-level keys sorted as Python sorts the keywords they stand for —
    /// a key written with `-` sorts as its `_` form — then converted; nested
    /// objects sorted and unconverted, objects in lists sorted and converted.
    ///
    /// ```
    /// use iotests::{json, kwargs};
    /// let k = kwargs! { a0: 1, a_1: 2, nodeB: 3, node_name: 4 };
    /// assert_eq!(json::dumps(&k.ordered(), false, None), r#"{"a0": 1, "a-1": 2, "nodeB": 3, "node-name": 4}"#);
    /// ```
    pub fn ordered(&self) -> Value {
        if let Some(other) = &self.other {
            return crate::json::ordered_qmp(other);
        }
        let mut entries: Vec<(&String, &Value)> = self.map.iter().collect();
        // Stable: of two spellings of one name the first written stays first,
        // as Python never sees both.
        entries.sort_by_cached_key(|(k, _)| k.replace('-', "_"));
        let mut out = Map::with_capacity(entries.len());
        for (k, v) in entries {
            out.insert(k.replace('_', "-"), crate::json::ordered_value(v));
        }
        Value::Object(out)
    }
}

/// `node_name` and `node-name` name the same keyword.
fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y || matches!((x, y), (b'_', b'-') | (b'-', b'_')))
}

impl From<Value> for Kwargs {
    /// A JSON object's keys are taken as keyword names as written; `null`
    /// is no arguments.
    fn from(v: Value) -> Self {
        match v {
            Value::Object(map) => Kwargs { map, other: None },
            Value::Null => Kwargs::default(),
            other => Kwargs { map: Map::new(), other: Some(other) },
        }
    }
}

impl From<Map<String, Value>> for Kwargs {
    fn from(map: Map<String, Value>) -> Self {
        Kwargs { map, other: None }
    }
}

impl FromIterator<(String, Value)> for Kwargs {
    /// Python's `dict(pairs)`: keywords as written, in order (a later
    /// duplicate replaces the value).
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        Kwargs { map: iter.into_iter().collect(), other: None }
    }
}

impl<'a> FromIterator<(&'a str, &'a Value)> for Kwargs {
    /// A comprehension over [`Kwargs::items`].
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a Value)>>(iter: I) -> Self {
        iter.into_iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }
}

impl From<()> for Kwargs {
    fn from(_: ()) -> Self {
        Kwargs::default()
    }
}

impl From<Kwargs> for Args {
    /// Sent as python/qemu sends `**kwargs` (see [`Kwargs::to_args`]).
    fn from(k: Kwargs) -> Self {
        Args::from(k.to_args())
    }
}

impl From<&Kwargs> for Args {
    fn from(k: &Kwargs) -> Self {
        Args::from(k.to_args())
    }
}

/// Python's keyword arguments for a QMP command: `kwargs! { node_name:
/// "x", size: 512 }` is `node_name='x', size=512`. Keys are identifiers
/// (written as in Python, with `_`) or string literals; values are anything
/// [`serde_json::json!`] takes, including nested `{…}` and `[…]`.
///
/// Accepted wherever Python takes `**kwargs`: [`Vm::qmp`](crate::vm::Vm::qmp),
/// [`Vm::cmd`](crate::vm::Vm::cmd), [`Vm::qmp_log`](crate::vm::Vm::qmp_log)…
/// Top-level `_` become `-` on the wire, as python/qemu converts them.
/// A last entry `..other` (a [`Kwargs`]) is Python's `**other`.
///
/// ```
/// let img = "/tmp/x.img";
/// let k = iotests::kwargs! { job_id: "job0", device: "drive0", target: img, sync: "full",
///                            "auto-finalize": false, options: {"driver": "qcow2"} };
/// assert_eq!(k.to_args()["job-id"], "job0");
/// assert_eq!(k.to_args()["options"]["driver"], "qcow2");
/// ```
#[macro_export]
macro_rules! kwargs {
    (@insert $k:ident $name:expr, null $(, $($rest:tt)*)?) => {
        $k.insert($name, $crate::__serde_json::Value::Null);
        $crate::kwargs!(@entries $k $($($rest)*)?);
    };
    (@insert $k:ident $name:expr, {$($v:tt)*} $(, $($rest:tt)*)?) => {
        $k.insert($name, $crate::__serde_json::json!({$($v)*}));
        $crate::kwargs!(@entries $k $($($rest)*)?);
    };
    (@insert $k:ident $name:expr, [$($v:tt)*] $(, $($rest:tt)*)?) => {
        $k.insert($name, $crate::__serde_json::json!([$($v)*]));
        $crate::kwargs!(@entries $k $($($rest)*)?);
    };
    (@insert $k:ident $name:expr, $v:expr $(, $($rest:tt)*)?) => {
        $k.insert($name, $crate::__serde_json::json!($v));
        $crate::kwargs!(@entries $k $($($rest)*)?);
    };
    (@entries $k:ident) => {};
    // `..other`: Python's `**other`, last.
    (@entries $k:ident .. $other:expr $(,)?) => {
        $k.update(&$other);
    };
    (@entries $k:ident $key:ident : $($rest:tt)+) => {
        $crate::kwargs!(@insert $k ::std::stringify!($key), $($rest)+);
    };
    (@entries $k:ident $key:literal : $($rest:tt)+) => {
        $crate::kwargs!(@insert $k $key, $($rest)+);
    };
    () => { $crate::qmp::Kwargs::new() };
    ($($tt:tt)+) => {{
        let mut kwargs = $crate::qmp::Kwargs::new();
        $crate::kwargs!(@entries kwargs $($tt)+);
        kwargs
    }};
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::json::dumps;

    #[test]
    fn the_issue_example() {
        let k = crate::kwargs! { a0: 1, a_1: 2, nodeB: 3, node_name: 4 };
        assert_eq!(dumps(&k.ordered(), false, None), r#"{"a0": 1, "a-1": 2, "nodeB": 3, "node-name": 4}"#);
        // The same keywords written with dashes, in any order.
        let k = Kwargs::from(json!({"node-name": 4, "nodeB": 3, "a-1": 2, "a0": 1}));
        assert_eq!(dumps(&k.ordered(), false, None), r#"{"a0": 1, "a-1": 2, "nodeB": 3, "node-name": 4}"#);
    }

    #[test]
    fn values_are_expressions_and_nested_json() {
        let size = 1 << 20;
        let name = String::from("n");
        let k = crate::kwargs! { node_name: name, size: size * 2, opts: {"a_b": [1, {"c_d": true}]}, flag: size > 0, };
        assert_eq!(
            k.to_args(),
            json!({"node-name": "n", "size": 2097152, "opts": {"a_b": [1, {"c_d": true}]}, "flag": true})
        );
        // ordered_qmp converts in list items but not in dict values.
        assert_eq!(
            dumps(&k.ordered(), false, None),
            r#"{"flag": true, "node-name": "n", "opts": {"a_b": [1, {"c-d": true}]}, "size": 2097152}"#
        );
        assert!(crate::kwargs! {}.is_empty());
        let many = crate::kwargs! { a: null, "b-c": [1, 2], d: Some(3), e: None::<u8>, f: format!("{}", 1 + 1) };
        assert_eq!(many.to_args(), json!({"a": null, "b-c": [1, 2], "d": 3, "e": null, "f": "2"}));
        assert_eq!(k.get("node-name"), Some(&json!("n")));
    }

    #[test]
    fn dict_operations() {
        // {key: val for key, val in kwargs.items() if val is not None}
        let kwargs = crate::kwargs! { a: 1, b: null, c_d: "x", e: None::<&str> };
        assert_eq!(kwargs.items().map(|(k, _)| k).collect::<Vec<_>>(), ["a", "b", "c_d", "e"]);
        let kwargs: Kwargs = kwargs.items().filter(|(_, val)| !val.is_null()).collect();
        assert_eq!(dumps(&kwargs.to_args(), false, None), r#"{"a": 1, "c-d": "x"}"#);
        // Not an object: no items.
        assert_eq!(Kwargs::from(json!([1])).items().count(), 0);
        // setdefault keeps a value given in either spelling, else adds at the end.
        let mut k = crate::kwargs! { auto_finalize: true };
        assert_eq!(k.setdefault("auto-finalize", false), &json!(true));
        assert_eq!(k.setdefault("auto-dismiss", false), &json!(false));
        assert_eq!(dumps(&k.to_args(), false, None), r#"{"auto-finalize": true, "auto-dismiss": false}"#);
        let pairs: Kwargs = vec![("x_y".to_string(), json!(1)), ("x_y".to_string(), json!(2))].into_iter().collect();
        assert_eq!(pairs.to_args(), json!({"x-y": 2}));
    }

    #[test]
    fn double_star_splat() {
        let args = crate::kwargs! { target: "t", mode: "existing" };
        let k = crate::kwargs! { device: "drive0", sync: "full", ..args };
        assert_eq!(k.to_args(), json!({"device": "drive0", "sync": "full", "target": "t", "mode": "existing"}));
        let k = crate::kwargs! { job_id: "j", ..crate::kwargs! {} };
        assert_eq!(k.to_args(), json!({"job-id": "j"}));
        // As dict.update: a later value replaces, the key keeps its place.
        let mut k = crate::kwargs! { a: 1, b: 2 };
        k.update(&crate::kwargs! { a: 3 });
        assert_eq!(dumps(&k.to_args(), false, None), r#"{"a": 3, "b": 2}"#);
    }
}
