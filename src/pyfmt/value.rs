//! Python's view of a JSON value: the object `json.loads` would build from
//! the same JSON text, with its `==`, `<`, truthiness, type name, `repr()`
//! and `str()`, and the `str` methods unittest's messages rely on.
//!
//! A number whose text has no `.`, `e` or `E` is an `int` of any size, any
//! other number a `float`; `true`/`false` are `bool`, a subclass of `int`
//! (`True == 1 == 1.0`).

use std::cmp::Ordering;
use std::fmt;

use serde_json::Value;

use super::number::{self, num};

/// Why an operation has no Python result to report: Python would raise an
/// exception other than `AssertionError`, or the outcome is not defined for
/// JSON values.
///
/// ```
/// use iotests::pyfmt::value::{CmpOp, PyError, py_compare};
/// use serde_json::json;
/// let e = py_compare(&json!("a"), &json!(1), CmpOp::Lt).unwrap_err();
/// assert_eq!(e.to_string(), "TypeError: '<' not supported between instances of 'str' and 'int'");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PyError {
    /// Python raises this exception instead: its type name (`TypeError`,
    /// `OverflowError`) and its `str()`.
    Exception {
        /// The exception's type name.
        kind: &'static str,
        /// `str()` of the exception.
        message: String,
    },
    /// Python's outcome depends on what a JSON value does not carry (the
    /// identity of two equal objects) or on what this port does not support
    /// (regex syntax the `regex` crate lacks).
    Unsupported(String),
}

impl PyError {
    /// A `TypeError` with the given message.
    ///
    /// ```
    /// let e = iotests::pyfmt::value::PyError::type_error("unhashable type: 'list'");
    /// assert_eq!(e.to_string(), "TypeError: unhashable type: 'list'");
    /// ```
    pub fn type_error(message: impl Into<String>) -> PyError {
        PyError::Exception { kind: "TypeError", message: message.into() }
    }
}

impl fmt::Display for PyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PyError::Exception { kind, message } => write!(f, "{kind}: {message}"),
            PyError::Unsupported(what) => write!(f, "unsupported: {what}"),
        }
    }
}

impl std::error::Error for PyError {}

/// Python's `str(value)`: a string is itself, anything else its repr.
///
/// ```
/// use iotests::pyfmt::value::py_str;
/// use serde_json::json;
/// assert_eq!(py_str(&json!("it's")), "it's");
/// assert_eq!(py_str(&json!({"a": [true, null]})), "{'a': [True, None]}");
/// ```
pub fn py_str(value: &Value) -> String {
    crate::json::py_repr(value)
}

/// Python's `repr(value)`: dicts in insertion order, strings quoted.
///
/// ```
/// use iotests::pyfmt::value::py_repr;
/// use serde_json::json;
/// assert_eq!(py_repr(&json!("it's")), "\"it's\"");
/// assert_eq!(py_repr(&json!({"b": 1.0, "a": "x"})), "{'b': 1.0, 'a': 'x'}");
/// ```
pub fn py_repr(value: &Value) -> String {
    match value {
        Value::String(s) => crate::json::py_str_repr(s),
        v => crate::json::py_repr(v),
    }
}

/// Python's type name of the object: `NoneType`, `bool`, `int`, `float`,
/// `str`, `list`, `dict` or `bytes` ([`crate::json::PyBytes`]).
///
/// ```
/// use iotests::pyfmt::value::py_type;
/// assert_eq!(py_type(&serde_json::from_str("1e3").unwrap()), "float");
/// assert_eq!(py_type(&serde_json::json!(null)), "NoneType");
/// ```
pub fn py_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(_) => match num(value) {
            Some(number::Num::Int(_)) => "int",
            _ => "float",
        },
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) if crate::json::bytes_latin1(value).is_some() => "bytes",
        Value::Object(_) => "dict",
    }
}

/// Python's `a == b`: numbers by value across `int`, `float` and `bool`
/// (exactly, however large), dicts regardless of key order.
///
/// ```
/// use iotests::pyfmt::value::py_eq;
/// use serde_json::json;
/// assert!(py_eq(&json!([1, true]), &json!([1.0, 1])));
/// assert!(py_eq(&json!({"a": 1, "b": 2}), &json!({"b": 2, "a": 1})));
/// assert!(!py_eq(&json!(null), &json!(0)) && !py_eq(&json!("1"), &json!(1)));
/// ```
pub fn py_eq(a: &Value, b: &Value) -> bool {
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        return number::partial_cmp(&x, &y) == Some(Ordering::Equal);
    }
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| py_eq(v, w)))
        }
        _ => false,
    }
}

/// Python's truth value: `None`, `False`, zero, and empty strings, lists
/// and dicts are false.
///
/// ```
/// use iotests::pyfmt::value::py_truthy;
/// use serde_json::json;
/// assert!(!py_truthy(&json!(0.0)) && !py_truthy(&json!("")) && !py_truthy(&json!({})));
/// assert!(py_truthy(&json!([0])) && py_truthy(&json!(-1)));
/// ```
pub fn py_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(_) => match num(value) {
            Some(number::Num::Int(i)) => !i.is_zero(),
            Some(number::Num::Float(f)) => f != 0.0,
            None => true,
        },
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(_) if let Some(latin1) = crate::json::bytes_latin1(value) => !latin1.is_empty(),
        Value::Object(map) => !map.is_empty(),
    }
}

/// Whether Python can hash the object (use it as a dict key or count it in
/// a `Counter`): everything but lists and dicts.
///
/// ```
/// use iotests::pyfmt::value::py_hashable;
/// assert!(py_hashable(&serde_json::json!("a")) && !py_hashable(&serde_json::json!([])));
/// ```
pub fn py_hashable(value: &Value) -> bool {
    !matches!(value, Value::Array(_) | Value::Object(_))
}

/// An ordering comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The operator as Python spells it.
    ///
    /// ```
    /// assert_eq!(iotests::pyfmt::value::CmpOp::Ge.symbol(), ">=");
    /// ```
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// The operator's result for an ordering (`None`: unordered, as NaN).
    fn holds(self, ord: Option<Ordering>) -> bool {
        match (self, ord) {
            (_, None) => false,
            (CmpOp::Lt, Some(o)) => o.is_lt(),
            (CmpOp::Le, Some(o)) => o.is_le(),
            (CmpOp::Gt, Some(o)) => o.is_gt(),
            (CmpOp::Ge, Some(o)) => o.is_ge(),
        }
    }
}

/// Python's `a <op> b`: numbers by value, strings by code points, lists
/// lexicographically (the first unequal items decide, else the lengths).
/// Anything else is Python's `TypeError`.
///
/// ```
/// use iotests::pyfmt::value::{CmpOp, py_compare};
/// use serde_json::json;
/// assert_eq!(py_compare(&json!(true), &json!(0.5), CmpOp::Gt), Ok(true));
/// assert_eq!(py_compare(&json!([1, "b"]), &json!([1, "a", 0]), CmpOp::Le), Ok(false));
/// assert!(py_compare(&json!([{}]), &json!([null]), CmpOp::Lt).is_err());
/// ```
pub fn py_compare(a: &Value, b: &Value, op: CmpOp) -> Result<bool, PyError> {
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        return Ok(op.holds(number::partial_cmp(&x, &y)));
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => Ok(op.holds(Some(x.cmp(y)))),
        (Value::Array(x), Value::Array(y)) => match x.iter().zip(y).find(|(p, q)| !py_eq(p, q)) {
            Some((p, q)) => py_compare(p, q, op),
            None => Ok(op.holds(Some(x.len().cmp(&y.len())))),
        },
        _ => Err(PyError::type_error(format!(
            "'{}' not supported between instances of '{}' and '{}'",
            op.symbol(),
            py_type(a),
            py_type(b)
        ))),
    }
}

/// Python's `str.isspace()` for one character: Unicode `White_Space` plus
/// the separators `\x1c`..`\x1f`.
///
/// ```
/// use iotests::pyfmt::value::py_isspace;
/// assert!(py_isspace('\u{1f}') && py_isspace('\u{3000}') && !py_isspace('\u{200b}'));
/// ```
pub fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.splitlines(keepends)`: breaks at `\n`, `\r`, `\r\n`,
/// `\v`, `\f`, `\x1c`, `\x1d`, `\x1e`, `\x85`, `\u2028` and `\u2029`.
///
/// ```
/// use iotests::pyfmt::value::splitlines;
/// assert_eq!(splitlines("a\r\nb\x0bc", true), ["a\r\n", "b\x0b", "c"]);
/// assert_eq!(splitlines("a\n\nb\n", false), ["a", "", "b"]);
/// assert!(splitlines("", true).is_empty());
/// ```
pub fn splitlines(s: &str, keepends: bool) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = s.char_indices().peekable();
    while let Some((pos, c)) = chars.next() {
        let mut end = pos + c.len_utf8();
        match c {
            '\r' => {
                if let Some((_, '\n')) = chars.peek() {
                    chars.next();
                    end += 1;
                }
            }
            '\n' | '\u{b}' | '\u{c}' | '\u{1c}' | '\u{1d}' | '\u{1e}' | '\u{85}' | '\u{2028}' | '\u{2029}' => {}
            _ => continue,
        }
        lines.push(&s[start..if keepends { end } else { pos }]);
        start = end;
    }
    if start < s.len() {
        lines.push(&s[start..]);
    }
    lines
}
