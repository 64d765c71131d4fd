//! `iotests check`: select tests like `check`, build the suite once, run each
//! test as its own process across `-j N` slots, and report like `check`.
//!
//! The pieces are kept apart, cargo-nextest style: [`build`] gets the test
//! binary and its test list, [`runner`] runs processes and decides verdicts
//! (via [`verdict`]), [`reporter`] prints, [`junit`] writes XML, [`times`]
//! remembers elapsed times.

pub mod build;
pub mod junit;
pub mod reporter;
pub mod runner;
pub mod times;
pub mod verdict;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use crate::discover::{self, Selection, Shard, TestDef};
use crate::envcmd::{self, MatrixArgs};
use crate::error::{IoContext, Result};
use crate::proc;
use crate::snapfile::SnapDir;
use crate::workspace::Paths;
use reporter::{Mode, Reporter, Style};
use runner::{Job, Outcome, RunConfig};
use times::Times;
use verdict::Status;

/// The default per-test timeout (`IOTESTS_TIMEOUT` overrides it).
const TEST_TIMEOUT: Duration = Duration::from_secs(300);

/// When to use colors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// When stdout is a terminal.
    Auto,
    /// Always.
    On,
    /// Never.
    Off,
}

impl ColorChoice {
    /// Whether to color stdout.
    pub fn enabled(self) -> bool {
        match self {
            ColorChoice::Auto => std::io::stdout().is_terminal(),
            ColorChoice::On => true,
            ColorChoice::Off => false,
        }
    }
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
    /// Discover the tests and apply the selection and shard.
    pub fn resolve<'a>(&self, all: &'a [TestDef]) -> Result<Vec<&'a TestDef>> {
        let sel = Selection {
            groups: discover::split_groups(&self.groups),
            exclude: discover::split_groups(&self.exclude),
            tests: self.tests.clone(),
            start_from: self.start_from.clone(),
        };
        let chosen = discover::select(all, &sel)?;
        Ok(match self.shard {
            Some(s) => s.apply(chosen),
            None => chosen,
        })
    }
}

/// How to run them: the matrix cell and the runner's knobs.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub matrix: MatrixArgs,
    /// Run up to N tests in parallel.
    #[arg(short = 'j', value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
    /// Debug: IOTESTS_DEBUG=1 (log lines echoed), output shown live with -j 1.
    #[arg(short = 'd')]
    pub debug: bool,
    /// Per-test timeout in seconds [default: IOTESTS_TIMEOUT or 300].
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Use this test binary instead of building it with cargo.
    #[arg(long, value_name = "PATH")]
    pub test_binary: Option<PathBuf>,
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
    #[arg(long)]
    pub tap: bool,
    /// Also write a JUnit XML report to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// How insta may touch snapshots in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insta {
    /// `check`: a mismatch fails and leaves `<name>.snap.new` for review
    /// (unless `CI` is set or INSTA_UPDATE was given explicitly).
    Check,
    /// `regen`: every changed or new snapshot is written as `.snap.new` and
    /// the mismatch does not fail the test.
    Regen,
}

/// Everything needed to run a selection.
pub struct Prepared {
    /// The jobs, in selection order.
    pub jobs: Vec<Job>,
    /// The runner's configuration.
    pub cfg: RunConfig,
    /// The environment header for this cell.
    pub env: iotests::env::TestEnv,
    /// Last elapsed times of this cell.
    pub times: Times,
}

/// Build (or take) the test binary, list it, and set up the runner.
pub fn prepare(paths: &Paths, run: &RunArgs, tests: &[&TestDef], insta: Insta) -> Result<Prepared> {
    let root = paths.root()?;
    let work = paths.work_dir()?;
    let output_dir = work.join(run.matrix.cell());
    std::fs::create_dir_all(&output_dir).at(&output_dir)?;
    let snapshots = paths.snapshots()?;
    let binary = match &run.test_binary {
        Some(b) => crate::workspace::absolute(b)?,
        None => build::build(&root)?,
    };
    let listed = build::list(&binary, &root)?;
    let jobs = tests
        .iter()
        .map(|t| Job {
            name: t.name.clone(),
            module: t.module.clone(),
            paths: build::paths_for(&listed, &t.module).into_iter().map(String::from).collect(),
        })
        .collect();

    let mut env = run.matrix.vars(&output_dir);
    env.push(("IOTESTS_SNAPSHOT_DIR".into(), snapshots.display().to_string()));
    if run.debug {
        env.push(("IOTESTS_DEBUG".into(), "1".into()));
    }
    // Pending files must land next to the snapshots, where check looks.
    let mut env_remove = vec!["INSTA_PENDING_DIR".to_string()];
    match insta {
        Insta::Check => {
            env_remove.push("INSTA_FORCE_PASS".into());
            if std::env::var_os("INSTA_UPDATE").is_none() {
                let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
                env.push(("INSTA_UPDATE".into(), if ci { "no" } else { "new" }.into()));
            }
        }
        Insta::Regen => {
            env.push(("INSTA_UPDATE".into(), "new".into()));
            env.push(("INSTA_FORCE_PASS".into(), "1".into()));
        }
    }
    let timeout = match run.timeout {
        Some(s) if s > 0.0 && s.is_finite() => Duration::from_secs_f64(s),
        Some(s) => {
            return Err(crate::error::Error::BadEnv {
                var: "--timeout",
                value: s.to_string(),
                why: "expected a positive number of seconds",
            });
        }
        None => proc::timeout_from_env("IOTESTS_TIMEOUT", TEST_TIMEOUT)?,
    };
    let jobs_n = usize::from(run.jobs);
    let cfg = RunConfig {
        binary,
        cwd: root,
        env,
        env_remove,
        output_dir: output_dir.clone(),
        snapshots: SnapDir::new(snapshots),
        jobs: jobs_n,
        timeout,
        echo: run.debug && jobs_n == 1,
        split_dirs: ["TEST_DIR", "SOCK_DIR"]
            .into_iter()
            .filter_map(|v| std::env::var_os(v).filter(|d| !d.is_empty()).map(|d| (v.to_string(), PathBuf::from(d))))
            .collect(),
        cell: run.matrix.cell(),
    };
    let times = Times::load(&work, &run.matrix.imgproto, &run.matrix.imgfmt);
    Ok(Prepared { jobs, cfg, env: run.matrix.test_env(&output_dir), times })
}

/// Run the prepared jobs with a reporter; returns outcomes in job order.
pub fn execute(prep: &mut Prepared, mode: Mode, color: bool) -> Vec<Outcome> {
    let style = Style {
        mode,
        color,
        progress: std::io::stdout().is_terminal(),
        jobs: prep.cfg.jobs,
        imgfmt: prep.env.imgfmt.clone(),
    };
    let prefix = if mode == Mode::Tap { "# " } else { "" };
    let outcomes = {
        let mut rep =
            Reporter::new(Box::new(std::io::stdout()), Box::new(std::io::stderr()), style, &prep.times, &prep.jobs);
        rep.begin(&envcmd::header(&prep.env, prefix));
        let outcomes = runner::run(&prep.jobs, &prep.cfg, &mut rep);
        let pairs: Vec<(&Job, &Outcome)> = prep.jobs.iter().zip(&outcomes).collect();
        rep.summary(&pairs);
        outcomes
    };
    for (job, o) in prep.jobs.iter().zip(&outcomes) {
        if o.verdict.status == Status::Pass
            && let Some(t) = o.elapsed
        {
            prep.times.update(&job.name, t);
        }
    }
    if let Err(e) = prep.times.save() {
        // The times file is a cache: losing it must not fail the run.
        eprintln!("iotests: warning: {e}");
    }
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

/// `iotests check`.
pub fn check(paths: &Paths, args: &CheckArgs) -> Result<i32> {
    let all = discover::discover(&paths.tests_dir()?)?;
    let tests = args.select.resolve(&all)?;
    if args.dry_run {
        let mut out = std::io::stdout().lock();
        for t in &tests {
            writeln!(out, "{}", t.name).at("stdout")?;
        }
        return Ok(0);
    }
    let mut prep = prepare(paths, &args.run, &tests, Insta::Check)?;
    let mode = if args.tap { Mode::Tap } else { Mode::Human };
    let outcomes = execute(&mut prep, mode, args.run.color.enabled());
    if let Some(path) = &args.junit {
        let pairs: Vec<(&Job, &Outcome)> = prep.jobs.iter().zip(&outcomes).collect();
        junit::write(path, &format!("iotests.{}", args.run.matrix.cell()), &pairs)?;
    }
    Ok(exit_code(&outcomes))
}
