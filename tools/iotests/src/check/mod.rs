//! `iotests check`: list the test binary's tests, select like `check`, run
//! each test of each cell as its own process across `-j N` slots, and report
//! like `check`.
//!
//! The pieces are kept apart, cargo-nextest style: [`build`] gets the test
//! binary, [`runner`] runs processes (via [`spawn`]) and [`conclude`]
//! decides verdicts (via the pure [`verdict`]), [`reporter`] prints (with
//! [`tap`] and [`grid`]), [`junit`] writes XML, [`times`] remembers elapsed
//! times.

pub mod build;
pub mod conclude;
pub mod config;
pub mod grid;
pub mod junit;
pub mod reporter;
pub mod runner;
pub mod spawn;
pub mod tap;
pub mod times;
pub mod verdict;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use crate::envcmd::{self, MatrixArgs};
use crate::error::{Error, IoContext, Result};
use crate::listing::{self, TestDef};
use crate::scratch::Roots;
use crate::select::{self, Selection, Shard};
use crate::snapfile::SnapDir;
use crate::workspace::Paths;
use crate::{proc, programs};
use conclude::Outcome;
use config::{CellRun, Insta, Job, RunConfig};
use reporter::{Mode, Reporter, Style};
use times::Times;
use verdict::Status;

/// When to use colors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// When stdout is a terminal, `NO_COLOR` is unset and `TERM` is not `dumb`.
    Auto,
    /// Always.
    On,
    /// Never.
    Off,
}

/// Whether stdout is a terminal that can take escape sequences.
pub fn smart_terminal() -> bool {
    std::io::stdout().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

impl ColorChoice {
    /// Whether to color stdout.
    pub fn enabled(self) -> bool {
        match self {
            ColorChoice::Auto => smart_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            ColorChoice::On => true,
            ColorChoice::Off => false,
        }
    }
}

/// Whether this is a CI machine (`CI` set, as GitHub and GitLab do).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Which tests: `check`'s test selecting options.
#[derive(Debug, Clone, clap::Args)]
pub struct SelectArgs {
    /// Include tests from these groups (comma-separated, repeatable).
    #[arg(short = 'g', long = "groups", value_name = "GROUP,...")]
    pub groups: Vec<String>,
    /// Exclude tests from these groups (comma-separated, repeatable).
    #[arg(short = 'x', long = "exclude-groups", value_name = "GROUP,...")]
    pub exclude: Vec<String>,
    /// Start from this test of the sorted selection.
    #[arg(long, value_name = "TEST")]
    pub start_from: Option<String>,
    /// Run only the K-th of N round-robin slices of the sorted selection.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Tests by upstream name (`040`, `40`, `iothreads-stream`), module name or
    /// glob pattern.
    #[arg(value_name = "TESTS")]
    pub tests: Vec<String>,
}

impl SelectArgs {
    /// Apply the selection and shard to the listed tests.
    pub fn resolve<'a>(&self, all: &'a [TestDef]) -> Result<Vec<&'a TestDef>> {
        let sel = Selection {
            groups: select::split_groups(&self.groups),
            exclude: select::split_groups(&self.exclude),
            tests: self.tests.clone(),
            start_from: self.start_from.clone(),
        };
        let chosen = select::select(all, &sel)?;
        Ok(match self.shard {
            Some(s) => s.apply(chosen),
            None => chosen,
        })
    }
}

/// How to run them: the matrix cells and the runner's knobs.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub matrix: MatrixArgs,
    /// Run up to N tests in parallel (longest first by their last times).
    #[arg(short = 'j', value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
    /// Debug: IOTESTS_DEBUG=1 (log lines echoed), output shown live with -j 1.
    #[arg(short = 'd')]
    pub debug: bool,
    /// Per-test time limit in seconds, handed to each test as IOTESTS_TIMEOUT;
    /// 0: none [default: IOTESTS_TIMEOUT, else the test's declared limit, else 300].
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<String>,
    /// Seconds past its limit a test may take to stop itself (the library
    /// needs a few to kill its processes and report) before it is killed.
    #[arg(long, value_name = "SECS", default_value = "15")]
    pub timeout_grace: String,
    /// Print a SLOW line for a test running longer than this, and again every
    /// this often; 0: never.
    #[arg(long, value_name = "SECS", default_value = "60")]
    pub slow_timeout: String,
    /// Use this test binary instead of building it with cargo.
    #[arg(long, value_name = "PATH")]
    pub test_binary: Option<PathBuf>,
    /// Hold /dev/cpu_dma_latency at 0 during the run, so that idle CPUs poll
    /// instead of halting: in a VM whose idle vCPUs halt at once, tests made
    /// of many small I/O requests wait on wakeups (044: 80 s → 22 s). Needs
    /// root; ends with the run.
    #[arg(long)]
    pub idle_poll: bool,
    /// Use terminal colors.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// `check`'s own options.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub run: RunArgs,
    /// Dry run: list the selected tests, run nothing.
    #[arg(short = 'n', long = "dry-run")]
    pub dry_run: bool,
    /// Produce TAP output (`-tap` works too).
    #[arg(long, conflicts_with = "makecheck")]
    pub tap: bool,
    /// Terse output as the old `check -makecheck`: a line per test, details
    /// only for failures (`-makecheck` works too).
    #[arg(long)]
    pub makecheck: bool,
    /// Also write a JUnit XML report to FILE (one test suite per cell).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// A time value of an option, through the library's parser.
fn secs(what: &'static str, value: &str) -> Result<Option<Duration>> {
    iotests::harness::timeout::parse_timeout(value).map_err(|e| Error::BadValue { what, why: e.to_string() })
}

/// The test binary (given or built) and its tests.
pub fn load(paths: &Paths, test_binary: Option<&std::path::Path>) -> Result<(PathBuf, Vec<TestDef>)> {
    let binary = match test_binary {
        Some(b) => crate::workspace::absolute(b)?,
        None => build::build(&paths.root()?, &paths.test_target()?, paths.quiet, paths.cargo_profile.as_deref())?,
    };
    let cwd = paths.root()?;
    let tests = listing::list(&binary, &cwd)?;
    Ok((binary, tests))
}

/// Everything needed to run a selection.
pub struct Prepared {
    /// The jobs: every selected test in every cell, cell by cell.
    pub jobs: Vec<Job>,
    /// The runner's configuration.
    pub cfg: RunConfig,
    /// Last elapsed times, per cell.
    pub times: Vec<Times>,
}

/// The `check.time-*` file of a cell: upstream's name for `<fmt>-<proto>`.
fn times_file(cell: &envcmd::Cell) -> String {
    if cell.name == format!("{}-{}", cell.imgfmt, cell.imgproto) {
        format!("check.time-{}-{}", cell.imgproto, cell.imgfmt)
    } else {
        format!("check.time-{}", cell.name)
    }
}

/// Set up the runner for `tests` in every cell `run` names.
pub fn prepare(paths: &Paths, run: &RunArgs, binary: PathBuf, tests: &[&TestDef], insta: Insta) -> Result<Prepared> {
    let root = paths.root()?;
    let work = paths.work_dir()?;
    let snapshots = paths.snapshots()?;
    let limit_override = match &run.timeout {
        Some(t) => Some(secs("--timeout", t)?),
        None if std::env::var_os("IOTESTS_TIMEOUT").is_some_and(|v| !v.is_empty()) => {
            Some(proc::limit_from_env("IOTESTS_TIMEOUT", None)?)
        }
        None => None,
    };
    let grace = secs("--timeout-grace", &run.timeout_grace)?.unwrap_or_default();
    let slow = secs("--slow-timeout", &run.slow_timeout)?;
    let user_dir = |v: &str| std::env::var_os(v).filter(|d| !d.is_empty()).map(PathBuf::from);
    let keep = std::env::var("IOTESTS_KEEP_SCRATCH").is_ok_and(|v| !v.is_empty() && v != "0");
    let scratch = Roots::new(user_dir("TEST_DIR"), user_dir("SOCK_DIR"), keep)?;

    let matrix = run.matrix.is_matrix();
    let mut cells = Vec::new();
    for cell in if matrix { run.matrix.cells()? } else { vec![run.matrix.cell()] } {
        let output_dir = work.join(&cell.name);
        std::fs::create_dir_all(&output_dir).at(&output_dir)?;
        let mut vars = cell.vars(&output_dir);
        vars.push(("IOTESTS_ACTUAL_DIR".into(), output_dir.display().to_string()));
        let mut all: iotests::env::Vars = std::env::vars().collect();
        all.extend(vars.iter().cloned());
        all.insert("TEST_DIR".into(), scratch.test_dir.display().to_string());
        all.insert("SOCK_DIR".into(), scratch.sock_dir.display().to_string());
        let env = iotests::env::TestEnv::from_vars(&all, &cell.imgfmt);
        // The test binary picks its reference output by QEMU's default
        // machine: hand down the one probed here so both sides agree.
        if !env.qemu_default_machine().is_empty() {
            vars.push(("QEMU_DEFAULT_MACHINE".into(), env.qemu_default_machine().to_string()));
        }
        // And QEMU's options, so that no test process asks QEMU for its
        // accelerators again.
        if !vars.iter().any(|(k, _)| k == "QEMU_OPTIONS") {
            vars.push(("QEMU_OPTIONS".into(), env.qemu_opts().join(" ")));
        }
        cells.push(CellRun { cell, output_dir, vars, env });
    }
    let mut env = vec![
        ("IOTESTS_SNAPSHOT_DIR".to_string(), snapshots.display().to_string()),
        // check decides what is written, not insta or the user's settings.
        ("INSTA_UPDATE".into(), "no".into()),
        ("INSTA_FORCE_PASS".into(), if insta == Insta::Regen { "1" } else { "0" }.into()),
        // Mismatches are shown as diffs; backtraces would only bury them.
        ("RUST_BACKTRACE".into(), "0".into()),
    ];
    if run.debug {
        env.push(("IOTESTS_DEBUG".into(), "1".into()));
    }
    let env_remove = [
        "INSTA_PENDING_DIR",
        "INSTA_FORCE_UPDATE",
        "INSTA_FORCE_UPDATE_SNAPSHOTS",
        "INSTA_REQUIRE_FULL_MATCH",
        "INSTA_OUTPUT",
        "RUST_LIB_BACKTRACE",
        "IOTESTS_LIST",
        "IOTESTS_GROUP",
        "IOTESTS_EXCLUDE_GROUP",
    ]
    .map(String::from)
    .to_vec();
    let mut jobs = Vec::new();
    for (i, c) in cells.iter().enumerate() {
        for t in tests {
            let label = if matrix { format!("{} [{}]", t.name, c.cell.name) } else { t.name.clone() };
            jobs.push(Job { test: (*t).clone(), cell: i, label });
        }
    }
    let times = cells.iter().map(|c| Times::load(&work, &times_file(&c.cell))).collect();
    let jobs_n = usize::from(run.jobs);
    let cfg = RunConfig {
        binary,
        cwd: root,
        env,
        env_remove,
        cells,
        snapshots: SnapDir::new(snapshots),
        jobs: jobs_n,
        limit_override,
        grace,
        slow,
        echo: run.debug && jobs_n == 1,
        idle_poll: run.idle_poll,
        scratch,
        insta,
    };
    Ok(Prepared { jobs, cfg, times })
}

/// The lines after the summary that say what to do next.
fn hints(prep: &Prepared, outcomes: &[Outcome]) -> String {
    let mut s = String::new();
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.verdict.status == Status::Fail).collect();
    let pending = failed.iter().filter(|o| o.verdict.description.contains(".snap.new)")).count();
    if pending > 0 {
        s.push_str(&format!(
            "{} pending in {}: `iotests review` to inspect them, `iotests accept` to take them (`cargo insta review` works too)\n",
            reporter::count(pending, "snapshot"),
            prep.cfg.snapshots.dir.display()
        ));
    }
    let mismatched_in_ci =
        prep.cfg.insta == (Insta::Check { write_pending: false }) && failed.iter().any(|o| o.verdict.detail_is_diff);
    if mismatched_in_ci {
        s.push_str("snapshots are not written under CI; each actual output is kept as <OUTPUT_DIR>/<name>.out.bad\n");
    }
    s
}

/// Run the prepared jobs with a reporter; returns outcomes in job order.
pub fn execute(prep: &mut Prepared, mode: Mode, color: bool) -> Vec<Outcome> {
    let style = Style { mode, color, progress: smart_terminal(), jobs: prep.cfg.jobs };
    let prefix = if mode == Mode::Tap { "# " } else { "" };
    let cell_names: Vec<String> = prep.cfg.cells.iter().map(|c| c.cell.name.clone()).collect();
    let matrix = cell_names.len() > 1;
    let header = envcmd::header(&prep.cfg.cells[0].env, prefix, matrix.then_some(cell_names.as_slice()));
    let outcomes = {
        let fmts = prep.cfg.cells.iter().map(|c| c.cell.imgfmt.clone()).collect();
        let times = prep.times.iter().collect();
        let mut rep = Reporter::new(Box::new(std::io::stdout()), style, times, fmts, &prep.jobs);
        rep.begin(&header);
        let order = times::start_order(&prep.jobs, &prep.times, prep.cfg.jobs);
        let _idle = prep.cfg.idle_poll.then(iotests::process::idle_poll).and_then(|held| {
            held.map_err(|e| {
                eprintln!("iotests: warning: --idle-poll: {e} (/dev/cpu_dma_latency); idle CPUs keep halting")
            })
            .ok()
        });
        let outcomes = runner::run(&prep.jobs, &order, &prep.cfg, &mut rep);
        let pairs: Vec<(&Job, &Outcome)> = prep.jobs.iter().zip(&outcomes).collect();
        rep.summary(&pairs);
        if mode != Mode::Tap {
            if matrix {
                rep.text(&format!("\n{}", grid::render(&cell_names, &pairs, color)));
            }
            rep.text(&hints(prep, &outcomes));
        }
        outcomes
    };
    for (job, o) in prep.jobs.iter().zip(&outcomes) {
        if o.verdict.status == Status::Pass
            && let Some(t) = o.elapsed
        {
            prep.times[job.cell].update(&job.test.name, t);
        }
    }
    for t in &prep.times {
        if let Err(e) = t.save() {
            // The times file is a cache: losing it must not fail the run.
            eprintln!("iotests: warning: {e}");
        }
    }
    prep.cfg.scratch.finish();
    outcomes
}

/// The exit code for a set of outcomes: 130 if interrupted, 1 on failures.
pub fn exit_code(outcomes: &[Outcome]) -> i32 {
    if proc::interrupted() {
        130
    } else if outcomes.iter().any(|o| o.verdict.status == Status::Fail) {
        1
    } else {
        0
    }
}

/// Write the JUnit report of a run.
pub fn write_junit(path: &std::path::Path, prep: &Prepared, outcomes: &[Outcome]) -> Result<()> {
    let suites: Vec<(String, Vec<(&Job, &Outcome)>)> = prep
        .cfg
        .cells
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let results = prep.jobs.iter().zip(outcomes).filter(|(j, _)| j.cell == i).collect();
            (format!("iotests.{}", c.cell.name), results)
        })
        .collect();
    junit::write(path, &suites)
}

/// `iotests check`.
pub fn check(paths: &Paths, args: &CheckArgs) -> Result<i32> {
    if !args.dry_run {
        programs::verify(&|v| std::env::var(v).ok())?;
    }
    let (binary, all) = load(paths, args.run.test_binary.as_deref())?;
    let tests = args.select.resolve(&all)?;
    if args.dry_run {
        let mut out = std::io::stdout().lock();
        for t in &tests {
            writeln!(out, "{}", t.name).at("stdout")?;
        }
        return Ok(0);
    }
    let mut prep = prepare(paths, &args.run, binary, &tests, Insta::Check { write_pending: !in_ci() })?;
    let mode = if args.tap {
        Mode::Tap
    } else if args.makecheck {
        Mode::Makecheck
    } else {
        Mode::Human
    };
    let outcomes = execute(&mut prep, mode, args.run.color.enabled());
    if let Some(path) = &args.junit {
        write_junit(path, &prep, &outcomes)?;
    }
    Ok(exit_code(&outcomes))
}
