//! Python `bytes` among the JSON values, for unittest's assertions:
//! `self.assertEqual(data, b'\x01' * 1024)` on what an NBD client read.
//!
//! JSON has no bytes, so a [`PyBytes`] serializes to a one-key object whose
//! key no QMP object has (it starts with a NUL) and whose value holds the
//! bytes as the characters U+0000 to U+00FF (Python's latin-1 view). The
//! Python views of [`crate::pyfmt::value`] and [`super::py_repr`] know it:
//! its `repr` is `b'…'`, its type `bytes`, `b''` is false, and two of them
//! are equal when their bytes are, so `assertEqual` fails with
//! `_baseAssertEqual`'s `b'…' != b'…'` as Python's does. Such a value is not
//! for logging: `json.dumps` of bytes is a `TypeError` in Python.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

/// The key of the object that stands for bytes.
const KEY: &str = "\u{0}py:bytes";

/// A Python `bytes` object, as an operand of the assertions.
///
/// ```
/// use iotests::json::PyBytes;
/// use iotests::{assert_equal, assert_false};
/// fn check(data: &[u8]) -> iotests::Result<()> {
///     assert_false!(PyBytes(b""));
///     assert_equal!(PyBytes(data), PyBytes(&[1u8; 4]));
///     Ok(())
/// }
/// assert!(check(&[1, 1, 1, 1]).is_ok());
/// assert_eq!(check(b"\x01'\n").unwrap_err().to_string(), r#"b"\x01'\n" != b'\x01\x01\x01\x01'"#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PyBytes<'a>(pub &'a [u8]);

impl Serialize for PyBytes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let latin1: String = self.0.iter().map(|&b| char::from(b)).collect();
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(KEY, &latin1)?;
        map.end()
    }
}

/// The bytes `value` stands for, as latin-1 text, if it is a [`PyBytes`].
pub(crate) fn as_latin1(value: &Value) -> Option<&str> {
    match value {
        Value::Object(map) if map.len() == 1 => map.get(KEY)?.as_str(),
        _ => None,
    }
}

/// Python's `repr()` of bytes given as latin-1 text.
pub(crate) fn write_repr(out: &mut String, latin1: &str) {
    let quote = if latin1.contains('\'') && !latin1.contains('"') { '"' } else { '\'' };
    out.push('b');
    out.push(quote);
    for c in latin1.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            _ if c == quote => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push_str(&format!("\\x{:02x}", u32::from(c))),
        }
    }
    out.push(quote);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr(data: &[u8]) -> String {
        super::super::py_repr(&serde_json::to_value(PyBytes(data)).expect("serializes"))
    }

    #[test]
    fn repr_is_pythons() {
        // Each as python3 3.11 prints repr(b).
        assert_eq!(repr(b""), "b''");
        assert_eq!(repr(b"abc"), "b'abc'");
        assert_eq!(repr(b"it's"), r#"b"it's""#);
        assert_eq!(repr(b"'\""), r#"b'\'"'"#);
        assert_eq!(repr(b"\\\t\n\r\x00\x7f\x80\xff~ "), r"b'\\\t\n\r\x00\x7f\x80\xff~ '");
        let nested = serde_json::json!([serde_json::to_value(PyBytes(b"\x01")).expect("serializes"), 1]);
        assert_eq!(super::super::py_repr(&nested), r"[b'\x01', 1]");
    }
}

#[cfg(test)]
mod assertion_tests {
    use super::PyBytes;
    use crate::unittest::assertions::assert_equal;

    fn message(a: &(impl serde::Serialize + ?Sized), b: &(impl serde::Serialize + ?Sized)) -> String {
        assert_equal(a, b, None).expect_err("differ").to_string()
    }

    #[test]
    fn assert_equal_fails_as_python_does() {
        // Each message as python3 3.11's assertEqual gives it.
        let (ones, threes) = (vec![1u8; 1 << 20], vec![3u8; 1 << 20]);
        let x = |c: &str| format!(r"\x0{c}").repeat(11);
        assert_eq!(
            message(&PyBytes(&ones), &PyBytes(&threes)),
            format!(r"b'{}[4194256 chars]\x01' != b'{}[4194256 chars]\x03'", x("1"), x("3"))
        );
        assert_eq!(
            message(&PyBytes(&[1; 10]), &PyBytes(b"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x03")),
            format!(r"b'{}' != b'{}\x03'", r"\x01".repeat(10), r"\x01".repeat(9))
        );
        assert_eq!(message(&PyBytes(b"ab"), "ab"), "b'ab' != 'ab'");
        assert!(assert_equal(&PyBytes(&ones), &PyBytes(&vec![1u8; 1 << 20]), None).is_ok());
    }
}
