//! `iotests review`, `accept` and `reject`: the pending `.snap.new` files
//! (`check`, `regen` and `out import` write them; so does insta), shown as
//! diffs and moved over or dropped. On a terminal, review asks for a single
//! key per snapshot and pages diffs taller than the screen.

use std::io::Write;

use crate::diff;
use crate::error::{Error, IoContext, Result};
use crate::reference::{self, Accepted};
use crate::snapfile::{self, SnapDir, read_text};
use crate::terminal::{self, Keys};

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
        // A test name also selects its per-cell variants (`150` → `150.raw`).
        let hits: Vec<&String> = pending
            .iter()
            .filter(|p| {
                let base = reference::split_name(p).0;
                *p == t || base == t || pat.as_ref().is_some_and(|pat| pat.matches(p) || pat.matches(base))
            })
            .collect();
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
    /// The snapshot name (`209`, `150.raw`).
    pub name: String,
    /// The accepted snapshot's body, `None` for a new snapshot.
    pub old: Option<String>,
    /// Why the accepted snapshot cannot be read, if it cannot.
    pub corrupt: Option<String>,
    /// The pending snapshot's body.
    pub new: String,
    /// The test's source file, from the snapshot's `source:` line.
    pub source: Option<String>,
}

impl Change {
    /// Load `<name>.snap` and `<name>.snap.new`.
    pub fn load(dir: &SnapDir, name: &str) -> Result<Change> {
        let pending = read_text(&dir.pending(name))?;
        let new = snapfile::body_text(&pending);
        let (old, corrupt) = match reference::accepted(dir, name) {
            Accepted::Missing => (None, None),
            Accepted::Body(b) => (Some(b), None),
            Accepted::Corrupt(why) => (None, Some(why)),
        };
        let source = snapfile::split(&pending)
            .0
            .lines()
            .find_map(|l| l.strip_prefix("source:"))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        Ok(Change { name: name.to_string(), old, corrupt, new, source })
    }

    /// `changed (+a -b)`, `new (+a)` or `unchanged body (front matter only)`.
    pub fn summary(&self) -> String {
        if let Some(why) = &self.corrupt {
            return format!("replaces a corrupt snapshot ({why})");
        }
        match &self.old {
            None => format!("new (+{})", diff::count_changes("", &self.new).0),
            Some(old) if reference::same_output(old, &self.new) => "unchanged body (front matter only)".to_string(),
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

/// Show every selected pending change; on a terminal (`interactive`), ask
/// for each one whether to accept, reject or skip it, a key press each, and
/// page diffs taller than the screen.
pub fn review(dir: &SnapDir, tests: &[String], out: &mut dyn Write, interactive: bool, color: bool) -> Result<Tally> {
    if interactive {
        let rows = terminal::rows().unwrap_or(usize::MAX);
        let mut pager = |text: &str| text.lines().count() + 4 > rows && terminal::page(text);
        review_with(dir, tests, out, Some(&mut terminal::TerminalKeys), &mut pager, color)
    } else {
        review_with(dir, tests, out, None, &mut |_: &str| false, color)
    }
}

/// [`review`] with the answers from `keys` (`None`: just list) and diffs
/// offered to `pager` first (it returns whether it showed them).
pub fn review_with(
    dir: &SnapDir,
    tests: &[String],
    out: &mut dyn Write,
    mut keys: Option<&mut dyn Keys>,
    pager: &mut dyn FnMut(&str) -> bool,
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
        let source = change.source.as_deref().map(|s| format!(" [{s}]")).unwrap_or_default();
        let text = format!("{name}: {}{source}\n{}", change.summary(), change.diff(dir, color));
        if keys.is_none() || !pager(&text) {
            write!(out, "{text}").at("stdout")?;
        }
        let Some(k) = keys.as_deref_mut() else {
            tally.skipped += 1;
            continue;
        };
        match ask(out, k, name)? {
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
    if tally.accepted > 0 {
        writeln!(out, "commit the accepted snapshots in {}", dir.dir.display()).at("stdout")?;
    }
    if tally.skipped > 0 {
        writeln!(out, "still pending: `iotests review` to decide, `iotests accept NAME` / `iotests reject NAME`")
            .at("stdout")?;
    }
    Ok(tally)
}

enum Answer {
    Accept,
    Reject,
    Skip,
    Quit,
}

/// Ask until a known key is pressed; end of input means quit. Waiting for
/// the person at the terminal is the one wait without a timeout.
fn ask(out: &mut dyn Write, keys: &mut dyn Keys, name: &str) -> Result<Answer> {
    write!(out, "{name}: [a]ccept, [r]eject, [s]kip, [q]uit? ").at("stdout")?;
    out.flush().at("stdout")?;
    loop {
        let (answer, word) = match keys.key().map(|c| c.to_ascii_lowercase()) {
            None => (Answer::Quit, "quit"),
            Some('a') => (Answer::Accept, "accept"),
            Some('r') => (Answer::Reject, "reject"),
            Some('s' | '\n' | ' ') => (Answer::Skip, "skip"),
            // q, Ctrl-C, Ctrl-D.
            Some('q' | '\x03' | '\x04') => (Answer::Quit, "quit"),
            Some(_) => continue,
        };
        writeln!(out, "{word}").at("stdout")?;
        return Ok(answer);
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
        let mut input: &[u8] = b"xar";
        let mut paged = Vec::new();
        let mut pager = |t: &str| {
            paged.push(t.to_string());
            t.starts_with("002")
        };
        let tally = review_with(&dir, &[], &mut out, Some(&mut input), &mut pager, false).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(tally, Tally { accepted: 1, rejected: 1, skipped: 1 }, "{out}");
        assert!(out.contains("001: changed (+1 -1) [s]") && out.contains("-b\n+c\n"), "{out}");
        assert!(out.contains("001: [a]ccept, [r]eject, [s]kip, [q]uit? accept\n"), "{out}");
        // The pager showed 002's diff; the others were printed.
        assert_eq!(paged.len(), 3);
        assert!(!out.contains("002: new (+1)") && paged[1].starts_with("002: new (+1)"), "{out}");
        assert!(out.contains("still pending: `iotests review`"), "{out}");
        assert!(out.contains("003: unchanged body"), "{out}");
        assert_eq!(std::fs::read_to_string(dir.snap("001")).unwrap(), "---\nsource: s\n---\na\nc\n");
        assert!(!dir.pending("002").exists() && !dir.snap("002").exists());
        assert!(dir.pending("003").exists());
    }

    #[test]
    fn selection_by_name_and_pattern() {
        let (_d, dir) = setup();
        assert_eq!(pending_selection(&dir, &["00[12]".into()]).unwrap(), ["001", "002"]);
        std::fs::write(dir.pending("150.raw"), "---\n---\nx\n").unwrap();
        assert_eq!(pending_selection(&dir, &["150".into()]).unwrap(), ["150.raw"]);
        std::fs::remove_file(dir.pending("150.raw")).unwrap();
        let e = pending_selection(&dir, &["004".into()]).unwrap_err().to_string();
        assert!(e.contains("no pending snapshot for 004"), "{e}");
        let mut out = Vec::new();
        assert_eq!(reject(&dir, &["003".into()], &mut out).unwrap(), 1);
        assert_eq!(accept(&dir, &[], &mut out).unwrap(), 2);
        assert_eq!(std::fs::read_to_string(dir.snap("002")).unwrap(), "---\nsource: s\n---\nx\n");
    }
}
