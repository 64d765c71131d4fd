//! iotests' test decorators, as the checks
//! [`#[iotests::test_case]`](crate::test_case) runs before a decorated
//! method: `Ok(true)` runs it, `Ok(false)` returns without running it (a
//! success, as Python's wrapper returns `None`), an error ends the case
//! (a skip for `case_skip`).

use super::Case;
use crate::error::Result;
use crate::harness::{py_list, unsupported_formats};

/// The formats of `@skip_if_unsupported(required_formats)`: a list or
/// array of names.
pub trait FormatList {
    /// The names.
    fn format_names(&self) -> Vec<&str>;
}

impl<S: AsRef<str>> FormatList for [S] {
    fn format_names(&self) -> Vec<&str> {
        self.iter().map(AsRef::as_ref).collect()
    }
}

impl<S: AsRef<str>, const N: usize> FormatList for [S; N] {
    fn format_names(&self) -> Vec<&str> {
        self.iter().map(AsRef::as_ref).collect()
    }
}

impl<S: AsRef<str>> FormatList for Vec<S> {
    fn format_names(&self) -> Vec<&str> {
        self.iter().map(AsRef::as_ref).collect()
    }
}

impl<T: FormatList + ?Sized> FormatList for &T {
    fn format_names(&self) -> Vec<&str> {
        (**self).format_names()
    }
}

/// The formats of `@skip_for_formats(formats)`, with Python's `in`: a
/// list or tuple holds names, but a bare string — `('qed')` is not a tuple
/// in Python — matches any substring of it.
pub trait FormatSet {
    /// Python's `imgfmt in formats`.
    fn holds(&self, imgfmt: &str) -> bool;
}

impl FormatSet for str {
    fn holds(&self, imgfmt: &str) -> bool {
        self.contains(imgfmt)
    }
}

impl FormatSet for String {
    fn holds(&self, imgfmt: &str) -> bool {
        self.contains(imgfmt)
    }
}

impl<S: AsRef<str>> FormatSet for [S] {
    fn holds(&self, imgfmt: &str) -> bool {
        self.iter().any(|f| f.as_ref() == imgfmt)
    }
}

impl<S: AsRef<str>, const N: usize> FormatSet for [S; N] {
    fn holds(&self, imgfmt: &str) -> bool {
        self.as_slice().holds(imgfmt)
    }
}

impl<S: AsRef<str>> FormatSet for Vec<S> {
    fn holds(&self, imgfmt: &str) -> bool {
        self.as_slice().holds(imgfmt)
    }
}

impl<T: FormatSet + ?Sized> FormatSet for &T {
    fn holds(&self, imgfmt: &str) -> bool {
        (**self).holds(imgfmt)
    }
}

/// `@iotests.skip_if_unsupported(required_formats, read_only)`: skip the
/// case (`case_skip`) when QEMU lacks any of the formats:
/// `<case>: formats ['quorum'] are not whitelisted`.
pub fn skip_if_unsupported(t: &Case<'_>, formats: &(impl FormatList + ?Sized), read_only: bool) -> Result<bool> {
    let missing = unsupported_formats(t.env(), &formats.format_names(), read_only)?;
    if missing.is_empty() {
        return Ok(true);
    }
    let msg = format!("{}: formats {} are not whitelisted", t.description(), py_list(&missing));
    Err(t.case_skip(&msg))
}

/// `@iotests.skip_for_formats(formats)`: skip the case (`case_skip`) for
/// these formats: `<case>: Skipped for format qed`.
///
/// ```
/// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("qed")).unwrap();
/// # let c = iotests::unittest::Case::new(&t, "C", "test_x");
/// use iotests::unittest::decorators::skip_for_formats;
/// // ('qed') is a string in Python: `in` looks for a substring.
/// assert!(skip_for_formats(&c, &"qed").is_err());
/// assert!(skip_for_formats(&c, &["raw", "vmdk"]).unwrap());
/// ```
pub fn skip_for_formats(t: &Case<'_>, formats: &(impl FormatSet + ?Sized)) -> Result<bool> {
    if !formats.holds(t.imgfmt()) {
        return Ok(true);
    }
    Err(t.case_skip(&format!("{}: Skipped for format {}", t.description(), t.imgfmt())))
}

/// `@iotests.skip_if_user_is_root`: as root, note the case as not run
/// (`case_notrun`) and return without running it — a success, as in
/// Python.
pub fn skip_if_user_is_root(t: &Case<'_>) -> Result<bool> {
    // SAFETY: getuid() has no preconditions and cannot fail.
    if unsafe { libc::getuid() } != 0 {
        return Ok(true);
    }
    t.case_notrun(&format!("{}: cannot be run as root", t.description()))?;
    Ok(false)
}
