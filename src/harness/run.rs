//! Running a declared test: iotests' `execute_setup_common` + `script_main`
//! / `main`, as plain functions under the [`iotest!`](crate::iotest) macro.
//!
//! 1. stale `.notrun` / `.casenotrun` files are removed (as `check` does);
//! 2. the `_verify_*` checks run in upstream's order — a matrix cell the
//!    test does not support ends it as not run;
//! 3. the [`TestContext`] is created;
//! 4. the body runs on its own thread under the time limit;
//! 5. the outcome: the log to snapshot, not run (file written, warning
//!    printed), or a [`Failure`] that explains itself.

use std::sync::Arc;
use std::time::Duration;

use crate::context::TestContext;
use crate::env::TestEnv;
use crate::error::{Error, Result};

use super::declare::{EXCLUDE_GROUP_VAR, GROUP_VAR, LIST_PREFIX, LIST_VAR, TestKind, TestSpec, env_list};
use super::notrun::{clear_notrun_files, not_run_reason, write_notrun};
use super::timeout::{Finished, resolve_timeout, run_with_timeout};
use super::verify::verify_setup;
use crate::unittest::{Suite, SuiteResult};

/// How many log lines a failure report shows.
const TAIL_LINES: usize = 30;

/// How a test that did not fail ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// It ran: `log` is what its snapshot must equal.
    Passed {
        /// The test's whole log.
        log: String,
        /// The environment it ran in (which picks the snapshot variant).
        env: Box<TestEnv>,
        /// Processes that died in a way the test did not ask for (see
        /// [`ProcessRegistry::deaths`](crate::process::ProcessRegistry::deaths)):
        /// shown should the log not match its snapshot.
        deaths: Vec<String>,
    },
    /// It is not run in this environment; `.notrun` has been written.
    NotRun {
        /// iotests' reason.
        reason: String,
    },
    /// Not in the groups selected by `IOTESTS_GROUP` / `IOTESTS_EXCLUDE_GROUP`.
    Deselected,
    /// List mode (`IOTESTS_LIST=1`): described, not run.
    Listed,
}

/// Why a test failed.
#[derive(Debug)]
pub enum FailureKind {
    /// The body (or the setup) returned an error.
    Error(Error),
    /// The body panicked (the payload is re-raised by [`Failure::fail`]).
    Panic(Box<dyn std::any::Any + Send>),
    /// The body ran over its limit; its processes were killed.
    Timeout {
        /// The limit.
        limit: Duration,
        /// The processes killed (`name (pid N)`).
        killed: Vec<String>,
    },
    /// unittest-style cases failed.
    Cases(SuiteResult),
}

/// A failed test: which, why, and what it logged.
#[derive(Debug)]
pub struct Failure {
    /// The test.
    pub name: String,
    /// Why.
    pub kind: Box<FailureKind>,
    /// Its last log lines (for [`FailureKind::Cases`], the whole log:
    /// progress line, case output and summary).
    pub log: String,
    /// Processes that died in a way the test did not ask for — killed by a
    /// signal it did not send, a daemon gone by itself — as
    /// [`ProcessRegistry::deaths`](crate::process::ProcessRegistry::deaths)
    /// says: often the cause of what failed next.
    pub deaths: Vec<String>,
}

/// The report section on processes that died unexpectedly ("" for none).
pub(crate) fn deaths_section(deaths: &[String]) -> String {
    if deaths.is_empty() {
        return String::new();
    }
    format!("\n--- processes that died during the test ---\n{}", deaths.join("\n"))
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = &self.name;
        match &*self.kind {
            FailureKind::Error(error) => write!(f, "{name}: {error}")?,
            FailureKind::Panic(payload) => {
                write!(f, "{name}: panicked: {}", crate::unittest::panic_message(&**payload))?
            }
            FailureKind::Timeout { limit, killed } => {
                write!(f, "{name}: timed out after {limit:?}")?;
                if !killed.is_empty() {
                    write!(f, "; killed {}", killed.join(", "))?;
                }
            }
            FailureKind::Cases(result) => {
                let (n_f, n_e) = (result.failures.len(), result.errors.len());
                writeln!(f, "{name}: {n_f} failure(s), {n_e} error(s) in {} case(s)", result.tests_run)?;
                write!(f, "{}", result.error_blocks())?;
                if !self.deaths.is_empty() {
                    writeln!(f, "{}", deaths_section(&self.deaths).trim_start())?;
                }
                return write!(f, "--- log ---\n{}", self.log);
            }
        }
        write!(f, "{}\n--- last log lines ---\n{}", deaths_section(&self.deaths), self.log)
    }
}

impl Failure {
    fn new(name: &str, kind: FailureKind, log: String) -> Failure {
        Failure { name: name.to_string(), kind: Box::new(kind), log, deaths: Vec::new() }
    }

    /// A failure of a test that ran in `ctx`: with the deaths it saw.
    fn of(ctx: &TestContext, name: &str, kind: FailureKind, log: String) -> Failure {
        Failure { deaths: ctx.processes().deaths(), ..Failure::new(name, kind, log) }
    }

    /// Fail the calling Rust test with the report: what went wrong (for a
    /// panicking body, its message and where it panicked) and the last log
    /// lines.
    pub fn fail(self) -> ! {
        panic!("{self}")
    }
}

/// Run a script-style test (`script_main` / `script_initialize`) in `env`.
///
/// ```no_run
/// use iotests::harness::{run_script, Outcome, TestSpec};
/// const SPEC: TestSpec = TestSpec::new("example").supported_fmts(&["qcow2"]);
/// let env = iotests::env::TestEnv::from_process_env(SPEC.default_fmt());
/// match run_script(&SPEC, env, |t| { t.log("hello"); Ok(()) }) {
///     Ok(Outcome::Passed { log, .. }) => assert_eq!(log, "hello\n"),
///     Ok(other) => println!("{other:?}"),
///     Err(f) => f.fail(),
/// }
/// ```
pub fn run_script<F>(spec: &TestSpec, env: TestEnv, body: F) -> Result<Outcome, Failure>
where
    F: FnOnce(&TestContext) -> Result<()> + Send + 'static,
{
    let (ctx, finished) = match prepare_and_run(spec, env, body)? {
        Prepared::NotRun(o) => return Ok(o),
        Prepared::Ran(ctx, finished) => (ctx, finished),
    };
    match finished {
        Finished::Returned(Ok(())) => Ok(passed(&ctx)),
        Finished::Returned(Err(e)) => conclude_error(spec, &ctx, e),
        other => Err(abnormal(spec, &ctx, other)),
    }
}

/// Run a unittest-style test (`iotests.main()`) in `env`: the suite is
/// built on the test's thread by `suite`.
pub fn run_unittest<F>(spec: &TestSpec, env: TestEnv, suite: F) -> Result<Outcome, Failure>
where
    F: FnOnce() -> Suite + Send + 'static,
{
    let debug = env.debug;
    let activate = spec.activate_logging;
    let before_main = spec.before_main;
    let body = move |t: &TestContext| -> Result<SuiteResult> {
        if let Some(before_main) = before_main {
            before_main(t)?;
        }
        t.logger().set_active(activate);
        let suite = suite();
        let verbose: Option<Box<dyn std::io::Write + Send>> =
            if debug { Some(Box::new(std::io::stdout())) } else { None };
        Ok(suite.run(t, verbose))
    };
    let (ctx, finished) = match prepare_and_run(spec, env, body)? {
        Prepared::NotRun(o) => return Ok(o),
        Prepared::Ran(ctx, finished) => (ctx, finished),
    };
    match finished {
        Finished::Returned(Ok(result)) => {
            if let Some(reason) = result.not_run {
                return not_run(spec, ctx.env(), reason);
            }
            if result.was_successful() {
                Ok(passed(&ctx))
            } else {
                Err(Failure::of(&ctx, spec.name, FailureKind::Cases(result), ctx.contents()))
            }
        }
        Finished::Returned(Err(e)) => conclude_error(spec, &ctx, e),
        other => Err(abnormal(spec, &ctx, other)),
    }
}

enum Prepared<T> {
    NotRun(Outcome),
    Ran(Arc<TestContext>, Finished<T>),
}

fn prepare_and_run<T, F>(spec: &TestSpec, env: TestEnv, body: F) -> Result<Prepared<T>, Failure>
where
    T: Send + 'static,
    F: FnOnce(&TestContext) -> T + Send + 'static,
{
    clear_notrun_files(&env, spec.name);
    let setup_failure = |error: Error| Failure::new(spec.name, FailureKind::Error(error), String::new());
    if let Err(e) = verify_setup(spec, &env) {
        return match not_run_reason(&e) {
            Some(reason) => not_run(spec, &env, reason).map(Prepared::NotRun),
            None => Err(setup_failure(e)),
        };
    }
    let ctx = Arc::new(TestContext::new(spec.name, env).map_err(setup_failure)?);
    let finished = run_with_timeout(&ctx, resolve_timeout(spec.timeout), body).map_err(setup_failure)?;
    Ok(Prepared::Ran(ctx, finished))
}

fn not_run(spec: &TestSpec, env: &TestEnv, reason: String) -> Result<Outcome, Failure> {
    match write_notrun(env, spec.name, &reason) {
        Ok(()) => Ok(Outcome::NotRun { reason }),
        Err(error) => Err(Failure::new(spec.name, FailureKind::Error(error), String::new())),
    }
}

fn conclude_error(spec: &TestSpec, ctx: &TestContext, e: Error) -> Result<Outcome, Failure> {
    match not_run_reason(&e) {
        Some(reason) => not_run(spec, ctx.env(), reason),
        None => Err(Failure::of(ctx, spec.name, FailureKind::Error(e), ctx.logger().tail(TAIL_LINES))),
    }
}

fn abnormal<T>(spec: &TestSpec, ctx: &TestContext, finished: Finished<T>) -> Failure {
    let kind = match finished {
        Finished::TimedOut { limit, killed } => FailureKind::Timeout { limit, killed },
        Finished::Panicked(payload) => FailureKind::Panic(payload),
        // Handled by the callers; kept total so nothing can panic here.
        Finished::Returned(_) => FailureKind::Error(Error::Unexpected("unexpected result".into())),
    };
    Failure::of(ctx, spec.name, kind, ctx.logger().tail(TAIL_LINES))
}

fn passed(ctx: &TestContext) -> Outcome {
    Outcome::Passed { log: ctx.contents(), env: Box::new(ctx.env().clone()), deaths: ctx.processes().deaths() }
}

/// Run the snapshot assertion `assert`; should it fail, its message is
/// followed by the processes that died unexpectedly during the test.
#[doc(hidden)]
pub fn assert_with_deaths(deaths: &[String], assert: impl FnOnce()) {
    if deaths.is_empty() {
        return assert();
    }
    if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(assert)) {
        panic!("{}{}", crate::unittest::panic_message(&*payload), deaths_section(deaths));
    }
}

/// What the generated `#[test]` does before running: list mode and group
/// selection. `Some(outcome)` means "do not run".
fn pre_run(spec: &TestSpec, test_path: &str, cases: impl FnOnce() -> Vec<String>) -> Option<Outcome> {
    if std::env::var(LIST_VAR).is_ok_and(|v| v == "1") {
        println!("{LIST_PREFIX}{}", spec.describe(test_path, &cases()));
        return Some(Outcome::Listed);
    }
    if !spec.selected(&env_list(GROUP_VAR), &env_list(EXCLUDE_GROUP_VAR)) {
        eprintln!("{}: not in the selected groups", spec.name);
        return Some(Outcome::Deselected);
    }
    None
}

/// The generated `#[test]` of a script-style declaration: list mode, group
/// selection, the environment from the process (`IMGFMT` unset → the
/// test's first format), then [`run_script`].
#[doc(hidden)]
pub fn run_declared_script<F>(spec: &TestSpec, test_path: &str, body: F) -> Result<Outcome, Failure>
where
    F: FnOnce(&TestContext) -> Result<()> + Send + 'static,
{
    if let Some(o) = pre_run(spec, test_path, Vec::new) {
        return Ok(o);
    }
    run_script(spec, TestEnv::from_process_env(spec.default_fmt()), body)
}

/// The generated `#[test]` of a unittest-style declaration.
#[doc(hidden)]
pub fn run_declared_unittest(spec: &TestSpec, test_path: &str, suite: fn() -> Suite) -> Result<Outcome, Failure> {
    let spec = spec.kind(TestKind::Unittest);
    if let Some(o) = pre_run(&spec, test_path, || suite().case_ids()) {
        return Ok(o);
    }
    run_unittest(&spec, TestEnv::from_process_env(spec.default_fmt()), suite)
}
