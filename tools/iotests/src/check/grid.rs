//! The matrix at a glance: one row per test, one column per cell.

use super::conclude::Outcome;
use super::config::Job;
use super::verdict::Status;

/// The grid of `results` over the cells named `cells` (in order), colored
/// like check's status words when `color`.
pub fn render(cells: &[String], results: &[(&Job, &Outcome)], color: bool) -> String {
    let mut names: Vec<&str> = Vec::new();
    for (j, _) in results {
        if !names.contains(&j.test.name.as_str()) {
            names.push(&j.test.name);
        }
    }
    let name_w = names.iter().map(|n| n.len()).max().unwrap_or(4).max(4) + 2;
    let col_w: Vec<usize> = cells.iter().map(|c| c.len().max(7) + 2).collect();
    let mut s = format!("{:name_w$}", "test");
    for (c, w) in cells.iter().zip(&col_w) {
        s.push_str(&format!("{c:w$}"));
    }
    s = s.trim_end().to_string() + "\n";
    for name in names {
        let mut row = format!("{name:name_w$}");
        for (i, w) in col_w.iter().enumerate() {
            let status =
                results.iter().find(|(j, _)| j.cell == i && j.test.name == name).map(|(_, o)| o.verdict.status);
            let word = status.map_or("-", Status::as_str);
            let (on, off) = match (color, status) {
                (true, Some(Status::Pass)) => ("\x1b[32m", "\x1b[0m"),
                (true, Some(Status::Fail)) => ("\x1b[1m\x1b[31m", "\x1b[0m"),
                (true, Some(Status::NotRun | Status::Xfail)) => ("\x1b[33m", "\x1b[0m"),
                _ => ("", ""),
            };
            row.push_str(&format!("{on}{word:w$}{off}"));
        }
        s.push_str(row.trim_end());
        s.push('\n');
    }
    s
}
