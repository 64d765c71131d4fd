//! JSON text and Python reprs identical to what iotests.py prints.
//!
//! iotests.py logs QMP traffic with `json.dumps` and interpolates decoded
//! JSON into f-strings, so golden output contains Python's exact spelling of
//! numbers, strings and containers. A [`Value`] stands for the Python object
//! `json.loads` would build from the same JSON text: a number whose text has
//! no `.`, `e` or `E` is a Python `int` (of any size), any other number is a
//! `float`. This needs serde_json's `arbitrary_precision` feature to keep the
//! number text, and `preserve_order` to keep dict insertion order.

mod bytes;
mod number;
mod printable;
mod subscript;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

pub use bytes::PyBytes;
pub(crate) use bytes::as_latin1 as bytes_latin1;

#[cfg(test)]
use number::increment_digits;
pub use number::py_float_repr;
use number::write_number;
pub use subscript::{Subscript, SubscriptKey};

/// Python 3's `json.dumps(value, sort_keys=sort_keys, indent=indent)`, all
/// other arguments at their defaults (`ensure_ascii=True`, `allow_nan=True`).
///
/// With an indent, items are separated by `,` and a newline, so
/// `Some(0)` still breaks lines, just without indentation.
///
/// ```
/// use iotests::json::dumps;
/// let v: serde_json::Value = serde_json::from_str(r#"{"b": [1, 2.50], "a": "é"}"#).unwrap();
/// assert_eq!(dumps(&v, false, None), r#"{"b": [1, 2.5], "a": "\u00e9"}"#);
/// assert_eq!(dumps(&v, true, Some(1)), "{\n \"a\": \"\\u00e9\",\n \"b\": [\n  1,\n  2.5\n ]\n}");
/// ```
pub fn dumps(value: &Value, sort_keys: bool, indent: Option<usize>) -> String {
    let mut out = String::new();
    dump_into(&mut out, value, sort_keys, indent);
    out
}

/// [`dumps`], appending to `out` instead of allocating (the log sink writes
/// straight into its buffer).
///
/// ```
/// let mut out = String::from("> ");
/// iotests::json::dump_into(&mut out, &serde_json::json!([1, "x"]), true, None);
/// assert_eq!(out, r#"> [1, "x"]"#);
/// ```
pub fn dump_into(out: &mut String, value: &Value, sort_keys: bool, indent: Option<usize>) {
    write_json(out, value, sort_keys, indent, 0);
}

/// iotests' `ordered_qmp(qmsg)`: sorts every dict's keys and, where
/// iotests does, turns `_` into `-` in them.
///
/// Python only converts the keys of the top-level dict and of dicts that are
/// list items (at any depth), because dict values are recursed into with
/// `conv_keys=False` while list items go back to the default `True`. The
/// result keeps its sorted order; log it with `sort_keys` off.
///
/// ```
/// use iotests::json::{dumps, ordered_qmp};
/// let v = serde_json::json!({"b_c": {"d_e": 1}, "a": [{"f_g": 2}]});
/// assert_eq!(dumps(&ordered_qmp(&v), false, None), r#"{"a": [{"f-g": 2}], "b-c": {"d_e": 1}}"#);
/// ```
pub fn ordered_qmp(value: &Value) -> Value {
    ordered(value, true)
}

/// `ordered_qmp(value, conv_keys=False)`: sorted, top-level keys kept (a
/// dict value inside `qmp_log`'s keyword arguments).
pub(crate) fn ordered_value(value: &Value) -> Value {
    ordered(value, false)
}

fn ordered(value: &Value, conv_keys: bool) -> Value {
    match value {
        Value::Object(map) if conv_keys && map.keys().any(|key| key.contains('_')) => {
            // New keys need new hashes: build this map afresh, in sorted order.
            // Two keys may collide after conversion (`a_b` and `a-b`); like
            // Python's OrderedDict, the later value wins but the key keeps
            // its first position, which is what `insert` does.
            let mut out = Map::with_capacity(map.len());
            for_each_sorted(map, |_, key, val| {
                out.insert(key.replace('_', "-"), ordered(val, false));
            });
            Value::Object(out)
        }
        other => {
            // Everything else keeps its keys: a clone keeps the maps' hashes,
            // so sorting it in place never hashes a key again.
            let mut value = other.clone();
            sort_in_place(&mut value, conv_keys);
            value
        }
    }
}

/// [`ordered`] on a value of its own.
fn sort_in_place(value: &mut Value, conv_keys: bool) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(|item| sort_in_place(item, true)),
        Value::Object(map) => {
            if !map.keys().is_sorted() {
                map.sort_keys();
            }
            map.values_mut().for_each(|val| sort_in_place(val, false));
            if conv_keys && map.keys().any(|key| key.contains('_')) {
                // Rebuilt in (sorted) order, colliding keys as in `ordered`.
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(key, val)| if key.contains('_') { (key.replace('_', "-"), val) } else { (key, val) })
                    .collect();
            }
        }
        _ => {}
    }
}

/// Python's `del d[key]` on the object `json.loads` would build from `d`:
/// the entry is removed (the others keep their order, as in a `dict`) and
/// returned. A missing key is Python's `KeyError`, a `d` that is not a dict
/// its `TypeError`.
///
/// ```
/// use serde_json::json;
/// let mut opts = json!({"driver": "qcow2", "node-name": "hd0", "file": {"node-name": "hd0-file"}});
/// iotests::json::del(&mut opts, "node-name")?;                  // del opts['node-name']
/// iotests::json::del(&mut opts["file"], "node-name")?;          // del opts['file']['node-name']
/// assert_eq!(opts, json!({"driver": "qcow2", "file": {}}));
/// assert_eq!(iotests::json::del(&mut opts, "x").unwrap_err().to_string(), "KeyError: 'x'");
/// # Ok::<(), iotests::Error>(())
/// ```
pub fn del(d: &mut Value, key: &str) -> crate::Result<Value> {
    use crate::Error;
    match d {
        Value::Object(map) => map.shift_remove(key).ok_or_else(|| Error::python("KeyError", py_str_repr(key))),
        Value::Array(_) => Err(Error::python("TypeError", "list indices must be integers or slices, not str")),
        other => Err(Error::python(
            "TypeError",
            format!("'{}' object does not support item deletion", crate::pyfmt::value::py_type(other)),
        )),
    }
}

/// Python's `repr()` of the object `json.loads` would build from `value`:
/// like [`py_repr`], but a string at the top is quoted too.
///
/// ```
/// use iotests::json::py_value_repr;
/// assert_eq!(py_value_repr(&serde_json::json!("it's")), r#""it's""#);
/// assert_eq!(py_value_repr(&serde_json::json!([1, "a"])), "[1, 'a']");
/// ```
pub fn py_value_repr(value: &Value) -> String {
    match value {
        Value::String(s) => py_str_repr(s),
        other => py_repr(other),
    }
}

/// Python's `str()` of the object `json.loads` would build from `value`,
/// as printed by an f-string such as `log(f'{result}')`.
///
/// Strings inside containers are quoted as by `repr(str)`; which non-ASCII
/// characters that escapes follows Python 3.11's `str.isprintable()`
/// (Unicode 14.0.0). A string at the top is returned unquoted, because
/// `str()` of a `str` is the string itself.
///
/// ```
/// use iotests::json::py_repr;
/// let v: serde_json::Value = serde_json::from_str(r#"{"a": 1, "b": [true, null, "it's", 1.5e20]}"#).unwrap();
/// assert_eq!(py_repr(&v), r#"{'a': 1, 'b': [True, None, "it's", 1.5e+20]}"#);
/// assert_eq!(py_repr(&serde_json::json!("it's")), "it's");
/// ```
pub fn py_repr(value: &Value) -> String {
    if let Value::String(s) = value {
        return s.clone();
    }
    let mut out = String::new();
    write_repr(&mut out, value);
    out
}

fn write_json(out: &mut String, value: &Value, sort_keys: bool, indent: Option<usize>, level: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n, true),
        Value::String(s) => write_json_str(out, s),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                write_separator(out, i == 0, indent, level + 1);
                write_json(out, item, sort_keys, indent, level + 1);
            }
            write_closing_break(out, indent, level);
            out.push(']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            let mut item = |i: usize, key: &str, val: &Value| {
                write_separator(out, i == 0, indent, level + 1);
                write_json_str(out, key);
                out.push_str(": ");
                write_json(out, val, sort_keys, indent, level + 1);
            };
            if sort_keys {
                for_each_sorted(map, item);
            } else {
                map.iter().enumerate().for_each(|(i, (key, val))| item(i, key, val));
            }
            write_closing_break(out, indent, level);
            out.push('}');
        }
    }
}

/// Calls `f(i, key, value)` for a map's entries in key order. `str` orders
/// by UTF-8 bytes, which is code point order, like Python's string
/// comparison.
fn for_each_sorted<'a>(map: &'a Map<String, Value>, mut f: impl FnMut(usize, &'a str, &'a Value)) {
    if map.keys().is_sorted() {
        map.iter().enumerate().for_each(|(i, (key, val))| f(i, key, val));
        return;
    }
    // QMP objects are small: sort them on the stack rather than allocating.
    const SMALL: usize = 16;
    static NULL: Value = Value::Null;
    let mut small = [("", &NULL); SMALL];
    let mut large = Vec::new();
    let entries = if map.len() <= SMALL {
        for (slot, (key, val)) in small.iter_mut().zip(map) {
            *slot = (key.as_str(), val);
        }
        &mut small[..map.len()]
    } else {
        large.extend(map.iter().map(|(key, val)| (key.as_str(), val)));
        &mut large[..]
    };
    // Keys are unique, so an unstable sort gives the one order.
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    entries.iter().enumerate().for_each(|(i, &(key, val))| f(i, key, val));
}

/// What goes before a container item: `, ` without indent, else `,`
/// (omitted for the first item) and a new indented line.
fn write_separator(out: &mut String, first: bool, indent: Option<usize>, level: usize) {
    match indent {
        None if !first => out.push_str(", "),
        None => {}
        Some(width) => {
            out.push_str(if first { "\n" } else { ",\n" });
            push_spaces(out, width * level);
        }
    }
}

fn write_closing_break(out: &mut String, indent: Option<usize>, level: usize) {
    if let Some(width) = indent {
        out.push('\n');
        push_spaces(out, width * level);
    }
}

fn push_spaces(out: &mut String, mut n: usize) {
    const SPACES: &str = "                                ";
    while n > 0 {
        let chunk = n.min(SPACES.len());
        out.push_str(&SPACES[..chunk]);
        n -= chunk;
    }
}

/// Appends `prefix` and `code` as `width` lowercase hex digits, as Python
/// writes `\u00e9` or `\x7f`.
fn push_hex_escape(out: &mut String, prefix: &str, code: u32, width: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str(prefix);
    for shift in (0..width).rev() {
        out.push(char::from(HEX[(code >> (shift * 4)) as usize & 0xf]));
    }
}

/// Whether `json.dumps` copies this byte of a string as it is.
fn json_plain(b: u8) -> bool {
    (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\'
}

/// A string literal as `json.dumps` spells it with `ensure_ascii=True`.
fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    let mut rest = s;
    // Copy runs of characters that need no escaping in one go: most QMP
    // strings are nothing else.
    while let Some(pos) = rest.bytes().position(|b| !json_plain(b)) {
        out.push_str(&rest[..pos]);
        let c = rest[pos..].chars().next().unwrap_or_default();
        rest = &rest[pos + c.len_utf8()..];
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    push_hex_escape(out, "\\u", u32::from(*unit), 4);
                }
            }
        }
    }
    out.push_str(rest);
    out.push('"');
}

fn write_repr(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
        Value::Number(n) => write_number(out, n, false),
        Value::String(s) => write_str_repr(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, item);
            }
            out.push(']');
        }
        Value::Object(_) if let Some(latin1) = bytes::as_latin1(value) => bytes::write_repr(out, latin1),
        Value::Object(map) => {
            out.push('{');
            for (i, (key, val)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_str_repr(out, key);
                out.push_str(": ");
                write_repr(out, val);
            }
            out.push('}');
        }
    }
}

/// Python's `repr(s)` of a `str`: quoted, with Python's escapes.
///
/// ```
/// assert_eq!(iotests::json::py_str_repr("it's"), r#""it's""#);
/// assert_eq!(iotests::json::py_str_repr("a\tb"), r"'a\tb'");
/// ```
pub fn py_str_repr(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_str_repr(&mut out, s);
    out
}

/// Python's `repr(s)` for a `str`.
fn write_str_repr(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            _ if c == quote => {
                out.push('\\');
                out.push(c);
            }
            _ if printable::is_printable(c) => out.push(c),
            _ => {
                let code = u32::from(c);
                match code {
                    0..=0xff => push_hex_escape(out, "\\x", code, 2),
                    0x100..=0xffff => push_hex_escape(out, "\\u", code, 4),
                    _ => push_hex_escape(out, "\\U", code, 8),
                }
            }
        }
    }
    out.push(quote);
}
