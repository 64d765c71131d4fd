//! The last elapsed time of each passing test, per protocol and format, as
//! the old `check` kept it in `check.time-<proto>-<fmt>`: one `name seconds`
//! line per test. With more than one job they also decide the start order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::config::Job;
use crate::error::Result;
use crate::snapfile::{read_opt, write_atomic};

/// The times file of one matrix cell.
#[derive(Debug, Default)]
pub struct Times {
    path: PathBuf,
    times: BTreeMap<String, f64>,
}

impl Times {
    /// `<dir>/<file>` (`check.time-<proto>-<fmt>`); a missing or garbled
    /// file is empty (it is a cache).
    pub fn load(dir: &Path, file: &str) -> Times {
        let path = dir.join(file);
        let text = read_opt(&path).ok().flatten().unwrap_or_default();
        let times = text
            .lines()
            .filter_map(|l| {
                let (name, secs) = l.split_once(' ')?;
                Some((name.to_string(), secs.trim().parse().ok()?))
            })
            .collect();
        Times { path, times }
    }

    /// The last time of `name`, if it passed before.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.times.get(name).copied()
    }

    /// Record a passing run.
    pub fn update(&mut self, name: &str, secs: f64) {
        self.times.insert(name.to_string(), secs);
    }

    /// Write the file back.
    pub fn save(&self) -> Result<()> {
        let text: String = self.times.iter().map(|(n, t)| format!("{n} {t:.1}\n")).collect();
        write_atomic(&self.path, &text)
    }
}

/// The order to start `jobs` in (indices into `jobs`). One at a time: as
/// listed, like `check`. With more slots: longest first by each test's last
/// time in its cell, tests without one (new, or never passed: not-run tests
/// end at once) before all others, ties as listed. Started in listed order, a
/// long test that comes late (044 runs for a minute or more) keeps one slot
/// busy long after the others ran dry; longest-first bounds the tail by the
/// shortest tests instead.
pub fn start_order(jobs: &[Job], times: &[Times], slots: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    if slots > 1 {
        let last = |i: usize| times.get(jobs[i].cell).and_then(|t| t.get(&jobs[i].test.name)).unwrap_or(f64::INFINITY);
        // A stable sort: equal times keep the listed order.
        order.sort_by(|&a, &b| last(b).total_cmp(&last(a)));
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let d = tempfile::tempdir().unwrap();
        let mut t = Times::load(d.path(), "check.time-file-qcow2");
        assert_eq!(t.get("001"), None);
        t.update("001", 1.3);
        t.save().unwrap();
        std::fs::write(d.path().join("junk"), "").unwrap();
        let t = Times::load(d.path(), "check.time-file-qcow2");
        assert_eq!(t.get("001"), Some(1.3));
        assert_eq!(std::fs::read_to_string(d.path().join("check.time-file-qcow2")).unwrap(), "001 1.3\n");
    }

    fn job(name: &str, cell: usize) -> Job {
        let test = crate::listing::TestDef {
            name: name.into(),
            test: format!("t{name}"),
            kind: "script".into(),
            groups: Vec::new(),
            supported_fmts: Vec::new(),
            timeout: None,
        };
        Job { test, cell, label: name.into() }
    }

    #[test]
    fn longest_first_with_more_than_one_slot() {
        let d = tempfile::tempdir().unwrap();
        let mut raw = Times::load(d.path(), "check.time-file-raw");
        let mut qcow2 = Times::load(d.path(), "check.time-file-qcow2");
        for (name, t) in [("030", 5.0), ("044", 80.0), ("209", 0.1), ("151", 30.0)] {
            qcow2.update(name, t);
        }
        raw.update("209", 90.0);
        let jobs: Vec<Job> = ["030", "044", "new", "151", "209", "208"].iter().map(|n| job(n, 1)).collect();
        let times = [raw, qcow2];
        // One slot: as listed, like check.
        assert_eq!(start_order(&jobs, &times, 1), [0, 1, 2, 3, 4, 5]);
        // Unknown times first (as listed), then longest first; each test's
        // time is its own cell's.
        assert_eq!(start_order(&jobs, &times, 2), [2, 5, 1, 3, 0, 4]);
        let mut jobs = jobs;
        jobs.push(job("209", 0));
        assert_eq!(start_order(&jobs, &times, 2), [2, 5, 6, 1, 3, 0, 4]);
    }
}
