//! `iotests review`, `accept` and `reject`: the pending `.snap.new` files
//! insta leaves behind, shown as diffs and moved over or dropped.

use std::io::{BufRead, Write};

use crate::diff;
use crate::error::{Error, IoContext, Result};
use crate::snapfile::{self, SnapDir, read_opt, read_text};

/// The pending snapshots named by `tests` (names or glob patterns), or all
/// of them when `tests` is empty. A name with nothing pending is an error.
pub fn pending_selection(dir: &SnapDir, tests: &[String]) -> Result<Vec<String>> {
    let pending = dir.pending_names()?;
    if tests.is_empty() {
        return Ok(pending);
    }
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for t in tests {
        let pat = glob::Pattern::new(t).ok();
        let hits: Vec<&String> =
            pending.iter().filter(|p| *p == t || pat.as_ref().is_some_and(|pat| pat.matches(p))).collect();
        if hits.is_empty() {
            missing.push(t.as_str());
        }
        out.extend(hits.into_iter().cloned());
    }
    if !missing.is_empty() {
        return Err(Error::Selection(format!(
            "no pending snapshot for {} in {}",
            missing.join(", "),
            dir.dir.display()
        )));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// One pending change: the accepted body (if any) and the new one.
#[derive(Debug)]
pub struct Change {
    /// The test name.
    pub name: String,
    /// The accepted snapshot's body, `None` for a new snapshot.
    pub old: Option<String>,
    /// The pending snapshot's body.
    pub new: String,
}

impl Change {
    /// Load `<name>.snap` and `<name>.snap.new`.
    pub fn load(dir: &SnapDir, name: &str) -> Result<Change> {
        let new = snapfile::body_text(&read_text(&dir.pending(name))?);
        let old = read_opt(&dir.snap(name))?.map(|t| snapfile::body_text(&t));
        Ok(Change { name: name.to_string(), old, new })
    }

    /// `changed (+a -b)`, `new (+a)` or `unchanged body (front matter only)`.
    pub fn summary(&self) -> String {
        match &self.old {
            None => format!("new (+{})", diff::count_changes("", &self.new).0),
            Some(old) if *old == self.new => "unchanged body (front matter only)".to_string(),
            Some(old) => {
                let (a, r) = diff::count_changes(old, &self.new);
                format!("changed (+{a} -{r})")
            }
        }
    }

    /// The unified diff from the accepted body to the pending one.
    pub fn diff(&self, dir: &SnapDir, color: bool) -> String {
        let d = diff::unified(
            self.old.as_deref().unwrap_or(""),
            &self.new,
            &dir.snap(&self.name).display().to_string(),
            &dir.pending(&self.name).display().to_string(),
            3,
        );
        if color { diff::colorize(&d) } else { d }
    }
}

/// What the user decided in an interactive review.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Snapshots accepted.
    pub accepted: usize,
    /// Snapshots rejected.
    pub rejected: usize,
    /// Snapshots left pending.
    pub skipped: usize,
}

/// Show every selected pending change; when `input` is given (stdin is a
/// terminal), ask for each one whether to accept, reject or skip it.
pub fn review(
    dir: &SnapDir,
    tests: &[String],
    out: &mut dyn Write,
    mut input: Option<&mut dyn BufRead>,
    color: bool,
) -> Result<Tally> {
    let names = pending_selection(dir, tests)?;
    let mut tally = Tally::default();
    if names.is_empty() {
        writeln!(out, "no pending snapshots in {}", dir.dir.display()).at("stdout")?;
        return Ok(tally);
    }
    for (i, name) in names.iter().enumerate() {
        let change = Change::load(dir, name)?;
        writeln!(out, "{name}: {}", change.summary()).at("stdout")?;
        write!(out, "{}", change.diff(dir, color)).at("stdout")?;
        let Some(inp) = input.as_deref_mut() else {
            tally.skipped += 1;
            continue;
        };
        match ask(out, inp, name)? {
            Answer::Accept => {
                snapfile::accept(dir, name)?;
                tally.accepted += 1;
            }
            Answer::Reject => {
                snapfile::remove_if_exists(&dir.pending(name))?;
                tally.rejected += 1;
            }
            Answer::Skip => tally.skipped += 1,
            Answer::Quit => {
                tally.skipped += names.len() - i;
                break;
            }
        }
    }
    writeln!(
        out,
        "{} pending: {} accepted, {} rejected, {} left pending",
        names.len(),
        tally.accepted,
        tally.rejected,
        tally.skipped
    )
    .at("stdout")?;
    Ok(tally)
}

enum Answer {
    Accept,
    Reject,
    Skip,
    Quit,
}

/// Ask until the answer is understood. End of input means quit. Waiting for
/// the person at the terminal is the one wait without a timeout.
fn ask(out: &mut dyn Write, input: &mut dyn BufRead, name: &str) -> Result<Answer> {
    loop {
        write!(out, "{name}: [a]ccept, [r]eject, [s]kip, [q]uit? ").at("stdout")?;
        out.flush().at("stdout")?;
        let mut line = String::new();
        if input.read_line(&mut line).at("stdin")? == 0 {
            writeln!(out).at("stdout")?;
            return Ok(Answer::Quit);
        }
        match line.trim().to_ascii_lowercase().as_str() {
            "a" | "accept" => return Ok(Answer::Accept),
            "r" | "reject" => return Ok(Answer::Reject),
            "s" | "skip" | "" => return Ok(Answer::Skip),
            "q" | "quit" => return Ok(Answer::Quit),
            _ => {}
        }
    }
}

/// `iotests accept`: move each selected `.snap.new` over its `.snap`.
pub fn accept(dir: &SnapDir, tests: &[String], out: &mut dyn Write) -> Result<usize> {
    let names = pending_selection(dir, tests)?;
    for name in &names {
        let change = Change::load(dir, name)?;
        snapfile::accept(dir, name)?;
        writeln!(out, "accepted {name}: {}", change.summary()).at("stdout")?;
    }
    if names.is_empty() {
        writeln!(out, "no pending snapshots in {}", dir.dir.display()).at("stdout")?;
    }
    Ok(names.len())
}

/// `iotests reject`: delete each selected `.snap.new`.
pub fn reject(dir: &SnapDir, tests: &[String], out: &mut dyn Write) -> Result<usize> {
    let names = pending_selection(dir, tests)?;
    for name in &names {
        snapfile::remove_if_exists(&dir.pending(name))?;
        writeln!(out, "rejected {name}").at("stdout")?;
    }
    if names.is_empty() {
        writeln!(out, "no pending snapshots in {}", dir.dir.display()).at("stdout")?;
    }
    Ok(names.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, SnapDir) {
        let d = tempfile::tempdir().unwrap();
        let dir = SnapDir::new(d.path());
        for (n, old, new) in [("001", Some("a\nb\n"), "a\nc\n"), ("002", None, "x\n"), ("003", Some("q\n"), "q\n")] {
            if let Some(old) = old {
                std::fs::write(dir.snap(n), format!("---\nsource: s\n---\n{old}")).unwrap();
            }
            std::fs::write(dir.pending(n), format!("---\nsource: s\nassertion_line: 9\n---\n{new}")).unwrap();
        }
        (d, dir)
    }

    #[test]
    fn interactive_review_applies_answers() {
        let (_d, dir) = setup();
        let mut out = Vec::new();
        let mut input: &[u8] = b"x\na\nr\n";
        let tally = review(&dir, &[], &mut out, Some(&mut input), false).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(tally, Tally { accepted: 1, rejected: 1, skipped: 1 }, "{out}");
        assert!(out.contains("001: changed (+1 -1)") && out.contains("-b\n+c\n"), "{out}");
        assert!(out.contains("002: new (+1)") && out.contains("003: unchanged body"), "{out}");
        assert_eq!(std::fs::read_to_string(dir.snap("001")).unwrap(), "---\nsource: s\n---\na\nc\n");
        assert!(!dir.pending("002").exists() && !dir.snap("002").exists());
        assert!(dir.pending("003").exists());
    }

    #[test]
    fn selection_by_name_and_pattern() {
        let (_d, dir) = setup();
        assert_eq!(pending_selection(&dir, &["00[12]".into()]).unwrap(), ["001", "002"]);
        let e = pending_selection(&dir, &["004".into()]).unwrap_err().to_string();
        assert!(e.contains("no pending snapshot for 004"), "{e}");
        let mut out = Vec::new();
        assert_eq!(reject(&dir, &["003".into()], &mut out).unwrap(), 1);
        assert_eq!(accept(&dir, &[], &mut out).unwrap(), 2);
        assert_eq!(std::fs::read_to_string(dir.snap("002")).unwrap(), "---\nsource: s\n---\nx\n");
    }
}
