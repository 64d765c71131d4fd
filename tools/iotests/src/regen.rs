//! `iotests regen`: rerun tests with insta writing every changed or new
//! snapshot as a pending `.snap.new` (INSTA_UPDATE=new, INSTA_FORCE_PASS=1 so
//! a changed log does not fail the test), then summarise what changed.
//! Changes stay pending for `iotests review` unless `--accept`.

use std::io::Write;

use crate::check::reporter::Mode;
use crate::check::runner::{Job, Outcome};
use crate::check::verdict::Status;
use crate::check::{self, Insta, RunArgs, SelectArgs};
use crate::discover;
use crate::error::{Error, IoContext, Result};
use crate::review::Change;
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

/// What regeneration did to one test's snapshot.
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
}

/// Classify one test after a regen run.
pub fn effect(dir: &SnapDir, job: &Job, outcome: &Outcome) -> Result<Effect> {
    match outcome.verdict.status {
        Status::Fail => return Ok(Effect::Failed),
        Status::NotRun => return Ok(Effect::NotRun),
        Status::Pass => {}
    }
    if !dir.pending(&job.name).exists() {
        return Ok(Effect::Unchanged);
    }
    let change = Change::load(dir, &job.name)?;
    Ok(match &change.old {
        None => Effect::New(crate::diff::count_changes("", &change.new).0),
        Some(old) if *old == change.new => {
            // Only front matter differs: nothing worth reviewing.
            snapfile::remove_if_exists(&dir.pending(&job.name))?;
            Effect::Unchanged
        }
        Some(old) => {
            let (a, r) = crate::diff::count_changes(old, &change.new);
            Effect::Changed(a, r)
        }
    })
}

/// Print the summary of a regen run.
pub fn summarise(out: &mut dyn Write, effects: &[(&str, Effect)]) -> std::io::Result<()> {
    let pick = |f: fn(&Effect) -> bool| -> Vec<&(&str, Effect)> { effects.iter().filter(|(_, e)| f(e)).collect() };
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
        let names: Vec<&str> = failed.iter().map(|(n, _)| *n).collect();
        writeln!(out, "  failed    {:4}  {}", failed.len(), names.join(" "))?;
    }
    Ok(())
}

/// `iotests regen`.
pub fn regen(paths: &Paths, args: &RegenArgs) -> Result<i32> {
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        return Err(Error::InCi);
    }
    let sel = &args.select;
    if !args.all && sel.tests.is_empty() && sel.groups.is_empty() && sel.exclude.is_empty() {
        return Err(Error::Selection("name the tests (or -g groups) to regenerate, or use --all".into()));
    }
    let all = discover::discover(&paths.tests_dir()?)?;
    let tests = sel.resolve(&all)?;
    let mut prep = check::prepare(paths, &args.run, &tests, Insta::Regen)?;
    let outcomes = check::execute(&mut prep, Mode::Human, args.run.color.enabled());
    let dir = prep.cfg.snapshots.clone();
    let mut effects = Vec::new();
    for (job, o) in prep.jobs.iter().zip(&outcomes) {
        effects.push((job.name.as_str(), effect(&dir, job, o)?));
    }
    let mut out = std::io::stdout().lock();
    summarise(&mut out, &effects).at("stdout")?;
    let pending: Vec<&str> =
        effects.iter().filter(|(_, e)| matches!(e, Effect::Changed(..) | Effect::New(_))).map(|(n, _)| *n).collect();
    if pending.is_empty() {
        writeln!(out, "nothing to review").at("stdout")?;
    } else if args.accept {
        for name in &pending {
            snapfile::accept(&dir, name)?;
        }
        writeln!(out, "accepted {} snapshots", pending.len()).at("stdout")?;
    } else {
        writeln!(
            out,
            "{} snapshots pending in {}: `iotests review` to inspect, `iotests accept` to take them",
            pending.len(),
            dir.dir.display()
        )
        .at("stdout")?;
    }
    Ok(check::exit_code(&outcomes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts() {
        let mut out = Vec::new();
        let effects = [
            ("001", Effect::Changed(2, 1)),
            ("002", Effect::New(5)),
            ("003", Effect::Unchanged),
            ("004", Effect::Failed),
        ];
        summarise(&mut out, &effects).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains("changed      1  (+2 -1)\n    001  +2 -1\n"), "{s}");
        assert!(s.contains("new          1  (+5)\n    002  +5\n"), "{s}");
        assert!(s.contains("unchanged    1\n"), "{s}");
        assert!(s.contains("failed       1  004\n"), "{s}");
    }
}
