//! The unittest-style runner against Python's own `unittest` running
//! upstream's `ReproducibleTestRunner` (copied verbatim from iotests.py into
//! `tests/common/unittest_ref.py`) on equivalent classes: progress, summary,
//! verbose output, the `ERROR:`/`FAIL:` headers and each traceback's
//! exception line; plus the runner's guarantees (tear_down after a panic, no
//! process left, skips as dots, `.casenotrun`).

use std::io::Write;
use std::process::Command;
use std::sync::{Arc, Mutex};

use iotests::env::{TestEnv, Vars};
use iotests::prelude::*;
use iotests::unittest::SuiteResult;

const PY_REFERENCE: &str = include_str!("common/unittest_ref.py");

/// Python's output for `suite` at `verbosity`.
fn python(suite: &str, verbosity: u32) -> Option<String> {
    let dir = tempfile::tempdir().ok()?;
    let script = dir.path().join("ref.py");
    std::fs::write(&script, PY_REFERENCE).ok()?;
    let out = match Command::new("python3").arg(&script).arg(suite).arg(verbosity.to_string()).output() {
        Ok(out) => out,
        Err(e) => {
            eprintln!("not run: python3 unavailable: {e}");
            return None;
        }
    };
    assert!(out.stderr.is_empty() || out.status.code() == Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn context(name: &str, vars: &[(&str, &str)]) -> (Arc<TestContext>, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let mut v: Vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    v.insert("OUTPUT_DIR".into(), out.path().display().to_string());
    (Arc::new(TestContext::new(name, TestEnv::from_vars(&v, "raw")).unwrap()), out)
}

/// A writer the test can read back.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Run `suite` as the harness does (the test current on the thread),
/// returning the result, the log and what the verbose stream got.
fn run(suite: &Suite, t: &Arc<TestContext>) -> (SuiteResult, String, String) {
    let verbose = Shared::default();
    let _current = t.enter();
    let r = suite.run(t, Some(Box::new(verbose.clone())));
    let v = String::from_utf8(verbose.0.lock().unwrap().clone()).unwrap();
    (r, t.contents(), v)
}

/// unittest's `ERROR:` / `FAIL:` blocks reduced to their header and the
/// traceback's last line (the exception), which must match; the frames
/// cannot.
fn reduce_blocks(text: &str) -> String {
    let sep1 = "=".repeat(70);
    let sep2 = "-".repeat(70);
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line == sep1 && lines.peek().is_some_and(|l| l.starts_with("ERROR: ") || l.starts_with("FAIL: ")) {
            out.push_str(line);
            out.push('\n');
            out.push_str(lines.next().unwrap());
            out.push('\n');
            assert_eq!(lines.next(), Some(sep2.as_str()));
            let mut last = "";
            for l in lines.by_ref() {
                if l.is_empty() {
                    break;
                }
                last = l;
            }
            out.push_str(&format!("  -> {last}\n"));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn compare(name: &str, suite: &Suite, vars: &[(&str, &str)]) -> (SuiteResult, String) {
    let (t, _out) = context(&format!("harness-{name}"), vars);
    let (r, log, verbose) = run(suite, &t);
    for (verbosity, ours) in [(1, &log), (2, &verbose)] {
        if let Some(py) = python(name, verbosity) {
            assert_eq!(reduce_blocks(ours), reduce_blocks(&py), "suite {name}, verbosity {verbosity}");
        }
    }
    (r, log)
}

// --- pass: output interleaved with progress, a skip ------------------------

#[derive(Default)]
struct PassB;

#[iotests::test_case]
impl PassB {
    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.print(format!("setUp {}", t.method_name()));
        Ok(())
    }
    fn tear_down(&mut self, t: &Case) -> Result<()> {
        t.print(format!("tearDown {}", t.method_name()));
        Ok(())
    }
    fn test_b(&mut self, t: &Case) {
        t.print("in test_b");
    }
    fn test_a(&mut self, t: &Case) -> Result<()> {
        t.print("in test_a");
        Err(t.skip_test("not for raw"))
    }
}

#[derive(Default)]
struct PassA;

#[iotests::test_case]
impl PassA {
    fn test_z(&mut self) {}
    fn test_y(&mut self, t: &Case) {
        t.print("in test_y");
    }
}

#[test]
fn passing_suite_matches_python() {
    let suite = Suite::new(vec![Class::new::<PassB>("TestB"), Class::new::<PassA>("TestA")]);
    let (r, log) = compare("pass", &suite, &[]);
    assert!(r.was_successful());
    assert_eq!((r.tests_run, r.skipped), (4, 1));
    assert_eq!(
        log,
        "in test_y\n..setUp test_a\nin test_a\n.tearDown test_a\nsetUp test_b\nin test_b\ntearDown test_b\n.\n\
         ----------------------------------------------------------------------\nRan 4 tests\n\nOK\n"
    );
}

// --- fail: F, E, a panic, F then E, setUp errors, Python exceptions ---------

#[derive(Default)]
struct Failing;

#[iotests::test_case]
impl Failing {
    fn tear_down(&mut self, t: &Case) -> Result<()> {
        if t.method_name() == "test_fail_then_teardown_error" {
            return Err(Error::python("RuntimeError", "teardown"));
        }
        Ok(())
    }
    fn test_fail(&mut self, t: &Case) -> Result<()> {
        Err(t.fail("boom"))
    }
    fn test_error(&mut self) -> Result<()> {
        Err(Error::python("ValueError", "bad"))
    }
    fn test_exception(&mut self) -> Result<()> {
        // raise Exception("exception")
        Err(Error::exception("exception"))
    }
    fn test_fail_then_teardown_error(&mut self) -> Result<()> {
        assert_true!(false, "first");
        Ok(())
    }
    fn test_ok(&mut self) {}
    fn test_skip(&mut self, t: &Case) -> Result<()> {
        Err(t.skip_test("it's skipped"))
    }
    fn test_equal(&mut self) -> Result<()> {
        assert_equal!(1, 2, "numbers");
        Ok(())
    }
    fn test_bare_assert(&mut self) -> Result<()> {
        ensure!(1 > 2);
        Ok(())
    }
    fn test_file_not_found(&mut self) -> Result<()> {
        os::remove("/nonexistent/iotests-harness-file")
    }
}

#[derive(Default)]
struct SetUpFails;

#[iotests::test_case]
impl SetUpFails {
    fn set_up(&mut self) -> Result<()> {
        Err(Error::python("RuntimeError", "setup"))
    }
    fn tear_down(&mut self, t: &Case) {
        t.print("never");
    }
    fn test_one(&mut self, t: &Case) {
        t.print("never");
    }
}

#[test]
fn failing_suite_matches_python() {
    let suite = Suite::new(vec![Class::new::<SetUpFails>("TestSetUpFails"), Class::new::<Failing>("TestF")]);
    let (r, log) = compare("fail", &suite, &[]);
    assert_eq!((r.tests_run, r.failures.len(), r.errors.len(), r.skipped), (10, 4, 5, 1));
    assert!(log.ends_with("FAILED (failures=4, errors=5, skipped=1)\n"), "{log}");
    // A failure points at this file, at the test's own line.
    assert!(log.contains(&format!("  File \"{}\", line ", file!())), "{log}");
}

// --- inheritance: attributes, overrides, `without`, classes made in a loop -

struct TestBase {
    size: u64,
    name: &'static str,
    log: Vec<String>,
}

#[iotests::test_case]
impl TestBase {
    fn new() -> Self {
        TestBase { size: 1024, name: "base", log: Vec::new() }
    }
    fn set_up(&mut self, t: &Case) {
        self.log = vec!["base setUp".into()];
        t.print(format!("{}: setUp size={} ({})", t.class_name(), self.size, self.name));
    }
    fn test_size(&mut self, t: &Case) {
        t.print(format!("{}: size {}", t.class_name(), self.size));
    }
    fn test_name(&mut self, t: &Case) {
        t.print(format!("{}: name {}", t.class_name(), self.name));
    }
    fn test_removed_later(&mut self, t: &Case) {
        t.print(format!("{}: still here", t.class_name()));
    }
}

struct TestDerived {
    base: TestBase,
    extra: bool,
}

#[iotests::test_case(extends = TestBase, without = [test_removed_later])]
impl TestDerived {
    fn new(t: &Case) -> Result<Self> {
        let mut base = TestBase::new(t)?;
        base.name = "derived";
        Ok(TestDerived { base, extra: false })
    }
    fn set_up(&mut self, t: &Case) -> Result<()> {
        // TestBase.setUp(self)
        self.base.set_up(t)?;
        self.extra = true;
        let log = iotests::json::py_repr(&json!(self.log));
        t.print(format!("{}: derived setUp, log {log}", t.class_name()));
        Ok(())
    }
    fn test_extra(&mut self, t: &Case) {
        t.print(format!("{}: extra {}", t.class_name(), if self.extra { "True" } else { "False" }));
    }
    fn test_name(&mut self, t: &Case) {
        t.print(format!("{}: overridden name {}", t.class_name(), self.name));
    }
}

fn made_in_a_loop() -> Vec<Class> {
    [(1, "one"), (2, "two")]
        .into_iter()
        .map(|(n, s)| {
            ClassOf::<TestBase>::new(format!("TestLoop_{s}"))
                .attrs(move |c| {
                    c.size = n;
                    c.name = s;
                })
                .into()
        })
        .collect()
}

#[test]
fn class_hierarchy_matches_python() {
    let mut classes = vec![
        Class::new::<TestBase>("TestBase"),
        Class::new::<TestDerived>("TestDerived"),
        ClassOf::<TestBase>::new("TestBaseZero").attrs(|c| c.size = 0).without(&["test_name"]).into(),
        ClassOf::<TestDerived>::new("TestDerivedZero").attrs(|c| c.size = 0).into(),
    ];
    classes.extend(made_in_a_loop());
    let (r, _) = compare("inherit", &Suite::new(classes), &[]);
    assert!(r.was_successful());
    assert_eq!(r.tests_run, 3 + 3 + 2 + 3 + 3 + 3);
}

// --- a subclass's calls that read attributes; a test with a default argument

struct TestTray {
    device_name: &'static str,
    calls: Vec<String>,
}

#[iotests::test_case]
impl TestTray {
    fn new() -> Self {
        TestTray { device_name: "qdev0", calls: Vec::new() }
    }
    fn set_up(&mut self) {
        self.calls = Vec::new();
    }
    // def test_cycle(self, read_only_node=False)
    fn test_cycle(&mut self, t: &Case, #[default(false)] read_only_node: bool) {
        let read_only_node = if read_only_node { "True" } else { "False" };
        self.calls.push(format!("cycle {} read_only_node={read_only_node}", self.device_name));
        t.print(self.calls.join(", "));
    }
    fn test_cycle_read_only_media(&mut self, t: &Case) {
        self.test_cycle(t, true)
    }
}

struct TestTrayFloppy {
    base: TestTray,
}

#[iotests::test_case(extends = TestTray)]
impl TestTrayFloppy {
    fn new(t: &Case) -> Result<Self> {
        let mut base = TestTray::new(t)?;
        base.device_name = "floppy0";
        Ok(TestTrayFloppy { base })
    }
    fn test_eject(&mut self, t: &Case) {
        // `self.calls` and `self.device_name` both reach through `Deref`:
        // this compiles because the macro evaluates the arguments first.
        self.calls.push(format!("eject {}", self.device_name));
        self.calls.push(format!("{} calls", self.calls.len()));
        t.print(self.calls.join(", "));
    }
}

#[test]
fn subclass_calls_and_default_arguments_match_python() {
    let classes = vec![Class::new::<TestTray>("TestTray"), Class::new::<TestTrayFloppy>("TestTrayFloppy")];
    let (r, log) = compare("subclass_calls", &Suite::new(classes), &[]);
    assert!(r.was_successful());
    assert_eq!(r.tests_run, 2 + 3);
    assert!(log.contains("eject floppy0, 1 calls"), "{log}");
    assert!(log.contains("cycle floppy0 read_only_node=True"), "{log}");
}

// --- unittest's decorators and expected failures ----------------------------

#[derive(Default)]
struct Decorated;

#[iotests::test_case]
impl Decorated {
    fn set_up(&mut self, t: &Case) {
        t.print(format!("setUp {}", t.method_name()));
    }
    #[skip("not today")]
    fn test_skip(&mut self, t: &Case) {
        t.print("never");
    }
    #[skip_if(t.imgfmt() == "raw", "raw is not supported")]
    fn test_skip_if(&mut self, t: &Case) {
        t.print("never");
    }
    #[skip_unless(t.imgfmt() == "raw", "only raw")]
    fn test_skip_unless(&mut self, t: &Case) {
        t.print("runs for raw");
    }
    #[expected_failure]
    fn test_expected(&mut self) -> Result<()> {
        assert_equal!("a", "b");
        Ok(())
    }
    #[expected_failure]
    fn test_unexpected(&mut self) {}
    /// A docstring that shows in verbose mode.
    ///
    /// Only its first line.
    fn test_documented(&mut self) {}
}

#[test]
fn decorators_match_python() {
    let (r, log) = compare("decorators", &Suite::new(vec![Class::new::<Decorated>("TestDecorated")]), &[]);
    assert_eq!((r.skipped, r.expected_failures, r.unexpected_successes.len()), (2, 1, 1));
    assert!(log.ends_with("FAILED (skipped=2, expected failures=1, unexpected successes=1)\n"), "{log}");
}

// --- sub-tests ---------------------------------------------------------------

#[derive(Default)]
struct Subtests;

#[iotests::test_case]
impl Subtests {
    fn test_params(&mut self, t: &Case) -> Result<()> {
        for i in 0..4 {
            t.sub_test(kwargs! { i: i, name: format!("n{i}") }, || {
                t.print(format!("sub {i}"));
                assert_equal!(i % 2, 0, "odd");
                Ok(())
            })?;
        }
        Ok(())
    }
    fn test_nested(&mut self, t: &Case) -> Result<()> {
        t.sub_test_with(Some("outer"), kwargs! { a: 1 }, || {
            t.sub_test_with(Some("inner"), kwargs! { b: "x", a: 2 }, || Err(Error::python("KeyError", "'k'")))?;
            t.sub_test(kwargs! {}, || Err(t.skip_test("skipped inside")))
        })
    }
    fn test_all_pass(&mut self, t: &Case) -> Result<()> {
        t.sub_test(kwargs! { x: null }, || Ok(()))
    }
    #[expected_failure]
    fn test_expected_in_subtest(&mut self, t: &Case) -> Result<()> {
        t.sub_test(kwargs! { i: 1 }, || Err(t.fail("expected")))?;
        t.print("never");
        Ok(())
    }
}

#[test]
fn sub_tests_match_python() {
    let (r, _) = compare("subtests", &Suite::new(vec![Class::new::<Subtests>("TestSub")]), &[]);
    assert_eq!((r.tests_run, r.failures.len(), r.errors.len(), r.skipped), (4, 2, 1, 1));
}

// --- setUpClass / tearDownClass -------------------------------------------------

#[derive(Default)]
struct ClassSetUpFails;

#[iotests::test_case]
impl ClassSetUpFails {
    fn set_up_class(t: &Case) -> Result<()> {
        t.print("setUpClass");
        Err(Error::python("RuntimeError", "no class"))
    }
    fn test_never(&mut self, t: &Case) {
        t.print("never");
    }
}

#[derive(Default)]
struct ClassSkipped;

#[iotests::test_case]
impl ClassSkipped {
    fn set_up_class(t: &Case) -> Result<()> {
        Err(t.skip_test("whole class"))
    }
    fn test_never(&mut self, t: &Case) {
        t.print("never");
    }
}

#[derive(Default)]
struct ClassFixtures;

#[iotests::test_case]
impl ClassFixtures {
    fn set_up_class(t: &Case) {
        t.print("setUpClass");
    }
    fn tear_down_class(t: &Case) -> Result<()> {
        t.print("tearDownClass");
        Err(Error::python("RuntimeError", "late"))
    }
    fn test_a(&mut self, t: &Case) {
        t.print("a");
    }
    fn test_b(&mut self, t: &Case) {
        t.print("b");
    }
}

#[test]
fn class_fixtures_match_python() {
    let suite = Suite::new(vec![
        Class::new::<ClassSetUpFails>("TestA"),
        Class::new::<ClassSkipped>("TestB"),
        Class::new::<ClassFixtures>("TestC"),
    ]);
    let (r, _) = compare("classes", &suite, &[]);
    assert_eq!((r.tests_run, r.errors.len(), r.skipped), (2, 2, 1));
}

// --- setUpModule / tearDownModule ----------------------------------------------

#[derive(Default)]
struct ModuleUser;

#[iotests::test_case]
impl ModuleUser {
    fn set_up_class(t: &Case) {
        t.print("setUpClass");
    }
    fn tear_down_class(t: &Case) {
        t.print("tearDownClass");
    }
    fn test_a(&mut self, t: &Case) {
        t.print("a");
    }
    fn test_b(&mut self, t: &Case) {
        t.print("b");
    }
}

#[derive(Default)]
struct ModuleOther;

#[iotests::test_case]
impl ModuleOther {
    fn test_c(&mut self, t: &Case) {
        t.print("c");
    }
}

fn module_suite() -> Suite {
    Suite::new(vec![Class::new::<ModuleOther>("TestOther"), Class::new::<ModuleUser>("TestUser")])
}

#[test]
fn module_fixtures_match_python() {
    let mut suite = module_suite();
    suite.set_up_module(|t| {
        t.print("setUpModule");
        Ok(())
    });
    suite.tear_down_module(|t| {
        t.print("tearDownModule");
        Err(Error::python("RuntimeError", "module late"))
    });
    let (r, log) = compare("module", &suite, &[]);
    assert_eq!((r.tests_run, r.errors.len()), (3, 1));
    assert!(log.starts_with("setUpModule\nc\n.setUpClass\na\n.b\n.tearDownClass\ntearDownModule\nE\n"), "{log}");
}

#[test]
fn failing_module_set_up_runs_nothing_else() {
    let mut suite = module_suite();
    suite.set_up_module(|t| {
        t.print("setUpModule");
        Err(Error::python("RuntimeError", "no module"))
    });
    suite.tear_down_module(|t| {
        t.print("never");
        Ok(())
    });
    let (r, log) = compare("module_fails", &suite, &[]);
    assert_eq!((r.tests_run, r.errors.len()), (0, 1));
    assert!(!log.contains("never"), "{log}");

    let mut suite = module_suite();
    suite.set_up_module(|t| Err(t.skip_test("whole module")));
    let (r, _) = compare("module_skips", &suite, &[]);
    assert_eq!((r.tests_run, r.skipped), (0, 1));
}

#[test]
fn module_fixtures_need_a_case() {
    let (t, _out) = context("harness-module-empty", &[]);
    let mut suite = Suite::new(vec![]);
    suite.set_up_module(|t| {
        t.print("never");
        Ok(())
    });
    let (r, log, _) = run(&suite, &t);
    assert_eq!(r.tests_run, 0);
    assert!(!log.contains("never"), "{log}");
}

// --- notrun() inside a case: E, the others still run, the test is not run ---

#[derive(Default)]
struct CallsNotrun;

#[iotests::test_case]
impl CallsNotrun {
    fn test_a(&mut self, t: &Case) -> Result<()> {
        t.notrun("not here")
    }
    fn test_b(&mut self, t: &Case) {
        t.print("b runs");
    }
}

#[test]
fn notrun_in_a_case_is_an_error_and_ends_as_not_run() {
    let (r, log) = compare("notrun", &Suite::new(vec![Class::new::<CallsNotrun>("TestN")]), &[]);
    assert_eq!((r.tests_run, r.errors.len()), (2, 1));
    assert_eq!(r.not_run.as_deref(), Some("not here"));
    assert!(log.contains("b runs"), "{log}");
}

// --- tear_down after a panic, and no process left ------------------------

static PIDS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

#[derive(Default)]
struct WithChild {
    child: Option<iotests::process::Child>,
}

#[iotests::test_case]
impl WithChild {
    fn set_up(&mut self, t: &Case) -> Result<()> {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let child = iotests::process::spawn("sleep", cmd, t.processes())?;
        PIDS.lock().unwrap().push(child.pid());
        self.child = Some(child);
        Ok(())
    }
    fn tear_down(&mut self, t: &Case) -> Result<()> {
        t.print(format!("tearDown {} (child running: {})", t.method_name(), self.child.is_some()));
        if let Some(mut c) = self.child.take() {
            c.kill()?;
        }
        Ok(())
    }
    fn test_panics(&mut self, t: &Case) -> Result<()> {
        // A second child, owned by the case's stack: unwinding must kill it.
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let local = iotests::process::spawn("sleep", cmd, t.processes())?;
        PIDS.lock().unwrap().push(local.pid());
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
    let (r, log, _) = run(&Suite::new(vec![Class::new::<WithChild>("TestPanic")]), &t);
    assert_eq!((r.tests_run, r.errors.len()), (1, 1));
    assert!(r.errors[0].text.contains("case panics with children running"), "{:?}", r.errors);
    // E is reported as the method fails, before tear_down prints (as in unittest).
    assert!(log.starts_with("EtearDown test_panics (child running: true)\n\n"), "{log}");
    assert!(t.processes().pids().is_empty(), "{:?}", t.processes().pids());
    let pids = PIDS.lock().unwrap().clone();
    assert_eq!(pids.len(), 2);
    for pid in pids {
        assert!(!alive(pid), "sleep {pid} is still alive");
    }
}

// --- iotests' decorators: a dot, counted, noted in .casenotrun -------------

#[derive(Default)]
struct FormatSkip;

#[iotests::test_case]
impl FormatSkip {
    #[skip_for_formats(["raw", "vmdk"])]
    fn test_not_for_raw(&mut self, t: &Case) {
        t.print("ran on a format that is not raw");
    }
    fn test_runs(&mut self) {}
    #[skip_if_unsupported(["qcow2", "no-such-format"])]
    fn test_needs_missing_format(&mut self, t: &Case) {
        t.print("never");
    }
    // Python's ('qed') is a string: `in` finds substrings.
    #[skip_for_formats("qcow2-raw")]
    fn test_substring(&mut self, t: &Case) {
        t.print("never");
    }
}

#[test]
fn iotests_decorators_skip_with_python_messages() {
    if iotests::env::which("qemu-system-x86_64").is_none() {
        eprintln!("not run: qemu-system-x86_64 not installed");
        return;
    }
    let (t, out) = context("harness-skip", &[("IMGFMT", "raw")]);
    let (r, log, _) = run(&Suite::new(vec![Class::new::<FormatSkip>("TestFormats")]), &t);
    assert!(r.was_successful(), "{r:?}");
    assert_eq!((r.tests_run, r.skipped), (4, 3));
    assert_eq!(
        log,
        "....\n----------------------------------------------------------------------\nRan 4 tests\n\nOK\n"
    );
    let casenotrun = std::fs::read_to_string(out.path().join("harness-skip.casenotrun")).unwrap();
    assert_eq!(
        casenotrun,
        "    [case not run] test_needs_missing_format (__main__.TestFormats.test_needs_missing_format): \
         formats ['no-such-format'] are not whitelisted\n    \
         [case not run] test_not_for_raw (__main__.TestFormats.test_not_for_raw): Skipped for format raw\n    \
         [case not run] test_substring (__main__.TestFormats.test_substring): Skipped for format raw\n"
    );
}
