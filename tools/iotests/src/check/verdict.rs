//! From what a finished test process left behind to `pass` / `fail` /
//! `not run`: a pure function, so every rule is unit-tested without
//! processes.

/// How the test process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// It exited (or was killed by a signal); `0` is success.
    Finished {
        /// Whether the status was success.
        success: bool,
        /// `exit status N` / `killed by signal N`.
        description: String,
    },
    /// It ran past its timeout and was killed.
    Timeout,
    /// The user interrupted the run while it was going.
    Interrupted,
    /// It could not be started at all.
    SpawnFailed(String),
    /// The test binary has no libtest test for its module.
    NotInBinary(String),
}

/// What a test left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evidence {
    /// The last lines of its output.
    pub tail: String,
    /// The content of `<OUTPUT_DIR>/<name>.notrun`, if written.
    pub notrun: Option<String>,
    /// The content of `<OUTPUT_DIR>/<name>.casenotrun`, if written.
    pub casenotrun: Option<String>,
    /// The unified diff from `<name>.snap` to a `<name>.snap.new` that
    /// appeared, and the pending file's path.
    pub mismatch: Option<(String, String)>,
    /// The counts from libtest's `test result:` line, if it printed one.
    pub libtest: Option<LibtestSummary>,
}

/// libtest's `test result: ok. 1 passed; 0 failed; 0 ignored; …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LibtestSummary {
    /// Tests that passed.
    pub passed: usize,
    /// Tests that failed.
    pub failed: usize,
    /// Tests that were ignored.
    pub ignored: usize,
}

/// Find the last `test result:` line in libtest's output.
pub fn parse_libtest(output: &str) -> Option<LibtestSummary> {
    let line = output.lines().rev().find(|l| l.starts_with("test result: "))?;
    let count = |what: &str| {
        line.split([';', '.'])
            .filter_map(|part| part.trim().strip_suffix(what))
            .find_map(|n| n.trim().parse::<usize>().ok())
    };
    Some(LibtestSummary { passed: count(" passed")?, failed: count(" failed")?, ignored: count(" ignored")? })
}

/// A test's status, as `check` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `pass`
    Pass,
    /// `fail`
    Fail,
    /// `not run`
    NotRun,
}

impl Status {
    /// `check`'s word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::NotRun => "not run",
        }
    }
}

/// The verdict on one test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The status.
    pub status: Status,
    /// The one-line reason shown after the times.
    pub description: String,
    /// A block printed below the line: the snapshot diff, or the output tail.
    pub detail: Option<String>,
    /// Whether `detail` is a unified diff (colored on a terminal).
    pub detail_is_diff: bool,
    /// The cases reported as not run (`.casenotrun`), if any.
    pub casenotrun: Option<String>,
}

/// Decide, following `testrunner.do_run_test`: a failure is a failure (with
/// the snapshot diff if insta left one, else the output's tail); on success a
/// `.notrun` file means `not run`; a run in which libtest ran nothing is
/// `not run` when it ignored the test and a failure otherwise.
pub fn decide(exit: &Exit, ev: &Evidence) -> Verdict {
    let fail = |description: String, detail: Option<String>| Verdict {
        status: Status::Fail,
        description,
        detail: detail.filter(|d| !d.trim().is_empty()),
        detail_is_diff: false,
        casenotrun: None,
    };
    let tail = || Some(ev.tail.clone());
    match exit {
        Exit::Timeout => fail("timeout".into(), tail()),
        Exit::Interrupted => Verdict {
            status: Status::NotRun,
            description: "Interrupted by user".into(),
            detail: None,
            detail_is_diff: false,
            casenotrun: None,
        },
        Exit::SpawnFailed(why) => fail(format!("cannot run the test binary: {why}"), None),
        Exit::NotInBinary(module) => {
            fail(format!("no libtest test `{module}::…` in the test binary (see its --list)"), None)
        }
        Exit::Finished { success: false, description } => match &ev.mismatch {
            Some((diff, path)) => {
                Verdict { detail_is_diff: true, ..fail(format!("output mismatch (see {path})"), Some(diff.clone())) }
            }
            None => fail(format!("failed, {description}"), tail()),
        },
        Exit::Finished { success: true, .. } => {
            if let Some(reason) = &ev.notrun {
                return Verdict {
                    status: Status::NotRun,
                    description: reason.trim().to_string(),
                    detail: None,
                    detail_is_diff: false,
                    casenotrun: None,
                };
            }
            match ev.libtest {
                Some(s) if s.passed == 0 && s.failed == 0 && s.ignored > 0 => Verdict {
                    status: Status::NotRun,
                    description: "ignored".into(),
                    detail: None,
                    detail_is_diff: false,
                    casenotrun: None,
                },
                Some(s) if s.passed == 0 => fail("the test binary ran no test".into(), tail()),
                _ => Verdict {
                    status: Status::Pass,
                    description: String::new(),
                    detail: None,
                    detail_is_diff: false,
                    casenotrun: ev.casenotrun.clone().filter(|c| !c.trim().is_empty()),
                },
            }
        }
    }
}

/// The last `n` lines of `text`.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].iter().map(|l| format!("{l}\n")).collect()
}

/// What to show of a failed test's output: from the first panic message on
/// (a backtrace would otherwise push it out of a plain tail), at most 30
/// lines; without a panic, the last 20 lines.
pub fn failure_excerpt(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    match lines.iter().position(|l| l.starts_with("thread '") && l.contains(" panicked at ")) {
        Some(i) => {
            let end = (i + 30).min(lines.len());
            let mut s: String = lines[i..end].iter().map(|l| format!("{l}\n")).collect();
            if end < lines.len() {
                s.push_str(&format!("[... {} more lines]\n", lines.len() - end));
            }
            s
        }
        None => last_lines(text, 20),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Exit {
        Exit::Finished { success: true, description: "exit status 0".into() }
    }

    fn failed() -> Exit {
        Exit::Finished { success: false, description: "exit status 101".into() }
    }

    #[test]
    fn libtest_summary() {
        let out = "running 1 test\ntest t::x ... ok\n\ntest result: ok. 1 passed; 0 failed; 2 ignored; 0 measured; 9 filtered out; finished in 0.01s\n";
        assert_eq!(parse_libtest(out), Some(LibtestSummary { passed: 1, failed: 0, ignored: 2 }));
        assert_eq!(parse_libtest("nothing"), None);
    }

    #[test]
    fn rules() {
        let ev = Evidence { tail: "boom\n".into(), ..Default::default() };
        assert_eq!(decide(&ok(), &ev).status, Status::Pass);
        let v = decide(&failed(), &ev);
        assert_eq!(
            (v.status, v.description.as_str(), v.detail.as_deref()),
            (Status::Fail, "failed, exit status 101", Some("boom\n"))
        );

        let mm = Evidence { mismatch: Some(("-a\n+b\n".into(), "s/x.snap.new".into())), ..ev.clone() };
        let v = decide(&failed(), &mm);
        assert_eq!(v.description, "output mismatch (see s/x.snap.new)");
        assert!(v.detail_is_diff);

        let nr = Evidence { notrun: Some("not suitable for this image format\n".into()), ..ev.clone() };
        let v = decide(&ok(), &nr);
        assert_eq!((v.status, v.description.as_str()), (Status::NotRun, "not suitable for this image format"));
        assert_eq!(decide(&failed(), &nr).status, Status::Fail);

        assert_eq!(decide(&Exit::Timeout, &ev).description, "timeout");
        assert_eq!(decide(&Exit::Interrupted, &ev).status, Status::NotRun);

        let cnr = Evidence { casenotrun: Some("case x not run\n".into()), ..ev.clone() };
        assert_eq!(decide(&ok(), &cnr).casenotrun.as_deref(), Some("case x not run\n"));

        let ignored = Evidence { libtest: Some(LibtestSummary { passed: 0, failed: 0, ignored: 1 }), ..ev.clone() };
        assert_eq!(decide(&ok(), &ignored).status, Status::NotRun);
        let none = Evidence { libtest: Some(LibtestSummary { passed: 0, failed: 0, ignored: 0 }), ..ev };
        assert_eq!(decide(&ok(), &none).status, Status::Fail);
    }

    #[test]
    fn tail() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(last_lines("", 2), "");
        let out: String = std::iter::once("running 1 test\nthread 'x' (7) panicked at a.rs:1:\nboom\n".to_string())
            .chain((0..40).map(|i| format!("frame {i}\n")))
            .collect();
        let e = failure_excerpt(&out);
        assert!(e.starts_with("thread 'x' (7) panicked at a.rs:1:\nboom\n"), "{e}");
        assert!(e.ends_with("[... 12 more lines]\n"), "{e}");
    }
}
