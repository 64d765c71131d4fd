//! The runner: each selected test as its own process of the test binary,
//! up to `-j N` at a time, each with a deadline, its output in a log file.
//! It knows nothing about presentation: it reports through [`Events`].

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::verdict::{self, Evidence, Exit, Verdict};
use crate::diff;
use crate::proc;
use crate::snapfile::{self, SnapDir, read_opt};

/// One test to run.
#[derive(Debug, Clone)]
pub struct Job {
    /// The upstream test name (snapshot and `.notrun` name).
    pub name: String,
    /// The module that declares it, for messages.
    pub module: String,
    /// The libtest paths to run with `--exact` (empty: not in the binary).
    pub paths: Vec<String>,
}

/// How to run the jobs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The test binary.
    pub binary: PathBuf,
    /// Its working directory (cargo runs integration tests in the package root).
    pub cwd: PathBuf,
    /// Variables set for every test process.
    pub env: Vec<(String, String)>,
    /// Variables removed from every test process.
    pub env_remove: Vec<String>,
    /// `OUTPUT_DIR`: where `.notrun`, `.casenotrun` and the logs go.
    pub output_dir: PathBuf,
    /// Where `<name>.snap` and `<name>.snap.new` live.
    pub snapshots: SnapDir,
    /// How many tests run at once.
    pub jobs: usize,
    /// The per-test timeout.
    pub timeout: Duration,
    /// Copy each test's output to stdout as it is written (`-d` with `-j 1`).
    pub echo: bool,
    /// `TEST_DIR` / `SOCK_DIR` roots given by the user: like check, each test
    /// gets `<root>/<fmt>-<proto>-<name>` so parallel tests never share one.
    pub split_dirs: Vec<(String, PathBuf)>,
    /// `<fmt>-<proto>`, for those per-test directories.
    pub cell: String,
}

/// A finished test.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The verdict.
    pub verdict: Verdict,
    /// Seconds it ran, rounded to 0.1 like check (`None` if it never ran).
    pub elapsed: Option<f64>,
    /// Wall-clock start, `HH:MM:SS`.
    pub start: String,
    /// Wall-clock end, `HH:MM:SS`.
    pub end: String,
}

/// What the runner tells its reporter.
pub trait Events {
    /// A test started at wall-clock `start` (`HH:MM:SS`).
    fn started(&mut self, index: usize, job: &Job, start: &str);
    /// A test finished.
    fn finished(&mut self, index: usize, job: &Job, outcome: &Outcome);
    /// Called while tests run (about every 20 ms) with the running names.
    fn tick(&mut self, _running: &[&str]) {}
}

struct Running {
    index: usize,
    child: Child,
    started: Instant,
    start: String,
    deadline: Instant,
    log: PathBuf,
    echo_pos: u64,
}

/// Run `jobs`; outcomes come back in `jobs` order. Stops starting new tests
/// when the user interrupts; those left out are `not run`.
pub fn run(jobs: &[Job], cfg: &RunConfig, events: &mut dyn Events) -> Vec<Outcome> {
    let mut outcomes: Vec<Option<Outcome>> = vec![None; jobs.len()];
    let mut running: Vec<Running> = Vec::new();
    let mut next = 0;
    let slots = cfg.jobs.max(1);
    loop {
        while running.len() < slots && next < jobs.len() && !proc::interrupted() {
            let job = &jobs[next];
            let start = clock();
            events.started(next, job, &start);
            match spawn(job, cfg) {
                Ok((child, log)) => running.push(Running {
                    index: next,
                    child,
                    started: Instant::now(),
                    start,
                    deadline: Instant::now() + cfg.timeout,
                    log,
                    echo_pos: 0,
                }),
                Err(exit) => {
                    let o = conclude(job, cfg, &exit, None, &start, cfg.output_dir.join(format!("{}.log", job.name)));
                    events.finished(next, job, &o);
                    outcomes[next] = Some(o);
                }
            }
            next += 1;
        }
        if running.is_empty() {
            break;
        }
        let mut i = 0;
        while i < running.len() {
            let r = &mut running[i];
            if cfg.echo {
                r.echo_pos = echo(&r.log, r.echo_pos);
            }
            let exit = match r.child.try_wait() {
                Ok(Some(st)) => Some(Exit::Finished { success: st.success(), description: proc::describe(st) }),
                Ok(None) if proc::interrupted() => {
                    proc::terminate(&mut r.child);
                    Some(Exit::Interrupted)
                }
                Ok(None) if Instant::now() >= r.deadline => {
                    proc::terminate(&mut r.child);
                    Some(Exit::Timeout)
                }
                Ok(None) => None,
                Err(e) => {
                    proc::terminate(&mut r.child);
                    Some(Exit::SpawnFailed(format!("waiting for it: {e}")))
                }
            };
            match exit {
                Some(exit) => {
                    let r = running.remove(i);
                    if cfg.echo {
                        echo(&r.log, r.echo_pos);
                    }
                    let elapsed = (r.started.elapsed().as_secs_f64() * 10.0).round() / 10.0;
                    let job = &jobs[r.index];
                    let o = conclude(job, cfg, &exit, Some(elapsed), &r.start, r.log);
                    events.finished(r.index, job, &o);
                    outcomes[r.index] = Some(o);
                }
                None => i += 1,
            }
        }
        let names: Vec<&str> = running.iter().map(|r| jobs[r.index].name.as_str()).collect();
        events.tick(&names);
        std::thread::sleep(proc::POLL);
    }
    // Tests never started because of an interrupt.
    outcomes
        .into_iter()
        .zip(jobs)
        .map(|(o, job)| {
            o.unwrap_or_else(|| {
                let log = cfg.output_dir.join(format!("{}.log", job.name));
                conclude(job, cfg, &Exit::Interrupted, None, "--:--:--", log)
            })
        })
        .collect()
}

/// `HH:MM:SS` in local time, as check prints it.
pub fn clock() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let t = libc::time_t::try_from(now).unwrap_or(0);
    // SAFETY: localtime_r writes only into the tm we pass.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return "--:--:--".into();
    }
    format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec)
}

/// Clear what a previous run left, then start the test process with its
/// output going to `<OUTPUT_DIR>/<name>.log`.
fn spawn(job: &Job, cfg: &RunConfig) -> Result<(Child, PathBuf), Exit> {
    if job.paths.is_empty() {
        return Err(Exit::NotInBinary(job.module.clone()));
    }
    let fail = |what: &str, e: std::io::Error| Exit::SpawnFailed(format!("{what}: {e}"));
    std::fs::create_dir_all(&cfg.output_dir).map_err(|e| fail(&cfg.output_dir.display().to_string(), e))?;
    // Stale marker files would turn this run's verdict into the last one's,
    // and a stale pending snapshot would pose as this run's mismatch.
    for stale in [notrun_path(cfg, job), casenotrun_path(cfg, job), cfg.snapshots.pending(&job.name)] {
        snapfile::remove_if_exists(&stale).map_err(|e| Exit::SpawnFailed(e.to_string()))?;
    }
    let log = cfg.output_dir.join(format!("{}.log", job.name));
    let out = File::create(&log).map_err(|e| fail(&log.display().to_string(), e))?;
    let err = out.try_clone().map_err(|e| fail(&log.display().to_string(), e))?;
    let mut cmd = Command::new(&cfg.binary);
    cmd.arg("--exact")
        .args(&job.paths)
        .args(["--nocapture", "--test-threads=1"])
        .current_dir(&cfg.cwd)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    for k in &cfg.env_remove {
        cmd.env_remove(k);
    }
    cmd.envs(cfg.env.iter().map(|(k, v)| (k, v)));
    for (var, root) in &cfg.split_dirs {
        let dir = root.join(format!("{}-{}", cfg.cell, job.name));
        std::fs::create_dir_all(&dir).map_err(|e| fail(&dir.display().to_string(), e))?;
        cmd.env(var, dir);
    }
    proc::isolate(&mut cmd);
    let child = cmd.spawn().map_err(|e| fail(&cfg.binary.display().to_string(), e))?;
    Ok((child, log))
}

fn notrun_path(cfg: &RunConfig, job: &Job) -> PathBuf {
    cfg.output_dir.join(format!("{}.notrun", job.name))
}

fn casenotrun_path(cfg: &RunConfig, job: &Job) -> PathBuf {
    cfg.output_dir.join(format!("{}.casenotrun", job.name))
}

/// Gather the evidence a finished test left and decide.
fn conclude(job: &Job, cfg: &RunConfig, exit: &Exit, elapsed: Option<f64>, start: &str, log: PathBuf) -> Outcome {
    let output = std::fs::read(&log).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    let read = |p: PathBuf| read_opt(&p).ok().flatten();
    let pending = cfg.snapshots.pending(&job.name);
    let mismatch = read(pending.clone()).map(|new| {
        let old = read(cfg.snapshots.snap(&job.name)).map(|t| snapfile::body_text(&t)).unwrap_or_default();
        let d = diff::unified(
            &old,
            &snapfile::body_text(&new),
            &cfg.snapshots.snap(&job.name).display().to_string(),
            &pending.display().to_string(),
            3,
        );
        (d, pending.display().to_string())
    });
    let ev = Evidence {
        tail: verdict::failure_excerpt(&output),
        notrun: read(notrun_path(cfg, job)),
        casenotrun: read(casenotrun_path(cfg, job)),
        mismatch,
        libtest: verdict::parse_libtest(&output),
    };
    let mut v = verdict::decide(exit, &ev);
    if matches!(exit, Exit::Finished { .. } | Exit::Timeout) && v.status == verdict::Status::Fail && !v.detail_is_diff {
        v.description.push_str(&format!(" (output in {})", log.display()));
    }
    Outcome {
        verdict: v,
        elapsed: elapsed.filter(|_| matches!(exit, Exit::Finished { .. } | Exit::Timeout)),
        start: start.into(),
        end: clock(),
    }
}

/// Copy what was appended to `log` since `pos` to stdout; returns the new
/// position.
fn echo(log: &Path, pos: u64) -> u64 {
    let Ok(mut f) = File::open(log) else { return pos };
    if f.seek(SeekFrom::Start(pos)).is_err() {
        return pos;
    }
    let mut buf = Vec::new();
    let n = f.read_to_end(&mut buf).unwrap_or(0);
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&buf[..n]);
    let _ = out.flush();
    pos + n as u64
}
