//! Python's view of a JSON value for the VM helpers: `==`, `str()`,
//! `repr()` and the message unittest's `assertEqual` builds. The semantics
//! live in [`crate::pyfmt`]; these are the names the helpers use.

use serde_json::Value;

pub(crate) use crate::pyfmt::unittest::common_shorten_repr;
#[cfg(test)]
use crate::pyfmt::value::py_repr;
pub(crate) use crate::pyfmt::value::{py_eq, py_str, py_type};

/// The message of unittest's failed `assertEqual(first, second, msg)`
/// (with `longMessage`): `first != second : msg`.
///
/// Exact for numbers, booleans, `None` and values of different types. For
/// two dicts, lists or strings unittest appends a diff (ndiff of pprint
/// output); that diff is not reproduced here — see
/// [`crate::pyfmt::unittest::assert_equal`] for the whole message.
pub(crate) fn assert_equal_message(first: &Value, second: &Value, msg: Option<&str>) -> String {
    let (a, b) = common_shorten_repr(first, second);
    crate::pyfmt::unittest::format_message(&format!("{a} != {b}"), msg)
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
