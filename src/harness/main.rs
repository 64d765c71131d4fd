//! The test binary's own harness: every [`iotest!`](crate::iotest) of the
//! binary, run as libtest runs tests (same arguments and output, through
//! `libtest-mimic`), so that `cargo test`, `cargo nextest` and the
//! `iotests` CLI all drive it.
//!
//! What it adds to libtest:
//!
//! * a test that cannot run in the selected matrix cell (format, protocol,
//!   platform, cache or AIO mode, a missing QEMU binary…) is listed as
//!   *ignored*, its reason printed and `<OUTPUT_DIR>/<name>.notrun` written
//!   when it is selected; a not-run found while running is reported as
//!   ignored with its reason too, never as `ok`;
//! * `IOTESTS_LIST=1` prints every test's declaration as one JSON line
//!   (`iotests-spec: {…}`, see [`TestSpec::describe`]) and exits;
//! * tests are registered by `iotest!` itself (no list to keep), and a
//!   build script finds the modules (see `tests/iotests/main.rs`).
//!
//! `tests/iotests/main.rs`, with `harness = false` for its target, is
//! `fn main() { iotests::harness::main() }` after the test modules.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use libtest_mimic::{Arguments, Completion, Failed, Trial};

use super::declare::{LIST_PREFIX, LIST_VAR, TestSpec};
use super::notrun::{not_run_reason, write_notrun};
use super::verify::verify_setup;
use crate::env::TestEnv;

/// How a registered test ended, when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// It ran and passed.
    Passed,
    /// It did not run here, for this reason.
    NotRun(String),
    /// It failed as its `xfail` declaration says it does here.
    Xfail(String),
}

/// A test as `iotest!` registers it.
#[derive(Debug)]
pub struct Declared {
    /// Its declaration.
    pub spec: &'static TestSpec,
    /// `module_path!()` of the generated module: `<crate>::<file>::<fn>`.
    pub module: &'static str,
    /// Runs the test; panics when it failed (the snapshot assertion
    /// included).
    pub run: fn() -> RunEnd,
    /// The unittest-style cases (`Class.test_x`), in run order.
    pub cases: fn() -> Vec<String>,
}

inventory::collect!(Declared);

impl Declared {
    /// The libtest name: the module path without the crate, `t209::t209`.
    pub fn test_name(&self) -> &'static str {
        self.module.split_once("::").map_or(self.module, |(_, rest)| rest)
    }
}

/// Every test registered in this binary, by name.
pub fn declared() -> Vec<&'static Declared> {
    let mut v: Vec<&'static Declared> = inventory::iter::<Declared>.into_iter().collect();
    v.sort_by_key(|d| d.test_name());
    v
}

thread_local! {
    /// Where the last panic on this thread happened (the panic hook's
    /// record, for the failure message).
    static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The harness's `main`: run the registered tests with libtest's command
/// line, or list them under `IOTESTS_LIST=1`.
pub fn main() -> ! {
    crate::cleanup::install_signal_cleanup();
    let tests = declared();
    if std::env::var(LIST_VAR).is_ok_and(|v| v == "1") {
        for d in &tests {
            println!("{LIST_PREFIX}{}", d.spec.describe(d.test_name(), &(d.cases)()));
        }
        std::process::exit(0);
    }
    let args = Arguments::from_args();
    // A QEMU program the user named but that is not there is a broken
    // setup: the run fails with a line saying so, rather than every test
    // being "not run" in a green run. Listing still works.
    let broken = if args.list { Vec::new() } else { broken_programs() };
    if !broken.is_empty() {
        for b in broken {
            eprintln!("iotests: {b}");
        }
        std::process::exit(2);
    }
    // Failures are reported through libtest's summary with the message and
    // where the panic happened; the default hook would print them twice.
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().map(|l| format!("{}:{}", l.file(), l.line()));
        PANIC_AT.with(|p| *p.borrow_mut() = at);
    }));
    let trials: Vec<Trial> = tests.iter().map(|d| trial(d, &args)).collect();
    write_static_notruns(&args, &tests, &trials);
    libtest_mimic::run(&args, trials).exit()
}

/// The QEMU programs set explicitly (`QEMU_PROG=…`, …) that are not
/// executables: `QEMU_PROG=/nonexistent: no such executable file`.
fn broken_programs() -> Vec<String> {
    ["QEMU_PROG", "QEMU_IMG_PROG", "QEMU_IO_PROG", "QEMU_NBD_PROG", "QSD_PROG"]
        .iter()
        .filter_map(|var| {
            let value = std::env::var(var).ok().filter(|v| !v.is_empty())?;
            if crate::env::which(&value).is_some() {
                return None;
            }
            let why = if value.contains('/') { "no such executable file" } else { "not found in PATH" };
            Some(format!("{var}={value}: {why}"))
        })
        .collect()
}

/// Why `d` cannot run in this process's matrix cell, known before it
/// starts.
fn static_not_run(d: &Declared) -> Option<String> {
    let env = TestEnv::from_process_env(d.spec.default_fmt());
    verify_setup(d.spec, &env).err().and_then(|e| not_run_reason(&e))
}

fn trial(d: &'static Declared, args: &Arguments) -> Trial {
    let run = d.run;
    let name = d.test_name();
    // Whether a test can run here is only worth finding out for the tests
    // this run selects by name (`--exact t209::t209` under `check`): working
    // it out resolves the QEMU binaries, and did so for every registered test
    // in every test process.
    let selected = !args.is_filtered_out(&Trial::test(name, || Ok(())).with_ignored_flag(true));
    Trial::ignorable_test(name, move || match catch_unwind(AssertUnwindSafe(run)) {
        Ok(RunEnd::Passed) => Ok(Completion::Completed),
        Ok(RunEnd::NotRun(reason)) => {
            eprintln!("{name}: not run: {reason}");
            Ok(Completion::ignored_with(reason))
        }
        // libtest has no "expected failure": it is reported as ignored, with
        // the reason, so that the run stays green and the reason is seen.
        Ok(RunEnd::Xfail(reason)) => Ok(Completion::ignored_with(format!("expected failure: {reason}"))),
        Err(payload) => {
            let msg = crate::unittest::panic_message(&*payload);
            let at = PANIC_AT.with(|p| p.borrow_mut().take());
            Err(Failed::from(match at {
                Some(at) => format!("{msg}\n(at {at})"),
                None => msg,
            }))
        }
    })
    .with_ignored_flag(selected && static_not_run(d).is_some())
}

/// The ignored trials that this run selects do not run, so the harness
/// writes their `.notrun` (as `check` expects) and says why.
fn write_static_notruns(args: &Arguments, tests: &[&'static Declared], trials: &[Trial]) {
    if args.list || args.ignored || args.include_ignored {
        return;
    }
    for (d, t) in tests.iter().zip(trials) {
        if !t.has_ignored_flag() || args.is_filtered_out(t) {
            continue;
        }
        if let Some(reason) = static_not_run(d) {
            let env = TestEnv::from_process_env(d.spec.default_fmt());
            // (write_notrun prints iotests' "not run" warning.)
            if let Err(e) = write_notrun(&env, d.spec.name, &reason) {
                eprintln!("{}: {e}", d.test_name());
            }
        }
    }
}

/// What the `#[test]` function `iotest!` also generates (for test binaries
/// under libtest) does with a registered test's result.
#[doc(hidden)]
pub fn run_under_libtest(run: fn() -> RunEnd, name: &str) {
    match run() {
        RunEnd::Passed => {}
        RunEnd::NotRun(reason) => eprintln!("{name}: not run: {reason}"),
        RunEnd::Xfail(reason) => eprintln!("{name}: expected failure: {reason}"),
    }
}

/// The end of a test declared `xfail`: a failure or an output that differs
/// from the reference is the expected failure (`.xfail` written, reason and
/// difference printed); an output equal to the reference fails the test,
/// as the declaration is stale — unless it is declared
/// `xfail_intermittent`, where that is a pass.
#[doc(hidden)]
pub fn conclude_xfail(
    spec: &TestSpec,
    reason: &str,
    outcome: Result<super::Outcome, super::Failure>,
    manifest_dir: &str,
) -> RunEnd {
    let what = match outcome {
        Ok(super::Outcome::Passed { log, env, .. }) => {
            match crate::snapshot::differs_from_reference(manifest_dir, spec.snapshot_dir, spec.name, &log, &env) {
                Some(diff) => (diff, *env),
                None if spec.xfail_intermittent => return RunEnd::Passed,
                None => panic!(
                    "{}: its output equals the reference, but it is declared `xfail: {reason:?}`: remove the declaration",
                    spec.name
                ),
            }
        }
        Ok(super::Outcome::NotRun { reason }) => return RunEnd::NotRun(reason),
        Ok(_) => return RunEnd::Passed,
        Err(failure) => (failure.to_string(), TestEnv::from_process_env(spec.default_fmt())),
    };
    let (detail, env) = what;
    eprintln!("{}: expected failure: {reason}\n{detail}", spec.name);
    if let Err(e) = std::fs::create_dir_all(&env.output_dir)
        .and_then(|()| std::fs::write(super::notrun::xfail_path(&env, spec.name), format!("{reason}\n")))
    {
        eprintln!("{}: writing its .xfail: {e}", spec.name);
    }
    RunEnd::Xfail(reason.to_string())
}
