//! unittest's assertions about one value, membership, order, closeness,
//! identity and regular expressions.

use serde_json::Value;

use super::{Outcome, format_message, safe_repr};
use crate::pyfmt::number::{self, num};
use crate::pyfmt::value::{CmpOp, PyError, py_compare, py_eq, py_hashable, py_truthy, py_type};

/// `assertTrue(expr, msg)`: Python's truth value.
///
/// ```
/// use iotests::pyfmt::unittest::assert_true;
/// use serde_json::json;
/// assert_eq!(assert_true(&json!([]), Some("no jobs")).unwrap(), "[] is not true : no jobs");
/// assert_eq!(assert_true(&json!("x"), None), None);
/// ```
pub fn assert_true(expr: &Value, msg: Option<&str>) -> Option<String> {
    (!py_truthy(expr)).then(|| format_message(&format!("{} is not true", safe_repr(expr, false)), msg))
}

/// `assertFalse(expr, msg)`.
///
/// ```
/// use iotests::pyfmt::unittest::assert_false;
/// assert_eq!(assert_false(&serde_json::json!(0.5), None).unwrap(), "0.5 is not false");
/// ```
pub fn assert_false(expr: &Value, msg: Option<&str>) -> Option<String> {
    py_truthy(expr).then(|| format_message(&format!("{} is not false", safe_repr(expr, false)), msg))
}

/// `assertIsNone(obj, msg)`.
///
/// ```
/// use iotests::pyfmt::unittest::assert_is_none;
/// assert_eq!(assert_is_none(&serde_json::json!(""), None).unwrap(), "'' is not None");
/// ```
pub fn assert_is_none(obj: &Value, msg: Option<&str>) -> Option<String> {
    (!obj.is_null()).then(|| format_message(&format!("{} is not None", safe_repr(obj, false)), msg))
}

/// `assertIsNotNone(obj, msg)`.
///
/// ```
/// use iotests::pyfmt::unittest::assert_is_not_none;
/// assert_eq!(assert_is_not_none(&serde_json::json!(null), Some("m")).unwrap(), "unexpectedly None : m");
/// ```
pub fn assert_is_not_none(obj: &Value, msg: Option<&str>) -> Option<String> {
    obj.is_null().then(|| format_message("unexpectedly None", msg))
}

/// Python's `member in container`: an equal item of a list, a key of a
/// dict, a substring of a str.
fn contains(member: &Value, container: &Value) -> Result<bool, PyError> {
    match container {
        Value::Array(items) => Ok(items.iter().any(|item| py_eq(item, member))),
        Value::Object(map) if py_hashable(member) => Ok(member.as_str().is_some_and(|key| map.contains_key(key))),
        Value::Object(_) => Err(PyError::type_error(format!("unhashable type: '{}'", py_type(member)))),
        Value::String(s) => match member {
            Value::String(m) => Ok(s.contains(m.as_str())),
            _ => Err(PyError::type_error(format!(
                "'in <string>' requires string as left operand, not {}",
                py_type(member)
            ))),
        },
        _ => Err(PyError::type_error(format!("argument of type '{}' is not iterable", py_type(container)))),
    }
}

/// `assertIn(member, container, msg)`: an item of a list, a key of a dict
/// or a substring of a str; `Err` for Python's `TypeError` (a list looked
/// up in a dict, an int in a str, a container that is a number).
///
/// ```
/// use iotests::pyfmt::unittest::assert_in;
/// use serde_json::json;
/// assert_eq!(assert_in(&json!("b"), &json!({"a": 1}), None), Ok(Some("'b' not found in {'a': 1}".into())));
/// assert_eq!(assert_in(&json!(1.0), &json!([true]), None), Ok(None));
/// assert_eq!(assert_in(&json!("ell"), &json!("hello"), None), Ok(None));
/// ```
pub fn assert_in(member: &Value, container: &Value, msg: Option<&str>) -> Outcome {
    Ok((!contains(member, container)?).then(|| {
        format_message(&format!("{} not found in {}", safe_repr(member, false), safe_repr(container, false)), msg)
    }))
}

/// `assertNotIn(member, container, msg)`.
///
/// ```
/// use iotests::pyfmt::unittest::assert_not_in;
/// use serde_json::json;
/// assert_eq!(assert_not_in(&json!(2), &json!([1, 2]), None), Ok(Some("2 unexpectedly found in [1, 2]".into())));
/// ```
pub fn assert_not_in(member: &Value, container: &Value, msg: Option<&str>) -> Outcome {
    Ok(contains(member, container)?.then(|| {
        format_message(
            &format!("{} unexpectedly found in {}", safe_repr(member, false), safe_repr(container, false)),
            msg,
        )
    }))
}

fn ordered(a: &Value, b: &Value, op: CmpOp, words: &str, msg: Option<&str>) -> Outcome {
    Ok((!py_compare(a, b, op)?)
        .then(|| format_message(&format!("{} {words} {}", safe_repr(a, false), safe_repr(b, false)), msg)))
}

/// `assertGreater(a, b, msg)`: Python's `a > b` on numbers, strings or
/// lists; `Err` for Python's `TypeError` (unorderable types).
///
/// ```
/// use iotests::pyfmt::unittest::assert_greater;
/// use serde_json::json;
/// assert_eq!(assert_greater(&json!(1), &json!(1.5), None), Ok(Some("1 not greater than 1.5".into())));
/// assert_eq!(assert_greater(&json!("b"), &json!("a"), None), Ok(None));
/// ```
pub fn assert_greater(a: &Value, b: &Value, msg: Option<&str>) -> Outcome {
    ordered(a, b, CmpOp::Gt, "not greater than", msg)
}

/// `assertGreaterEqual(a, b, msg)`.
///
/// ```
/// use iotests::pyfmt::unittest::assert_greater_equal;
/// use serde_json::json;
/// assert_eq!(assert_greater_equal(&json!(1), &json!(2), None), Ok(Some("1 not greater than or equal to 2".into())));
/// ```
pub fn assert_greater_equal(a: &Value, b: &Value, msg: Option<&str>) -> Outcome {
    ordered(a, b, CmpOp::Ge, "not greater than or equal to", msg)
}

/// `assertLess(a, b, msg)`.
///
/// ```
/// use iotests::pyfmt::unittest::assert_less;
/// use serde_json::json;
/// assert_eq!(assert_less(&json!([1]), &json!([1]), None), Ok(Some("[1] not less than [1]".into())));
/// ```
pub fn assert_less(a: &Value, b: &Value, msg: Option<&str>) -> Outcome {
    ordered(a, b, CmpOp::Lt, "not less than", msg)
}

/// `assertLessEqual(a, b, msg)`.
///
/// ```
/// use iotests::pyfmt::unittest::assert_less_equal;
/// use serde_json::json;
/// assert_eq!(assert_less_equal(&json!(3), &json!(2), None), Ok(Some("3 not less than or equal to 2".into())));
/// ```
pub fn assert_less_equal(a: &Value, b: &Value, msg: Option<&str>) -> Outcome {
    ordered(a, b, CmpOp::Le, "not less than or equal to", msg)
}

/// `assertAlmostEqual(first, second, places, msg, delta)`: equal, or
/// `abs(first - second)` rounds to zero at `places` (7 by default)
/// decimal places, or is at most `delta`. `Err` for Python's exceptions:
/// both `places` and `delta` given (`TypeError`, once the values are
/// unequal), operands that are not numbers, a delta that is not one, an
/// int too large for a float (`OverflowError`).
///
/// ```
/// use iotests::pyfmt::unittest::assert_almost_equal;
/// use serde_json::json;
/// assert_eq!(assert_almost_equal(&json!(1.00000001), &json!(1), None, None, None), Ok(None));
/// assert_eq!(
///     assert_almost_equal(&json!(1.1), &json!(1), None, None, None),
///     Ok(Some("1.1 != 1 within 7 places (0.10000000000000009 difference)".into()))
/// );
/// assert_eq!(
///     assert_almost_equal(&json!(10), &json!(13), None, Some(&json!(2)), Some("m")),
///     Ok(Some("10 != 13 within 2 delta (3 difference) : m".into()))
/// );
/// ```
pub fn assert_almost_equal(
    first: &Value,
    second: &Value,
    places: Option<i32>,
    delta: Option<&Value>,
    msg: Option<&str>,
) -> Outcome {
    if py_eq(first, second) {
        return Ok(None);
    }
    if places.is_some() && delta.is_some() {
        return Err(PyError::type_error("specify delta or places not both"));
    }
    let (Some(x), Some(y)) = (num(first), num(second)) else {
        return Err(PyError::type_error(format!(
            "unsupported operand type(s) for -: '{}' and '{}'",
            py_type(first),
            py_type(second)
        )));
    };
    let diff = number::abs_diff(&x, &y).ok_or_else(|| PyError::Exception {
        kind: "OverflowError",
        message: "int too large to convert to float".into(),
    })?;
    let (first, second) = (safe_repr(first, false), safe_repr(second, false));
    let standard = match delta {
        Some(delta) => {
            let Some(d) = num(delta) else {
                let diff_type = if matches!(diff, number::Num::Int(_)) { "int" } else { "float" };
                return Err(PyError::type_error(format!(
                    "'<=' not supported between instances of '{diff_type}' and '{}'",
                    py_type(delta)
                )));
            };
            if number::partial_cmp(&diff, &d).is_some_and(|o| o.is_le()) {
                return Ok(None);
            }
            format!("{first} != {second} within {} delta ({} difference)", safe_repr(delta, false), number::repr(&diff))
        }
        None => {
            let places = places.unwrap_or(7);
            if number::rounds_to_zero(&diff, places) {
                return Ok(None);
            }
            format!("{first} != {second} within {places} places ({} difference)", number::repr(&diff))
        }
    };
    Ok(Some(format_message(&standard, msg)))
}

/// Python's `a is b` where it is defined for JSON values: `None`, `True`
/// and `False` are singletons, and nothing else is one of them.
fn identical(a: &Value, b: &Value) -> Result<bool, PyError> {
    match (a, b) {
        (Value::Null, Value::Null) => Ok(true),
        (Value::Bool(x), Value::Bool(y)) => Ok(x == y),
        (Value::Null | Value::Bool(_), _) | (_, Value::Null | Value::Bool(_)) => Ok(false),
        _ => Err(PyError::Unsupported(format!(
            "identity of {} and {}: neither is None, True or False",
            safe_repr(a, true),
            safe_repr(b, true)
        ))),
    }
}

/// `assertIs(expr1, expr2, msg)` where one operand is `None`, `True` or
/// `False`; `Err(PyError::Unsupported)` otherwise, as the identity of two
/// other objects is not in their JSON.
///
/// ```
/// use iotests::pyfmt::unittest::assert_is;
/// use serde_json::json;
/// assert_eq!(assert_is(&json!(1), &json!(true), None), Ok(Some("1 is not True".into())));
/// assert_eq!(assert_is(&json!(null), &json!(null), None), Ok(None));
/// assert!(assert_is(&json!(1), &json!(1), None).is_err());
/// ```
pub fn assert_is(expr1: &Value, expr2: &Value, msg: Option<&str>) -> Outcome {
    Ok((!identical(expr1, expr2)?)
        .then(|| format_message(&format!("{} is not {}", safe_repr(expr1, false), safe_repr(expr2, false)), msg)))
}

/// `assertIsNot(expr1, expr2, msg)`, defined as for [`assert_is`].
///
/// ```
/// use iotests::pyfmt::unittest::assert_is_not;
/// use serde_json::json;
/// assert_eq!(assert_is_not(&json!(false), &json!(false), None), Ok(Some("unexpectedly identical: False".into())));
/// ```
pub fn assert_is_not(expr1: &Value, expr2: &Value, msg: Option<&str>) -> Outcome {
    Ok(identical(expr1, expr2)?
        .then(|| format_message(&format!("unexpectedly identical: {}", safe_repr(expr1, false)), msg)))
}

/// A Python `re` pattern in the `regex` crate's syntax, where the two read
/// the same text differently: Python's `\s` is `str.isspace()`, which adds
/// `\x1c`..`\x1f` to Unicode's white space; its `\Z` is the crate's `\z`;
/// a `[` inside a class is a literal, not a nested class.
fn translate(pattern: &str) -> String {
    const SPACE: &str = r"\s\x1c-\x1f";
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    let (mut in_class, mut class_start) = (false, false);
    while let Some(c) = chars.next() {
        // Right after `[` or `[^`, a `]` is a literal.
        let at_class_start = std::mem::take(&mut class_start);
        match c {
            '\\' => match chars.next() {
                Some('s') if in_class => out.push_str(SPACE),
                Some('s') => out.push_str(&format!("[{SPACE}]")),
                Some('S') => out.push_str(&format!("[^{SPACE}]")),
                Some('Z') if !in_class => out.push_str(r"\z"),
                Some(e) => {
                    out.push('\\');
                    out.push(e);
                }
                None => out.push('\\'),
            },
            '[' if in_class => out.push_str(r"\["),
            '[' => {
                (in_class, class_start) = (true, true);
                out.push('[');
                if chars.next_if_eq(&'^').is_some() {
                    out.push('^');
                }
            }
            ']' if in_class && !at_class_start => {
                in_class = false;
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    out
}

/// `re.search(pattern, text)`'s match span, with the `regex` crate. The
/// crate's `$` matches only at the very end; Python's also before a final
/// newline, which a second search of the text without that newline covers.
fn search(text: &str, pattern: &str) -> Result<Option<(usize, usize)>, PyError> {
    let re = regex::Regex::new(&translate(pattern))
        .map_err(|e| PyError::Unsupported(format!("regular expression {pattern:?} for the regex crate: {e}")))?;
    let full = re.find(text).map(|m| (m.start(), m.end()));
    let trimmed = match text.strip_suffix('\n') {
        Some(t) if pattern.contains('$') => re.find(t).map(|m| (m.start(), m.end())),
        _ => None,
    };
    Ok(match (full, trimmed) {
        (Some(f), Some(t)) if t.0 < f.0 => Some(t),
        (None, t) => t,
        (f, _) => f,
    })
}

/// `assertRegex(text, expected_regex, msg)`: `re.search` finds the pattern
/// in the text. The pattern is compiled by the `regex` crate, whose syntax
/// is Python's for the common constructs (`\s`, `\Z`, `$` and `[` in a class
/// are adapted to mean what they mean to Python); what it lacks
/// (look-around, backreferences) is `Err(PyError::Unsupported)`, and its
/// `\w` and `\b` follow Unicode's word characters rather than
/// `str.isalnum()`. An empty pattern trips the method's own `assert`, whose
/// message is returned.
///
/// ```
/// use iotests::pyfmt::unittest::assert_regex;
/// assert_eq!(assert_regex("size 512", r"\d+ MiB", None), Ok(Some(r"Regex didn't match: '\\d+ MiB' not found in 'size 512'".into())));
/// assert_eq!(assert_regex("done\n", "done$", None), Ok(None));
/// ```
pub fn assert_regex(text: &str, expected_regex: &str, msg: Option<&str>) -> Outcome {
    if expected_regex.is_empty() {
        return Ok(Some("expected_regex must not be empty.".into()));
    }
    let found = search(text, expected_regex)?.is_some();
    Ok((!found).then(|| {
        let (pattern, text) = (crate::json::py_str_repr(expected_regex), crate::json::py_str_repr(text));
        format_message(&format!("Regex didn't match: {pattern} not found in {text}"), msg)
    }))
}

/// `assertNotRegex(text, unexpected_regex, msg)`, with the patterns of
/// [`assert_regex`].
///
/// ```
/// use iotests::pyfmt::unittest::assert_not_regex;
/// assert_eq!(
///     assert_not_regex("error: EIO", "E[A-Z]+", None),
///     Ok(Some("Regex matched: 'EIO' matches 'E[A-Z]+' in 'error: EIO'".into()))
/// );
/// ```
pub fn assert_not_regex(text: &str, unexpected_regex: &str, msg: Option<&str>) -> Outcome {
    let found = search(text, unexpected_regex)?;
    Ok(found.map(|(start, end)| {
        let repr = crate::json::py_str_repr;
        format_message(
            &format!("Regex matched: {} matches {} in {}", repr(&text[start..end]), repr(unexpected_regex), repr(text)),
            msg,
        )
    }))
}
