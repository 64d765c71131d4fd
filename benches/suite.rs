//! The suite against upstream's `check`, and a short test against the floor
//! of its own QEMU commands.
//!
//! ```text
//! cargo bench --bench suite -- [--rounds N] [--jobs J] [--format FMT] [--idle-halt] [--floor TEST] [TEST…]
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
//!   format (both sides must run the same tests). As root it also reports
//!   the CPU time of each program the runs start (BSD process accounting:
//!   the harness's own processes against QEMU's), and from it the bound on
//!   the whole run's ratio that no harness work can beat: our wall time
//!   minus all our harness's CPU time, against upstream's.
//! * **floor** (`--floor 209`): the test binary running that one test (as
//!   `check` runs it) against a shell script replaying the QEMU command
//!   lines the test ran (captured with `strace -f -e execve`), alternated.
//!   The ratio is the toolkit's own overhead.
//!
//! Both need the QEMU binaries; the suite part needs python3 and QEMU's
//! sources, the floor part strace. Times are wall clock on whatever else
//! the machine is doing: run it on a quiet machine, and read the ratios.
//!
//! **Idle CPUs.** Where it may (root), the suite part holds the PM QoS
//! `/dev/cpu_dma_latency` at 0 for both harnesses alike, so that idle CPUs
//! poll instead of halting. In a VM whose idle CPUs halt at once (this
//! project's machine: a Firecracker guest with `haltpoll.guest_halt_poll_ns=0`)
//! every cross-CPU wakeup otherwise costs a VM exit, and tests made of many
//! small thread-pool requests take what the machine happens to be doing:
//! 044's `qemu-img check` takes 80 s on an idle machine, 22 s with idle
//! polling, 17 s with the other CPU busy. `--idle-halt` measures without.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

struct Args {
    rounds: usize,
    jobs: usize,
    format: String,
    floor: Option<String>,
    idle_halt: bool,
    tests: Vec<String>,
}

fn parse_args() -> Args {
    let mut a = Args { rounds: 5, jobs: 1, format: "qcow2".into(), floor: None, idle_halt: false, tests: Vec::new() };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--bench" => {}
            "--rounds" => a.rounds = it.next().and_then(|v| v.parse().ok()).unwrap_or(a.rounds),
            "--jobs" | "-j" => a.jobs = it.next().and_then(|v| v.parse().ok()).unwrap_or(a.jobs),
            "--format" => a.format = it.next().unwrap_or(a.format),
            "--floor" => a.floor = it.next(),
            "--idle-halt" => a.idle_halt = true,
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

/// Build the release CLI and test binary once; their paths.
fn build_release() -> (PathBuf, PathBuf) {
    let ws = workspace();
    let cargo = || Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    let status = cargo()
        .args(["build", "--release", "-q", "-p", "iotests-cli"])
        .current_dir(&ws)
        .status()
        .expect("running cargo");
    assert!(status.success(), "cargo build --release -p iotests-cli failed");
    // The test binary as cargo names it: `target/release/deps` also holds
    // the library's own `iotests-<hash>` test and bench binaries.
    let out = cargo()
        .args(["test", "--release", "-q", "--no-run", "--test", "iotests", "--message-format=json-render-diagnostics"])
        .current_dir(&ws)
        .stderr(Stdio::inherit())
        .output()
        .expect("running cargo");
    assert!(out.status.success(), "building the release test binary failed");
    let test_bin = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "iotests")
        .filter(|m| m["target"]["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "test")))
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo named no executable for the iotests test target");
    (ws.join("target/release/iotests"), test_bin)
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

/// CPU seconds (user + system) and process count per program.
type CpuByProgram = BTreeMap<String, (usize, f64)>;

/// The program a process counts as, by its `comm`.
fn program(comm: &str) -> String {
    match comm {
        c if c.starts_with("iotests-") => "test processes (Rust)".into(),
        "iotests" => "iotests check (CLI)".into(),
        "python3" => "python3 (upstream's harness)".into(),
        c => c.to_string(),
    }
}

/// `comp_t` of `struct acct_v3`: 13 bits of mantissa, 3 of base-8 exponent.
fn comp_t(v: u16) -> f64 {
    f64::from(u32::from(v & 0x1fff) << (3 * u32::from(v >> 13)))
}

/// Run `f` with BSD process accounting (acct(2)) into a scratch file: the
/// CPU time (user + system, all threads) of every process that started and
/// exited meanwhile, summed per program. Accounting is system-wide and
/// needs root: `None` without it (and accounting is left off afterwards —
/// don't run this where the system keeps its own process accounting).
fn account<T>(f: impl FnOnce() -> T) -> (T, Option<CpuByProgram>) {
    let file = tempfile::NamedTempFile::new().ok();
    let path = file.as_ref().and_then(|t| std::ffi::CString::new(t.path().as_os_str().as_encoded_bytes()).ok());
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    // SAFETY: a valid NUL-terminated path; acct(NULL) turns accounting off.
    let on = path.as_ref().is_some_and(|p| unsafe { libc::acct(p.as_ptr()) } == 0);
    let out = f();
    if !on {
        return (out, None);
    }
    // SAFETY: as above.
    unsafe { libc::acct(std::ptr::null()) };
    let bytes = file.as_ref().and_then(|t| std::fs::read(t.path()).ok()).unwrap_or_default();
    let mut by: CpuByProgram = BTreeMap::new();
    // struct acct_v3 (64 bytes): ac_version at 1, ac_btime at 24, ac_utime
    // and ac_stime at 32 and 34 (AHZ = 100 ticks per second), ac_comm at 48.
    for r in bytes.chunks_exact(64).filter(|r| r[1] == 3) {
        let u16_at = |i: usize| u16::from_ne_bytes([r[i], r[i + 1]]);
        let btime = u32::from_ne_bytes([r[24], r[25], r[26], r[27]]);
        if u64::from(btime) < since {
            continue;
        }
        let comm = String::from_utf8_lossy(&r[48..64]).trim_end_matches('\0').to_string();
        let e = by.entry(program(&comm)).or_default();
        e.0 += 1;
        e.1 += (comp_t(u16_at(32)) + comp_t(u16_at(34))) / 100.0;
    }
    (out, Some(by))
}

/// Is `program` (as [`program`] names it) the harness's own work rather
/// than QEMU's or the kernel's?
fn is_harness(program: &str) -> bool {
    program.starts_with("test processes")
        || program.starts_with("iotests check")
        || program.starts_with("python3")
        || ["cargo", "rustc", "sh", "bash", "strace", "cat", "env"].contains(&program)
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
            .args(["--cargo-profile", "release", "check", "-n", &format!("-{}", args.format)])
            .current_dir(workspace())
            .output()
            .expect("listing the tests");
        tests = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    }
    let fmt = format!("-{}", args.format);
    let jobs = args.jobs.to_string();
    let idle = if args.idle_halt { None } else { iotests::process::idle_poll().ok() };
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut ours_t, mut theirs_t): (BTreeMap<String, Vec<f64>>, BTreeMap<String, Vec<f64>>) = Default::default();
    let (mut ours_cpu, mut theirs_cpu): (Vec<CpuByProgram>, Vec<CpuByProgram>) = Default::default();
    for round in 0..args.rounds {
        // Alternate who goes first, so that neither always runs on a warm cache.
        for first_ours in [round % 2 == 0, round % 2 != 0] {
            if first_ours {
                let ((s, text, ok), cpu) = account(|| {
                    timed(
                        Command::new(cli)
                            .args(["--cargo-profile", "release", "check", &fmt, "-j", &jobs])
                            .args(&tests)
                            .current_dir(workspace()),
                    )
                });
                ours_cpu.extend(cpu);
                if !ok {
                    eprintln!("ours failed in round {round}:\n{text}");
                }
                ours.push(s);
                for (t, v) in per_test_times(&text) {
                    ours_t.entry(t).or_default().push(v);
                }
            } else {
                let ((s, text, ok), cpu) = account(|| {
                    timed(
                        Command::new(&upstream)
                            .args([fmt.as_str(), "-j", &jobs])
                            .args(&tests)
                            .env("UPSTREAM_CHECK_DIR", "/tmp/upstream-bench"),
                    )
                });
                theirs_cpu.extend(cpu);
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
        "suite: {} tests, {fmt}, -j {jobs}, {} rounds (median wall time of the whole run), idle CPUs {}",
        tests.len(),
        args.rounds,
        if idle.is_some() { "poll (cpu_dma_latency 0, both harnesses)" } else { "halt" }
    );
    drop(idle);
    println!("{:<28} {:>9} {:>9} {:>7}", "test", "ours", "upstream", "ratio");
    for (t, v) in &ours_t {
        if let Some(u) = theirs_t.get(t) {
            let (a, b) = (median(v.clone()), median(u.clone()));
            println!("{t:<28} {a:>8.1}s {b:>8.1}s {:>7.2}", a / b);
        }
    }
    let (a, b) = (median(ours), median(theirs));
    println!("{:<28} {a:>8.2}s {b:>8.2}s {:>7.2}", "whole run", a / b);
    cpu_report(&ours_cpu, &theirs_cpu, a, b);
}

/// CPU seconds per program (median over rounds) on both sides, and the
/// bound: our run with its harness taking no CPU at all.
fn cpu_report(ours: &[CpuByProgram], theirs: &[CpuByProgram], ours_wall: f64, theirs_wall: f64) {
    let programs: std::collections::BTreeSet<&String> = ours.iter().chain(theirs).flat_map(|m| m.keys()).collect();
    let med = |runs: &[CpuByProgram], p: &str| median(runs.iter().map(|m| m.get(p).map_or(0.0, |e| e.1)).collect());
    let mut rows: Vec<(&String, f64, f64)> = programs.into_iter().map(|p| (p, med(ours, p), med(theirs, p))).collect();
    rows.retain(|r| r.1 >= 0.05 || r.2 >= 0.05);
    rows.sort_by(|x, y| (y.1 + y.2).total_cmp(&(x.1 + x.2)));
    println!();
    if ours.is_empty() || theirs.is_empty() {
        println!("CPU time per program: not measured (process accounting needs root)");
        return;
    }
    println!("CPU time of the programs each run started (median over rounds)");
    println!("{:<28} {:>9} {:>9}", "program", "ours", "upstream");
    let (mut harness_ours, mut harness_theirs, mut total_ours, mut total_theirs) = (0.0, 0.0, 0.0, 0.0);
    for (p, o, t) in &rows {
        println!("{p:<28} {o:>8.2}s {t:>8.2}s");
        total_ours += o;
        total_theirs += t;
        if is_harness(p) {
            harness_ours += o;
            harness_theirs += t;
        }
    }
    println!("{:<28} {total_ours:>8.2}s {total_theirs:>8.2}s", "all");
    println!("{:<28} {harness_ours:>8.2}s {harness_theirs:>8.2}s", "harness (not QEMU)");
    // Taking all of the harness's CPU time away shortens the run by at most
    // that much (with J tests at a time, usually by far less).
    let floor = ours_wall - harness_ours;
    println!(
        "bound: ours with a harness that costs nothing ≥ {floor:.1}s = {:.2}× upstream's {theirs_wall:.1}s",
        floor / theirs_wall
    );
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

fn floor(args: &Args, name: &str, bin: &Path) {
    let test = format!("{}::{}", name.replace('-', "_"), name.replace('-', "_"));
    let test = if name.chars().next().is_some_and(|c| c.is_ascii_digit()) { format!("t{name}::t{name}") } else { test };
    // One run first, so that the capture sees what every later run does:
    // the QEMU probes answered from the cache (a fresh binary has none yet).
    let _ = timed(Command::new(bin).args(["--exact", &test, "--test-threads", "1"]));
    let Ok(root) = tempfile::tempdir() else { return };
    let cmds = capture(bin, &test, root.path());
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
        let (s, _, _) = timed(Command::new(bin).args(["--exact", &test, "--test-threads", "1"]));
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
    let (cli, test_bin) = build_release();
    if let Some(name) = &args.floor {
        floor(&args, name, &test_bin);
    } else {
        suite(&args, &cli);
    }
}
