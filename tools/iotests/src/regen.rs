//! `iotests regen`: rerun tests so that a changed log does not fail them
//! (INSTA_FORCE_PASS=1), compare each actual output with the reference its
//! cell uses, and leave what changed as pending `.snap.new` files for
//! `iotests review` (or accept it with `--accept`), then summarise.
//!
//! Across a matrix, cells that share a reference must agree. When they
//! differ only by image format, each format whose output differs gets a
//! per-format reference (`<name>.<fmt>.snap`, QEMU's `<name>.out.<fmt>`);
//! any other disagreement is reported as a conflict and nothing is written
//! for that test.

use std::collections::BTreeMap;
use std::io::Write;

use crate::check::config::Insta;
use crate::check::reporter::{Mode, count};
use crate::check::verdict::Status;
use crate::check::{self, RunArgs, SelectArgs};
use crate::diff::count_changes;
use crate::error::{Error, IoContext, Result};
use crate::programs;
use crate::reference::{self, Accepted};
use crate::snapfile::{self, SnapDir};
use crate::workspace::Paths;

/// `regen`'s options.
#[derive(Debug, Clone, clap::Args)]
pub struct RegenArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub run: RunArgs,
    /// Regenerate every test (otherwise name tests or groups).
    #[arg(long)]
    pub all: bool,
    /// Accept the regenerated snapshots instead of leaving them pending.
    #[arg(long)]
    pub accept: bool,
}

/// What regeneration found for one reference snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The snapshot changed: lines added and removed.
    Changed(usize, usize),
    /// There was no snapshot: lines of the new one.
    New(usize),
    /// Same as before.
    Unchanged,
    /// The test did not run (not suitable for this cell).
    NotRun,
    /// The test failed for another reason than its output.
    Failed,
    /// Cells sharing the reference disagree in a way a per-format
    /// reference cannot express.
    Conflict(String),
}

/// One cell's actual output for a reference.
#[derive(Debug, Clone)]
pub struct Produced {
    /// The cell's name.
    pub cell: String,
    /// Its image format.
    pub fmt: String,
    /// The output.
    pub actual: String,
}

/// Decide what to write for the outputs `produced` by the cells that
/// compare with `snapshot`: `(snapshot name, output)` pairs and the effect
/// on each.
pub fn plan(dir: &SnapDir, snapshot: &str, produced: &[Produced]) -> Vec<(String, Effect, Option<String>)> {
    let Some(first) = produced.first() else { return Vec::new() };
    let effect_of = |name: &str, actual: &str| match reference::accepted(dir, name) {
        Accepted::Missing => Effect::New(count_changes("", actual).0),
        Accepted::Body(old) if reference::same_output(&old, actual) => Effect::Unchanged,
        Accepted::Body(old) => {
            let (a, r) = count_changes(&old, actual);
            Effect::Changed(a, r)
        }
        Accepted::Corrupt(_) => Effect::New(count_changes("", actual).0),
    };
    if produced.iter().all(|p| reference::same_output(&p.actual, &first.actual)) {
        return vec![(snapshot.to_string(), effect_of(snapshot, &first.actual), Some(first.actual.clone()))];
    }
    let mut by_fmt: BTreeMap<&str, Vec<&Produced>> = BTreeMap::new();
    for p in produced {
        by_fmt.entry(&p.fmt).or_default().push(p);
    }
    let consistent = by_fmt.values().all(|ps| ps.iter().all(|p| reference::same_output(&p.actual, &ps[0].actual)));
    let is_base = reference::split_name(snapshot).1.is_none();
    if !consistent || !is_base {
        let cells: Vec<&str> = produced.iter().map(|p| p.cell.as_str()).collect();
        let why = format!("cells {} disagree on {snapshot}.snap; regenerate them one by one", cells.join(", "));
        return vec![(snapshot.to_string(), Effect::Conflict(why), None)];
    }
    let base_body = match reference::accepted(dir, snapshot) {
        Accepted::Body(b) => Some(b),
        _ => None,
    };
    by_fmt
        .into_iter()
        .filter(|(_, ps)| !base_body.as_deref().is_some_and(|b| reference::same_output(b, &ps[0].actual)))
        .map(|(fmt, ps)| {
            let name = format!("{snapshot}.{fmt}");
            let e = effect_of(&name, &ps[0].actual);
            (name, e, Some(ps[0].actual.clone()))
        })
        .collect()
}

/// Print the summary of a regen run.
pub fn summarise(out: &mut dyn Write, effects: &[(String, Effect)]) -> std::io::Result<()> {
    let pick = |f: fn(&Effect) -> bool| -> Vec<&(String, Effect)> { effects.iter().filter(|(_, e)| f(e)).collect() };
    let changed = pick(|e| matches!(e, Effect::Changed(..)));
    let new = pick(|e| matches!(e, Effect::New(_)));
    let (plus, minus) = changed.iter().fold((0, 0), |(p, m), (_, e)| match e {
        Effect::Changed(a, r) => (p + a, m + r),
        _ => (p, m),
    });
    writeln!(out, "\nregen summary:")?;
    writeln!(out, "  changed   {:4}  (+{plus} -{minus})", changed.len())?;
    for (n, e) in &changed {
        if let Effect::Changed(a, r) = e {
            writeln!(out, "    {n}  +{a} -{r}")?;
        }
    }
    let new_lines: usize = new.iter().map(|(_, e)| if let Effect::New(a) = e { *a } else { 0 }).sum();
    writeln!(out, "  new       {:4}  (+{new_lines})", new.len())?;
    for (n, e) in &new {
        if let Effect::New(a) = e {
            writeln!(out, "    {n}  +{a}")?;
        }
    }
    writeln!(out, "  unchanged {:4}", pick(|e| *e == Effect::Unchanged).len())?;
    let notrun = pick(|e| *e == Effect::NotRun);
    if !notrun.is_empty() {
        writeln!(out, "  not run   {:4}", notrun.len())?;
    }
    let failed = pick(|e| *e == Effect::Failed);
    if !failed.is_empty() {
        let names: Vec<&str> = failed.iter().map(|(n, _)| n.as_str()).collect();
        writeln!(out, "  failed    {:4}  {}", failed.len(), names.join(" "))?;
    }
    let conflicts = pick(|e| matches!(e, Effect::Conflict(_)));
    if !conflicts.is_empty() {
        writeln!(out, "  conflict  {:4}", conflicts.len())?;
        for (n, e) in &conflicts {
            if let Effect::Conflict(why) = e {
                writeln!(out, "    {n}: {why}")?;
            }
        }
    }
    Ok(())
}

/// `iotests regen`.
pub fn regen(paths: &Paths, args: &RegenArgs) -> Result<i32> {
    if check::in_ci() {
        return Err(Error::InCi);
    }
    let sel = &args.select;
    if !args.all && sel.tests.is_empty() && sel.groups.is_empty() && sel.exclude.is_empty() {
        return Err(Error::Selection("name the tests (or -g groups) to regenerate, or use --all".into()));
    }
    programs::verify(&|v| std::env::var(v).ok())?;
    let (binary, all) = check::load(paths, args.run.test_binary.as_deref())?;
    let tests = sel.resolve(&all)?;
    let mut prep = check::prepare(paths, &args.run, binary, &tests, Insta::Regen)?;
    let outcomes = check::execute(&mut prep, Mode::Human, args.run.color.enabled());
    let dir = prep.cfg.snapshots.clone();

    // Per test: what each cell produced for which reference.
    let mut effects: Vec<(String, Effect)> = Vec::new();
    let mut produced: BTreeMap<String, Vec<Produced>> = BTreeMap::new();
    for (job, o) in prep.jobs.iter().zip(&outcomes) {
        let cell = &prep.cfg.cells[job.cell].cell;
        match (o.verdict.status, &o.actual) {
            (Status::Fail, _) => effects.push((job.label.clone(), Effect::Failed)),
            // An expected failure's output is not a reference to regenerate.
            (Status::NotRun | Status::Xfail, _) => effects.push((job.label.clone(), Effect::NotRun)),
            (Status::Pass, None) => effects.push((job.label.clone(), Effect::Failed)),
            (Status::Pass, Some(actual)) => produced.entry(o.reference.clone()).or_default().push(Produced {
                cell: cell.name.clone(),
                fmt: cell.imgfmt.clone(),
                actual: actual.clone(),
            }),
        }
    }
    let mut written = Vec::new();
    for (snapshot, ps) in &produced {
        for (name, effect, actual) in plan(&dir, snapshot, ps) {
            match (&effect, actual) {
                (Effect::Changed(..) | Effect::New(_), Some(actual)) if args.accept => {
                    snapfile::write_atomic(&dir.snap(&name), &reference::snapshot_text(&dir, &name, &actual))?;
                    snapfile::remove_if_exists(&dir.pending(&name))?;
                    written.push(name.clone());
                }
                (Effect::Changed(..) | Effect::New(_), Some(actual)) => {
                    reference::write_pending(&dir, &name, &actual)?;
                    written.push(name.clone());
                }
                (Effect::Unchanged, _) => snapfile::remove_if_exists(&dir.pending(&name))?,
                _ => {}
            }
            effects.push((name, effect));
        }
    }
    let mut out = std::io::stdout().lock();
    summarise(&mut out, &effects).at("stdout")?;
    if written.is_empty() {
        writeln!(out, "nothing to review").at("stdout")?;
    } else if args.accept {
        writeln!(out, "accepted {}: {}", count(written.len(), "snapshot"), written.join(" ")).at("stdout")?;
    } else {
        writeln!(
            out,
            "{} pending in {}: `iotests review` to inspect them, `iotests accept` to take them",
            count(written.len(), "snapshot"),
            dir.dir.display()
        )
        .at("stdout")?;
    }
    let conflict = effects.iter().any(|(_, e)| matches!(e, Effect::Conflict(_)));
    Ok(if conflict { 1 } else { check::exit_code(&outcomes) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts() {
        let mut out = Vec::new();
        let effects = [
            ("001".to_string(), Effect::Changed(2, 1)),
            ("002".into(), Effect::New(5)),
            ("003".into(), Effect::Unchanged),
            ("004".into(), Effect::Failed),
            ("005".into(), Effect::Conflict("cells a, b disagree".into())),
        ];
        summarise(&mut out, &effects).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains("changed      1  (+2 -1)\n    001  +2 -1\n"), "{s}");
        assert!(s.contains("new          1  (+5)\n    002  +5\n"), "{s}");
        assert!(s.contains("unchanged    1\n"), "{s}");
        assert!(s.contains("failed       1  004\n"), "{s}");
        assert!(s.contains("conflict     1\n    005: cells a, b disagree\n"), "{s}");
    }

    #[test]
    fn cells_that_differ_by_format_get_per_format_references() {
        let d = tempfile::tempdir().unwrap();
        let dir = SnapDir::new(d.path());
        std::fs::write(dir.snap("150"), "---\nsource: s\n---\nqcow2 out\n").unwrap();
        let p = |cell: &str, fmt: &str, actual: &str| Produced {
            cell: cell.into(),
            fmt: fmt.into(),
            actual: actual.into(),
        };
        // All agree and equal the snapshot.
        let same = plan(&dir, "150", &[p("qcow2-file", "qcow2", "qcow2 out\n"), p("qcow2-nbd", "qcow2", "qcow2 out")]);
        assert_eq!(same, [("150".to_string(), Effect::Unchanged, Some("qcow2 out\n".to_string()))]);
        // raw differs from qcow2: only raw gets a variant.
        let split = plan(&dir, "150", &[p("qcow2-file", "qcow2", "qcow2 out\n"), p("raw-file", "raw", "raw out\n")]);
        assert_eq!(split, [("150.raw".to_string(), Effect::New(1), Some("raw out\n".to_string()))]);
        // Two protocols of one format disagree: a conflict.
        let c = plan(&dir, "150", &[p("raw-file", "raw", "a\n"), p("raw-nbd", "raw", "b\n")]);
        assert!(matches!(&c[0].1, Effect::Conflict(w) if w.contains("raw-file, raw-nbd")), "{c:?}");
    }
}
