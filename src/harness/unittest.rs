//! unittest-style tests: iotests' `iotests.main()`, which runs the module's
//! `unittest.TestCase` classes with upstream's `ReproducibleTestRunner`.
//!
//! A ported class is a struct implementing [`TestCase`]: `set_up` builds it
//! (Python's `setUp` assigns `self.vm = …`; here it returns the value, so no
//! field is ever "not set up yet"), `tear_down` cleans up, and its
//! `test_*` methods are the cases. The run follows unittest exactly:
//!
//! * classes in name order (`loadTestsFromModule` walks `dir(module)`),
//!   their cases in name order (`getTestCaseNames` sorts);
//! * per case: `set_up`; if that worked, the method, then `tear_down` —
//!   also when the method failed or panicked;
//! * each part's outcome is reported as it happens: `.` for success and for
//!   a skip (the reproducible runner prints a dot, not `s`), `F` for a
//!   failed assertion ([`Error::Assertion`]), `E` for any other error or a
//!   panic;
//! * then the summary, as `ReproducibleStreamWrapper` rewrites it: a
//!   newline, the `ERROR:` and `FAIL:` blocks, a rule of 70 `-`,
//!   `Ran N tests` (always plural, no time), a blank line, and `OK` or
//!   `FAILED (failures=N, errors=M[, skipped=K])` (` (skipped=K)` after
//!   `OK` is dropped).
//!
//! Everything goes into the test's log, between what the cases print, as it
//! does on Python's stdout. Under `IOTESTS_DEBUG` (iotests' `-d`, verbosity
//! 2) the `test_x (__main__.Class.test_x) ... ok` lines go to stdout live
//! while the log keeps the dots, so the snapshot still compares.
//!
//! A case that returns [`Error::NotRun`] or hits a missing binary ends the
//! whole test as not run (in Python, `notrun()` inside a case exits the
//! process; unittest would report that as an error).

use std::io::Write;
use std::ops::Deref;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use crate::context::TestContext;
use crate::error::{Error, Result};
use crate::log::Log;

use super::probes;

/// The module name in case descriptions: an iotest runs as `__main__`.
pub const MODULE: &str = "__main__";

const SEPARATOR1: &str = "======================================================================";
const SEPARATOR2: &str = "----------------------------------------------------------------------";

/// A unittest-style test class (Python's `iotests.QMPTestCase` subclass).
///
/// ```
/// use iotests::harness::{Case, TestCase};
/// struct TestSimple { value: u32 }
/// impl TestCase for TestSimple {
///     fn set_up(_t: &Case) -> iotests::Result<Self> {
///         Ok(TestSimple { value: 42 })
///     }
/// }
/// impl TestSimple {
///     fn test_value(&mut self, t: &Case) -> iotests::Result<()> {
///         t.print(format!("value is {}", self.value));
///         iotests::harness::assert_true(self.value == 42, "wrong value")
///     }
/// }
/// # let _ = iotests::harness::Class::new::<TestSimple>("TestSimple", &[("test_value", TestSimple::test_value)]);
/// ```
pub trait TestCase: Sized + 'static {
    /// `setUp`: build the case's state. An error here skips the method and
    /// `tear_down`, as in unittest.
    fn set_up(t: &Case<'_>) -> Result<Self>;

    /// `tearDown`: runs after the method, whether it passed or not.
    fn tear_down(&mut self, _t: &Case<'_>) -> Result<()> {
        Ok(())
    }
}

/// A `test_*` method of class `C`.
pub type Method<C> = fn(&mut C, &Case<'_>) -> Result<()>;

/// The running case: the test's context (it derefs to [`TestContext`], so
/// `t.log(…)`, `t.imgfmt()`, … work) plus which case this is.
#[derive(Debug, Clone, Copy)]
pub struct Case<'a> {
    ctx: &'a TestContext,
    class: &'static str,
    method: &'static str,
}

impl Deref for Case<'_> {
    type Target = TestContext;
    fn deref(&self) -> &TestContext {
        self.ctx
    }
}

impl<'a> Case<'a> {
    /// A case of `class` named `method` in test context `ctx`.
    pub fn new(ctx: &'a TestContext, class: &'static str, method: &'static str) -> Case<'a> {
        Case { ctx, class, method }
    }

    /// The test's context.
    pub fn ctx(&self) -> &'a TestContext {
        self.ctx
    }

    /// The class name (`TestUnaligned`).
    pub fn class_name(&self) -> &'static str {
        self.class
    }

    /// The method name (`test_unaligned`).
    pub fn method_name(&self) -> &'static str {
        self.method
    }

    /// Python's `str(test_case)`: `test_x (__main__.Class.test_x)`, as in
    /// skip messages and verbose output.
    ///
    /// ```
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw")).unwrap();
    /// let c = iotests::harness::Case::new(&t, "TestA", "test_b");
    /// assert_eq!(c.description(), "test_b (__main__.TestA.test_b)");
    /// ```
    pub fn description(&self) -> String {
        format!("{} ({MODULE}.{}.{})", self.method, self.class, self.method)
    }

    /// QMPTestCase's `case_skip(reason)`: note the case as not run and skip
    /// it. Returns the error to return: `return Err(t.case_skip("…"))`.
    pub fn case_skip(&self, reason: &str) -> Error {
        match self.ctx.case_notrun(reason) {
            Ok(()) => Error::Skip(reason.to_string()),
            Err(e) => e,
        }
    }

    /// `@iotests.skip_if_unsupported(formats, read_only)`, as the method's
    /// first line: `t.skip_if_unsupported(&["quorum"], false)?;`.
    pub fn skip_if_unsupported(&self, formats: &[&str], read_only: bool) -> Result<()> {
        let missing = probes::unsupported_formats(self.env(), formats, read_only)?;
        if missing.is_empty() {
            return Ok(());
        }
        let msg = format!("{}: formats {} are not whitelisted", self.description(), probes::py_list(&missing));
        Err(self.case_skip(&msg))
    }

    /// `@iotests.skip_for_formats(formats)`: `t.skip_for_formats(&["luks"])?;`.
    pub fn skip_for_formats(&self, formats: &[&str]) -> Result<()> {
        if !formats.contains(&self.imgfmt()) {
            return Ok(());
        }
        Err(self.case_skip(&format!("{}: Skipped for format {}", self.description(), self.imgfmt())))
    }

    /// `@iotests.skip_if_user_is_root`: `t.skip_if_user_is_root()?;`.
    /// Python notes the case as not run and returns without running it
    /// (verbose mode says `ok`); here it is skipped (verbose mode says
    /// `skipped`); the dot and the count are the same.
    pub fn skip_if_user_is_root(&self) -> Result<()> {
        // SAFETY: getuid() has no preconditions and cannot fail.
        if unsafe { libc::getuid() } != 0 {
            return Ok(());
        }
        let msg = format!("{}: cannot be run as root", self.description());
        self.ctx.case_notrun(&msg)?;
        Err(Error::Skip(msg))
    }
}

/// unittest's `assertTrue(cond, msg)` as a value: `Err(Error::Assertion)`.
///
/// ```
/// assert!(iotests::harness::assert_true(1 + 1 == 2, "math").is_ok());
/// assert!(matches!(iotests::harness::assert_true(false, "no"), Err(e) if e.assertion_message() == Some("no")));
/// ```
pub fn assert_true(cond: bool, msg: impl Into<String>) -> Result<()> {
    if cond { Ok(()) } else { Err(Error::fail(msg)) }
}

type CaseFn = Arc<dyn Fn(&Case<'_>, &mut Reporter<'_>) + Send + Sync>;

/// A class and its cases.
#[derive(Clone)]
pub struct Class {
    name: &'static str,
    cases: Vec<(&'static str, CaseFn)>,
}

impl std::fmt::Debug for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Class").field("name", &self.name).field("cases", &self.case_names()).finish()
    }
}

impl Class {
    /// Class `C` named `name` with its `test_*` methods (any order: they
    /// run sorted by name).
    pub fn new<C: TestCase>(name: &'static str, methods: &[(&'static str, Method<C>)]) -> Class {
        let cases = methods
            .iter()
            .map(|&(m, f)| (m, Arc::new(move |c: &Case<'_>, r: &mut Reporter<'_>| run_case::<C>(c, f, r)) as CaseFn))
            .collect();
        Class { name, cases }
    }

    /// The class name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The case names, in run order.
    pub fn case_names(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self.cases.iter().map(|(n, _)| *n).collect();
        v.sort();
        v
    }
}

/// A test's classes: what `unittest.main()` finds in the module.
///
/// ```
/// use iotests::harness::{Case, Class, Suite, TestCase};
/// struct TestB;
/// impl TestCase for TestB {
///     fn set_up(_t: &Case) -> iotests::Result<Self> { Ok(TestB) }
/// }
/// fn test_y(_s: &mut TestB, t: &Case) -> iotests::Result<()> { t.print("y"); Ok(()) }
/// fn test_x(_s: &mut TestB, _t: &Case) -> iotests::Result<()> { Err(iotests::Error::Skip("no".into())) }
/// let suite = Suite::new(vec![Class::new::<TestB>("TestB", &[("test_y", test_y), ("test_x", test_x)])]);
/// assert_eq!(suite.case_ids(), ["TestB.test_x", "TestB.test_y"]);
/// let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
/// let result = suite.run(&t, None);
/// assert!(result.was_successful());
/// assert_eq!(t.contents(), ".y\n.\n----------------------------------------------------------------------\nRan 2 tests\n\nOK\n");
/// # Ok::<(), iotests::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Suite {
    classes: Vec<Class>,
}

impl Suite {
    /// A suite of `classes` (any order: they run sorted by name).
    pub fn new(classes: Vec<Class>) -> Suite {
        let mut classes = classes;
        classes.sort_by_key(|c| c.name);
        for c in &mut classes {
            c.cases.sort_by_key(|(n, _)| *n);
        }
        Suite { classes }
    }

    /// `Class.test_x` for every case, in run order.
    pub fn case_ids(&self) -> Vec<String> {
        self.classes.iter().flat_map(|c| c.cases.iter().map(move |(m, _)| format!("{}.{m}", c.name))).collect()
    }

    /// Run every case in `ctx`, reporting into its log (and, when `verbose`
    /// is given, unittest's verbosity-2 lines into it).
    pub fn run(&self, ctx: &TestContext, verbose: Option<&mut dyn Write>) -> SuiteResult {
        let mut r = Reporter::new(ctx.logger().clone(), ctx.name(), verbose);
        'classes: for class in &self.classes {
            for (method, f) in &class.cases {
                f(&Case::new(ctx, class.name, method), &mut r);
                if r.result.not_run.is_some() {
                    break 'classes;
                }
            }
        }
        r.finish()
    }
}

/// A failed or errored case: its description and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFailure {
    /// `test_x (__main__.Class.test_x)`.
    pub description: String,
    /// What went wrong (unittest prints the traceback here).
    pub text: String,
}

/// What a suite run came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SuiteResult {
    /// Cases started (`Ran N tests`).
    pub tests_run: usize,
    /// Cases skipped.
    pub skipped: usize,
    /// `F`: failed assertions.
    pub failures: Vec<CaseFailure>,
    /// `E`: other errors and panics.
    pub errors: Vec<CaseFailure>,
    /// Set when a case ended the whole test as not run.
    pub not_run: Option<String>,
}

impl SuiteResult {
    /// unittest's `wasSuccessful()`.
    pub fn was_successful(&self) -> bool {
        self.failures.is_empty() && self.errors.is_empty()
    }

    /// The `ERROR:` / `FAIL:` blocks, as unittest prints them.
    pub fn error_blocks(&self) -> String {
        let mut s = String::new();
        for (flavour, list) in [("ERROR", &self.errors), ("FAIL", &self.failures)] {
            for f in list {
                s.push_str(&format!("{SEPARATOR1}\n{flavour}: {}\n{SEPARATOR2}\n{}\n", f.description, f.text));
            }
        }
        s
    }
}

/// How one part of a case (set_up, method, tear_down) ended badly.
enum Bad {
    Err(Error),
    Panic(String),
}

/// The text of a panic payload.
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}

fn guarded<T>(f: impl FnOnce() -> Result<T>) -> std::result::Result<T, Bad> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Bad::Err(e)),
        Err(p) => Err(Bad::Panic(panic_message(&*p))),
    }
}

/// unittest's `TestCase.run`: set_up, then (if that worked) the method and
/// tear_down, each part's outcome reported as it happens.
fn run_case<C: TestCase>(case: &Case<'_>, method: Method<C>, r: &mut Reporter<'_>) {
    r.start_test(case);
    let mut success = true;
    let mut part = |r: &mut Reporter<'_>, res: std::result::Result<(), Bad>| {
        if let Err(bad) = res {
            success = false;
            r.add_bad(case, bad);
        }
    };
    match guarded(|| C::set_up(case)) {
        Ok(mut inst) => {
            part(r, guarded(|| method(&mut inst, case)));
            part(r, guarded(|| inst.tear_down(case)));
            // A VM or child owned by the case is shut down by its Drop; a
            // panic there belongs to this case too.
            part(
                r,
                guarded(move || {
                    drop(inst);
                    Ok(())
                }),
            );
        }
        Err(bad) => part(r, Err(bad)),
    }
    if success {
        r.add_success(case);
    }
}

/// `ReproducibleTestResult` + `TextTestRunner`'s output.
struct Reporter<'a> {
    log: Log,
    test: String,
    verbose: Option<&'a mut dyn Write>,
    /// unittest's `_newline`: whether the verbose stream is at a line start.
    newline: bool,
    result: SuiteResult,
}

impl<'a> Reporter<'a> {
    fn new(log: Log, test: &str, verbose: Option<&'a mut dyn Write>) -> Self {
        Reporter { log, test: test.to_string(), verbose, newline: true, result: SuiteResult::default() }
    }

    fn verbose(&mut self, text: &str) {
        if let Some(w) = self.verbose.as_mut() {
            let _ = w.write_all(text.as_bytes());
            let _ = w.flush();
        }
    }

    /// What both streams get (the summary).
    fn common(&mut self, text: &str) {
        self.log.record(text);
        self.verbose(text);
    }

    fn start_test(&mut self, case: &Case<'_>) {
        self.result.tests_run += 1;
        if self.verbose.is_some() {
            self.verbose(&format!("{} ... ", case.description()));
            self.newline = false;
        }
    }

    fn write_status(&mut self, case: &Case<'_>, status: &str) {
        if self.newline {
            self.verbose(&format!("{} ... ", case.description()));
        }
        self.verbose(&format!("{status}\n"));
        self.newline = true;
    }

    fn add_success(&mut self, case: &Case<'_>) {
        self.log.record(".");
        if self.verbose.is_some() {
            self.write_status(case, "ok");
        }
    }

    fn add_bad(&mut self, case: &Case<'_>, bad: Bad) {
        let (failure, text) = match bad {
            Bad::Err(Error::Skip(reason)) => return self.add_skip(&reason),
            Bad::Err(Error::NotRun(reason)) => {
                self.result.not_run.get_or_insert(reason);
                return;
            }
            Bad::Err(e @ Error::MissingBinary { .. }) => {
                self.result.not_run.get_or_insert(e.to_string());
                return;
            }
            Bad::Err(Error::Assertion { message: msg, .. }) => (true, format!("AssertionError: {msg}\n")),
            Bad::Err(e) => (false, format!("Error: {e}\n")),
            Bad::Panic(msg) => (false, format!("panicked: {msg}\n")),
        };
        let f = CaseFailure { description: case.description(), text };
        let flavour = if failure { "FAIL" } else { "ERROR" };
        // Right away on stderr, with context, in case the run never ends.
        eprintln!(
            "{}: {flavour}: {}\n{}--- last log lines ---\n{}",
            self.test,
            f.description,
            f.text,
            self.log.tail(20)
        );
        self.log.record(if failure { "F" } else { "E" });
        if self.verbose.is_some() {
            self.write_status(case, flavour);
        }
        if failure { self.result.failures.push(f) } else { self.result.errors.push(f) }
    }

    fn add_skip(&mut self, reason: &str) {
        self.result.skipped += 1;
        self.log.record(".");
        // ReproducibleTestResult.addSkip: a bare writeln, no description and
        // no `_newline` update.
        self.verbose(&format!("skipped {}\n", py_repr(reason)));
    }

    fn finish(mut self) -> SuiteResult {
        if self.result.not_run.is_some() {
            return self.result;
        }
        self.common("\n");
        let blocks = self.result.error_blocks();
        self.common(&blocks);
        self.common(&format!("{SEPARATOR2}\nRan {} tests\n\n", self.result.tests_run));
        let r = &self.result;
        let summary = if r.was_successful() {
            "OK\n".to_string()
        } else {
            let mut infos = Vec::new();
            if !r.failures.is_empty() {
                infos.push(format!("failures={}", r.failures.len()));
            }
            if !r.errors.is_empty() {
                infos.push(format!("errors={}", r.errors.len()));
            }
            if r.skipped > 0 {
                infos.push(format!("skipped={}", r.skipped));
            }
            format!("FAILED ({})\n", infos.join(", "))
        };
        self.common(&summary);
        self.result
    }
}

pub use crate::json::py_str_repr as py_repr;
