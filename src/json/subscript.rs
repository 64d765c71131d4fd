//! Python's subscript `v[key]` on decoded JSON, with Python's exceptions.
//!
//! `serde_json`'s `v["k"][0]` is lenient (a missing key or index gives
//! `null`), which a port may use where Python's outcome would be the same;
//! where a missing item would let the port pass or wait on where Python
//! raises (`assert not result[0]['actively-synced']` on an empty job list),
//! [`Subscript::at`] raises what Python raises.

use serde_json::Value;

use super::py_str_repr;
use crate::error::{Error, Result};
use crate::pyfmt::value::py_type;

/// A key of Python's subscript: a `str` (dict key) or an integer (list
/// index, negative from the end).
pub trait SubscriptKey {
    /// `v[self]`.
    fn subscript<'a>(&self, v: &'a Value) -> Result<&'a Value>;
}

fn not_subscriptable(v: &Value) -> Error {
    Error::python("TypeError", format!("'{}' object is not subscriptable", py_type(v)))
}

impl SubscriptKey for &str {
    fn subscript<'a>(&self, v: &'a Value) -> Result<&'a Value> {
        match v {
            Value::Object(map) => map.get(*self).ok_or_else(|| Error::python("KeyError", py_str_repr(self))),
            Value::Array(_) => Err(Error::python("TypeError", "list indices must be integers or slices, not str")),
            Value::String(_) => Err(Error::python("TypeError", "string indices must be integers, not 'str'")),
            _ => Err(not_subscriptable(v)),
        }
    }
}

impl SubscriptKey for i64 {
    fn subscript<'a>(&self, v: &'a Value) -> Result<&'a Value> {
        match v {
            Value::Array(list) => {
                let i = if *self < 0 { list.len() as i64 + self } else { *self };
                usize::try_from(i)
                    .ok()
                    .and_then(|i| list.get(i))
                    .ok_or_else(|| Error::python("IndexError", "list index out of range"))
            }
            // JSON keys are strings: an int is never a key of a decoded dict.
            Value::Object(_) => Err(Error::python("KeyError", self.to_string())),
            // A string's characters are not JSON values of their own.
            Value::String(_) => Err(Error::python("TypeError", "indexing a str is not supported here")),
            _ => Err(not_subscriptable(v)),
        }
    }
}

impl SubscriptKey for usize {
    fn subscript<'a>(&self, v: &'a Value) -> Result<&'a Value> {
        i64::try_from(*self).unwrap_or(i64::MAX).subscript(v)
    }
}

impl SubscriptKey for i32 {
    fn subscript<'a>(&self, v: &'a Value) -> Result<&'a Value> {
        i64::from(*self).subscript(v)
    }
}

/// Python's `v[key]` on a JSON value: `KeyError`, `IndexError` and
/// `TypeError` as Python raises them (see the [module](self)).
///
/// ```
/// use iotests::json::Subscript;
/// let jobs = serde_json::json!([{"actively-synced": false, "len": 1048576}]);
/// assert_eq!(jobs.at(0)?.at("len")?, 1048576);            // jobs[0]['len']
/// assert_eq!(jobs.at(-1)?.at("actively-synced")?, false);  // jobs[-1]['actively-synced']
/// let e = jobs.at(1).unwrap_err();
/// assert_eq!(e.to_string(), "IndexError: list index out of range");
/// assert_eq!(jobs.at(0)?.at("x").unwrap_err().to_string(), "KeyError: 'x'");
/// # Ok::<(), iotests::Error>(())
/// ```
pub trait Subscript {
    /// `self[key]`.
    fn at<K: SubscriptKey>(&self, key: K) -> Result<&Value>;
}

impl Subscript for Value {
    fn at<K: SubscriptKey>(&self, key: K) -> Result<&Value> {
        key.subscript(self)
    }
}
