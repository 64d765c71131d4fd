//! `iotests out export|import DIR`: snapshots as QEMU-style `.out` files and
//! back, for comparing with (or seeding from) an upstream tree.
//!
//! Export writes each body with exactly one final newline; import keeps an
//! existing snapshot's front matter and normalises the body the same way, so
//! export → import → export is byte-identical.

use std::io::Write;
use std::path::Path;

use iotests::snapshot::out_text;

use crate::error::{Error, IoContext, Result};
use crate::snapfile::{self, MINIMAL_HEADER, SnapDir, read_opt, read_text};

/// Write every `<name>.snap` as `<out_dir>/<name>.out`; returns the count.
pub fn export(dir: &SnapDir, out_dir: &Path, out: &mut dyn Write) -> Result<usize> {
    std::fs::create_dir_all(out_dir).at(out_dir)?;
    let names = dir.snapshot_names()?;
    for name in &names {
        let body = snapfile::body_text(&read_text(&dir.snap(name))?);
        let path = out_dir.join(format!("{name}.out"));
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

/// Create or refresh `<name>.snap` from every `<in_dir>/<name>.out`.
pub fn import(dir: &SnapDir, in_dir: &Path, out: &mut dyn Write) -> Result<Imported> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(in_dir).at(in_dir)? {
        let path = entry.at(in_dir)?.path();
        let name = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".out"));
        if let Some(name) = name.filter(|n| !n.is_empty() && path.is_file()) {
            files.push((name.to_string(), path.clone()));
        }
    }
    files.sort();
    let mut res = Imported::default();
    for (name, path) in files {
        let body = out_text(&read_text(&path)?);
        let snap = dir.snap(&name);
        let text = match read_opt(&snap)? {
            Some(old) => {
                let new = format!("{}{body}", snapfile::split(&old).0);
                if new == old {
                    res.unchanged += 1;
                    continue;
                }
                res.updated += 1;
                new
            }
            None => {
                res.created += 1;
                format!("{MINIMAL_HEADER}{body}")
            }
        };
        snapfile::write_atomic(&snap, &text)?;
    }
    writeln!(
        out,
        "imported {} .out files into {}: {} created, {} updated, {} unchanged",
        res.created + res.updated + res.unchanged,
        dir.dir.display(),
        res.created,
        res.updated,
        res.unchanged
    )
    .at("stdout")?;
    if res.created + res.updated + res.unchanged == 0 {
        return Err(Error::Selection(format!("no .out files in {}", in_dir.display())));
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_keeps_front_matter_and_creates_minimal_headers() {
        let d = tempfile::tempdir().unwrap();
        let snaps = SnapDir::new(d.path().join("s"));
        std::fs::create_dir(&snaps.dir).unwrap();
        std::fs::write(snaps.snap("001"), "---\nsource: a.rs\nexpression: x\n---\nold\n").unwrap();
        std::fs::write(snaps.snap("003"), "---\nsource: a.rs\n---\nsame\n").unwrap();
        let outs = d.path().join("o");
        std::fs::create_dir(&outs).unwrap();
        std::fs::write(outs.join("001.out"), "new\n\n").unwrap();
        std::fs::write(outs.join("002.out"), "fresh").unwrap();
        std::fs::write(outs.join("003.out"), "same\n").unwrap();
        std::fs::write(outs.join("003.out.nocache"), "ignored\n").unwrap();
        let mut sink = Vec::new();
        let r = import(&snaps, &outs, &mut sink).unwrap();
        assert_eq!(r, Imported { created: 1, updated: 1, unchanged: 1 });
        assert_eq!(std::fs::read_to_string(snaps.snap("001")).unwrap(), "---\nsource: a.rs\nexpression: x\n---\nnew\n");
        assert_eq!(std::fs::read_to_string(snaps.snap("002")).unwrap(), format!("{MINIMAL_HEADER}fresh\n"));
    }
}
