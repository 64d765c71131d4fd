//! JSON text and Python reprs identical to what iotests.py prints.
//!
//! iotests.py logs QMP traffic with `json.dumps` and interpolates decoded
//! JSON into f-strings, so golden output contains Python's exact spelling of
//! numbers, strings and containers. A [`Value`] stands for the Python object
//! `json.loads` would build from the same JSON text: a number whose text has
//! no `.`, `e` or `E` is a Python `int` (of any size), any other number is a
//! `float`. This needs serde_json's `arbitrary_precision` feature to keep the
//! number text, and `preserve_order` to keep dict insertion order.

mod printable;
#[cfg(test)]
mod tests;

use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

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

fn ordered(value: &Value, conv_keys: bool) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|item| ordered(item, true)).collect()),
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let mut out = Map::new();
            for (key, val) in entries {
                let key = if conv_keys { key.replace('_', "-") } else { key.clone() };
                // Two keys may collide after conversion (`a_b` and `a-b`);
                // like Python's OrderedDict, the later value wins but the key
                // keeps its first position, which is what `insert` does.
                out.insert(key, ordered(val, false));
            }
            Value::Object(out)
        }
        other => other.clone(),
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

/// Python's `repr(f)` for a float: the shortest digits that round-trip,
/// positional for decimal exponents in `-4..16`, scientific otherwise.
///
/// ```
/// use iotests::json::py_float_repr;
/// assert_eq!(py_float_repr(2.0), "2.0");
/// assert_eq!(py_float_repr(1e16), "1e+16");
/// assert_eq!(py_float_repr(0.00001), "1e-05");
/// assert_eq!(py_float_repr(f64::NEG_INFINITY), "-inf");
/// ```
pub fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_owned();
    }
    if f.is_infinite() {
        return if f < 0.0 { "-inf" } else { "inf" }.to_owned();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let (digits, exp) = shortest_digits(f.abs());
    let mut out = String::from(sign);
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp.unsigned_abs() as usize + 1;
            if digits.len() > int_len {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            } else {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', exp.unsigned_abs() as usize - 1));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let exp_sign = if exp < 0 { '-' } else { '+' };
        let _ = write!(out, "e{exp_sign}{:02}", exp.unsigned_abs());
    }
    out
}

/// The shortest decimal digits that round-trip to `f` (finite, not
/// negative) and the decimal exponent of the first one, chosen as Python
/// chooses them.
fn shortest_digits(f: f64) -> (String, i32) {
    // Rust's `{:e}` prints the shortest round-trip digits as `d.ddde[-]x`.
    let (digits, exp) = sci_digits(&format!("{f:e}"));
    // Among equally short candidates both take the one nearest to `f`, but
    // when `f` lies exactly halfway between two of them Rust takes the upper
    // one while Python (David Gay's dtoa) takes the one with an even last
    // digit. A tie needs an odd last digit on Rust's side, so only then is
    // the exact value worth expanding: no double has more than 767
    // significant decimal digits, so `{:.767e}` is exact.
    if digits.bytes().last().is_none_or(|d| d % 2 == 0) {
        return (digits, exp);
    }
    // A tie needs a neighbouring candidate of the same length that also
    // round-trips; checking that with two cheap parses spares the 767-digit
    // expansion for almost every float.
    if !neighbour_round_trips(&digits, exp, f) {
        return (digits, exp);
    }
    let (exact, exact_exp) = sci_digits(&format!("{f:.767e}"));
    let exact = exact.trim_end_matches('0');
    if exact_exp != exp || exact.len() != digits.len() + 1 || !exact.ends_with('5') {
        return (digits, exp);
    }
    let lower = &exact[..digits.len()];
    let (even, even_exp) = if lower.bytes().last().is_some_and(|d| d % 2 == 0) {
        (lower.to_owned(), exp)
    } else {
        increment_digits(lower, exp)
    };
    let even = even.trim_end_matches('0');
    let round_trips = format!("0.{even}e{}", even_exp + 1).parse::<f64>().is_ok_and(|g| g == f);
    if even.is_empty() || !round_trips {
        return (digits, exp);
    }
    (even.to_owned(), even_exp)
}

/// Whether `digits` × 10^`exp` with its last digit one lower or one higher
/// (without carry) still parses back to `f`.
fn neighbour_round_trips(digits: &str, exp: i32, f: f64) -> bool {
    let Some(last) = digits.bytes().last() else { return false };
    let head = &digits[..digits.len() - 1];
    [last.checked_sub(1), (last < b'9').then_some(last + 1)]
        .into_iter()
        .flatten()
        .filter(|d| d.is_ascii_digit())
        .any(|d| format!("0.{head}{}e{}", d as char, exp + 1).parse::<f64>().is_ok_and(|g| g == f))
}

/// Adds one unit in the last place to the significand `digits` × 10^`exp`.
fn increment_digits(digits: &str, exp: i32) -> (String, i32) {
    let mut bytes = digits.as_bytes().to_vec();
    for b in bytes.iter_mut().rev() {
        if *b == b'9' {
            *b = b'0';
        } else {
            *b += 1;
            return (String::from_utf8_lossy(&bytes).into_owned(), exp);
        }
    }
    // All nines: 99 × 10^e + 1 unit = 1 × 10^(e+1).
    bytes.insert(0, b'1');
    bytes.pop();
    (String::from_utf8_lossy(&bytes).into_owned(), exp + 1)
}

/// Splits Rust's `{:e}` output for a non-negative float into its
/// significand digits and decimal exponent.
fn sci_digits(sci: &str) -> (String, i32) {
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    (mantissa.chars().filter(char::is_ascii_digit).collect(), exp.parse().unwrap_or(0))
}

/// A JSON number as the Python object `json.loads` makes of it.
enum PyNumber {
    /// An `int`, already in Python's canonical decimal spelling.
    Int(String),
    Float(f64),
}

fn py_number(n: &Number) -> PyNumber {
    let text = n.as_str();
    if text.contains(['.', 'e', 'E']) {
        // Rust's parser rounds correctly like Python's `float()`, and also
        // turns out-of-range exponents into infinities or zeros.
        if let Ok(f) = text.parse::<f64>() {
            return PyNumber::Float(f);
        }
    }
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let digits = digits.trim_start_matches('0');
    PyNumber::Int(match (digits.is_empty(), negative) {
        // `int("-0")` is plain `0`.
        (true, _) => "0".to_owned(),
        (false, true) => format!("-{digits}"),
        (false, false) => digits.to_owned(),
    })
}

fn write_json(out: &mut String, value: &Value, sort_keys: bool, indent: Option<usize>, level: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match py_number(n) {
            PyNumber::Int(text) => out.push_str(&text),
            PyNumber::Float(f) if f.is_nan() => out.push_str("NaN"),
            PyNumber::Float(f) if f.is_infinite() => out.push_str(if f < 0.0 { "-Infinity" } else { "Infinity" }),
            PyNumber::Float(f) => out.push_str(&py_float_repr(f)),
        },
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
            let mut entries: Vec<_> = map.iter().collect();
            if sort_keys {
                // `str` orders by UTF-8 bytes, which is code point order,
                // like Python's string comparison.
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            out.push('{');
            for (i, (key, val)) in entries.into_iter().enumerate() {
                write_separator(out, i == 0, indent, level + 1);
                write_json_str(out, key);
                out.push_str(": ");
                write_json(out, val, sort_keys, indent, level + 1);
            }
            write_closing_break(out, indent, level);
            out.push('}');
        }
    }
}

/// What goes before a container item: `, ` without indent, else `,`
/// (omitted for the first item) and a new indented line.
fn write_separator(out: &mut String, first: bool, indent: Option<usize>, level: usize) {
    match indent {
        None if !first => out.push_str(", "),
        None => {}
        Some(width) => {
            if !first {
                out.push(',');
            }
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', width * level));
        }
    }
}

fn write_closing_break(out: &mut String, indent: Option<usize>, level: usize) {
    if let Some(width) = indent {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', width * level));
    }
}

/// A string literal as `json.dumps` spells it with `ensure_ascii=True`.
fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    // Most QMP strings need no escaping at all: copy them in one go.
    if s.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\') {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

fn write_repr(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
        Value::Number(n) => match py_number(n) {
            PyNumber::Int(text) => out.push_str(&text),
            PyNumber::Float(f) => out.push_str(&py_float_repr(f)),
        },
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
                let _ = match code {
                    0..=0xff => write!(out, "\\x{code:02x}"),
                    0x100..=0xffff => write!(out, "\\u{code:04x}"),
                    _ => write!(out, "\\U{code:08x}"),
                };
            }
        }
    }
    out.push(quote);
}
