//! The suite against upstream's `check`, and a short test against the floor
//! of its own QEMU commands.
//!
//! ```text
//! cargo bench --bench suite -- [--rounds N] [--jobs J] [--format FMT] [--floor TEST] [TEST…]
//! ```
//!
//! * **suite**: `iotests check -FMT -j J TEST…` (this workspace's release
//!   CLI and test binary) and upstream's `check -FMT -j J TEST…` (QEMU's own
//!   Python harness from `IOTESTS_QEMU_SRC`, or `../shared/tools/qemu-src`,
//!   run through `../shared/tools/upstream-check`, which swaps `-accel
//!   qtest` for `-accel tcg` on a copy when QEMU has no qtest accelerator),
//!   alternated A/B for N rounds. Reports the median wall time of each
//!   whole run and, per test, the median of the times both print, with the
//!   ratios. Without TEST, the ported tests that upstream passes in the
//!   format (both sides must run the same tests).
//! * **floor** (`--floor 209`): the test binary running that one test (as
//!   `check` runs it) against a shell script replaying the QEMU command
//!   lines the test ran (captured with `strace -f -e execve`), alternated.
//!   The ratio is the toolkit's own overhead.
//!
//! Both need the QEMU binaries; the suite part needs python3 and QEMU's
//! sources, the floor part strace. Times are wall clock on whatever else
//! the machine is doing: run it on a quiet machine, and read the ratios.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

struct Args {
    rounds: usize,
    jobs: usize,
    format: String,
    floor: Option<String>,
    tests: Vec<String>,
}

fn parse_args() -> Args {
    let mut a = Args { rounds: 5, jobs: 1, format: "qcow2".into(), floor: None, tests: Vec::new() };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--bench" => {}
            "--rounds" => a.rounds = it.next().and_then(|v| v.parse().ok()).unwrap_or(a.rounds),
            "--jobs" | "-j" => a.jobs = it.next().and_then(|v| v.parse().ok()).unwrap_or(a.jobs),
            "--format" => a.format = it.next().unwrap_or(a.format),
            "--floor" => a.floor = it.next(),
            t if !t.starts_with('-') => a.tests.push(t.to_string()),
            other => eprintln!("suite bench: ignoring {other}"),
        }
    }
    a
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Build the release CLI and test binary once; the CLI's path.
fn build_release() -> PathBuf {
    let ws = workspace();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-q", "-p", "iotests-cli"])
        .current_dir(&ws)
        .status()
        .expect("running cargo");
    assert!(status.success(), "cargo build --release -p iotests-cli failed");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["test", "--release", "-q", "--no-run", "--test", "iotests"])
        .current_dir(&ws)
        .status()
        .expect("running cargo");
    assert!(status.success(), "building the release test binary failed");
    ws.join("target/release/iotests")
}

/// Each `<name> <status> … <secs>s` line of a check-like output.
fn per_test_times(output: &str) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    // On a terminal-less pipe both checks still end a test's line with `\r`
    // before its final state (`041 ... [13:45:01] ...\r041 pass …`): the
    // last segment is the verdict.
    for line in output.lines().filter_map(|l| l.split('\r').next_back()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() >= 3
            && words[1] == "pass"
            && let Some(t) = words.iter().rev().find_map(|w| w.strip_suffix('s').and_then(|n| n.parse::<f64>().ok()))
        {
            m.insert(words[0].to_string(), t);
        }
    }
    m
}

fn timed(cmd: &mut Command) -> (f64, String, bool) {
    let start = Instant::now();
    let out = cmd.stdin(Stdio::null()).output().expect("running a check");
    let secs = start.elapsed().as_secs_f64();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (secs, text, out.status.success())
}

fn upstream_check() -> Option<PathBuf> {
    let p = workspace().join("../shared/tools/upstream-check");
    p.exists().then_some(p)
}

fn suite(args: &Args, cli: &Path) {
    let Some(upstream) = upstream_check() else {
        eprintln!("suite: not run: ../shared/tools/upstream-check is missing");
        return;
    };
    let mut tests = args.tests.clone();
    if tests.is_empty() {
        // The ported tests that run in this format.
        let out = Command::new(cli)
            .args(["check", "-n", &format!("-{}", args.format)])
            .current_dir(workspace())
            .output()
            .expect("listing the tests");
        tests = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    }
    let fmt = format!("-{}", args.format);
    let jobs = args.jobs.to_string();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut ours_t, mut theirs_t): (BTreeMap<String, Vec<f64>>, BTreeMap<String, Vec<f64>>) = Default::default();
    for round in 0..args.rounds {
        // Alternate who goes first, so that neither always runs on a warm cache.
        for first_ours in [round % 2 == 0, round % 2 != 0] {
            if first_ours {
                let (s, text, ok) =
                    timed(Command::new(cli).args(["check", &fmt, "-j", &jobs]).args(&tests).current_dir(workspace()));
                if !ok {
                    eprintln!("ours failed in round {round}:\n{text}");
                }
                ours.push(s);
                for (t, v) in per_test_times(&text) {
                    ours_t.entry(t).or_default().push(v);
                }
            } else {
                let (s, text, ok) = timed(
                    Command::new(&upstream)
                        .args([fmt.as_str(), "-j", &jobs])
                        .args(&tests)
                        .env("UPSTREAM_CHECK_DIR", "/tmp/upstream-bench"),
                );
                if !ok {
                    eprintln!("upstream failed in round {round}:\n{text}");
                }
                theirs.push(s);
                for (t, v) in per_test_times(&text) {
                    theirs_t.entry(t).or_default().push(v);
                }
            }
        }
    }
    println!(
        "suite: {} tests, {fmt}, -j {jobs}, {} rounds (median wall time of the whole run)",
        tests.len(),
        args.rounds
    );
    println!("{:<28} {:>9} {:>9} {:>7}", "test", "ours", "upstream", "ratio");
    for (t, v) in &ours_t {
        if let Some(u) = theirs_t.get(t) {
            let (a, b) = (median(v.clone()), median(u.clone()));
            println!("{t:<28} {a:>8.1}s {b:>8.1}s {:>7.2}", a / b);
        }
    }
    let (a, b) = (median(ours), median(theirs));
    println!("{:<28} {a:>8.2}s {b:>8.2}s {:>7.2}", "whole run", a / b);
}

/// The QEMU command lines test `name` runs, in order (strace), with its
/// scratch kept under `root` so that a replay finds its directories.
fn capture(test_bin: &Path, name: &str, root: &Path) -> Vec<Vec<String>> {
    let log = root.join("strace.log");
    let status = Command::new("strace")
        .args(["-f", "-qq", "-s", "65536", "-e", "trace=execve", "-o"])
        .arg(&log)
        .arg(test_bin)
        .args(["--exact", name, "--test-threads", "1"])
        .env("TEST_DIR", root.join("t"))
        .env("SOCK_DIR", root.join("s"))
        .env("IOTESTS_KEEP_SCRATCH", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !status.is_ok_and(|s| s.success()) {
        return Vec::new();
    }
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    let mut cmds = Vec::new();
    for line in text.lines() {
        // `PID execve("/usr/bin/qemu-img", ["qemu-img", "create", …], …) = 0`
        let Some(start) = line.find("execve(") else { continue };
        if !line.ends_with("= 0") {
            continue;
        }
        let Some(open) = line[start..].find('[').map(|i| start + i) else { continue };
        let Some(close) = line[open..].find("], ").map(|i| open + i) else { continue };
        let argv: Option<Vec<String>> = serde_json::from_str(&format!("[{}]", &line[open + 1..close])).ok();
        if let Some(argv) = argv.filter(|a| a.first().is_some_and(|p| p.contains("qemu"))) {
            cmds.push(argv);
        }
    }
    cmds
}

fn floor(args: &Args, name: &str) {
    let ws = workspace();
    let Some(bin) = std::fs::read_dir(ws.join("target/release/deps"))
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("iotests-") && !n.contains('.') && n.len() == "iotests-".len() + 16)
        })
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
    else {
        eprintln!("floor: not run: no release test binary");
        return;
    };
    let test = format!("{}::{}", name.replace('-', "_"), name.replace('-', "_"));
    let test = if name.chars().next().is_some_and(|c| c.is_ascii_digit()) { format!("t{name}::t{name}") } else { test };
    // One run first, so that the capture sees what every later run does:
    // the QEMU probes answered from the cache (a fresh binary has none yet).
    let _ = timed(Command::new(&bin).args(["--exact", &test, "--test-threads", "1"]));
    let Ok(root) = tempfile::tempdir() else { return };
    let cmds = capture(&bin, &test, root.path());
    if cmds.is_empty() {
        eprintln!("floor: not run: could not capture {test}'s commands (is strace installed?)");
        return;
    }
    let quote = |a: &str| format!("'{}'", a.replace('\'', "'\\''"));
    // The replay starts from the test's (emptied) scratch directories.
    let mut script = String::new();
    for d in ["t", "s"].iter().flat_map(|s| std::fs::read_dir(root.path().join(s)).into_iter().flatten().flatten()) {
        let d = quote(&d.path().display().to_string());
        script.push_str(&format!("rm -rf {d} && mkdir -p {d}\n"));
    }
    for argv in &cmds {
        script.push_str(&argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" "));
        script.push_str(" >/dev/null 2>&1\n");
    }
    let (mut ours, mut replay) = (Vec::new(), Vec::new());
    for _ in 0..args.rounds.max(5) {
        let (s, _, _) = timed(Command::new(&bin).args(["--exact", &test, "--test-threads", "1"]));
        ours.push(s);
        let (s, _, _) = timed(Command::new("sh").args(["-c", &script]));
        replay.push(s);
        // A replayed `qemu-nbd --fork` outlives the script.
        let _ = Command::new("pkill").args(["-f", "qemu-nbd.*iotests"]).status();
    }
    let (a, b) = (median(ours), median(replay));
    println!("floor: {test}: {} QEMU commands", cmds.len());
    println!(
        "  test process {:>8.1} ms, replay {:>8.1} ms, ratio {:.2} (overhead {:.1} ms)",
        a * 1e3,
        b * 1e3,
        a / b,
        (a - b) * 1e3
    );
}

fn main() {
    let args = parse_args();
    let cli = build_release();
    if let Some(name) = &args.floor {
        floor(&args, name);
    } else {
        suite(&args, &cli);
    }
}
