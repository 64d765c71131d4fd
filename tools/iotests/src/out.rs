//! `iotests out export|import DIR`: snapshots as QEMU-style `.out` files and
//! back, for comparing with (or seeding from) an upstream tree. Variants
//! map to QEMU's names (`150.raw.snap` ↔ `150.out.raw`, `051.pc.snap` ↔
//! `051.pc.out`, `026.nocache.snap` ↔ `026.out.nocache`).
//!
//! Only the snapshots of tests the test binary declares take part: export
//! leaves out other files in the snapshot directory, and import refuses
//! `.out` files of tests that do not exist. Import leaves what it changes
//! pending (`.snap.new`) for review unless `--accept`, and names every
//! file. Export writes each body with exactly one final newline and import
//! normalises the same way, so export → import → export is byte-identical.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::check;
use crate::error::{Error, IoContext, Result};
use crate::reference::{self, Accepted};
use crate::snapfile::{self, SnapDir, read_text};
use crate::workspace::Paths;

/// `iotests out`.
#[derive(Debug, clap::Subcommand)]
pub enum OutCmd {
    /// Write every snapshot body of the suite's tests as DIR/<QEMU name>.
    Export {
        /// The directory to write.
        dir: PathBuf,
        /// Use this test binary instead of building it with cargo.
        #[arg(long, value_name = "PATH")]
        test_binary: Option<PathBuf>,
    },
    /// Turn DIR/*.out (and variants) into pending snapshots.
    Import {
        /// The directory to read.
        dir: PathBuf,
        /// Write the snapshots themselves instead of pending ones.
        #[arg(long)]
        accept: bool,
        /// Use this test binary instead of building it with cargo.
        #[arg(long, value_name = "PATH")]
        test_binary: Option<PathBuf>,
    },
}

/// Run an `out` subcommand.
pub fn run(paths: &Paths, cmd: &OutCmd, out: &mut dyn Write) -> Result<i32> {
    let dir = SnapDir::new(paths.snapshots()?);
    match cmd {
        OutCmd::Export { dir: to, test_binary } => {
            let (_, tests) = check::load(paths, test_binary.as_deref())?;
            let names: Vec<String> = tests.into_iter().map(|t| t.name).collect();
            export(&dir, &names, to, out).map(|_| 0)
        }
        OutCmd::Import { dir: from, accept, test_binary } => {
            let (_, tests) = check::load(paths, test_binary.as_deref())?;
            let names: Vec<String> = tests.into_iter().map(|t| t.name).collect();
            import(&dir, &names, from, *accept, out).map(|_| 0)
        }
    }
}

/// Write the snapshot (and variants) of every test in `tests` as QEMU's
/// reference files in `out_dir`; returns how many were written.
pub fn export(dir: &SnapDir, tests: &[String], out_dir: &Path, out: &mut dyn Write) -> Result<usize> {
    std::fs::create_dir_all(out_dir).at(out_dir)?;
    let names: Vec<String> =
        dir.snapshot_names()?.into_iter().filter(|n| tests.iter().any(|t| t == reference::split_name(n).0)).collect();
    for name in &names {
        let body = snapfile::body_text(&read_text(&dir.snap(name))?);
        let path = out_dir.join(reference::out_file_name(name));
        std::fs::write(&path, body).at(&path)?;
    }
    writeln!(out, "exported {} snapshots from {} to {}", names.len(), dir.dir.display(), out_dir.display())
        .at("stdout")?;
    Ok(names.len())
}

/// Counts of what an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Imported {
    /// Snapshots that did not exist.
    pub created: usize,
    /// Snapshots whose body changed.
    pub updated: usize,
    /// Snapshots already equal to their `.out`.
    pub unchanged: usize,
}

/// Import every reference file in `in_dir` whose test is in `tests`: as a
/// pending snapshot, or with `accept` as the snapshot itself. Files of
/// unknown tests make the whole import fail before anything is written.
pub fn import(dir: &SnapDir, tests: &[String], in_dir: &Path, accept: bool, out: &mut dyn Write) -> Result<Imported> {
    let mut files = Vec::new();
    let mut unknown = Vec::new();
    for entry in std::fs::read_dir(in_dir).at(in_dir)? {
        let path = entry.at(in_dir)?.path();
        let Some(file) = path.file_name().and_then(|n| n.to_str()).map(String::from) else { continue };
        let Some(name) = reference::snapshot_name_of_out(&file).filter(|_| path.is_file()) else { continue };
        if tests.iter().any(|t| t == reference::split_name(&name).0) {
            files.push((name, path));
        } else {
            unknown.push(file);
        }
    }
    if !unknown.is_empty() {
        unknown.sort();
        return Err(Error::Selection(format!(
            "no test declares {} (import refused; nothing written)",
            unknown.join(", ")
        )));
    }
    if files.is_empty() {
        return Err(Error::Selection(format!("no .out files in {}", in_dir.display())));
    }
    files.sort();
    let mut res = Imported::default();
    for (name, path) in files {
        let body = iotests::snapshot::out_text(&read_text(&path)?);
        let target = if accept { dir.snap(&name) } else { dir.pending(&name) };
        let what = match reference::accepted(dir, &name) {
            Accepted::Body(old) if reference::same_output(&old, &body) => {
                res.unchanged += 1;
                writeln!(out, "{} -> {}: unchanged", path.display(), dir.snap(&name).display()).at("stdout")?;
                continue;
            }
            Accepted::Body(old) => {
                res.updated += 1;
                let (a, r) = crate::diff::count_changes(&old, &body);
                format!("changed (+{a} -{r})")
            }
            Accepted::Missing | Accepted::Corrupt(_) => {
                res.created += 1;
                "new".to_string()
            }
        };
        snapfile::write_atomic(&target, &reference::snapshot_text(dir, &name, &body))?;
        if accept {
            snapfile::remove_if_exists(&dir.pending(&name))?;
        }
        writeln!(out, "{} -> {}: {what}", path.display(), target.display()).at("stdout")?;
    }
    writeln!(
        out,
        "imported {} .out files into {}: {} created, {} updated, {} unchanged{}",
        res.created + res.updated + res.unchanged,
        dir.dir.display(),
        res.created,
        res.updated,
        res.unchanged,
        if accept || res.created + res.updated == 0 { "" } else { "; `iotests review` to inspect them" }
    )
    .at("stdout")?;
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_leaves_pending_snapshots_and_refuses_unknown_tests() {
        let d = tempfile::tempdir().unwrap();
        let snaps = SnapDir::new(d.path().join("s"));
        std::fs::create_dir(&snaps.dir).unwrap();
        std::fs::write(snaps.snap("001"), "---\nsource: a.rs\nexpression: x\n---\nold\n").unwrap();
        std::fs::write(snaps.snap("003"), "---\nsource: a.rs\n---\nsame\n").unwrap();
        let outs = d.path().join("o");
        std::fs::create_dir(&outs).unwrap();
        std::fs::write(outs.join("001.out"), "new\n\n").unwrap();
        std::fs::write(outs.join("001.out.raw"), "raw\n").unwrap();
        std::fs::write(outs.join("002.out"), "fresh").unwrap();
        std::fs::write(outs.join("003.out"), "same\n").unwrap();
        std::fs::write(outs.join("003.out.bad"), "ignored\n").unwrap();
        let tests: Vec<String> = ["001", "002", "003"].map(String::from).to_vec();
        let mut sink = Vec::new();
        let r = import(&snaps, &tests, &outs, false, &mut sink).unwrap();
        assert_eq!(r, Imported { created: 2, updated: 1, unchanged: 1 });
        let said = String::from_utf8(sink).unwrap();
        assert!(said.contains("001.out.raw -> ") && said.contains("001.raw.snap.new: new"), "{said}");
        assert_eq!(
            std::fs::read_to_string(snaps.pending("001")).unwrap(),
            "---\nsource: a.rs\nexpression: x\n---\nnew\n"
        );
        assert_eq!(std::fs::read_to_string(snaps.snap("001")).unwrap(), "---\nsource: a.rs\nexpression: x\n---\nold\n");
        assert_eq!(
            std::fs::read_to_string(snaps.pending("001.raw")).unwrap(),
            "---\nsource: a.rs\nexpression: x\n---\nraw\n"
        );
        assert!(!snaps.pending("003").exists());

        std::fs::write(outs.join("999.out"), "orphan\n").unwrap();
        let e = import(&snaps, &tests, &outs, true, &mut Vec::new()).unwrap_err().to_string();
        assert!(e.contains("no test declares 999.out"), "{e}");
        assert!(!snaps.snap("999").exists() && !snaps.pending("999").exists());
    }
}
