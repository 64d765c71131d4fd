//! The command's errors: every failure names what it was doing and on what.

use std::io;
use std::path::PathBuf;

/// Everything that can stop a subcommand short of a verdict.
///
/// Test failures, snapshot differences and the like are not errors: they are
/// results, reported and turned into the exit status by the subcommand.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// What was being read or written.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },

    /// A file that must be text is not UTF-8.
    #[error("{}: not valid UTF-8", .0.display())]
    NotUtf8(PathBuf),

    /// cargo could not name the workspace (or its iotests test target).
    #[error("{0}")]
    NoWorkspace(String),

    /// The test binary's listing (`IOTESTS_LIST=1`) is unusable.
    #[error("listing the tests of {binary}: {msg}")]
    Listing {
        /// The test binary.
        binary: PathBuf,
        /// What is wrong.
        msg: String,
    },

    /// The test selection is invalid (unknown test, bad group combination…).
    #[error("{0}")]
    Selection(String),

    /// `--shard` is not `K/N` with `1 <= K <= N`.
    #[error("invalid --shard {0:?}: expected K/N with 1 <= K <= N")]
    Shard(String),

    /// A program could not be started.
    #[error("cannot run {cmd}: {source}")]
    Spawn {
        /// The command line, for the message.
        cmd: String,
        /// Why it did not start.
        source: io::Error,
    },

    /// A helper program (cargo, the test binary's `--list`) failed.
    #[error("{cmd} failed: {detail}")]
    Command {
        /// The command line, for the message.
        cmd: String,
        /// Exit status and what it printed.
        detail: String,
    },

    /// A helper program did not finish in time and was killed.
    #[error("{cmd} did not finish within {secs} s and was killed")]
    Timeout {
        /// The command line, for the message.
        cmd: String,
        /// The limit that was exceeded.
        secs: u64,
    },

    /// `cargo test --no-run` built nothing that looks like the iotests binary.
    #[error("cargo built no test executable for target `{0}`")]
    NoTestBinary(String),

    /// A value given on the command line or in the environment is unusable.
    #[error("invalid {what}: {why}")]
    BadValue {
        /// The option or variable.
        what: &'static str,
        /// What is wrong with it.
        why: String,
    },

    /// A QEMU program the run needs is missing or does not run.
    #[error("{var}={value}: {why}")]
    Program {
        /// The variable naming it (`QEMU_PROG`, …).
        var: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        why: String,
    },

    /// An upstream `check` option this command does not implement.
    #[error("{0}")]
    Unsupported(String),

    /// `regen` was asked to rewrite snapshots on a CI machine.
    #[error(
        "regen refuses to run in CI (the CI environment variable is set): regenerate snapshots locally and commit them"
    )]
    InCi,

    /// The user interrupted the run (SIGINT / SIGTERM).
    #[error("interrupted")]
    Interrupted,
}

/// The command's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attach the path to an I/O error.
pub trait IoContext<T> {
    /// Turn an `io::Result` into a [`Result`] naming `path`.
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io { path: path.into(), source })
    }
}
