//! Python's view of a JSON value for the VM helpers (`==`, `str()`, type
//! names): the semantics live in [`crate::pyfmt`]; these are the names the
//! helpers use.

pub(crate) use crate::pyfmt::value::{py_eq, py_str, py_type};
