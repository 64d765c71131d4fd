//! After a test process: take back its scratch, gather what it left (log,
//! `.notrun`, actual output), compare the actual output with the reference
//! the library chose for the cell, write the pending snapshot `check` owes
//! the user, and decide.

use std::collections::HashMap;
use std::path::PathBuf;

use super::config::{Insta, Job, RunConfig};
use super::spawn;
use super::verdict::{self, Evidence, Exit, Mismatch, Status, Verdict};
use crate::diff;
use crate::reference::{self, Accepted};
use crate::scratch::{self, TestDirs};
use crate::snapfile::{self, read_opt};

/// A finished test.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The verdict.
    pub verdict: Verdict,
    /// Seconds it ran (stopped time excluded), rounded to 0.1 like check
    /// (`None` if it never ran).
    pub elapsed: Option<f64>,
    /// Wall-clock start, `HH:MM:SS`.
    pub start: String,
    /// Wall-clock end, `HH:MM:SS`.
    pub end: String,
    /// Its log.
    pub log: PathBuf,
    /// The snapshot it was compared with (`209`, `150.raw`).
    pub reference: String,
    /// Its actual output, when it recorded one.
    pub actual: Option<String>,
}

/// The pending snapshots written in this run, so that two cells sharing a
/// reference do not overwrite each other's output.
#[derive(Debug, Default)]
pub struct PendingBook {
    written: HashMap<String, (String, String)>,
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

/// The reference snapshot of `job` in its cell, as the test binary chose it.
pub fn reference_for(job: &Job, cfg: &RunConfig) -> String {
    let env = &cfg.cells[job.cell].env;
    iotests::snapshot::reference_name_for(&cfg.snapshots.dir, &job.test.name, env)
}

/// Where the pending snapshot for a mismatch goes, if `check` writes one.
fn write_pending(
    cfg: &RunConfig,
    job: &Job,
    snapshot: &str,
    actual: &str,
    book: &mut PendingBook,
    notes: &mut Vec<String>,
) -> Option<String> {
    let cell = &cfg.cells[job.cell].cell.name;
    if let Some((other, body)) = book.written.get(snapshot) {
        if !reference::same_output(body, actual) {
            notes.push(format!(
                "{}: the pending {snapshot}.snap.new holds the output of cell {other}, which differs from this one",
                job.label
            ));
        }
        return Some(cfg.snapshots.pending(snapshot).display().to_string());
    }
    match reference::write_pending(&cfg.snapshots, snapshot, actual) {
        Ok(()) => {
            book.written.insert(snapshot.to_string(), (cell.clone(), actual.to_string()));
            Some(cfg.snapshots.pending(snapshot).display().to_string())
        }
        Err(e) => {
            notes.push(format!("could not write the pending snapshot: {e}"));
            None
        }
    }
}

/// Take back the scratch, gather the evidence and decide.
pub fn conclude(
    job: &Job,
    cfg: &RunConfig,
    exit: &Exit,
    elapsed: Option<f64>,
    start: &str,
    dirs: Option<&TestDirs>,
    book: &mut PendingBook,
) -> Outcome {
    let cell = &cfg.cells[job.cell];
    let mut notes = Vec::new();
    if let Some(dirs) = dirs {
        let cleaned = scratch::clean(dirs, cfg.scratch.keep);
        if !cleaned.killed.is_empty() {
            notes.push(format!("killed processes left holding its scratch: {}", cleaned.killed.join(", ")));
        }
        if let Some(kept) = cleaned.kept {
            notes.push(format!("scratch kept in {kept}"));
        }
    }
    let log = spawn::log_path(cfg, job);
    let output = std::fs::read(&log).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    let [notrun, casenotrun, xfail] = spawn::marker_paths(cfg, job);
    let read = |p: &PathBuf| read_opt(p).ok().flatten();
    let snapshot = reference_for(job, cfg);
    let actual_path = reference::actual_path(&cell.output_dir, &job.test.name);
    let actual = read(&actual_path);
    let accepted = reference::accepted(&cfg.snapshots, &snapshot);
    let failed = matches!(exit, Exit::Finished { success: false, .. });

    let mut mismatch = None;
    let mut corrupt = None;
    if let Some(actual) = &actual {
        let old = match &accepted {
            Accepted::Missing => None,
            Accepted::Body(b) => Some(b.as_str()),
            Accepted::Corrupt(why) => {
                corrupt = Some(why.clone());
                None
            }
        };
        if corrupt.is_none() && !old.is_some_and(|o| reference::same_output(o, actual)) {
            let mut see = actual_path.display().to_string();
            if failed && cfg.insta == (Insta::Check { write_pending: true }) {
                see = write_pending(cfg, job, &snapshot, actual, book, &mut notes).unwrap_or(see);
            }
            let label_new = if see.ends_with(".snap.new") { see.clone() } else { actual_path.display().to_string() };
            let diff = diff::unified(
                old.unwrap_or(""),
                &iotests::snapshot::out_text(actual),
                &cfg.snapshots.snap(&snapshot).display().to_string(),
                &label_new,
                3,
            );
            mismatch = Some(Mismatch { diff, new: old.is_none(), see });
        }
    }
    let ev = Evidence {
        tail: verdict::failure_excerpt(&output),
        notrun: read(&notrun),
        casenotrun: read(&casenotrun),
        xfail: read(&xfail),
        mismatch,
        corrupt,
        libtest: verdict::parse_libtest(&output),
        ignored_reason: verdict::ignored_reason(&output, &job.test.test),
    };
    let mut v = verdict::decide(exit, &ev);
    if v.status == Status::Fail && !v.detail_is_diff && !matches!(exit, Exit::SpawnFailed(_)) {
        v.description.push_str(&format!(" (output in {})", log.display()));
    }
    if v.status == Status::Pass {
        // Like check, keep `.out.bad` only for failures; a pending snapshot
        // left from an earlier run is stale once the test passes.
        let _ = snapfile::remove_if_exists(&actual_path);
        if cfg.insta == (Insta::Check { write_pending: true }) && !book.written.contains_key(&snapshot) {
            let _ = snapfile::remove_if_exists(&cfg.snapshots.pending(&snapshot));
        }
    }
    v.notes.extend(notes);
    Outcome {
        verdict: v,
        elapsed: elapsed.filter(|_| matches!(exit, Exit::Finished { .. } | Exit::Timeout(_))),
        start: start.into(),
        end: clock(),
        log,
        reference: snapshot,
        actual,
    }
}
