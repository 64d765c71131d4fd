//! From what a finished test process left behind to `pass` / `fail` /
//! `not run`: a pure function, so every rule is unit-tested without
//! processes.

use std::process::ExitStatus;
use std::time::Duration;

use crate::proc;

/// How the test process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// It exited (or was killed by a signal); `0` is success.
    Finished {
        /// Whether the status was success.
        success: bool,
        /// The signal that killed it, if one did.
        signal: Option<i32>,
        /// `exit status N` / `killed by signal SIGX (N)`.
        description: String,
    },
    /// It ran past its limit (plus grace) and the runner stopped it.
    Timeout(Duration),
    /// The user interrupted the run while it was going.
    Interrupted,
    /// It could not be started (or waited for).
    SpawnFailed(String),
}

impl Exit {
    /// The exit of a reaped process.
    pub fn finished(status: ExitStatus) -> Exit {
        use std::os::unix::process::ExitStatusExt;
        Exit::Finished { success: status.success(), signal: status.signal(), description: proc::describe(status) }
    }
}

/// The test's actual output differs from its reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The unified diff from the reference to the actual output.
    pub diff: String,
    /// There is no reference yet: a new test (or a new variant).
    pub new: bool,
    /// Where to look: the pending snapshot written, or the `.out.bad` file.
    pub see: String,
}

/// What a test left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evidence {
    /// The end of its output, for failures (see [`failure_excerpt`]).
    pub tail: String,
    /// The content of `<OUTPUT_DIR>/<name>.notrun`, if written.
    pub notrun: Option<String>,
    /// The content of `<OUTPUT_DIR>/<name>.casenotrun`, if written.
    pub casenotrun: Option<String>,
    /// The content of `<OUTPUT_DIR>/<name>.xfail` (the declared reason), if
    /// the test failed as expected.
    pub xfail: Option<String>,
    /// Its actual output against its reference, when they differ.
    pub mismatch: Option<Mismatch>,
    /// Why its reference snapshot cannot be read, if it cannot.
    pub corrupt: Option<String>,
    /// The counts from libtest's `test result:` line, if it printed one.
    pub libtest: Option<LibtestSummary>,
    /// The reason after `... ignored, ` on its libtest line, if any.
    pub ignored_reason: Option<String>,
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

/// The reason libtest (or a libtest-compatible harness) printed for
/// ignoring `test`: `test <test> ... ignored, <reason>`.
pub fn ignored_reason(output: &str, test: &str) -> Option<String> {
    let prefix = format!("test {test} ... ignored, ");
    output.lines().find_map(|l| l.strip_prefix(&prefix)).map(|r| r.trim().to_string()).filter(|r| !r.is_empty())
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
    /// `xfail`: failed as its `xfail` declaration says it does here.
    Xfail,
}

impl Status {
    /// `check`'s word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::NotRun => "not run",
            Status::Xfail => "xfail",
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
    /// A block printed below the line: the diff, or the output's end.
    pub detail: Option<String>,
    /// Whether `detail` is a unified diff (colored on a terminal).
    pub detail_is_diff: bool,
    /// The cases reported as not run (`.casenotrun`), if any.
    pub casenotrun: Option<String>,
    /// A failure of the run rather than of the test's assertions (timeout,
    /// crash, could not start): a JUnit `<error>`.
    pub error: bool,
    /// Extra lines for the reader (scratch kept, leftovers killed).
    pub notes: Vec<String>,
}

impl Verdict {
    fn new(status: Status, description: impl Into<String>) -> Verdict {
        Verdict {
            status,
            description: description.into(),
            detail: None,
            detail_is_diff: false,
            casenotrun: None,
            error: false,
            notes: Vec::new(),
        }
    }

    fn with_detail(mut self, detail: &str) -> Verdict {
        self.detail = Some(detail.to_string()).filter(|d| !d.trim().is_empty());
        self
    }

    fn marked_error(mut self) -> Verdict {
        self.error = true;
        self
    }
}

/// Decide, following `testrunner.do_run_test`: a failure is a failure (with
/// the diff when the output differs from its reference, else the output's
/// end); on success a `.notrun` file means `not run`; a run in which libtest
/// ran nothing is `not run` when it ignored the test and a failure otherwise.
pub fn decide(exit: &Exit, ev: &Evidence) -> Verdict {
    let fail = |d: String| Verdict::new(Status::Fail, d);
    match exit {
        Exit::Timeout(limit) => fail(format!("timeout: did not stop within its {}s limit; killed", fmt_secs(*limit)))
            .with_detail(&ev.tail)
            .marked_error(),
        Exit::Interrupted => Verdict::new(Status::NotRun, "Interrupted by user"),
        Exit::SpawnFailed(why) => fail(format!("cannot run the test binary: {why}")).marked_error(),
        Exit::Finished { success: false, signal, description } => {
            if let Some(why) = &ev.corrupt {
                return fail(why.clone()).with_detail(&ev.tail);
            }
            if let Some(m) = &ev.mismatch {
                let mut d = if m.new {
                    format!("new: no reference snapshot yet (see {})", m.see)
                } else {
                    format!("output mismatch (see {})", m.see)
                };
                // A test killed by a signal may have written its output
                // first: the signal is the news, the diff its consequence.
                if signal.is_some() {
                    d = format!("failed, {description}; {d}");
                }
                // The diff says what differs; a process that died under the
                // test often says why: keep the library's note on it.
                let detail = format!("{}{}", m.diff, deaths_note(&ev.tail));
                return Verdict { detail_is_diff: true, ..fail(d).with_detail(&detail) };
            }
            let v = fail(format!("failed, {description}")).with_detail(&ev.tail);
            if signal.is_some() { v.marked_error() } else { v }
        }
        Exit::Finished { success: true, .. } => {
            if let Some(reason) = &ev.xfail {
                return Verdict::new(Status::Xfail, format!("expected failure: {}", reason.trim()));
            }
            if let Some(reason) = &ev.notrun {
                let reason = reason.trim();
                return Verdict::new(
                    Status::NotRun,
                    if reason.is_empty() { "not run (no reason given)" } else { reason },
                );
            }
            match ev.libtest {
                Some(s) if s.passed == 0 && s.failed == 0 && s.ignored > 0 => {
                    Verdict::new(Status::NotRun, ev.ignored_reason.clone().unwrap_or_else(|| "ignored".into()))
                }
                Some(s) if s.passed == 0 => {
                    fail("the test binary ran no such test".into()).with_detail(&ev.tail).marked_error()
                }
                _ => Verdict {
                    casenotrun: ev.casenotrun.clone().filter(|c| !c.trim().is_empty()),
                    ..Verdict::new(Status::Pass, "")
                },
            }
        }
    }
}

/// The header of the library's note on processes that died during a test
/// (`iotests::harness::Failure`, and a snapshot mismatch's message).
const DEATHS_HEADER: &str = "--- processes that died during the test ---";

/// The note on processes that died during the test, from its output (empty
/// when there is none): the header and its lines.
fn deaths_note(output: &str) -> String {
    let mut lines = output.lines().skip_while(|l| *l != DEATHS_HEADER);
    let Some(header) = lines.next() else { return String::new() };
    let died: Vec<&str> =
        lines.take_while(|l| !l.trim().is_empty() && !l.starts_with("--- ") && !l.starts_with("(at ")).collect();
    format!("{header}\n{}\n", died.join("\n"))
}

/// Seconds without a useless fraction: `300`, `0.5`.
pub fn fmt_secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 { format!("{s:.0}") } else { format!("{s}") }
}

/// Lines of libtest's own that say nothing about the failure.
fn libtest_noise(line: &str) -> bool {
    line.starts_with("running ")
        || line.starts_with("test result: ")
        || line == "failures:"
        || line.starts_with("    ") && !line.trim().contains(' ') && line.contains("::")
        || line.starts_with("note: run with `RUST_BACKTRACE=")
        || line.starts_with("error: test failed, to rerun")
        || (line.starts_with("test ") && (line.ends_with(" ... FAILED") || line.ends_with(" ... ok")))
}

/// How many lines of a failed test's output are shown.
const EXCERPT_LINES: usize = 50;

/// What to show of a failed test's output: its *last* lines, where the
/// failure is (libtest's own bookkeeping lines dropped). When the output is
/// longer, the first line of the panic message stays on top so the reader
/// sees what failed, followed by an elision marker.
pub fn failure_excerpt(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !libtest_noise(l)).collect();
    let lines: Vec<&str> = {
        // Drop blank lines at the end.
        let end = lines.iter().rposition(|l| !l.trim().is_empty()).map_or(0, |i| i + 1);
        lines[..end].to_vec()
    };
    let join = |ls: &[&str]| ls.iter().map(|l| format!("{l}\n")).collect::<String>();
    if lines.len() <= EXCERPT_LINES {
        return join(&lines);
    }
    let tail_start = lines.len() - EXCERPT_LINES;
    let panic = lines[..tail_start].iter().position(|l| l.starts_with("thread '") && l.contains(" panicked at "));
    match panic {
        Some(p) => {
            let head_end = (p + 2).min(tail_start);
            let omitted = tail_start - head_end;
            let marker = if omitted > 0 { format!("[... {omitted} lines omitted ...]\n") } else { String::new() };
            format!("{}{marker}{}", join(&lines[p..head_end]), join(&lines[tail_start..]))
        }
        None => format!("[... {tail_start} earlier lines ...]\n{}", join(&lines[tail_start..])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Exit {
        Exit::Finished { success: true, signal: None, description: "exit status 0".into() }
    }

    fn failed() -> Exit {
        Exit::Finished { success: false, signal: None, description: "exit status 101".into() }
    }

    #[test]
    fn libtest_summary_and_ignored_reasons() {
        let out = "running 1 test\ntest t::x ... ignored, not suitable for this image format\n\ntest result: ok. 0 passed; 0 failed; 1 ignored; 0 measured; 9 filtered out; finished in 0.01s\n";
        assert_eq!(parse_libtest(out), Some(LibtestSummary { passed: 0, failed: 0, ignored: 1 }));
        assert_eq!(ignored_reason(out, "t::x").as_deref(), Some("not suitable for this image format"));
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
        assert!(!v.error);

        let mm = Mismatch { diff: "-a\n+b\n".into(), new: false, see: "s/x.snap.new".into() };
        let v = decide(&failed(), &Evidence { mismatch: Some(mm.clone()), ..ev.clone() });
        assert_eq!(v.description, "output mismatch (see s/x.snap.new)");
        assert!(v.detail_is_diff);
        assert_eq!(v.detail.as_deref(), Some("-a\n+b\n"));
        // A process killed under the test is named below the diff.
        let died = "snapshot assertion for 'x' failed in line 1\n--- processes that died during the test ---\n\
                    qemu-io (pid 7) was killed by signal 2 (SIGINT): qemu-io -c x\n(at src/x.rs:1)\n";
        let v = decide(&failed(), &Evidence { mismatch: Some(mm.clone()), tail: died.into(), ..ev.clone() });
        assert_eq!(
            v.detail.as_deref(),
            Some(
                "-a\n+b\n--- processes that died during the test ---\n\
                 qemu-io (pid 7) was killed by signal 2 (SIGINT): qemu-io -c x\n"
            )
        );
        let v = decide(&failed(), &Evidence { mismatch: Some(Mismatch { new: true, ..mm }), ..ev.clone() });
        assert_eq!(v.description, "new: no reference snapshot yet (see s/x.snap.new)");

        let v = decide(&failed(), &Evidence { corrupt: Some("x.snap is corrupt".into()), ..ev.clone() });
        assert_eq!(v.description, "x.snap is corrupt");

        let nr = Evidence { notrun: Some("not suitable for this image format\n".into()), ..ev.clone() };
        let v = decide(&ok(), &nr);
        assert_eq!((v.status, v.description.as_str()), (Status::NotRun, "not suitable for this image format"));
        assert_eq!(decide(&failed(), &nr).status, Status::Fail);
        let empty = Evidence { notrun: Some("\n".into()), ..ev.clone() };
        assert_eq!(decide(&ok(), &empty).description, "not run (no reason given)");

        let v = decide(&Exit::Timeout(Duration::from_secs(300)), &ev);
        assert_eq!(v.description, "timeout: did not stop within its 300s limit; killed");
        assert!(v.error && v.detail.is_some());
        assert_eq!(decide(&Exit::Interrupted, &ev).status, Status::NotRun);
        let killed =
            Exit::Finished { success: false, signal: Some(9), description: "killed by signal SIGKILL (9)".into() };
        assert!(decide(&killed, &ev).error);
        // Killed after writing its output (found by fault injection: a
        // unittest test SIGTERMed): the signal is named, then the diff.
        let mm = Mismatch { diff: "-a\n".into(), new: false, see: "o/x.out.bad".into() };
        let term =
            Exit::Finished { success: false, signal: Some(15), description: "killed by signal SIGTERM (15)".into() };
        let v = decide(&term, &Evidence { mismatch: Some(mm), ..ev.clone() });
        assert_eq!(v.description, "failed, killed by signal SIGTERM (15); output mismatch (see o/x.out.bad)");
        assert!(v.detail_is_diff);

        let cnr = Evidence { casenotrun: Some("case x not run\n".into()), ..ev.clone() };
        assert_eq!(decide(&ok(), &cnr).casenotrun.as_deref(), Some("case x not run\n"));

        let ignored = Evidence { libtest: Some(LibtestSummary { passed: 0, failed: 0, ignored: 1 }), ..ev.clone() };
        assert_eq!(decide(&ok(), &ignored).description, "ignored");
        let none = Evidence { libtest: Some(LibtestSummary { passed: 0, failed: 0, ignored: 0 }), ..ev };
        assert_eq!(decide(&ok(), &none).status, Status::Fail);
    }

    #[test]
    fn excerpt_keeps_the_tail() {
        let mut out = String::from(
            "running 1 test\nthread 'x' (7) panicked at src/harness/run.rs:111:\nt: boom\n--- last log lines ---\n",
        );
        out.extend((0..80).map(|i| format!("log {i}\n")));
        out.push_str(
            "test t::x ... FAILED\n\nfailures:\n\nfailures:\n    t::x\n\ntest result: FAILED. 0 passed; 1 failed\n",
        );
        let e = failure_excerpt(&out);
        assert!(
            e.starts_with("thread 'x' (7) panicked at src/harness/run.rs:111:\nt: boom\n[... 31 lines omitted ...]\n"),
            "{e}"
        );
        assert!(e.ends_with("log 78\nlog 79\n"), "{e}");
        assert_eq!(failure_excerpt("a\nb\n\n"), "a\nb\n");
        let plain: String = (0..60).map(|i| format!("{i}\n")).collect();
        assert!(failure_excerpt(&plain).starts_with("[... 10 earlier lines ...]\n10\n"));
        assert_eq!(fmt_secs(Duration::from_millis(500)), "0.5");
    }
}
