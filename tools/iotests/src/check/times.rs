//! The last elapsed time of each passing test, per protocol and format, as
//! the old `check` kept it in `check.time-<proto>-<fmt>`: one `name seconds`
//! line per test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
}
