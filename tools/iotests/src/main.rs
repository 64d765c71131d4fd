//! `iotests`: run the Rust port of QEMU's iotests like QEMU's `check`, and
//! manage their snapshots (review, accept, reject, regenerate, export to and
//! import from `.out` files, compare with upstream).

mod argv;
mod check;
mod conformance;
mod diff;
mod envcmd;
mod error;
mod listcmd;
mod listing;
mod listing_cache;
mod out;
mod proc;
mod programs;
mod reference;
mod regen;
mod review;
mod scratch;
mod select;
mod snapfile;
mod terminal;
mod workspace;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use check::{CheckArgs, ColorChoice};
use envcmd::MatrixArgs;
use error::{Error, IoContext, Result};
use regen::RegenArgs;
use snapfile::SnapDir;
use workspace::Paths;

const MATRIX_HELP: &str = "\
check's single-dash spellings are accepted too:
  formats:   -raw -qcow2 -qcow -qed -vmdk -vpc -vhdx -vdi -parallels -luks -bochs -cloop -dmg -vvfat
  protocols: -file -nbd -fuse -rbd -ssh -nfs
  -nocache (= -c none), -tap (= --tap), -misalign, -makecheck
Not supported (refused): -gdb, -valgrind, -p.
A matrix: --formats qcow2,raw --protocols file,nbd --cache-modes writeback,none (or `all`).";

/// Run QEMU's iotests ported to Rust, like QEMU's `check`, and manage their
/// snapshots.
#[derive(Debug, Parser)]
#[command(name = "iotests", version, max_term_width = 100)]
struct Cli {
    /// The snapshot directory [default: IOTESTS_SNAPSHOT_DIR or WORKSPACE/snapshots].
    #[arg(long, global = true, value_name = "DIR", help_heading = "Global options")]
    snapshots: Option<PathBuf>,
    /// The workspace's Cargo.toml (or a directory in it) [default: found by cargo from the current directory].
    #[arg(long, global = true, value_name = "PATH", help_heading = "Global options")]
    manifest_path: Option<PathBuf>,
    /// The iotests sources: the test target is the one whose main.rs is here [default: WORKSPACE/tests/iotests].
    #[arg(long, global = true, value_name = "DIR", help_heading = "Global options")]
    tests_dir: Option<PathBuf>,
    /// Build the test binary quietly (no cargo progress lines).
    #[arg(short = 'q', long, global = true, help_heading = "Global options")]
    quiet: bool,
    /// Build the test binary with this cargo profile (`release`: the test
    /// processes' own CPU time is less than half) [default: cargo test's].
    #[arg(long, global = true, value_name = "NAME", help_heading = "Global options")]
    cargo_profile: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run tests like QEMU's check: header, a line per test, diffs, summary.
    #[command(after_help = MATRIX_HELP)]
    Check(CheckArgs),
    /// List the tests (name, groups, formats) or, with --groups, the groups.
    List(listcmd::ListArgs),
    /// Show pending snapshot changes; ask accept/reject/skip on a terminal.
    Review {
        /// Only these tests (names or glob patterns; `150` includes `150.raw`).
        tests: Vec<String>,
        /// Use terminal colors.
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
        color: ColorChoice,
    },
    /// Accept pending snapshots (all, or the named ones).
    Accept {
        /// Only these tests (names or glob patterns).
        tests: Vec<String>,
    },
    /// Reject (delete) pending snapshots (all, or the named ones).
    Reject {
        /// Only these tests (names or glob patterns).
        tests: Vec<String>,
    },
    /// Rerun tests, leave changed and new outputs pending, and summarise.
    #[command(after_help = MATRIX_HELP)]
    Regen(RegenArgs),
    /// Snapshots as QEMU-style .out files, and back.
    #[command(subcommand)]
    Out(out::OutCmd),
    /// Compare snapshots with QEMU's reference .out files, as check compares.
    Conformance {
        /// A QEMU source tree (with tests/qemu-iotests).
        qemu_src: PathBuf,
        /// Only these tests (all their variants); a missing side counts as a difference.
        tests: Vec<String>,
        /// Use terminal colors.
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
        color: ColorChoice,
    },
    /// Print the resolved test environment like check's header.
    #[command(after_help = MATRIX_HELP)]
    Env {
        #[command(flatten)]
        matrix: MatrixArgs,
        /// Also list every variable the tests read, as NAME=value.
        #[arg(long)]
        vars: bool,
    },
}

fn main() {
    let args = match argv::normalize(std::env::args_os()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("iotests: {e}");
            std::process::exit(2);
        }
    };
    let cli = Cli::parse_from(args);
    let mut paths = Paths::new(cli.manifest_path, cli.snapshots, cli.tests_dir);
    paths.quiet = cli.quiet;
    paths.cargo_profile = cli.cargo_profile;
    let code = match run(&paths, cli.cmd) {
        Ok(code) => code,
        Err(Error::Interrupted) => 130,
        Err(e) => {
            eprintln!("iotests: {e}");
            2
        }
    };
    std::process::exit(code);
}

fn run(paths: &Paths, cmd: Cmd) -> Result<i32> {
    let stdout = &mut std::io::stdout().lock() as &mut dyn Write;
    let snapdir = || paths.snapshots().map(SnapDir::new);
    match cmd {
        Cmd::Check(args) => {
            proc::install_signal_handlers();
            check::check(paths, &args)
        }
        Cmd::Regen(args) => {
            proc::install_signal_handlers();
            regen::regen(paths, &args)
        }
        Cmd::List(args) => listcmd::list(paths, &args, stdout),
        Cmd::Review { tests, color } => {
            let dir = snapdir()?;
            let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
            review::review(&dir, &tests, stdout, interactive, color.enabled())?;
            Ok(0)
        }
        Cmd::Accept { tests } => review::accept(&snapdir()?, &tests, stdout).map(|_| 0),
        Cmd::Reject { tests } => review::reject(&snapdir()?, &tests, stdout).map(|_| 0),
        Cmd::Out(cmd) => out::run(paths, &cmd, stdout),
        Cmd::Conformance { qemu_src, tests, color } => {
            let score = conformance::run(&qemu_src, &snapdir()?, &tests, stdout, color.enabled())?;
            Ok(if score.ok() { 0 } else { 1 })
        }
        Cmd::Env { matrix, vars } => {
            let cell = matrix.cell();
            // The output directory the tests of this cell would get.
            let output_dir = paths.work_dir().map(|w| w.join(&cell.name)).unwrap_or_else(|_| cell.name.clone().into());
            let env = cell.test_env(&output_dir);
            write!(stdout, "{}", envcmd::header(&env, "", None)).at("stdout")?;
            if vars {
                for (k, v) in envcmd::exported_vars(&env) {
                    writeln!(stdout, "{k}={v}").at("stdout")?;
                }
            }
            Ok(0)
        }
    }
}
