//! The messages of Python 3.11's `unittest.TestCase` assertions, as pure
//! functions of JSON operands.
//!
//! Each builder answers what the assertion would do in a test case with
//! the defaults (`longMessage = True`, `maxDiff = 80 * 8`): `None` when it
//! holds, `Some(text)` with `str()` of the `AssertionError` it raises. The
//! builders whose Python counterpart can raise something else (a
//! `TypeError` from `a < b` on a str and an int, say) return an
//! [`Outcome`], whose `Err` is that exception: it is not an assertion
//! failure and must not be reported as one.
//!
//! Ported from CPython 3.11's `Lib/unittest/case.py` and
//! `Lib/unittest/util.py`.
//!
//! ```
//! use iotests::pyfmt::unittest::{assert_equal, assert_less};
//! use serde_json::json;
//! assert_eq!(assert_equal(&json!(1), &json!(1.0), None), None);
//! assert_eq!(
//!     assert_equal(&json!({"a": 1}), &json!({"a": 2}), Some("status")).as_deref(),
//!     Some("{'a': 1} != {'a': 2}\n- {'a': 1}\n?       ^\n\n+ {'a': 2}\n?       ^\n : status")
//! );
//! assert_eq!(assert_less(&json!(2), &json!(1), None), Ok(Some("2 not less than 1".to_string())));
//! assert!(assert_less(&json!("a"), &json!(1), None).is_err());
//! ```

mod checks;
mod counting;

use serde_json::Value;

pub use checks::{
    assert_almost_equal, assert_false, assert_greater, assert_greater_equal, assert_in, assert_is, assert_is_none,
    assert_is_not, assert_is_not_none, assert_less, assert_less_equal, assert_not_in, assert_not_regex, assert_regex,
    assert_true,
};
pub use counting::assert_count_equal;

use super::difflib::ndiff;
use super::pprint::pformat;
pub use super::value::PyError;
use super::value::{py_eq, py_repr, splitlines};

/// What an assertion whose Python counterpart can raise other exceptions
/// gives: `Ok(None)` when it holds, `Ok(Some(message))` when it fails,
/// `Err` when Python would raise something other than `AssertionError`.
pub type Outcome = Result<Option<String>, PyError>;

/// `TestCase.maxDiff`'s default: longer diffs are replaced by
/// [`DIFF_OMITTED`].
pub const MAX_DIFF: usize = 80 * 8;

thread_local! {
    /// This thread's `maxDiff` (each test runs on a thread of its own; the
    /// unittest runner resets it for every case, as Python's is per
    /// instance).
    static MAX_DIFF_SETTING: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(Some(MAX_DIFF)) };
}

/// The current `maxDiff`: `None` for no limit.
///
/// ```
/// use iotests::pyfmt::unittest::{max_diff, MAX_DIFF};
/// assert_eq!(max_diff(), Some(MAX_DIFF));
/// ```
pub fn max_diff() -> Option<usize> {
    MAX_DIFF_SETTING.with(|m| m.get())
}

/// `self.maxDiff = limit` for the assertions made on this thread from now
/// on; returns the previous value. A unittest case sets it with
/// [`Case::set_max_diff`](crate::unittest::Case::set_max_diff).
///
/// ```
/// use iotests::pyfmt::unittest::{set_max_diff, truncate_message};
/// let long = "y".repeat(700);
/// let before = set_max_diff(None);
/// assert_eq!(truncate_message("x", &long).len(), 701);
/// set_max_diff(before);
/// assert!(truncate_message("x", &long).ends_with("Set self.maxDiff to None to see it."));
/// ```
pub fn set_max_diff(limit: Option<usize>) -> Option<usize> {
    MAX_DIFF_SETTING.with(|m| m.replace(limit))
}

/// `TestCase._diffThreshold`: strings longer than this are compared
/// without a diff.
pub const DIFF_THRESHOLD: usize = 1 << 16;

/// `unittest.case.DIFF_OMITTED`, `{}` standing for the diff's length.
pub const DIFF_OMITTED: &str = "\nDiff is {} characters long. Set self.maxDiff to None to see it.";

// unittest.util's constants for shortening reprs in failure messages.
const MAX_LENGTH: usize = 80;
const PLACEHOLDER_LEN: usize = 12;
const MIN_BEGIN_LEN: usize = 5;
const MIN_END_LEN: usize = 5;
const MIN_COMMON_LEN: usize = 5;
const MIN_DIFF_LEN: usize =
    MAX_LENGTH - (MIN_BEGIN_LEN + PLACEHOLDER_LEN + MIN_COMMON_LEN + PLACEHOLDER_LEN + MIN_END_LEN);

/// `TestCase._formatMessage(msg, standardMsg)` with `longMessage`: the
/// standard message, then ` : ` and the caller's message if there is one.
///
/// ```
/// use iotests::pyfmt::unittest::format_message;
/// assert_eq!(format_message("1 != 2", Some("sizes")), "1 != 2 : sizes");
/// assert_eq!(format_message("1 != 2", None), "1 != 2");
/// ```
pub fn format_message(standard: &str, msg: Option<&str>) -> String {
    match msg {
        Some(m) => format!("{standard} : {m}"),
        None => standard.to_string(),
    }
}

/// `unittest.util.safe_repr(obj, short)`: the repr, cut after 80
/// characters with ` [truncated]...` when `short`.
///
/// ```
/// use iotests::pyfmt::unittest::safe_repr;
/// let long = serde_json::json!("x".repeat(100));
/// assert_eq!(safe_repr(&long, true), format!("'{} [truncated]...", "x".repeat(79)));
/// assert_eq!(safe_repr(&serde_json::json!(null), true), "None");
/// ```
pub fn safe_repr(value: &Value, short: bool) -> String {
    let rep = py_repr(value);
    if !short || rep.chars().count() < MAX_LENGTH {
        return rep;
    }
    let head: String = rep.chars().take(MAX_LENGTH).collect();
    format!("{head} [truncated]...")
}

/// `unittest.util._shorten`, on characters.
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

/// `unittest.util._common_shorten_repr(a, b)`: both reprs, with a long
/// common prefix and long differing tails cut to `[N chars]` so that
/// neither exceeds about 80 characters.
///
/// ```
/// use iotests::pyfmt::unittest::common_shorten_repr;
/// use serde_json::json;
/// let (a, b) = common_shorten_repr(&json!("a".repeat(100)), &json!(format!("{}b", "a".repeat(90))));
/// assert_eq!(a, format!("'aaaa[34 chars]{}'", "a".repeat(62)));
/// assert_eq!(b, format!("'aaaa[34 chars]{}b'", "a".repeat(52)));
/// ```
pub fn common_shorten_repr(a: &Value, b: &Value) -> (String, String) {
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

/// `TestCase._truncateMessage(message, diff)`: the diff, or how long it
/// is when longer than [`max_diff`] characters ([`MAX_DIFF`] by default).
///
/// ```
/// use iotests::pyfmt::unittest::truncate_message;
/// assert_eq!(truncate_message("a != b", "\n- a\n+ b"), "a != b\n- a\n+ b");
/// assert_eq!(
///     truncate_message("x", &"y".repeat(641)),
///     "x\nDiff is 641 characters long. Set self.maxDiff to None to see it."
/// );
/// ```
pub fn truncate_message(message: &str, diff: &str) -> String {
    let len = diff.chars().count();
    if max_diff().is_none_or(|limit| len <= limit) {
        format!("{message}{diff}")
    } else {
        format!("{message}{}", DIFF_OMITTED.replace("{}", &len.to_string()))
    }
}

/// `assertEqual(first, second, msg)`: Python's `==`, and on failure the
/// message of the type-specific assertion for two dicts
/// (`assertDictEqual`), two lists (`assertListEqual`) or two strings
/// (`assertMultiLineEqual`), which append an `ndiff`; anything else gives
/// `first != second` (`_baseAssertEqual`).
///
/// ```
/// use iotests::pyfmt::unittest::assert_equal;
/// use serde_json::json;
/// assert_eq!(assert_equal(&json!(true), &json!(1), None), None);
/// assert_eq!(assert_equal(&json!(1), &json!("1"), Some("why")).unwrap(), "1 != '1' : why");
/// assert_eq!(
///     assert_equal(&json!([1, 2]), &json!([1, 3]), None).unwrap(),
///     "Lists differ: [1, 2] != [1, 3]\n\nFirst differing element 1:\n2\n3\n\n- [1, 2]\n?     ^\n\n+ [1, 3]\n?     ^\n"
/// );
/// assert_eq!(
///     assert_equal(&json!("a\nb\n"), &json!("a\nc\n"), None).unwrap(),
///     "'a\\nb\\n' != 'a\\nc\\n'\n  a\n- b\n+ c\n"
/// );
/// ```
pub fn assert_equal(first: &Value, second: &Value, msg: Option<&str>) -> Option<String> {
    if py_eq(first, second) {
        return None;
    }
    let bytes = |v: &Value| crate::json::bytes_latin1(v).is_some();
    let standard = match (first, second) {
        // bytes have no type-specific assertion: `_baseAssertEqual`.
        _ if bytes(first) || bytes(second) => base_message(first, second),
        (Value::Object(_), Value::Object(_)) => {
            let (a, b) = common_shorten_repr(first, second);
            truncate_message(&format!("{a} != {b}"), &pformat_diff(first, second))
        }
        (Value::Array(a), Value::Array(b)) => list_message(a, b, first, second),
        (Value::String(a), Value::String(b)) => multi_line_message(a, b, first, second),
        _ => base_message(first, second),
    };
    Some(format_message(&standard, msg))
}

/// `_baseAssertEqual`'s standard message.
fn base_message(first: &Value, second: &Value) -> String {
    let (a, b) = common_shorten_repr(first, second);
    format!("{a} != {b}")
}

/// `'\n' + '\n'.join(ndiff(pformat(a).splitlines(), pformat(b).splitlines()))`.
fn pformat_diff(first: &Value, second: &Value) -> String {
    let (pa, pb) = (pformat(first), pformat(second));
    let lines = ndiff(&splitlines(&pa, false), &splitlines(&pb, false));
    format!("\n{}", lines.join("\n"))
}

/// `assertSequenceEqual(seq1, seq2, seq_type=list)`'s standard message.
fn list_message(seq1: &[Value], seq2: &[Value], first: &Value, second: &Value) -> String {
    let (a, b) = common_shorten_repr(first, second);
    let mut differing = format!("Lists differ: {a} != {b}\n");
    if let Some(i) = seq1.iter().zip(seq2).position(|(x, y)| !py_eq(x, y)) {
        let (x, y) = common_shorten_repr(&seq1[i], &seq2[i]);
        differing += &format!("\nFirst differing element {i}:\n{x}\n{y}\n");
    }
    let (len1, len2) = (seq1.len(), seq2.len());
    if len1 != len2 {
        let (which, longer, shorter) = if len1 > len2 { ("First", seq1, len2) } else { ("Second", seq2, len1) };
        differing += &format!(
            "\n{which} list contains {} additional elements.\nFirst extra element {shorter}:\n{}\n",
            longer.len() - shorter,
            safe_repr(&longer[shorter], false)
        );
    }
    truncate_message(&differing, &pformat_diff(first, second))
}

/// `assertMultiLineEqual`'s standard message: an ndiff of the lines (kept
/// with their ends, a single line given one), unless a string is longer
/// than [`DIFF_THRESHOLD`].
fn multi_line_message(a: &str, b: &str, first: &Value, second: &Value) -> String {
    if a.chars().count() > DIFF_THRESHOLD || b.chars().count() > DIFF_THRESHOLD {
        return base_message(first, second);
    }
    let (one_a, one_b);
    let (mut alines, mut blines) = (splitlines(a, true), splitlines(b, true));
    if alines.len() == 1 && a.trim_matches(['\r', '\n']) == a {
        (one_a, one_b) = (format!("{a}\n"), format!("{b}\n"));
        (alines, blines) = (vec![one_a.as_str()], vec![one_b.as_str()]);
    }
    let (x, y) = common_shorten_repr(first, second);
    truncate_message(&format!("{x} != {y}"), &format!("\n{}", ndiff(&alines, &blines).concat()))
}

/// `assertNotEqual(first, second, msg)`: fails with `first == second`
/// when Python's `!=` is false.
///
/// ```
/// use iotests::pyfmt::unittest::assert_not_equal;
/// use serde_json::json;
/// assert_eq!(assert_not_equal(&json!(0), &json!(false), None).unwrap(), "0 == False");
/// assert_eq!(assert_not_equal(&json!(0), &json!(null), None), None);
/// ```
pub fn assert_not_equal(first: &Value, second: &Value, msg: Option<&str>) -> Option<String> {
    py_eq(first, second)
        .then(|| format_message(&format!("{} == {}", safe_repr(first, false), safe_repr(second, false)), msg))
}
