//! `iotests`: run the Rust port of QEMU's iotests like QEMU's `check`, and
//! manage their snapshots (review, accept, reject, regenerate, export to and
//! import from `.out` files, compare with upstream).

mod argv;
mod check;
mod conformance;
mod diff;
mod discover;
mod envcmd;
mod error;
mod out;
mod proc;
mod regen;
mod review;
mod snapfile;
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
  -nocache (= -c none), -tap (= --tap)";

/// Run QEMU's iotests ported to Rust, like QEMU's `check`, and manage their
/// snapshots.
#[derive(Debug, Parser)]
#[command(name = "iotests", version, max_term_width = 100)]
struct Cli {
    /// The snapshot directory [default: IOTESTS_SNAPSHOT_DIR or WORKSPACE/snapshots].
    #[arg(long, global = true, value_name = "DIR")]
    snapshots: Option<PathBuf>,
    /// The workspace's Cargo.toml (or a directory in it) [default: found from the current directory].
    #[arg(long, global = true, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
    /// The iotests sources to discover tests in [default: WORKSPACE/tests/iotests].
    #[arg(long, global = true, value_name = "DIR")]
    tests_dir: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run tests like QEMU's check: header, a line per test, diffs, summary.
    #[command(after_help = MATRIX_HELP)]
    Check(CheckArgs),
    /// Show pending snapshot changes; ask accept/reject/skip on a terminal.
    Review {
        /// Only these tests (names or glob patterns).
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
    /// Rerun tests writing changed and new snapshots as pending, and summarise.
    #[command(after_help = MATRIX_HELP)]
    Regen(RegenArgs),
    /// Snapshots as QEMU-style .out files, and back.
    #[command(subcommand)]
    Out(OutCmd),
    /// Compare snapshots with QEMU's reference .out files, as check compares.
    Conformance {
        /// A QEMU source tree (with tests/qemu-iotests).
        qemu_src: PathBuf,
        /// Only these tests; a missing snapshot then counts as a difference.
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

#[derive(Debug, Subcommand)]
enum OutCmd {
    /// Write every snapshot body as DIR/<name>.out.
    Export {
        /// The directory to write.
        dir: PathBuf,
    },
    /// Create or refresh snapshots from DIR/*.out.
    Import {
        /// The directory to read.
        dir: PathBuf,
    },
}

fn main() {
    let cli = Cli::parse_from(argv::normalize(std::env::args_os()));
    let paths = Paths { manifest_path: cli.manifest_path, snapshots: cli.snapshots, tests_dir: cli.tests_dir };
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
    match cmd {
        Cmd::Check(args) => {
            proc::install_signal_handlers();
            check::check(paths, &args)
        }
        Cmd::Regen(args) => {
            proc::install_signal_handlers();
            regen::regen(paths, &args)
        }
        Cmd::Review { tests, color } => {
            let dir = SnapDir::new(paths.snapshots()?);
            let stdin = std::io::stdin();
            let interactive = stdin.is_terminal();
            let mut lock = stdin.lock();
            let input: Option<&mut dyn std::io::BufRead> = if interactive { Some(&mut lock) } else { None };
            review::review(&dir, &tests, stdout, input, color.enabled())?;
            Ok(0)
        }
        Cmd::Accept { tests } => review::accept(&SnapDir::new(paths.snapshots()?), &tests, stdout).map(|_| 0),
        Cmd::Reject { tests } => review::reject(&SnapDir::new(paths.snapshots()?), &tests, stdout).map(|_| 0),
        Cmd::Out(OutCmd::Export { dir }) => out::export(&SnapDir::new(paths.snapshots()?), &dir, stdout).map(|_| 0),
        Cmd::Out(OutCmd::Import { dir }) => out::import(&SnapDir::new(paths.snapshots()?), &dir, stdout).map(|_| 0),
        Cmd::Conformance { qemu_src, tests, color } => {
            let score =
                conformance::run(&qemu_src, &SnapDir::new(paths.snapshots()?), &tests, stdout, color.enabled())?;
            Ok(if score.ok() { 0 } else { 1 })
        }
        Cmd::Env { matrix, vars } => {
            // The output directory the tests of this cell would get.
            let output_dir = paths.work_dir().map(|w| w.join(matrix.cell())).unwrap_or_else(|_| matrix.cell().into());
            let env = matrix.test_env(&output_dir);
            write!(stdout, "{}", envcmd::header(&env, "")).at("stdout")?;
            if vars {
                for (k, v) in env.exported() {
                    writeln!(stdout, "{k}={v}").at("stdout")?;
                }
            }
            Ok(0)
        }
    }
}
