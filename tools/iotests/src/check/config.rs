//! What a run is made of: the jobs (a test in a cell), the cells, and the
//! runner's settings.

use std::path::PathBuf;
use std::time::Duration;

use iotests::env::TestEnv;

use crate::envcmd::Cell;
use crate::listing::TestDef;
use crate::scratch::Roots;
use crate::snapfile::SnapDir;

/// A test's time limit when neither `--timeout`, `IOTESTS_TIMEOUT` nor its
/// declaration says otherwise (the library's default).
pub const DEFAULT_LIMIT: Duration = iotests::harness::DEFAULT_TIMEOUT;

/// One test to run in one cell.
#[derive(Debug, Clone)]
pub struct Job {
    /// The test.
    pub test: TestDef,
    /// Index into [`RunConfig::cells`].
    pub cell: usize,
    /// How it is named in output: `209`, or `209 [raw-file]` in a matrix.
    pub label: String,
}

/// One cell of the run, resolved.
#[derive(Debug)]
pub struct CellRun {
    /// The cell.
    pub cell: Cell,
    /// Its `OUTPUT_DIR`: logs, `.notrun`, `.casenotrun`, `.out.bad`.
    pub output_dir: PathBuf,
    /// The variables its test processes get.
    pub vars: Vec<(String, String)>,
    /// The environment its tests resolve (for the header and for choosing
    /// reference outputs).
    pub env: TestEnv,
}

/// How snapshots are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insta {
    /// `check`: a mismatch fails; its output becomes `<ref>.snap.new`
    /// unless `write_pending` is off (under CI nothing is written).
    Check {
        /// Write pending snapshots.
        write_pending: bool,
    },
    /// `regen`: a mismatch does not fail the test; the runner writes
    /// nothing, `regen` decides what becomes pending.
    Regen,
}

/// How to run the jobs.
#[derive(Debug)]
pub struct RunConfig {
    /// The test binary.
    pub binary: PathBuf,
    /// Its working directory (cargo runs integration tests in the package root).
    pub cwd: PathBuf,
    /// Variables set for every test process.
    pub env: Vec<(String, String)>,
    /// Variables removed from every test process.
    pub env_remove: Vec<String>,
    /// The cells.
    pub cells: Vec<CellRun>,
    /// Where the snapshots live.
    pub snapshots: SnapDir,
    /// How many tests run at once.
    pub jobs: usize,
    /// `--timeout` / `IOTESTS_TIMEOUT`: `Some(None)` is "no limit"; `None`
    /// leaves each test its declared limit or the default.
    pub limit_override: Option<Option<Duration>>,
    /// How long past its limit a test may take to stop itself.
    pub grace: Duration,
    /// Report tests running longer than this, every this often.
    pub slow: Option<Duration>,
    /// Copy each test's output to stdout as it is written (`-d` with `-j 1`).
    pub echo: bool,
    /// `--idle-poll`: hold the CPU latency at 0 while tests run.
    pub idle_poll: bool,
    /// Where per-test scratch directories are made.
    pub scratch: Roots,
    /// Snapshot handling.
    pub insta: Insta,
}

impl RunConfig {
    /// The limit a test runs under (handed to it as `IOTESTS_TIMEOUT`).
    pub fn limit_for(&self, test: &TestDef) -> Option<Duration> {
        match self.limit_override {
            Some(l) => l,
            None => Some(test.timeout.unwrap_or(DEFAULT_LIMIT)),
        }
    }
}
