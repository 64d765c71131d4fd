//! `iotests list`: what the test binary declares — tests with their groups
//! and formats, or every group with its tests — and snapshots no test
//! owns.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use crate::check::{self, SelectArgs};
use crate::error::{IoContext, Result};
use crate::reference;
use crate::snapfile::SnapDir;
use crate::workspace::Paths;

/// `list`'s options.
#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// List the groups (with their tests) instead of the tests.
    #[arg(long)]
    pub by_group: bool,
    /// List snapshot files that belong to no declared test instead.
    #[arg(long, conflicts_with = "by_group")]
    pub orphans: bool,
    /// Use this test binary instead of building it with cargo.
    #[arg(long, value_name = "PATH")]
    pub test_binary: Option<PathBuf>,
}

/// `iotests list`.
pub fn list(paths: &Paths, args: &ListArgs, out: &mut dyn Write) -> Result<i32> {
    let (_, all) = check::load(paths, args.test_binary.as_deref())?;
    if args.orphans {
        let dir = SnapDir::new(paths.snapshots()?);
        let known: Vec<&str> = all.iter().map(|t| t.name.as_str()).collect();
        for name in dir.snapshot_names()? {
            if !known.contains(&reference::split_name(&name).0) {
                writeln!(out, "{}", dir.snap(&name).display()).at("stdout")?;
            }
        }
        return Ok(0);
    }
    let tests = args.select.resolve(&all)?;
    if args.by_group {
        let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for t in &tests {
            for g in &t.groups {
                groups.entry(g).or_default().push(&t.name);
            }
        }
        for (g, names) in groups {
            writeln!(out, "{g:12} {:3}  {}", names.len(), names.join(" ")).at("stdout")?;
        }
        return Ok(0);
    }
    let width = tests.iter().map(|t| t.name.len()).max().unwrap_or(4) + 2;
    for t in &tests {
        let fmts = if t.supported_fmts.is_empty() { "any".to_string() } else { t.supported_fmts.join(",") };
        writeln!(out, "{:width$}{:28} formats: {fmts}", t.name, t.groups.join(",")).at("stdout")?;
    }
    Ok(0)
}
