//! `ReproducibleTestResult` + `TextTestRunner`'s output: the progress
//! characters, the verbose lines, the error blocks and the summary.

use std::io::Write;

use crate::log::Log;

const SEPARATOR1: &str = "======================================================================";
const SEPARATOR2: &str = "----------------------------------------------------------------------";

/// A failed or errored case: its description and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFailure {
    /// `test_x (__main__.Class.test_x)` (and the docstring's first line).
    pub description: String,
    /// The traceback text unittest prints: `Traceback (most recent call
    /// last):`, where it was raised, and `AssertionError: …`.
    pub text: String,
}

/// What a suite run came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SuiteResult {
    /// Cases started (`Ran N tests`).
    pub tests_run: usize,
    /// Cases (and sub-tests) skipped.
    pub skipped: usize,
    /// `F`: failed assertions.
    pub failures: Vec<CaseFailure>,
    /// `E`: other errors, panics, `notrun()`.
    pub errors: Vec<CaseFailure>,
    /// `x`: failures of `@expected_failure` methods.
    pub expected_failures: usize,
    /// `u`: `@expected_failure` methods that passed.
    pub unexpected_successes: Vec<String>,
    /// Set when a case called `notrun()` (Python's `sys.exit()` inside a
    /// case, an `E` for unittest): `check` then reports the test as not run.
    pub not_run: Option<String>,
}

impl SuiteResult {
    /// unittest's `wasSuccessful()`.
    pub fn was_successful(&self) -> bool {
        self.failures.is_empty() && self.errors.is_empty() && self.unexpected_successes.is_empty()
    }

    /// The `ERROR:` / `FAIL:` blocks and `UNEXPECTED SUCCESS:` lines, as
    /// unittest prints them.
    pub fn error_blocks(&self) -> String {
        let mut s = String::new();
        for (flavour, list) in [("ERROR", &self.errors), ("FAIL", &self.failures)] {
            for f in list {
                s.push_str(&format!("{SEPARATOR1}\n{flavour}: {}\n{SEPARATOR2}\n{}\n", f.description, f.text));
            }
        }
        if !self.unexpected_successes.is_empty() {
            s.push_str(SEPARATOR1);
            s.push('\n');
            for d in &self.unexpected_successes {
                s.push_str(&format!("UNEXPECTED SUCCESS: {d}\n"));
            }
        }
        s
    }

    /// The summary line: `OK`, `FAILED (failures=1, errors=2)`, … after
    /// `ReproducibleStreamWrapper` dropped a lone ` (skipped=N)`.
    pub fn summary(&self) -> String {
        let mut infos = Vec::new();
        let head = if self.was_successful() {
            "OK"
        } else {
            if !self.failures.is_empty() {
                infos.push(format!("failures={}", self.failures.len()));
            }
            if !self.errors.is_empty() {
                infos.push(format!("errors={}", self.errors.len()));
            }
            "FAILED"
        };
        if self.skipped > 0 {
            infos.push(format!("skipped={}", self.skipped));
        }
        if self.expected_failures > 0 {
            infos.push(format!("expected failures={}", self.expected_failures));
        }
        if !self.unexpected_successes.is_empty() {
            infos.push(format!("unexpected successes={}", self.unexpected_successes.len()));
        }
        let tail = if infos.is_empty() { String::new() } else { reproducible(&format!(" ({})", infos.join(", "))) };
        format!("{head}{tail}\n")
    }
}

/// `ReproducibleStreamWrapper.write`: ` (skipped=N)` alone is dropped.
fn reproducible(text: &str) -> String {
    match text.strip_prefix(" (skipped=").and_then(|r| r.strip_suffix(')')) {
        Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => String::new(),
        _ => text.to_string(),
    }
}

/// How a part of a case ended badly, as unittest classifies it.
#[derive(Debug)]
pub(super) enum Bad {
    /// `F`, with the traceback text.
    Failure(String),
    /// `E`, with the traceback text.
    Error(String),
    /// A skip, with its reason.
    Skip(String),
}

/// The result object and its streams.
pub(crate) struct Reporter {
    log: Log,
    test: String,
    verbose: Option<Box<dyn Write + Send>>,
    /// unittest's `_newline`: whether the verbose stream is at a line start.
    newline: bool,
    result: SuiteResult,
}

impl Reporter {
    pub(super) fn new(log: Log, test: &str, verbose: Option<Box<dyn Write + Send>>) -> Self {
        Reporter { log, test: test.to_string(), verbose, newline: true, result: SuiteResult::default() }
    }

    fn verbose(&mut self, text: &str) {
        if let Some(w) = self.verbose.as_mut() {
            let _ = w.write_all(text.as_bytes());
            let _ = w.flush();
        }
    }

    fn dot(&mut self, c: &str) {
        self.log.record(c);
    }

    /// What both streams get (the summary).
    fn common(&mut self, text: &str) {
        self.log.record(text);
        self.verbose(text);
    }

    pub(super) fn start_test(&mut self, description: &str) {
        self.result.tests_run += 1;
        if self.verbose.is_some() {
            self.verbose(&format!("{description} ... "));
            self.newline = false;
        }
    }

    /// `_write_status`.
    fn write_status(&mut self, description: &str, subtest: bool, status: &str) {
        if self.verbose.is_none() {
            return;
        }
        if subtest || self.newline {
            if !self.newline {
                self.verbose("\n");
            }
            let indent = if subtest { "  " } else { "" };
            self.verbose(&format!("{indent}{description} ... "));
        }
        self.verbose(&format!("{status}\n"));
        self.newline = true;
    }

    pub(super) fn add_success(&mut self, description: &str) {
        self.dot(".");
        self.write_status(description, false, "ok");
    }

    /// `addSkip` as ReproducibleTestResult does it: a dot, and in verbose
    /// mode a bare line (no description, `_newline` untouched).
    pub(super) fn add_skip(&mut self, reason: &str) {
        self.result.skipped += 1;
        self.dot(".");
        self.verbose(&format!("skipped {}\n", super::py_repr(reason)));
    }

    /// `addFailure` / `addError` (and `addSubTest` with an error).
    pub(super) fn add_bad(&mut self, description: &str, subtest: bool, bad: Bad) {
        let (failure, text) = match bad {
            Bad::Skip(reason) => return self.add_skip(&reason),
            Bad::Failure(text) => (true, text),
            Bad::Error(text) => (false, text),
        };
        let flavour = if failure { "FAIL" } else { "ERROR" };
        // Right away on stderr, with context, in case the run never ends.
        eprintln!("{}: {flavour}: {description}\n{text}--- last log lines ---\n{}", self.test, self.log.tail(20));
        self.dot(if failure { "F" } else { "E" });
        self.write_status(description, subtest, flavour);
        let f = CaseFailure { description: description.to_string(), text };
        if failure { self.result.failures.push(f) } else { self.result.errors.push(f) }
    }

    pub(super) fn add_expected_failure(&mut self) {
        self.result.expected_failures += 1;
        self.dot("x");
        if self.verbose.is_some() {
            self.verbose("expected failure\n");
        }
    }

    pub(super) fn add_unexpected_success(&mut self, description: &str) {
        self.result.unexpected_successes.push(description.to_string());
        self.dot("u");
        if self.verbose.is_some() {
            self.verbose("unexpected success\n");
        }
    }

    pub(super) fn note_not_run(&mut self, reason: &str) {
        self.result.not_run.get_or_insert_with(|| reason.to_string());
    }

    pub(super) fn finish(mut self) -> SuiteResult {
        self.common("\n");
        let blocks = self.result.error_blocks();
        self.common(&blocks);
        self.common(&format!("{SEPARATOR2}\nRan {} tests\n\n", self.result.tests_run));
        let summary = self.result.summary();
        self.common(&summary);
        self.result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_as_the_reproducible_wrapper_writes_it() {
        let mut r = SuiteResult { skipped: 2, ..Default::default() };
        assert_eq!(r.summary(), "OK\n");
        r.expected_failures = 1;
        assert_eq!(r.summary(), "OK (skipped=2, expected failures=1)\n");
        r.unexpected_successes.push("x".into());
        assert_eq!(r.summary(), "FAILED (skipped=2, expected failures=1, unexpected successes=1)\n");
        let r = SuiteResult {
            errors: vec![CaseFailure { description: "d".into(), text: "t".into() }],
            ..Default::default()
        };
        assert_eq!(r.summary(), "FAILED (errors=1)\n");
    }
}
