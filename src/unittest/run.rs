//! unittest's `TestCase.run` and `_Outcome.testPartExecutor`: the parts of
//! a case, how each part's outcome is classified, sub-tests.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;

use super::class::{Attrs, TestMethod};
use super::report::{Bad, Reporter};
use super::{Case, TestCase};
use crate::error::{Error, Result};
use crate::qmp::Kwargs;

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

/// How a part ended: fine, or why not.
enum PartEnd {
    Ok,
    /// unittest's `_ShouldStop`: end the method quietly.
    Stop,
    Bad(Error),
    Panic(String),
}

fn guarded(f: impl FnOnce() -> Result<()>) -> PartEnd {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => PartEnd::Ok,
        Ok(Err(Error::StopTest)) => PartEnd::Stop,
        Ok(Err(e)) => PartEnd::Bad(e),
        Err(p) => PartEnd::Panic(match crate::harness::timeout::take_panic_location() {
            Some(at) => format!("{}\n  at {at}", panic_message(&*p)),
            None => panic_message(&*p),
        }),
    }
}

/// The traceback unittest prints for an exception raised in `method`.
fn traceback(method: &str, e: &Error) -> String {
    let mut s = String::from("Traceback (most recent call last):\n");
    if let Some(loc) = e.location() {
        s.push_str(&format!("  File \"{}\", line {}, in {method}\n", loc.file(), loc.line()));
    }
    match e {
        Error::Assertion { message, .. } if message.is_empty() => s.push_str("AssertionError\n"),
        Error::Assertion { message, .. } => s.push_str(&format!("AssertionError: {message}\n")),
        // notrun() is Python's sys.exit(0) after writing the .notrun file.
        Error::NotRun(_) => s.push_str("SystemExit: 0\n"),
        // Python's text when it names the exception itself.
        Error::Unexpected(text) | Error::Os { message: text, .. } => s.push_str(&format!("{text}\n")),
        other => s.push_str(&format!("iotests.Error: {other}\n")),
    }
    s
}

/// The part's error as unittest classifies it, noting a `notrun()`.
fn classify(t: &Case<'_>, e: Error) -> Bad {
    match e {
        Error::Skip(reason) => Bad::Skip(reason),
        e @ Error::Assertion { .. } => Bad::Failure(traceback(t.method_name(), &e)),
        e => {
            if let (Error::NotRun(reason), Some(r)) = (&e, t.reporter) {
                lock(r).note_not_run(reason);
            }
            Bad::Error(traceback(t.method_name(), &e))
        }
    }
}

fn lock(r: &Mutex<Reporter>) -> std::sync::MutexGuard<'_, Reporter> {
    r.lock().unwrap_or_else(|e| e.into_inner())
}

/// `_Outcome`: whether every part so far went well.
struct Outcome<'c, 'a> {
    case: &'c Case<'a>,
    reporter: &'c Mutex<Reporter>,
    success: bool,
    expecting_failure: bool,
    expected_failure: Option<String>,
}

impl Outcome<'_, '_> {
    /// `testPartExecutor`.
    fn part(&mut self, f: impl FnOnce() -> Result<()>) {
        let description = self.case.long_description();
        let bad = match guarded(f) {
            PartEnd::Ok | PartEnd::Stop => return,
            PartEnd::Bad(e) => classify(self.case, e),
            PartEnd::Panic(msg) => Bad::Error(format!("Traceback (most recent call last):\nRust panic: {msg}\n")),
        };
        match bad {
            Bad::Skip(reason) => {
                self.success = false;
                lock(self.reporter).add_skip(&reason);
            }
            Bad::Failure(text) | Bad::Error(text) if self.expecting_failure => {
                self.expected_failure = Some(text);
            }
            bad => {
                self.success = false;
                lock(self.reporter).add_bad(&description, false, bad);
            }
        }
    }
}

/// unittest's `TestCase.run` for one method of class `C`.
pub(super) fn run_case<C: TestCase>(case: &Case<'_>, method: &TestMethod<C>, attrs: &[Attrs<C>]) {
    let Some(reporter) = case.reporter else { return };
    let description = case.long_description();
    lock(reporter).start_test(&description);
    if let Some(reason) = method.skip_reason(case) {
        lock(reporter).add_skip(&reason);
        return;
    }
    let mut out = Outcome { case, reporter, success: true, expecting_failure: false, expected_failure: None };
    let mut instance = None;
    out.part(|| {
        let mut inst = C::new(case)?;
        for a in attrs {
            a(&mut inst);
        }
        instance = Some(inst);
        Ok(())
    });
    if let Some(mut inst) = instance.take() {
        out.part(|| inst.set_up(case));
        if out.success {
            out.expecting_failure = method.is_expected_failure();
            case.state().expecting_failure = out.expecting_failure;
            out.part(|| method.call(&mut inst, case));
            case.state().expecting_failure = false;
            out.expecting_failure = false;
            out.part(|| inst.tear_down(case));
        }
        // A VM or child owned by the case is shut down by its Drop: a panic
        // there belongs to this case too (Python's doCleanups).
        out.part(move || {
            drop(inst);
            Ok(())
        });
    }
    let state = std::mem::take(&mut *case.state());
    if state.failed_subtest {
        out.success = false;
    }
    let expected = out.expected_failure.take().or(state.expected_failure);
    if out.success {
        let mut r = lock(reporter);
        if method.is_expected_failure() {
            match expected {
                Some(_) => r.add_expected_failure(),
                None => r.add_unexpected_success(&description),
            }
        } else {
            r.add_success(&description);
        }
    }
}

/// `setUpClass` / `tearDownClass`: an error is reported as
/// `setUpClass (__main__.Class)` (`E`, or a skip); returns whether it
/// went well.
pub(super) fn class_fixture(t: &Case<'_>, which: &str, f: &(dyn Fn(&Case<'_>) -> Result<()> + Send + Sync)) -> bool {
    let description = format!("{which} ({}.{})", super::MODULE, t.class_name());
    fixture(t, which, &description, f)
}

/// `setUpModule` / `tearDownModule`: an error is reported as
/// `setUpModule (__main__)`; returns whether it went well.
pub(super) fn module_fixture(t: &Case<'_>, which: &str, f: &(dyn Fn(&Case<'_>) -> Result<()> + Send + Sync)) -> bool {
    let description = format!("{which} ({})", super::MODULE);
    fixture(t, which, &description, f)
}

/// unittest's `_createClassOrModuleLevelException` around a class or
/// module fixture.
fn fixture(t: &Case<'_>, which: &str, description: &str, f: &(dyn Fn(&Case<'_>) -> Result<()> + Send + Sync)) -> bool {
    let Some(reporter) = t.reporter else { return true };
    let bad = match guarded(|| f(t)) {
        PartEnd::Ok | PartEnd::Stop => return true,
        PartEnd::Bad(Error::Skip(reason)) => Bad::Skip(reason),
        PartEnd::Bad(e) => {
            if let Error::NotRun(reason) = &e {
                lock(reporter).note_not_run(reason);
            }
            Bad::Error(traceback(which, &e))
        }
        PartEnd::Panic(msg) => Bad::Error(format!("Traceback (most recent call last):\nRust panic: {msg}\n")),
    };
    lock(reporter).add_bad(description, false, bad);
    false
}

/// unittest's `subTest` context manager around `body`.
pub(super) fn sub_test(
    t: &Case<'_>,
    msg: Option<&str>,
    params: Kwargs,
    body: impl FnOnce() -> Result<()>,
) -> Result<()> {
    let Some(reporter) = t.reporter else { return body() };
    t.state().subtests.push((msg.map(str::to_string), params));
    let end = guarded(body);
    let description = t.subtest_description();
    let result = match end {
        PartEnd::Ok => Ok(()),
        PartEnd::Stop => Err(Error::StopTest),
        PartEnd::Bad(Error::Skip(reason)) => {
            // A skipped sub-test makes the method no success either.
            t.state().failed_subtest = true;
            lock(reporter).add_skip(&reason);
            Ok(())
        }
        PartEnd::Bad(e) => record_subtest(t, reporter, &description, classify(t, e)),
        PartEnd::Panic(msg) => record_subtest(
            t,
            reporter,
            &description,
            Bad::Error(format!("Traceback (most recent call last):\nRust panic: {msg}\n")),
        ),
    };
    t.state().subtests.pop();
    result
}

fn record_subtest(t: &Case<'_>, reporter: &Mutex<Reporter>, description: &str, bad: Bad) -> Result<()> {
    let mut st = t.state();
    if st.expecting_failure {
        // Python stops the method now and registers the expected failure.
        st.expected_failure = Some(match bad {
            Bad::Failure(s) | Bad::Error(s) | Bad::Skip(s) => s,
        });
        return Err(Error::StopTest);
    }
    st.failed_subtest = true;
    drop(st);
    lock(reporter).add_bad(description, true, bad);
    Ok(())
}
