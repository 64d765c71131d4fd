//! The unittest-style runner against Python's own `unittest` running
//! upstream's `ReproducibleTestRunner` (copied verbatim from iotests.py into
//! [`PY_REFERENCE`]) on an equivalent suite, plus the runner's guarantees:
//! tear_down after a panic, no process left, skips counted as dots.

use std::process::Command;

use iotests::env::{TestEnv, Vars};
use iotests::harness::{Case, Class, Suite, SuiteResult, TestCase, assert_true};
use iotests::{Error, Result, TestContext};

const PY_REFERENCE: &str = r#"import re, sys, unittest
from typing import Any, Optional, TextIO, Type

# Upstream iotests.py's reproducible runner, verbatim.
class ReproducibleTestResult(unittest.TextTestResult):
    def addSkip(self, test, reason):
        # Same as TextTestResult, but print dot instead of "s"
        unittest.TestResult.addSkip(self, test, reason)
        if self.showAll:
            self.stream.writeln("skipped {0!r}".format(reason))
        elif self.dots:
            self.stream.write(".")
            self.stream.flush()

class ReproducibleStreamWrapper:
    def __init__(self, stream: TextIO):
        self.stream = stream

    def __getattr__(self, attr):
        if attr in ('stream', '__getstate__'):
            raise AttributeError(attr)
        return getattr(self.stream, attr)

    def write(self, arg=None):
        arg = re.sub(r'Ran (\d+) tests? in [\d.]+s', r'Ran \1 tests', arg)
        arg = re.sub(r' \(skipped=\d+\)', r'', arg)
        self.stream.write(arg)

class ReproducibleTestRunner(unittest.TextTestRunner):
    def __init__(
        self,
        stream: Optional[TextIO] = None,
        resultclass: Type[unittest.TextTestResult] =
        ReproducibleTestResult,
        **kwargs: Any
    ) -> None:
        rstream = ReproducibleStreamWrapper(stream or sys.stdout)
        super().__init__(stream=rstream,           # type: ignore
                         descriptions=True,
                         resultclass=resultclass,
                         **kwargs)

SUITE = sys.argv[1]
VERBOSITY = int(sys.argv[2])
if len(sys.argv) > 3 and sys.argv[3] == 'quiet':
    print = lambda *a, **k: None

if SUITE == 'pass':
    class TestB(unittest.TestCase):
        def setUp(self): print("setUp", self._testMethodName)
        def tearDown(self): print("tearDown", self._testMethodName)
        def test_b(self): print("in test_b")
        def test_a(self): print("in test_a"); self.skipTest("not for raw")
    class TestA(unittest.TestCase):
        def test_z(self): pass
        def test_y(self): print("in test_y")
elif SUITE == 'fail':
    class TestF(unittest.TestCase):
        def tearDown(self):
            if self._testMethodName == 'test_fail_then_teardown_error':
                raise RuntimeError("teardown")
        def test_fail(self): self.fail("boom")
        def test_error(self): raise ValueError("bad")
        def test_panic(self): raise Exception("panic")
        def test_fail_then_teardown_error(self): self.assertTrue(False, "first")
        def test_ok(self): pass
        def test_skip(self): self.skipTest("it's skipped")
    class TestSetUpFails(unittest.TestCase):
        def setUp(self): raise RuntimeError("setup")
        def tearDown(self): print("never")
        def test_one(self): print("never")
elif SUITE == 'one':
    class TestSingleDrive(unittest.TestCase):
        def test_mirror_discard(self): pass

unittest.main(argv=[sys.argv[0]], testRunner=ReproducibleTestRunner, verbosity=VERBOSITY, warnings='ignore')
"#;

/// Python's output for `suite` at `verbosity` (`quiet`: cases print nothing).
fn python(suite: &str, verbosity: u32, quiet: bool) -> Option<String> {
    let dir = tempfile::tempdir().ok()?;
    let script = dir.path().join("ref.py");
    std::fs::write(&script, PY_REFERENCE).ok()?;
    let mut cmd = Command::new("python3");
    cmd.arg(&script).arg(suite).arg(verbosity.to_string());
    if quiet {
        cmd.arg("quiet");
    }
    match cmd.output() {
        Ok(out) => Some(String::from_utf8_lossy(&out.stdout).into_owned()),
        Err(e) => {
            eprintln!("not run: python3 unavailable: {e}");
            None
        }
    }
}

fn context(name: &str, vars: &[(&str, &str)]) -> (TestContext, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let mut v: Vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    v.insert("OUTPUT_DIR".into(), out.path().display().to_string());
    (TestContext::new(name, TestEnv::from_vars(&v, "raw")).unwrap(), out)
}

/// Run `suite`, returning the log and what the verbose stream got.
fn run(suite: &Suite, t: &TestContext) -> (SuiteResult, String, String) {
    let mut verbose = Vec::new();
    let r = suite.run(t, Some(&mut verbose));
    (r, t.contents(), String::from_utf8(verbose).unwrap())
}

/// Drop unittest's `ERROR:` / `FAIL:` blocks (their tracebacks cannot
/// match), keeping the block headers for comparison.
fn strip_blocks(text: &str) -> (String, Vec<String>) {
    let sep1 = "=".repeat(70);
    let sep2 = "-".repeat(70);
    let Some(start) = text.find(&sep1) else { return (text.to_string(), Vec::new()) };
    let end = text.rfind(&sep2).unwrap();
    let headers =
        text[start..end].lines().filter(|l| l.starts_with("ERROR: ") || l.starts_with("FAIL: ")).map(String::from);
    (format!("{}{}", &text[..start], &text[end..]), headers.collect())
}

// --- the `pass` suite: output interleaved with progress, a skip -----------

struct PassB;
impl TestCase for PassB {
    fn set_up(t: &Case) -> Result<Self> {
        t.print(format!("setUp {}", t.method_name()));
        Ok(PassB)
    }
    fn tear_down(&mut self, t: &Case) -> Result<()> {
        t.print(format!("tearDown {}", t.method_name()));
        Ok(())
    }
}
impl PassB {
    fn test_b(&mut self, t: &Case) -> Result<()> {
        t.print("in test_b");
        Ok(())
    }
    fn test_a(&mut self, t: &Case) -> Result<()> {
        t.print("in test_a");
        Err(Error::Skip("not for raw".into()))
    }
}

struct PassA;
impl TestCase for PassA {
    fn set_up(_t: &Case) -> Result<Self> {
        Ok(PassA)
    }
}
impl PassA {
    fn test_z(&mut self, _t: &Case) -> Result<()> {
        Ok(())
    }
    fn test_y(&mut self, t: &Case) -> Result<()> {
        t.print("in test_y");
        Ok(())
    }
}

/// Python names the classes TestB / TestA; declared in that order, run sorted.
fn pass_suite() -> Suite {
    Suite::new(vec![
        Class::new::<PassB>("TestB", &[("test_b", PassB::test_b), ("test_a", PassB::test_a)]),
        Class::new::<PassA>("TestA", &[("test_z", PassA::test_z), ("test_y", PassA::test_y)]),
    ])
}

#[test]
fn passing_suite_matches_python_byte_for_byte() {
    let (t, _out) = context("harness-pass", &[]);
    let (r, log, verbose) = run(&pass_suite(), &t);
    assert!(r.was_successful());
    assert_eq!((r.tests_run, r.skipped), (4, 1));
    assert_eq!(
        log,
        "in test_y\n..setUp test_a\nin test_a\n.tearDown test_a\nsetUp test_b\nin test_b\ntearDown test_b\n.\n\
         ----------------------------------------------------------------------\nRan 4 tests\n\nOK\n"
    );
    if let Some(py) = python("pass", 1, false) {
        assert_eq!(log, py);
    }
    if let Some(py) = python("pass", 2, true) {
        assert_eq!(verbose, py);
    }
}

// --- the `fail` suite: F, E, a panic, F then E, setUp errors -------------

struct Failing;
impl TestCase for Failing {
    fn set_up(_t: &Case) -> Result<Self> {
        Ok(Failing)
    }
    fn tear_down(&mut self, t: &Case) -> Result<()> {
        if t.method_name() == "test_fail_then_teardown_error" {
            return Err(Error::Env("teardown".into()));
        }
        Ok(())
    }
}
impl Failing {
    fn test_fail(&mut self, _t: &Case) -> Result<()> {
        Err(Error::fail("boom"))
    }
    fn test_error(&mut self, _t: &Case) -> Result<()> {
        Err(Error::Env("bad".into()))
    }
    fn test_panic(&mut self, _t: &Case) -> Result<()> {
        panic!("panic")
    }
    fn test_fail_then_teardown_error(&mut self, _t: &Case) -> Result<()> {
        assert_true(false, "first")
    }
    fn test_ok(&mut self, _t: &Case) -> Result<()> {
        Ok(())
    }
    fn test_skip(&mut self, _t: &Case) -> Result<()> {
        Err(Error::Skip("it's skipped".into()))
    }
}

struct SetUpFails;
impl TestCase for SetUpFails {
    fn set_up(_t: &Case) -> Result<Self> {
        Err(Error::Env("setup".into()))
    }
    fn tear_down(&mut self, t: &Case) -> Result<()> {
        t.print("never");
        Ok(())
    }
}
impl SetUpFails {
    fn test_one(&mut self, t: &Case) -> Result<()> {
        t.print("never");
        Ok(())
    }
}

fn fail_suite() -> Suite {
    Suite::new(vec![
        Class::new::<SetUpFails>("TestSetUpFails", &[("test_one", SetUpFails::test_one)]),
        Class::new::<Failing>(
            "TestF",
            &[
                ("test_fail", Failing::test_fail),
                ("test_error", Failing::test_error),
                ("test_panic", Failing::test_panic),
                ("test_fail_then_teardown_error", Failing::test_fail_then_teardown_error),
                ("test_ok", Failing::test_ok),
                ("test_skip", Failing::test_skip),
            ],
        ),
    ])
}

#[test]
fn failing_suite_matches_python_outside_tracebacks() {
    let (t, _out) = context("harness-fail", &[]);
    let (r, log, verbose) = run(&fail_suite(), &t);
    assert!(!r.was_successful());
    assert_eq!((r.tests_run, r.failures.len(), r.errors.len(), r.skipped), (7, 2, 4, 1));
    let (stripped, headers) = strip_blocks(&log);
    assert_eq!(
        stripped,
        "EFFE.E.E\n----------------------------------------------------------------------\nRan 7 tests\n\n\
         FAILED (failures=2, errors=4, skipped=1)\n"
    );
    // ERROR blocks first, then FAIL, each in run order.
    assert_eq!(
        headers,
        [
            "ERROR: test_error (__main__.TestF.test_error)",
            "ERROR: test_fail_then_teardown_error (__main__.TestF.test_fail_then_teardown_error)",
            "ERROR: test_panic (__main__.TestF.test_panic)",
            "ERROR: test_one (__main__.TestSetUpFails.test_one)",
            "FAIL: test_fail (__main__.TestF.test_fail)",
            "FAIL: test_fail_then_teardown_error (__main__.TestF.test_fail_then_teardown_error)",
        ]
    );
    assert!(log.contains("FAIL: test_fail (__main__.TestF.test_fail)\n---"), "{log}");
    assert!(log.contains("\nAssertionError: boom\n\n"), "{log}");
    assert!(log.contains("\npanicked: panic\n\n"), "{log}");
    for (verbosity, ours) in [(1, &log), (2, &verbose)] {
        if let Some(py) = python("fail", verbosity, false) {
            let (ours, our_headers) = strip_blocks(ours);
            let (py, py_headers) = strip_blocks(&py);
            assert_eq!(ours, py, "verbosity {verbosity}");
            assert_eq!(our_headers, py_headers, "verbosity {verbosity}");
        }
    }
}

#[test]
fn single_case_like_132_out() {
    struct TestSingleDrive;
    impl TestCase for TestSingleDrive {
        fn set_up(_t: &Case) -> Result<Self> {
            Ok(TestSingleDrive)
        }
    }
    fn test_mirror_discard(_s: &mut TestSingleDrive, _t: &Case) -> Result<()> {
        Ok(())
    }
    let suite = Suite::new(vec![Class::new::<TestSingleDrive>(
        "TestSingleDrive",
        &[("test_mirror_discard", test_mirror_discard)],
    )]);
    let (t, _out) = context("harness-one", &[]);
    let (_, log, verbose) = run(&suite, &t);
    // 132.out, with "Ran 1 tests": the reproducible wrapper always pluralizes.
    assert_eq!(log, ".\n----------------------------------------------------------------------\nRan 1 tests\n\nOK\n");
    if let Some(py) = python("one", 1, false) {
        assert_eq!(log, py);
    }
    if let Some(py) = python("one", 2, false) {
        assert_eq!(verbose, py);
    }
}

// --- tear_down after a panic, and no process left ------------------------

struct WithChild {
    child: Option<iotests::process::Child>,
    pid: i32,
}

static PIDS: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

impl TestCase for WithChild {
    fn set_up(t: &Case) -> Result<Self> {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let child = iotests::process::spawn("sleep", cmd, t.processes())?;
        let pid = child.pid();
        PIDS.lock().unwrap().push(pid);
        Ok(WithChild { child: Some(child), pid })
    }
    fn tear_down(&mut self, t: &Case) -> Result<()> {
        t.print(format!("tearDown {} (child running: {})", t.method_name(), self.child.is_some()));
        if let Some(mut c) = self.child.take() {
            c.kill()?;
        }
        Ok(())
    }
}

impl WithChild {
    fn test_panics(&mut self, t: &Case) -> Result<()> {
        // A second child, owned by the case's stack: unwinding must kill it.
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let local = iotests::process::spawn("sleep", cmd, t.processes())?;
        PIDS.lock().unwrap().push(local.pid());
        assert!(self.pid > 0);
        panic!("case panics with children running");
    }
}

fn alive(pid: i32) -> bool {
    // Reaped children are gone; a zombie would still answer.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

#[test]
fn panicking_case_runs_tear_down_and_leaves_no_process() {
    let (t, _out) = context("harness-panic", &[]);
    let suite = Suite::new(vec![Class::new::<WithChild>("TestPanic", &[("test_panics", WithChild::test_panics)])]);
    let r = suite.run(&t, None);
    assert_eq!((r.tests_run, r.errors.len()), (1, 1));
    assert!(r.errors[0].text.contains("case panics with children running"), "{:?}", r.errors);
    let log = t.contents();
    // E is reported as the method fails, before tear_down prints (as in unittest).
    assert!(log.starts_with("EtearDown test_panics (child running: true)\n\n"), "{log}");
    assert!(t.processes().pids().is_empty(), "{:?}", t.processes().pids());
    let pids = PIDS.lock().unwrap().clone();
    assert_eq!(pids.len(), 2);
    for pid in pids {
        assert!(!alive(pid), "sleep {pid} is still alive");
    }
}

// --- skipped by format: a dot, counted, noted in .casenotrun -------------

struct FormatSkip;
impl TestCase for FormatSkip {
    fn set_up(_t: &Case) -> Result<Self> {
        Ok(FormatSkip)
    }
}
impl FormatSkip {
    fn test_not_for_raw(&mut self, t: &Case) -> Result<()> {
        t.skip_for_formats(&["raw", "vmdk"])?;
        t.print("ran on a format that is not raw");
        Ok(())
    }
    fn test_runs(&mut self, _t: &Case) -> Result<()> {
        Ok(())
    }
    fn test_needs_missing_format(&mut self, t: &Case) -> Result<()> {
        t.skip_if_unsupported(&["qcow2", "no-such-format"], false)?;
        Ok(())
    }
}

#[test]
fn case_skipped_for_format_is_a_counted_dot() {
    if iotests::env::which("qemu-system-x86_64").is_none() {
        eprintln!("not run: qemu-system-x86_64 not installed");
        return;
    }
    let (t, out) = context("harness-skip", &[("IMGFMT", "raw")]);
    let suite = Suite::new(vec![Class::new::<FormatSkip>(
        "TestFormats",
        &[
            ("test_not_for_raw", FormatSkip::test_not_for_raw),
            ("test_runs", FormatSkip::test_runs),
            ("test_needs_missing_format", FormatSkip::test_needs_missing_format),
        ],
    )]);
    let r = suite.run(&t, None);
    assert!(r.was_successful(), "{r:?}");
    assert_eq!((r.tests_run, r.skipped), (3, 2));
    assert_eq!(
        t.contents(),
        "...\n----------------------------------------------------------------------\nRan 3 tests\n\nOK\n"
    );
    let casenotrun = std::fs::read_to_string(out.path().join("harness-skip.casenotrun")).unwrap();
    assert_eq!(
        casenotrun,
        "    [case not run] test_needs_missing_format (__main__.TestFormats.test_needs_missing_format): \
         formats ['no-such-format'] are not whitelisted\n    \
         [case not run] test_not_for_raw (__main__.TestFormats.test_not_for_raw): Skipped for format raw\n"
    );
}

// --- a case that cannot run here ends the whole test as not run ---------

struct NeedsNbd;
impl TestCase for NeedsNbd {
    fn set_up(t: &Case) -> Result<Self> {
        t.env().qemu_nbd.get()?;
        Ok(NeedsNbd)
    }
}
impl NeedsNbd {
    fn test_a(&mut self, _t: &Case) -> Result<()> {
        Ok(())
    }
    fn test_b(&mut self, _t: &Case) -> Result<()> {
        Ok(())
    }
}

#[test]
fn missing_binary_in_a_case_means_not_run() {
    let (t, _out) = context("harness-missing", &[("QEMU_NBD_PROG", "/no/such/qemu-nbd")]);
    let suite = Suite::new(vec![Class::new::<NeedsNbd>(
        "TestNbd",
        &[("test_a", NeedsNbd::test_a), ("test_b", NeedsNbd::test_b)],
    )]);
    let r = suite.run(&t, None);
    assert_eq!(r.tests_run, 1, "stops at the first case");
    assert!(r.not_run.as_deref().unwrap_or("").contains("QEMU_NBD_PROG"), "{r:?}");
}
