//! Python's text for values and test failures, byte for byte: `pprint`,
//! `difflib` and the messages of `unittest`'s assertions (CPython 3.11),
//! for the objects `json.loads` builds.
//!
//! A port of an iotest that fails should say what upstream says: unittest
//! prints the `AssertionError`'s text, and for dicts and lists that text
//! holds an `ndiff` of their `pprint.pformat` renderings.
//!
//! * [`value`] is Python's view of a [`serde_json::Value`]: `==`, `<`,
//!   truthiness, `repr()`.
//! * [`pprint`] is `pprint.pformat`.
//! * [`difflib`] is `SequenceMatcher` and `ndiff`.
//! * [`unittest`] builds the assertion messages.
//!
//! ```
//! use iotests::pyfmt::unittest::assert_equal;
//! use serde_json::json;
//! let got = json!({"status": "running", "len": 1024});
//! let want = json!({"status": "ready", "len": 1024});
//! assert_eq!(
//!     assert_equal(&got, &want, None).unwrap(),
//!     "{'status': 'running', 'len': 1024} != {'status': 'ready', 'len': 1024}\n\
//!      - {'len': 1024, 'status': 'running'}\n\
//!      ?                           ^^^^^^\n\n\
//!      + {'len': 1024, 'status': 'ready'}\n\
//!      ?                           ^^^^\n"
//! );
//! ```

pub mod difflib;
mod number;
pub mod pprint;
#[cfg(test)]
mod tests;
pub mod unittest;
pub mod value;
