//! Reference outputs: which snapshot a test compares with in a cell (the
//! library's `reference_name`, shared with the test binary), how snapshot
//! names map to QEMU's `.out` file names and back, and how an actual output
//! is compared with a snapshot and written as a pending one.
//!
//! | snapshot | QEMU's file |
//! |---|---|
//! | `<name>.snap` | `<name>.out` |
//! | `<name>.<fmt>.snap` | `<name>.out.<fmt>` |
//! | `<name>.nocache.snap` | `<name>.out.nocache` |
//! | `<name>.<machine>.snap` | `<name>.<machine>.out` |

use std::path::Path;

use iotests::snapshot::out_text;

use crate::envcmd::FORMATS;
use crate::error::{Error, Result};
use crate::snapfile::{self, MINIMAL_HEADER, SnapDir, read_opt};

/// Split a snapshot name into the test name and its variant:
/// `150.qcow2` → (`150`, `Some("qcow2")`).
pub fn split_name(snapshot: &str) -> (&str, Option<&str>) {
    match snapshot.split_once('.') {
        Some((base, variant)) => (base, Some(variant)),
        None => (snapshot, None),
    }
}

/// QEMU's reference file name for a snapshot name.
pub fn out_file_name(snapshot: &str) -> String {
    match split_name(snapshot) {
        (base, None) => format!("{base}.out"),
        (base, Some(v)) if v == "nocache" || FORMATS.contains(&v) => format!("{base}.out.{v}"),
        (base, Some(machine)) => format!("{base}.{machine}.out"),
    }
}

/// The snapshot name for one of QEMU's reference file names, or `None` for a
/// file that is not one (`x.out.bad`, `x.txt`).
pub fn snapshot_name_of_out(file: &str) -> Option<String> {
    let ok = |s: &str| !s.is_empty() && !s.contains('.');
    if let Some(stem) = file.strip_suffix(".out") {
        return match stem.split_once('.') {
            None if ok(stem) => Some(stem.to_string()),
            Some((base, machine)) if ok(base) && ok(machine) => Some(format!("{base}.{machine}")),
            _ => None,
        };
    }
    let (base, variant) = file.split_once(".out.")?;
    (ok(base) && (variant == "nocache" || FORMATS.contains(&variant))).then(|| format!("{base}.{variant}"))
}

/// Whether two outputs are the same the way insta compares snapshots:
/// trailing whitespace at the end and CRLF line ends do not matter.
pub fn same_output(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim_end().replace("\r\n", "\n");
    norm(a) == norm(b)
}

/// An accepted snapshot as far as a comparison needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// There is none: the test's output would be a new snapshot.
    Missing,
    /// Its body (QEMU's `.out` text).
    Body(String),
    /// It exists but cannot be read as a snapshot.
    Corrupt(String),
}

/// Read `<snapshot>.snap` for comparison; a file that is not UTF-8 text is
/// reported as corrupt rather than as empty.
pub fn accepted(dir: &SnapDir, snapshot: &str) -> Accepted {
    let path = dir.snap(snapshot);
    match read_opt(&path) {
        Ok(None) => Accepted::Missing,
        Ok(Some(text)) => Accepted::Body(snapfile::body_text(&text)),
        Err(Error::NotUtf8(_)) => Accepted::Corrupt(format!(
            "{} is corrupt: not UTF-8 text (restore it from version control)",
            path.display()
        )),
        Err(e) => Accepted::Corrupt(e.to_string()),
    }
}

/// The front matter a pending snapshot for `snapshot` gets: the accepted
/// snapshot's, else the base test's (for a new variant), else a minimal one;
/// without insta's review-only `assertion_line`.
pub fn front_matter(dir: &SnapDir, snapshot: &str) -> String {
    let (base, _) = split_name(snapshot);
    [snapshot, base]
        .iter()
        .find_map(|n| read_opt(&dir.snap(n)).ok().flatten())
        .map(|t| snapfile::persistable_front(snapfile::split(&t).0))
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| MINIMAL_HEADER.to_string())
}

/// The text of a snapshot file for `snapshot` with body `output`.
pub fn snapshot_text(dir: &SnapDir, snapshot: &str, output: &str) -> String {
    format!("{}{}", front_matter(dir, snapshot), out_text(output))
}

/// Write `output` as the pending `<snapshot>.snap.new`.
pub fn write_pending(dir: &SnapDir, snapshot: &str, output: &str) -> Result<()> {
    snapfile::write_atomic(&dir.pending(snapshot), &snapshot_text(dir, snapshot, output))
}

/// The actual output a test recorded in `<output_dir>/<name>.out.bad`.
pub fn actual_path(output_dir: &Path, name: &str) -> std::path::PathBuf {
    output_dir.join(format!("{name}.out.bad"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_qemu_files_and_back() {
        for (snap, out) in [
            ("209", "209.out"),
            ("150.qcow2", "150.out.qcow2"),
            ("026.nocache", "026.out.nocache"),
            ("051.pc", "051.pc.out"),
        ] {
            assert_eq!(out_file_name(snap), out);
            assert_eq!(snapshot_name_of_out(out).as_deref(), Some(snap));
        }
        for junk in ["209.out.bad", "x.txt", ".out", "a.b.c.out", "209.out.nosuchfmt"] {
            assert_eq!(snapshot_name_of_out(junk), None, "{junk}");
        }
        assert_eq!(split_name("150.raw"), ("150", Some("raw")));
    }

    #[test]
    fn comparison_and_pending_front_matter() {
        assert!(same_output("a\nb\n\n", "a\r\nb"));
        assert!(!same_output("a ", "a\nb"));
        let d = tempfile::tempdir().unwrap();
        let dir = SnapDir::new(d.path());
        std::fs::write(dir.snap("150"), "---\nsource: tests/iotests/t150.rs\nassertion_line: 3\n---\nold\n").unwrap();
        std::fs::write(dir.snap("bad"), b"---\n\xff\xfe\n").unwrap();
        assert_eq!(accepted(&dir, "150"), Accepted::Body("old\n".into()));
        assert_eq!(accepted(&dir, "nope"), Accepted::Missing);
        assert!(matches!(accepted(&dir, "bad"), Accepted::Corrupt(m) if m.contains("corrupt")));
        write_pending(&dir, "150.raw", "new\n\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.pending("150.raw")).unwrap(),
            "---\nsource: tests/iotests/t150.rs\n---\nnew\n"
        );
        write_pending(&dir, "999", "x").unwrap();
        assert_eq!(std::fs::read_to_string(dir.pending("999")).unwrap(), format!("{MINIMAL_HEADER}x\n"));
    }
}
