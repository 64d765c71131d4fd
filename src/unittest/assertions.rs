//! unittest's `assert*` methods, with Python's semantics and messages.
//!
//! Each is a function returning [`Error::Assertion`] on failure (for
//! composing) and a macro that returns it from the calling function, like
//! Python's `raise`: `self.assertEqual(a, b, 'msg')` is
//! `assert_equal!(a, b, "msg");`. Operands are anything `serde::Serialize`
//! (numbers, strings, `Option`, vectors, JSON values), compared as the
//! objects `json.loads` would build: `1 == 1.0 == True`, `None`, Python's
//! truthiness and ordering. The message after the operands may be a
//! `format!` string with arguments, or any string expression.
//!
//! ```
//! use iotests::{assert_equal, assert_in, assert_true};
//! fn check(n: u64, name: &str) -> iotests::Result<()> {
//!     assert_true!(n > 0);
//!     assert_in!("drive", name, "{name} is not a drive");
//!     assert_equal!(n, 2);
//!     Ok(())
//! }
//! assert!(check(2, "drive0").is_ok());
//! assert_eq!(check(3, "drive0").unwrap_err().to_string(), "3 != 2");
//! assert_eq!(check(2, "x").unwrap_err().to_string(), "'drive' not found in 'x' : x is not a drive");
//! ```

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::vm::pyval;

/// An operand as the Python object it stands for.
fn value(v: &(impl Serialize + ?Sized)) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::Usage(format!("an assertion operand is not a Python value: {e}")))
}

/// unittest's `_formatMessage(msg, standardMsg)` with `longMessage`.
fn message(standard: String, msg: Option<&str>) -> String {
    match msg {
        Some(m) => format!("{standard} : {m}"),
        None => standard,
    }
}

#[track_caller]
fn check(ok: bool, standard: impl FnOnce() -> String, msg: Option<&str>) -> Result<()> {
    if ok { Ok(()) } else { Err(Error::fail(message(standard(), msg))) }
}

/// Python's `safe_repr`.
fn repr(v: &Value) -> String {
    pyval::py_repr(v)
}

/// Python's truthiness of the object.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// `assertEqual(first, second, msg)`.
#[track_caller]
pub fn assert_equal(
    first: &(impl Serialize + ?Sized),
    second: &(impl Serialize + ?Sized),
    msg: Option<&str>,
) -> Result<()> {
    let (a, b) = (value(first)?, value(second)?);
    if pyval::py_eq(&a, &b) {
        return Ok(());
    }
    Err(Error::fail(pyval::assert_equal_message(&a, &b, msg)))
}

/// `assertNotEqual(first, second, msg)`.
#[track_caller]
pub fn assert_not_equal(
    first: &(impl Serialize + ?Sized),
    second: &(impl Serialize + ?Sized),
    msg: Option<&str>,
) -> Result<()> {
    let (a, b) = (value(first)?, value(second)?);
    check(!pyval::py_eq(&a, &b), || format!("{} == {}", repr(&a), repr(&b)), msg)
}

/// `assertTrue(expr, msg)`.
#[track_caller]
pub fn assert_true(expr: &(impl Serialize + ?Sized), msg: Option<&str>) -> Result<()> {
    let v = value(expr)?;
    check(truthy(&v), || format!("{} is not true", repr(&v)), msg)
}

/// `assertFalse(expr, msg)`.
#[track_caller]
pub fn assert_false(expr: &(impl Serialize + ?Sized), msg: Option<&str>) -> Result<()> {
    let v = value(expr)?;
    check(!truthy(&v), || format!("{} is not false", repr(&v)), msg)
}

/// `assertIsNone(obj, msg)`.
#[track_caller]
pub fn assert_is_none(obj: &(impl Serialize + ?Sized), msg: Option<&str>) -> Result<()> {
    let v = value(obj)?;
    check(v.is_null(), || format!("{} is not None", repr(&v)), msg)
}

/// `assertIsNotNone(obj, msg)`.
#[track_caller]
pub fn assert_is_not_none(obj: &(impl Serialize + ?Sized), msg: Option<&str>) -> Result<()> {
    let v = value(obj)?;
    check(!v.is_null(), || "unexpectedly None".to_string(), msg)
}

/// Python's `member in container` (list item, dict key, substring).
fn contains(member: &Value, container: &Value) -> Result<bool> {
    match (container, member) {
        (Value::Array(items), m) => Ok(items.iter().any(|i| pyval::py_eq(i, m))),
        (Value::Object(map), Value::String(k)) => Ok(map.contains_key(k)),
        (Value::Object(_), _) => Ok(false),
        (Value::String(s), Value::String(m)) => Ok(s.contains(m.as_str())),
        (c, m) => Err(Error::python(
            "TypeError",
            format!("'in <{}>' requires string as left operand, not {}", pyval::py_type(c), pyval::py_type(m)),
        )),
    }
}

/// `assertIn(member, container, msg)`.
#[track_caller]
pub fn assert_in(
    member: &(impl Serialize + ?Sized),
    container: &(impl Serialize + ?Sized),
    msg: Option<&str>,
) -> Result<()> {
    let (m, c) = (value(member)?, value(container)?);
    let found = contains(&m, &c)?;
    check(found, || format!("{} not found in {}", repr(&m), repr(&c)), msg)
}

/// `assertNotIn(member, container, msg)`.
#[track_caller]
pub fn assert_not_in(
    member: &(impl Serialize + ?Sized),
    container: &(impl Serialize + ?Sized),
    msg: Option<&str>,
) -> Result<()> {
    let (m, c) = (value(member)?, value(container)?);
    let found = contains(&m, &c)?;
    check(!found, || format!("{} unexpectedly found in {}", repr(&m), repr(&c)), msg)
}

/// Python's ordering of two numbers or two strings.
fn compare(a: &Value, b: &Value, op: &str) -> Result<std::cmp::Ordering> {
    let num = |v: &Value| match v {
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::Number(n) => n.as_f64(),
        _ => None,
    };
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        return x.partial_cmp(&y).ok_or_else(|| Error::python("ValueError", "NaN"));
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        _ => Err(Error::python(
            "TypeError",
            format!("'{op}' not supported between instances of '{}' and '{}'", pyval::py_type(a), pyval::py_type(b)),
        )),
    }
}

macro_rules! ordering {
    ($(#[$doc:meta])* $name:ident, $op:literal, $words:literal, $test:expr) => {
        $(#[$doc])*
        #[track_caller]
        pub fn $name(a: &(impl Serialize + ?Sized), b: &(impl Serialize + ?Sized), msg: Option<&str>) -> Result<()> {
            let (x, y) = (value(a)?, value(b)?);
            let ord = compare(&x, &y, $op)?;
            let test: fn(std::cmp::Ordering) -> bool = $test;
            check(test(ord), || format!("{} {} {}", repr(&x), $words, repr(&y)), msg)
        }
    };
}

ordering!(
    /// `assertGreater(a, b, msg)`.
    assert_greater, ">", "not greater than", |o| o.is_gt()
);
ordering!(
    /// `assertGreaterEqual(a, b, msg)`.
    assert_greater_equal, ">=", "not greater than or equal to", |o| o.is_ge()
);
ordering!(
    /// `assertLess(a, b, msg)`.
    assert_less, "<", "not less than", |o| o.is_lt()
);
ordering!(
    /// `assertLessEqual(a, b, msg)`.
    assert_less_equal, "<=", "not less than or equal to", |o| o.is_le()
);

/// `assertAlmostEqual(first, second, places=7, msg)`.
#[track_caller]
pub fn assert_almost_equal(first: f64, second: f64, places: i32, msg: Option<&str>) -> Result<()> {
    if first == second {
        return Ok(());
    }
    let diff = (first - second).abs();
    let scale = 10f64.powi(places);
    let ok = (diff * scale).round() / scale == 0.0;
    let f = |x: f64| crate::json::py_float_repr(x);
    check(ok, || format!("{} != {} within {places} places ({} difference)", f(first), f(second), f(diff)), msg)
}

/// `assertRaises(exception)`: `result` must be an error, which is
/// returned; `Ok` fails with `<name> not raised`.
///
/// ```
/// let r: iotests::Result<()> = Err(iotests::Error::Usage("x".into()));
/// assert!(iotests::unittest::assertions::assert_raises(r, "TypeError").is_ok());
/// let e = iotests::unittest::assertions::assert_raises(Ok(()), "TypeError").unwrap_err();
/// assert_eq!(e.to_string(), "TypeError not raised");
/// ```
#[track_caller]
pub fn assert_raises<T>(result: Result<T>, name: &str) -> Result<Error> {
    match result {
        Ok(_) => Err(Error::fail(format!("{name} not raised"))),
        Err(e) => Ok(e),
    }
}

/// `assertRegex(text, regex, msg)` (Python's `re.search`).
#[track_caller]
pub fn assert_regex(text: &str, regex: &str, msg: Option<&str>) -> Result<()> {
    let re = regex::Regex::new(regex).map_err(|e| Error::python("re.error", e))?;
    check(
        re.is_match(text),
        || {
            format!(
                "Regex didn't match: {} not found in {}",
                crate::json::py_str_repr(regex),
                crate::json::py_str_repr(text)
            )
        },
        msg,
    )
}

/// Internal: run an assertion function and `return` its error.
#[doc(hidden)]
#[macro_export]
macro_rules! __iotests_assertion {
    ($call:expr) => {
        if let ::std::result::Result::Err(e) = $call {
            return ::std::result::Result::Err(::std::convert::From::from(e));
        }
    };
}

/// Internal: the optional message of an assertion macro.
#[doc(hidden)]
#[macro_export]
macro_rules! __iotests_msg {
    () => {
        ::std::option::Option::None::<&str>
    };
    ($fmt:literal $(, $arg:expr)* $(,)?) => {
        ::std::option::Option::Some(::std::format!($fmt $(, $arg)*).as_str())
    };
    ($msg:expr $(,)?) => {
        ::std::option::Option::Some(::std::convert::AsRef::<str>::as_ref(&$msg))
    };
}

/// `self.assertEqual(a, b[, msg])`: see [`unittest::assertions`](crate::unittest::assertions).
#[macro_export]
macro_rules! assert_equal {
    ($a:expr, $b:expr $(, $($msg:tt)+)?) => {
        $crate::__iotests_assertion!($crate::unittest::assertions::assert_equal(&$a, &$b, $crate::__iotests_msg!($($($msg)+)?)))
    };
}

/// `self.assertNotEqual(a, b[, msg])`.
#[macro_export]
macro_rules! assert_not_equal {
    ($a:expr, $b:expr $(, $($msg:tt)+)?) => {
        $crate::__iotests_assertion!($crate::unittest::assertions::assert_not_equal(&$a, &$b, $crate::__iotests_msg!($($($msg)+)?)))
    };
}

/// `self.assertIn(member, container[, msg])`.
#[macro_export]
macro_rules! assert_in {
    ($a:expr, $b:expr $(, $($msg:tt)+)?) => {
        $crate::__iotests_assertion!($crate::unittest::assertions::assert_in(&$a, &$b, $crate::__iotests_msg!($($($msg)+)?)))
    };
}

/// `self.assertNotIn(member, container[, msg])`.
#[macro_export]
macro_rules! assert_not_in {
    ($a:expr, $b:expr $(, $($msg:tt)+)?) => {
        $crate::__iotests_assertion!($crate::unittest::assertions::assert_not_in(&$a, &$b, $crate::__iotests_msg!($($($msg)+)?)))
    };
}

/// `self.assertGreater(a, b[, msg])`.
#[macro_export]
macro_rules! assert_greater {
    ($a:expr, $b:expr $(, $($msg:tt)+)?) => {
        $crate::__iotests_assertion!($crate::unittest::assertions::assert_greater(&$a, &$b, $crate::__iotests_msg!($($($msg)+)?)))
    };
}

/// `self.assertGreaterEqual(a, b[, msg])`.
#[macro_export]
macro_rules! assert_greater_equal {
    ($a:expr, $b:expr $(, $($msg:tt)+)?) => {
        $crate::__iotests_assertion!($crate::unittest::assertions::assert_greater_equal(&$a, &$b, $crate::__iotests_msg!($($($msg)+)?)))
    };
}

/// `self.assertLess(a, b[, msg])`.
#[macro_export]
macro_rules! assert_less {
    ($a:expr, $b:expr $(, $($msg:tt)+)?) => {
        $crate::__iotests_assertion!($crate::unittest::assertions::assert_less(&$a, &$b, $crate::__iotests_msg!($($($msg)+)?)))
    };
}

/// `self.assertLessEqual(a, b[, msg])`.
#[macro_export]
macro_rules! assert_less_equal {
    ($a:expr, $b:expr $(, $($msg:tt)+)?) => {
        $crate::__iotests_assertion!($crate::unittest::assertions::assert_less_equal(&$a, &$b, $crate::__iotests_msg!($($($msg)+)?)))
    };
}

/// `self.assertTrue(expr[, msg])`: Python's truthiness of `expr`.
#[macro_export]
macro_rules! assert_true {
    ($a:expr $(, $($msg:tt)+)?) => {
        $crate::__iotests_assertion!($crate::unittest::assertions::assert_true(&$a, $crate::__iotests_msg!($($($msg)+)?)))
    };
}

/// `self.assertFalse(expr[, msg])`.
#[macro_export]
macro_rules! assert_false {
    ($a:expr $(, $($msg:tt)+)?) => {
        $crate::__iotests_assertion!($crate::unittest::assertions::assert_false(&$a, $crate::__iotests_msg!($($($msg)+)?)))
    };
}

/// `self.assertIsNone(obj[, msg])`.
#[macro_export]
macro_rules! assert_is_none {
    ($a:expr $(, $($msg:tt)+)?) => {
        $crate::__iotests_assertion!($crate::unittest::assertions::assert_is_none(&$a, $crate::__iotests_msg!($($($msg)+)?)))
    };
}

/// `self.assertIsNotNone(obj[, msg])`.
#[macro_export]
macro_rules! assert_is_not_none {
    ($a:expr $(, $($msg:tt)+)?) => {
        $crate::__iotests_assertion!($crate::unittest::assertions::assert_is_not_none(&$a, $crate::__iotests_msg!($($($msg)+)?)))
    };
}

/// `self.assertAlmostEqual(a, b[, places=N][, msg])`.
#[macro_export]
macro_rules! assert_almost_equal {
    ($a:expr, $b:expr, places = $p:expr $(, $($msg:tt)+)?) => {
        $crate::__iotests_assertion!($crate::unittest::assertions::assert_almost_equal(
            ($a) as f64, ($b) as f64, $p, $crate::__iotests_msg!($($($msg)+)?)))
    };
    ($a:expr, $b:expr $(, $($msg:tt)+)?) => {
        $crate::__iotests_assertion!($crate::unittest::assertions::assert_almost_equal(
            ($a) as f64, ($b) as f64, 7, $crate::__iotests_msg!($($($msg)+)?)))
    };
}

/// Python's `assert cond[, msg]`: an `AssertionError` (unittest's `F`)
/// with `msg` or no text.
///
/// ```
/// fn f(x: u32) -> iotests::Result<()> {
///     iotests::ensure!(x > 1);
///     iotests::ensure!(x < 10, "too big: {x}");
///     Ok(())
/// }
/// assert_eq!(f(1).unwrap_err().to_string(), "");
/// assert_eq!(f(11).unwrap_err().to_string(), "too big: 11");
/// ```
#[macro_export]
macro_rules! ensure {
    ($cond:expr $(,)?) => {
        if !$cond {
            return ::std::result::Result::Err(::std::convert::From::from($crate::Error::fail("")));
        }
    };
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return ::std::result::Result::Err(::std::convert::From::from($crate::Error::fail(
                ::std::string::ToString::to_string($crate::__iotests_msg!($($msg)+).unwrap_or_default()))));
        }
    };
}
