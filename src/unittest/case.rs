//! [`Case`]: the running test case, what unittest's `self` knows besides
//! the class's own attributes.

use std::ops::Deref;
use std::sync::Mutex;

use serde_json::Value;

use super::MODULE;
use super::report::Reporter;
use crate::context::TestContext;
use crate::error::{Error, Result};
use crate::qmp::Kwargs;

/// The running case: the test's context (it derefs to [`TestContext`], so
/// `t.log(…)`, `t.imgfmt()`, `t.vm()` … work) plus which case this is and
/// the unittest machinery Python reaches through `self` (`skipTest`,
/// `subTest`, `case_skip`).
pub struct Case<'a> {
    ctx: &'a TestContext,
    class: &'a str,
    method: &'a str,
    doc: Option<&'a str>,
    /// Where sub-test outcomes go; `None` outside a suite run.
    pub(super) reporter: Option<&'a Mutex<Reporter>>,
    /// Whether the method runs under `@expectedFailure`, and the failure
    /// that was expected (for sub-tests).
    pub(super) state: Mutex<CaseState>,
}

#[derive(Debug, Default)]
pub(super) struct CaseState {
    pub(super) expecting_failure: bool,
    pub(super) expected_failure: Option<String>,
    /// A sub-test failed: the method does not count as a success.
    pub(super) failed_subtest: bool,
    /// The parameters of the enclosing `subTest`s, innermost last.
    pub(super) subtests: Vec<(Option<String>, Kwargs)>,
}

impl std::fmt::Debug for Case<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case").field("class", &self.class).field("method", &self.method).finish()
    }
}

impl Deref for Case<'_> {
    type Target = TestContext;
    fn deref(&self) -> &TestContext {
        self.ctx
    }
}

impl<'a> Case<'a> {
    /// Case `method` of `class` in test context `ctx`, outside a suite run
    /// (sub-tests then just run their body).
    ///
    /// ```
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw")).unwrap();
    /// let c = iotests::unittest::Case::new(&t, "TestA", "test_b");
    /// assert_eq!(c.description(), "test_b (__main__.TestA.test_b)");
    /// ```
    pub fn new(ctx: &'a TestContext, class: &'a str, method: &'a str) -> Case<'a> {
        Case { ctx, class, method, doc: None, reporter: None, state: Mutex::default() }
    }

    pub(super) fn in_run(
        ctx: &'a TestContext,
        class: &'a str,
        method: &'a str,
        doc: Option<&'a str>,
        reporter: &'a Mutex<Reporter>,
    ) -> Case<'a> {
        Case { ctx, class, method, doc, reporter: Some(reporter), state: Mutex::default() }
    }

    pub(super) fn state(&self) -> std::sync::MutexGuard<'_, CaseState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The test's context.
    pub fn ctx(&self) -> &'a TestContext {
        self.ctx
    }

    /// The class name (`TestUnaligned`).
    pub fn class_name(&self) -> &'a str {
        self.class
    }

    /// The method name (`test_unaligned`); empty for `setUpClass`.
    pub fn method_name(&self) -> &'a str {
        self.method
    }

    /// Python's `str(test_case)`: `test_x (__main__.Class.test_x)`, as in
    /// skip messages; `setUpClass (__main__.Class)` for the class-level
    /// fixtures.
    pub fn description(&self) -> String {
        if self.method.is_empty() {
            format!("{} ({MODULE}.{})", "setUpClass", self.class)
        } else {
            format!("{} ({MODULE}.{}.{})", self.method, self.class, self.method)
        }
    }

    /// unittest's `getDescription(test)`: [`description`](Case::description)
    /// and the first line of the method's docstring (doc comment), if any.
    pub fn long_description(&self) -> String {
        match self.doc {
            Some(doc) => format!("{}\n{doc}", self.description()),
            None => self.description(),
        }
    }

    /// unittest's `self.skipTest(reason)`: the error that skips the case.
    /// `return Err(t.skip_test("…"))`.
    pub fn skip_test(&self, reason: impl Into<String>) -> Error {
        Error::Skip(reason.into())
    }

    /// unittest's `self.fail(msg)`: a failed assertion raised here.
    #[track_caller]
    pub fn fail(&self, msg: impl Into<String>) -> Error {
        Error::fail(msg)
    }

    /// QMPTestCase's `case_skip(reason)`: note the case as not run
    /// (`.casenotrun`) and skip it. Returns the error to return:
    /// `return Err(t.case_skip("…"))`.
    pub fn case_skip(&self, reason: &str) -> Error {
        match self.ctx.case_notrun(reason) {
            Ok(()) => Error::Skip(reason.to_string()),
            Err(e) => e,
        }
    }

    /// `@iotests.skip_if_unsupported(formats, read_only)` as the method's
    /// first line (the attribute form is usually nicer).
    pub fn skip_if_unsupported(&self, formats: &[&str], read_only: bool) -> Result<()> {
        match super::decorators::skip_if_unsupported(self, &formats, read_only)? {
            true => Ok(()),
            false => Err(Error::Skip(String::new())),
        }
    }

    /// `@iotests.skip_for_formats(formats)` as the method's first line.
    pub fn skip_for_formats(&self, formats: &[&str]) -> Result<()> {
        super::decorators::skip_for_formats(self, &formats).map(drop)
    }

    /// `self.maxDiff = limit`: how long an assertion's diff may be before
    /// the failure message only says how long it is (`None`: no limit;
    /// unittest's default is 640 characters). It holds until the end of
    /// this case.
    ///
    /// ```no_run
    /// # use iotests::prelude::*;
    /// # fn f(t: &Case, expected_events: Vec<serde_json::Value>, log: Vec<serde_json::Value>) -> Result<()> {
    /// t.set_max_diff(None);
    /// assert_equal!(expected_events, log);
    /// # Ok(()) }
    /// ```
    pub fn set_max_diff(&self, limit: Option<usize>) {
        crate::pyfmt::unittest::set_max_diff(limit);
    }

    /// unittest's `with self.subTest(**params):` — run `body` as a
    /// sub-test: a failure in it is reported (as `F`/`E` with the
    /// parameters in its description) and the method goes on, but does not
    /// count as a success.
    ///
    /// ```no_run
    /// # use iotests::prelude::*;
    /// # fn f(t: &Case) -> Result<()> {
    /// for i in 0..3 {
    ///     t.sub_test(kwargs! { i: i }, || {
    ///         assert_equal!(i % 2, 0);
    ///         Ok(())
    ///     })?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn sub_test(&self, params: impl Into<Kwargs>, body: impl FnOnce() -> Result<()>) -> Result<()> {
        self.sub_test_with(None, params, body)
    }

    /// unittest's `with self.subTest(msg, **params):`.
    pub fn sub_test_with(
        &self,
        msg: Option<&str>,
        params: impl Into<Kwargs>,
        body: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        super::run::sub_test(self, msg, params.into(), body)
    }

    /// The description of the current sub-test: Python's `str(_SubTest)`,
    /// `test_x (__main__.C.test_x) [msg] (i=1, j='a')`.
    pub(super) fn subtest_description(&self) -> String {
        let st = self.state();
        let mut parts = Vec::new();
        // The innermost message wins, as `_SubTest._message` is the
        // innermost subTest's.
        if let Some((Some(msg), _)) = st.subtests.last() {
            parts.push(format!("[{msg}]"));
        }
        let mut seen: Vec<String> = Vec::new();
        let mut params = Vec::new();
        for (_, kw) in st.subtests.iter().rev() {
            let Value::Object(map) = kw.to_args_as_written() else { continue };
            for (k, v) in map {
                if !seen.contains(&k) {
                    params.push(format!("{k}={}", crate::json::py_value_repr(&v)));
                    seen.push(k);
                }
            }
        }
        if !params.is_empty() {
            parts.push(format!("({})", params.join(", ")));
        }
        let sub = if parts.is_empty() { "(<subtest>)".to_string() } else { parts.join(" ") };
        format!("{} {sub}", self.description())
    }
}
