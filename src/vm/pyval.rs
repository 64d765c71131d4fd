//! Python's view of a JSON value: `==`, `str()`, `repr()`, and the
//! message unittest's `assertEqual` builds — so that helpers compare and
//! report values as iotests does.

use serde_json::Value;

/// Python's `str(value)` for the object `json.loads` builds (a top-level
/// string is itself; anything else is its repr).
pub(crate) fn py_str(value: &Value) -> String {
    crate::json::py_repr(value)
}

/// Python's `repr(value)`: like [`py_str`], but a string is quoted.
pub(crate) fn py_repr(value: &Value) -> String {
    match value {
        // The repr of a one-item list is `[<repr of the item>]`.
        Value::String(_) => {
            let list = crate::json::py_repr(&Value::Array(vec![value.clone()]));
            list[1..list.len() - 1].to_string()
        }
        v => crate::json::py_repr(v),
    }
}

/// A JSON number (or bool, which Python treats as an int) as Python sees it.
enum Num {
    Int(i128),
    Float(f64),
}

fn num(v: &Value) -> Option<Num> {
    match v {
        Value::Bool(b) => Some(Num::Int(i128::from(*b))),
        Value::Number(n) => {
            let text = n.to_string();
            if text.contains(['.', 'e', 'E']) {
                text.parse().ok().map(Num::Float)
            } else {
                text.parse().ok().map(Num::Int).or_else(|| text.parse().ok().map(Num::Float))
            }
        }
        _ => None,
    }
}

/// Python's `a == b` for the objects `json.loads` builds: `1 == 1.0 ==
/// True`, dicts equal regardless of key order.
pub(crate) fn py_eq(a: &Value, b: &Value) -> bool {
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        return match (x, y) {
            (Num::Int(x), Num::Int(y)) => x == y,
            (Num::Int(i), Num::Float(f)) | (Num::Float(f), Num::Int(i)) => i as f64 == f,
            (Num::Float(x), Num::Float(y)) => x == y,
        };
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

/// Python's type name of the object `json.loads` builds.
pub(crate) fn py_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(_) => match num(v) {
            Some(Num::Float(_)) => "float",
            _ => "int",
        },
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

// unittest.util's constants for shortening reprs in failure messages.
const MAX_LENGTH: usize = 80;
const PLACEHOLDER_LEN: usize = 12;
const MIN_BEGIN_LEN: usize = 5;
const MIN_END_LEN: usize = 5;
const MIN_COMMON_LEN: usize = 5;
const MIN_DIFF_LEN: usize =
    MAX_LENGTH - (MIN_BEGIN_LEN + PLACEHOLDER_LEN + MIN_COMMON_LEN + PLACEHOLDER_LEN + MIN_END_LEN);

/// unittest.util's `_shorten`, on characters.
fn shorten(s: &[char], prefixlen: usize, suffixlen: usize) -> String {
    let skip = s.len().saturating_sub(prefixlen + suffixlen);
    if skip > PLACEHOLDER_LEN {
        let head: String = s[..prefixlen].iter().collect();
        let tail: String = s[s.len() - suffixlen..].iter().collect();
        format!("{head}[{skip} chars]{tail}")
    } else {
        s.iter().collect()
    }
}

/// unittest.util's `_common_shorten_repr(a, b)`.
pub(crate) fn common_shorten_repr(a: &Value, b: &Value) -> (String, String) {
    let (ra, rb) = (py_repr(a), py_repr(b));
    let (ca, cb): (Vec<char>, Vec<char>) = (ra.chars().collect(), rb.chars().collect());
    let maxlen = ca.len().max(cb.len());
    if maxlen <= MAX_LENGTH {
        return (ra, rb);
    }
    let prefixlen = ca.iter().zip(&cb).take_while(|(x, y)| x == y).count();
    let prefix = &ca[..prefixlen];
    // Signed, as in Python: a long difference makes this negative.
    let common_len = MAX_LENGTH as isize - (maxlen - prefixlen + MIN_BEGIN_LEN + PLACEHOLDER_LEN) as isize;
    if common_len > MIN_COMMON_LEN as isize {
        let p = shorten(prefix, MIN_BEGIN_LEN, common_len as usize);
        let rest = |c: &[char]| c[prefixlen..].iter().collect::<String>();
        return (format!("{p}{}", rest(&ca)), format!("{p}{}", rest(&cb)));
    }
    let p = shorten(prefix, MIN_BEGIN_LEN, MIN_COMMON_LEN);
    let rest = |c: &[char]| shorten(&c[prefixlen..], MIN_DIFF_LEN, MIN_END_LEN);
    (format!("{p}{}", rest(&ca)), format!("{p}{}", rest(&cb)))
}

/// The message of unittest's failed `assertEqual(first, second, msg)`
/// (with `longMessage`): `first != second : msg`.
///
/// Exact for numbers, booleans, `None` and values of different types. For
/// two dicts, lists or strings unittest appends a diff (ndiff of pprint
/// output); that diff is not reproduced.
pub(crate) fn assert_equal_message(first: &Value, second: &Value, msg: Option<&str>) -> String {
    let (a, b) = common_shorten_repr(first, second);
    let standard = format!("{a} != {b}");
    match msg {
        Some(m) => format!("{standard} : {m}"),
        None => standard,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn equality_is_pythons() {
        assert!(py_eq(&json!(1), &serde_json::from_str::<Value>("1.0").unwrap()));
        assert!(py_eq(&json!(true), &json!(1)));
        assert!(!py_eq(&json!(null), &json!(0)));
        assert!(py_eq(&json!({"a": 1, "b": [2]}), &json!({"b": [2], "a": 1})));
        assert!(!py_eq(&json!("1"), &json!(1)));
    }

    #[test]
    fn reprs() {
        assert_eq!(py_repr(&json!("a'b")), "\"a'b\"");
        assert_eq!(py_repr(&json!("ab")), "'ab'");
        assert_eq!(py_str(&json!("ab")), "ab");
        assert_eq!(py_repr(&json!({"a": null})), "{'a': None}");
        assert_eq!(py_type(&serde_json::from_str::<Value>("1e3").unwrap()), "float");
    }

    #[test]
    fn assert_equal_messages() {
        assert_eq!(assert_equal_message(&json!(1), &json!(2), Some("x")), "1 != 2 : x");
        assert_eq!(assert_equal_message(&json!(null), &json!("a"), None), "None != 'a'");
        // Python: unittest.util._common_shorten_repr('a' * 100, 'a' * 90 + 'b')
        let (a, b) = common_shorten_repr(&json!("a".repeat(100)), &json!(format!("{}b", "a".repeat(90))));
        assert_eq!(a, format!("'aaaa[34 chars]{}'", "a".repeat(62)));
        assert_eq!(b, format!("'aaaa[34 chars]{}b'", "a".repeat(52)));
        let (a, b) = common_shorten_repr(&json!({"a": "x".repeat(100)}), &json!({"a": "x".repeat(50), "b": 1}));
        assert_eq!(a, format!("{{'a':[41 chars]{}'}}", "x".repeat(61)));
        assert_eq!(b, format!("{{'a':[41 chars]{}', 'b': 1}}", "x".repeat(11)));
    }
}
