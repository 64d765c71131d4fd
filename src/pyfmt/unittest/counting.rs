//! `assertCountEqual`: the same elements the same number of times, in any
//! order (`unittest.util._count_diff_hashable` and
//! `_count_diff_all_purpose`).

use serde_json::Value;

use super::{Outcome, format_message, truncate_message};
use crate::pyfmt::value::{PyError, py_eq, py_hashable, py_repr, py_type};

/// Python's `list(v)`: a list's items, a dict's keys, a str's characters.
fn py_list(v: &Value) -> Result<Vec<Value>, PyError> {
    match v {
        Value::Array(items) => Ok(items.clone()),
        Value::Object(map) => Ok(map.keys().map(|k| Value::String(k.clone())).collect()),
        Value::String(s) => Ok(s.chars().map(|c| Value::String(c.to_string())).collect()),
        _ => Err(PyError::type_error(format!("'{}' object is not iterable", py_type(v)))),
    }
}

/// A count where the first and second sequences differ: `(count in first,
/// count in second, element)`, Python's `_Mismatch`.
type Mismatch<'v> = (usize, usize, &'v Value);

/// `collections.Counter(seq)`: distinct elements in first-seen order with
/// their counts. Equal hashable objects have equal hashes in Python, so a
/// dict groups exactly the elements `==` groups.
fn counter(seq: &[Value]) -> Vec<(&Value, usize)> {
    let mut counts: Vec<(&Value, usize)> = Vec::new();
    for elem in seq {
        match counts.iter_mut().find(|(seen, _)| py_eq(seen, elem)) {
            Some((_, n)) => *n += 1,
            None => counts.push((elem, 1)),
        }
    }
    counts
}

/// `_count_diff_hashable(actual, expected)`.
fn count_diff_hashable<'v>(actual: &'v [Value], expected: &'v [Value]) -> Vec<Mismatch<'v>> {
    let (s, t) = (counter(actual), counter(expected));
    let count_in = |c: &[(&Value, usize)], elem: &Value| c.iter().find(|(e, _)| py_eq(e, elem)).map_or(0, |&(_, n)| n);
    let mut result: Vec<Mismatch> = s
        .iter()
        .filter(|&&(elem, cnt_s)| cnt_s != count_in(&t, elem))
        .map(|&(elem, cnt_s)| (cnt_s, count_in(&t, elem), elem))
        .collect();
    result.extend(t.iter().filter(|&&(elem, _)| count_in(&s, elem) == 0).map(|&(elem, cnt_t)| (0, cnt_t, elem)));
    result
}

/// `_count_diff_all_purpose(actual, expected)`: the same by pairwise `==`,
/// for unhashable elements.
fn count_diff_all_purpose<'v>(actual: &'v [Value], expected: &'v [Value]) -> Vec<Mismatch<'v>> {
    let mut s: Vec<Option<&Value>> = actual.iter().map(Some).collect();
    let mut t: Vec<Option<&Value>> = expected.iter().map(Some).collect();
    let mut result = Vec::new();
    // Counts and blanks out the items of `seq[from..]` equal to `elem`.
    let take = |seq: &mut [Option<&Value>], from: usize, elem: &Value| {
        let mut n = 0;
        for slot in &mut seq[from..] {
            if slot.is_some_and(|other| py_eq(other, elem)) {
                n += 1;
                *slot = None;
            }
        }
        n
    };
    for i in 0..s.len() {
        let Some(elem) = s[i] else { continue };
        let cnt_s = take(&mut s, i, elem);
        let cnt_t = take(&mut t, 0, elem);
        if cnt_s != cnt_t {
            result.push((cnt_s, cnt_t, elem));
        }
    }
    for i in 0..t.len() {
        let Some(elem) = t[i] else { continue };
        let cnt_t = take(&mut t, i, elem);
        result.push((0, cnt_t, elem));
    }
    result
}

/// `assertCountEqual(first, second, msg)`: the iterables (lists, dicts'
/// keys, strings' characters) have the same elements the same number of
/// times. `Err` for an operand Python cannot iterate.
///
/// ```
/// use iotests::pyfmt::unittest::assert_count_equal;
/// use serde_json::json;
/// assert_eq!(assert_count_equal(&json!([1, 2, 1]), &json!([2, 1, true]), None), Ok(None));
/// assert_eq!(
///     assert_count_equal(&json!(["a", "a", "b"]), &json!(["a", "c"]), None),
///     Ok(Some("Element counts were not equal:\nFirst has 2, Second has 1:  'a'\n\
///              First has 1, Second has 0:  'b'\nFirst has 0, Second has 1:  'c'".into()))
/// );
/// ```
pub fn assert_count_equal(first: &Value, second: &Value, msg: Option<&str>) -> Outcome {
    let (first_seq, second_seq) = (py_list(first)?, py_list(second)?);
    // Counter() raises TypeError on an unhashable element, in either list.
    let differences = if first_seq.iter().chain(&second_seq).all(py_hashable) {
        count_diff_hashable(&first_seq, &second_seq)
    } else {
        count_diff_all_purpose(&first_seq, &second_seq)
    };
    if differences.is_empty() {
        return Ok(None);
    }
    let lines: Vec<String> = differences
        .iter()
        .map(|&(cnt_s, cnt_t, elem)| format!("First has {cnt_s}, Second has {cnt_t}:  {}", py_repr(elem)))
        .collect();
    let standard = truncate_message("Element counts were not equal:\n", &lines.join("\n"));
    Ok(Some(format_message(&standard, msg)))
}
