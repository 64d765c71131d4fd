//! Starting one test process: its scratch directories, its environment,
//! its log file, its process group.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::config::{Job, RunConfig};
use super::verdict::Exit;
use crate::proc;
use crate::reference;
use crate::scratch::TestDirs;
use crate::snapfile;

/// `<OUTPUT_DIR>/<name>.log`.
pub fn log_path(cfg: &RunConfig, job: &Job) -> PathBuf {
    cfg.cells[job.cell].output_dir.join(format!("{}.log", job.test.name))
}

/// `<OUTPUT_DIR>/<name>.notrun`, `.casenotrun` and `.xfail`.
pub fn marker_paths(cfg: &RunConfig, job: &Job) -> [PathBuf; 3] {
    let out = &cfg.cells[job.cell].output_dir;
    ["notrun", "casenotrun", "xfail"].map(|ext| out.join(format!("{}.{ext}", job.test.name)))
}

/// `IOTESTS_TIMEOUT` for a limit: seconds, `0` for none.
pub fn timeout_value(limit: Option<Duration>) -> String {
    match limit {
        Some(l) => format!("{}", l.as_secs_f64()),
        None => "0".into(),
    }
}

/// Clear what a previous run left, then start the test process with its
/// output going to `<OUTPUT_DIR>/<name>.log`.
pub fn spawn(job: &Job, cfg: &RunConfig, limit: Option<Duration>) -> Result<(Child, PathBuf, TestDirs), Exit> {
    let cell = &cfg.cells[job.cell];
    let fail = |what: &Path, e: &dyn std::fmt::Display| Exit::SpawnFailed(format!("{}: {e}", what.display()));
    std::fs::create_dir_all(&cell.output_dir).map_err(|e| fail(&cell.output_dir, &e))?;
    // Stale files would turn this run's verdict into the last one's.
    let [notrun, casenotrun, xfail] = marker_paths(cfg, job);
    for stale in [notrun, casenotrun, xfail, reference::actual_path(&cell.output_dir, &job.test.name)] {
        snapfile::remove_if_exists(&stale).map_err(|e| Exit::SpawnFailed(e.to_string()))?;
    }
    let dirs = cfg.scratch.for_test(&cell.cell.name, &job.test.name).map_err(|e| Exit::SpawnFailed(e.to_string()))?;
    let log = log_path(cfg, job);
    let out = File::create(&log).map_err(|e| fail(&log, &e))?;
    let err = out.try_clone().map_err(|e| fail(&log, &e))?;
    let mut cmd = Command::new(&cfg.binary);
    cmd.args(["--exact", &job.test.test, "--nocapture", "--test-threads=1"])
        .current_dir(&cfg.cwd)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    for k in &cfg.env_remove {
        cmd.env_remove(k);
    }
    cmd.envs(cfg.env.iter().map(|(k, v)| (k, v)))
        .envs(cell.vars.iter().map(|(k, v)| (k, v)))
        .env("IOTESTS_TIMEOUT", timeout_value(limit))
        .env("TEST_DIR", &dirs.test_dir)
        .env("SOCK_DIR", &dirs.sock_dir)
        // Whatever else the test (or QEMU) puts in a temporary directory —
        // the library's probe images, `snapshot=on` overlays — is taken
        // back with its scratch.
        .env("TMPDIR", &dirs.test_dir);
    proc::isolate(&mut cmd);
    let child = cmd.spawn().map_err(|e| fail(&cfg.binary, &e))?;
    Ok((child, log, dirs))
}

/// Copy what was appended to `log` since `pos` to stdout; returns the new
/// position.
pub fn echo(log: &Path, pos: u64) -> u64 {
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
