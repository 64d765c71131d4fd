//! `iotests conformance QEMU_SRC [TESTS…]`: every snapshot named after an
//! upstream test compared with QEMU's own reference output, the way `check`
//! compares (trailing whitespace stripped per line, trailing empty lines
//! ignored). Per-cell variants compare with QEMU's variants
//! (`150.raw.snap` with `150.out.raw`, see [`crate::reference`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::diff;
use crate::error::{Error, IoContext, Result};
use crate::reference::{out_file_name, snapshot_name_of_out, split_name};
use crate::snapfile::{SnapDir, read_text};

/// QEMU's reference output for snapshot `name` (`209`, `150.raw`):
/// `tests/qemu-iotests/<file>` or `tests/qemu-iotests/tests/<file>`.
pub fn reference(qemu_src: &Path, name: &str) -> Option<PathBuf> {
    let base = qemu_src.join("tests").join("qemu-iotests");
    let file = out_file_name(name);
    [base.join(&file), base.join("tests").join(&file)].into_iter().find(|p| p.is_file())
}

/// The snapshot names of every upstream reference file of test `test`.
fn upstream_variants(qemu_src: &Path, test: &str) -> Vec<String> {
    let base = qemu_src.join("tests").join("qemu-iotests");
    [base.clone(), base.join("tests")]
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .flatten()
        .filter_map(|e| snapshot_name_of_out(e.file_name().to_str()?))
        .filter(|n| split_name(n).0 == test)
        .collect()
}

/// `check`'s normalisation: each line right-trimmed, trailing empty lines
/// dropped.
pub fn normalise(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.split('\n').map(str::trim_end).collect();
    while lines.last() == Some(&"") {
        lines.pop();
    }
    lines
}

fn joined(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// The outcome of a conformance run.
#[derive(Debug, PartialEq, Eq)]
pub struct Score {
    /// Tests identical to upstream.
    pub identical: usize,
    /// Tests compared.
    pub compared: usize,
}

impl Score {
    /// Whether everything compared was identical (and something was).
    pub fn ok(&self) -> bool {
        self.compared > 0 && self.identical == self.compared
    }
}

/// Compare snapshots with upstream references and print each difference and
/// the `identical: N / M` line. With `tests`, exactly those are compared and
/// a missing snapshot or reference counts as a difference.
pub fn run(qemu_src: &Path, dir: &SnapDir, tests: &[String], out: &mut dyn Write, color: bool) -> Result<Score> {
    if !qemu_src.join("tests/qemu-iotests").is_dir() {
        return Err(Error::Selection(format!(
            "{} is not a QEMU source tree: it has no tests/qemu-iotests",
            qemu_src.display()
        )));
    }
    let wanted: Vec<String> = if tests.is_empty() {
        dir.snapshot_names()?.into_iter().filter(|n| reference(qemu_src, n).is_some()).collect()
    } else {
        let mut names = Vec::new();
        for t in tests {
            let mut mine: Vec<String> =
                dir.snapshot_names()?.into_iter().filter(|n| split_name(n).0 == t || n == t).collect();
            mine.extend(upstream_variants(qemu_src, t));
            if mine.is_empty() {
                mine.push(t.clone());
            }
            names.extend(mine);
        }
        names.sort();
        names.dedup();
        names
    };
    let mut same = 0;
    for name in &wanted {
        let snap = dir.snap(name);
        let Some(refpath) = reference(qemu_src, name) else {
            writeln!(out, "{name}: no upstream reference ({})", out_file_name(name)).at("stdout")?;
            continue;
        };
        if !snap.is_file() {
            writeln!(out, "{name}: no snapshot {}", snap.display()).at("stdout")?;
            continue;
        }
        let expected_text = read_text(&refpath)?;
        let snap_text = read_text(&snap)?;
        let expected = normalise(&expected_text);
        let actual = normalise(iotests::snapshot::snap_body(&snap_text));
        if expected == actual {
            same += 1;
            continue;
        }
        writeln!(out, "{name}: differs").at("stdout")?;
        let d = diff::unified(
            &joined(&expected),
            &joined(&actual),
            &refpath.display().to_string(),
            &snap.display().to_string(),
            2,
        );
        let d = if color { diff::colorize(&d) } else { d };
        write!(out, "{}", diff::indent(&d, "    ")).at("stdout")?;
    }
    writeln!(out, "identical: {same} / {}", wanted.len()).at("stdout")?;
    Ok(Score { identical: same, compared: wanted.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_matches_check() {
        assert_eq!(normalise("a  \nb\t\n\n\n"), ["a", "b"]);
        assert_eq!(normalise(""), Vec::<&str>::new());
    }
}
