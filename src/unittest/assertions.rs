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
use crate::pyfmt::unittest as msgs;
use crate::pyfmt::value::{PyError, py_truthy};

/// An operand as the Python object it stands for.
fn value(v: &(impl Serialize + ?Sized)) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::Usage(format!("an assertion operand is not a Python value: {e}")))
}

/// A builder's answer as the crate's result: the message as an
/// [`Error::Assertion`] raised at the caller.
#[track_caller]
fn raise(message: Option<String>) -> Result<()> {
    match message {
        None => Ok(()),
        Some(m) => Err(Error::fail(m)),
    }
}

/// As [`raise`], for builders that can also raise another exception.
#[track_caller]
fn raise_outcome(outcome: msgs::Outcome) -> Result<()> {
    match outcome {
        Ok(message) => raise(message),
        Err(PyError::Exception { kind, message }) => Err(Error::python(kind, message)),
        Err(e) => Err(Error::Usage(e.to_string())),
    }
}

/// Python's truthiness of the object.
///
/// ```
/// use serde_json::json;
/// assert!(!iotests::unittest::assertions::truthy(&json!({})));
/// assert!(iotests::unittest::assertions::truthy(&json!([0])));
/// ```
pub fn truthy(v: &Value) -> bool {
    py_truthy(v)
}

macro_rules! two {
    ($(#[$doc:meta])* $name:ident, $raise:ident) => {
        $(#[$doc])*
        #[track_caller]
        pub fn $name(
            a: &(impl Serialize + ?Sized),
            b: &(impl Serialize + ?Sized),
            msg: Option<&str>,
        ) -> Result<()> {
            $raise(msgs::$name(&value(a)?, &value(b)?, msg))
        }
    };
}

macro_rules! one {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[track_caller]
        pub fn $name(a: &(impl Serialize + ?Sized), msg: Option<&str>) -> Result<()> {
            raise(msgs::$name(&value(a)?, msg))
        }
    };
}

two!(
    /// `assertEqual(first, second, msg)`, with unittest's diff of dicts,
    /// lists and multi-line strings.
    assert_equal, raise
);
two!(
    /// `assertNotEqual(first, second, msg)`.
    assert_not_equal, raise
);
two!(
    /// `assertIn(member, container, msg)` (list item, dict key, substring).
    assert_in, raise_outcome
);
two!(
    /// `assertNotIn(member, container, msg)`.
    assert_not_in, raise_outcome
);
two!(
    /// `assertGreater(a, b, msg)`.
    assert_greater, raise_outcome
);
two!(
    /// `assertGreaterEqual(a, b, msg)`.
    assert_greater_equal, raise_outcome
);
two!(
    /// `assertLess(a, b, msg)`.
    assert_less, raise_outcome
);
two!(
    /// `assertLessEqual(a, b, msg)`.
    assert_less_equal, raise_outcome
);
two!(
    /// `assertIs(a, b, msg)` for `None`, `True` and `False`.
    assert_is, raise_outcome
);
two!(
    /// `assertIsNot(a, b, msg)` for `None`, `True` and `False`.
    assert_is_not, raise_outcome
);
two!(
    /// `assertCountEqual(first, second, msg)`.
    assert_count_equal, raise_outcome
);
one!(
    /// `assertTrue(expr, msg)`: Python's truthiness.
    assert_true
);
one!(
    /// `assertFalse(expr, msg)`.
    assert_false
);
one!(
    /// `assertIsNone(obj, msg)`.
    assert_is_none
);
one!(
    /// `assertIsNotNone(obj, msg)`.
    assert_is_not_none
);

/// `assertAlmostEqual(first, second, places=7, msg)`.
#[track_caller]
pub fn assert_almost_equal(
    first: &(impl Serialize + ?Sized),
    second: &(impl Serialize + ?Sized),
    places: Option<i32>,
    msg: Option<&str>,
) -> Result<()> {
    raise_outcome(msgs::assert_almost_equal(&value(first)?, &value(second)?, places, None, msg))
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
    assert_raises_msg(result, name, None)
}

/// `assertRaises(exception, msg=msg)`: as [`assert_raises`], with `msg`
/// after the standard message when nothing was raised.
///
/// ```
/// let e = iotests::unittest::assertions::assert_raises_msg(Ok(()), "CalledProcessError", Some("should fail"));
/// assert_eq!(e.unwrap_err().to_string(), "CalledProcessError not raised : should fail");
/// ```
#[track_caller]
pub fn assert_raises_msg<T>(result: Result<T>, name: &str, msg: Option<&str>) -> Result<Error> {
    match (result, msg) {
        (Ok(_), None) => Err(Error::fail(format!("{name} not raised"))),
        (Ok(_), Some(msg)) => Err(Error::fail(format!("{name} not raised : {msg}"))),
        (Err(e), _) => Ok(e),
    }
}

/// `assertRegex(text, regex, msg)` (Python's `re.search`).
#[track_caller]
pub fn assert_regex(text: &str, regex: &str, msg: Option<&str>) -> Result<()> {
    raise_outcome(msgs::assert_regex(text, regex, msg))
}

/// `assertNotRegex(text, regex, msg)`.
#[track_caller]
pub fn assert_not_regex(text: &str, regex: &str, msg: Option<&str>) -> Result<()> {
    raise_outcome(msgs::assert_not_regex(text, regex, msg))
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
            &$a, &$b, ::std::option::Option::Some($p), $crate::__iotests_msg!($($($msg)+)?)))
    };
    ($a:expr, $b:expr $(, $($msg:tt)+)?) => {
        $crate::__iotests_assertion!($crate::unittest::assertions::assert_almost_equal(
            &$a, &$b, ::std::option::Option::None, $crate::__iotests_msg!($($($msg)+)?)))
    };
}

/// `self.assertIs(a, b[, msg])` for `None`, `True` and `False`.
#[macro_export]
macro_rules! assert_is {
    ($a:expr, $b:expr $(, $($msg:tt)+)?) => {
        $crate::__iotests_assertion!($crate::unittest::assertions::assert_is(&$a, &$b, $crate::__iotests_msg!($($($msg)+)?)))
    };
}

/// `self.assertCountEqual(a, b[, msg])`.
#[macro_export]
macro_rules! assert_count_equal {
    ($a:expr, $b:expr $(, $($msg:tt)+)?) => {
        $crate::__iotests_assertion!($crate::unittest::assertions::assert_count_equal(&$a, &$b, $crate::__iotests_msg!($($($msg)+)?)))
    };
}

/// `self.assertRegex(text, regex[, msg])`.
#[macro_export]
macro_rules! assert_regex {
    ($text:expr, $re:expr $(, $($msg:tt)+)?) => {
        $crate::__iotests_assertion!($crate::unittest::assertions::assert_regex(
            ::std::convert::AsRef::<str>::as_ref(&$text), ::std::convert::AsRef::<str>::as_ref(&$re),
            $crate::__iotests_msg!($($($msg)+)?)))
    };
}

/// `with self.assertRaises(Name[, msg=…]): expr`: `expr` (a `Result`)
/// must be an error; evaluates to it. The optional message follows the
/// name, as in the other assertion macros.
///
/// ```
/// fn f() -> iotests::Result<()> {
///     let e = iotests::assert_raises!(iotests::os::remove("/nonexistent"), "FileNotFoundError");
///     assert!(e.to_string().starts_with("FileNotFoundError"));
///     Ok(())
/// }
/// assert!(f().is_ok());
/// fn g() -> iotests::Result<()> {
///     let _ = iotests::assert_raises!(Ok::<(), iotests::Error>(()), "OSError", "{} must fail", "g");
///     Ok(())
/// }
/// assert_eq!(g().unwrap_err().to_string(), "OSError not raised : g must fail");
/// ```
#[macro_export]
macro_rules! assert_raises {
    ($e:expr, $name:expr $(, $($msg:tt)+)?) => {
        match $crate::unittest::assertions::assert_raises_msg($e, $name, $crate::__iotests_msg!($($($msg)+)?)) {
            ::std::result::Result::Ok(err) => err,
            ::std::result::Result::Err(e) => return ::std::result::Result::Err(::std::convert::From::from(e)),
        }
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
