//! Where things are: the workspace root, the snapshot directory, the test
//! sources and the directory the command owns for test output.
//!
//! The root is found like cargo finds a workspace: walk up from the current
//! directory (or from `--manifest-path`) to the first `Cargo.toml` that has a
//! `[workspace]` table. It is only looked for when a path actually depends on
//! it, so `iotests review --snapshots DIR` works anywhere.

use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// The paths a subcommand works on, resolved lazily from the global options.
#[derive(Debug, Clone, Default)]
pub struct Paths {
    /// `--manifest-path`: a `Cargo.toml` or a directory to start from.
    pub manifest_path: Option<PathBuf>,
    /// `--snapshots`, else `IOTESTS_SNAPSHOT_DIR`.
    pub snapshots: Option<PathBuf>,
    /// `--tests-dir`: the iotests sources (default `<root>/tests/iotests`).
    pub tests_dir: Option<PathBuf>,
}

impl Paths {
    /// The workspace root: the directory of the nearest `Cargo.toml` with a
    /// `[workspace]` table, starting at `--manifest-path` or the current dir.
    pub fn root(&self) -> Result<PathBuf> {
        let cwd = std::env::current_dir().at(".")?;
        let start = match &self.manifest_path {
            Some(p) => {
                let p = cwd.join(p);
                if p.is_dir() { p } else { p.parent().map(Path::to_path_buf).unwrap_or(p) }
            }
            None => cwd,
        };
        find_workspace_root(&start)
    }

    /// The snapshot directory: `--snapshots`, `IOTESTS_SNAPSHOT_DIR`, or
    /// `<root>/snapshots`; always absolute, because test processes run
    /// elsewhere.
    pub fn snapshots(&self) -> Result<PathBuf> {
        let given = self
            .snapshots
            .clone()
            .or_else(|| std::env::var_os("IOTESTS_SNAPSHOT_DIR").filter(|v| !v.is_empty()).map(PathBuf::from));
        match given {
            Some(p) => absolute(&p),
            None => Ok(self.root()?.join("snapshots")),
        }
    }

    /// The directory holding the iotests sources (`tests/iotests`).
    pub fn tests_dir(&self) -> Result<PathBuf> {
        match &self.tests_dir {
            Some(p) => absolute(p),
            None => Ok(self.root()?.join("tests").join("iotests")),
        }
    }

    /// The directory the command owns: `$CARGO_TARGET_DIR/iotests` or
    /// `<root>/target/iotests`.
    pub fn work_dir(&self) -> Result<PathBuf> {
        let target = match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
            Some(t) => absolute(Path::new(&t))?,
            None => self.root()?.join("target"),
        };
        Ok(target.join("iotests"))
    }
}

/// Make `p` absolute against the current directory (without resolving links).
pub fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).at(p)
}

/// Walk up from `start` to the first directory whose `Cargo.toml` declares a
/// `[workspace]`.
pub fn find_workspace_root(start: &Path) -> Result<PathBuf> {
    for dir in start.ancestors() {
        let manifest = dir.join("Cargo.toml");
        if let Ok(text) = std::fs::read_to_string(&manifest)
            && text.lines().any(|l| l.trim() == "[workspace]")
        {
            return Ok(dir.to_path_buf());
        }
    }
    Err(Error::NoWorkspace(start.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_workspace_manifest_above() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("Cargo.toml"), "[package]\nname='x'\n\n[workspace]\nmembers=[]\n").unwrap();
        let deep = t.path().join("tools/iotests/src");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(t.path().join("tools/iotests/Cargo.toml"), "[package]\nname='y'\n").unwrap();
        assert_eq!(find_workspace_root(&deep).unwrap(), t.path());
    }

    #[test]
    fn no_workspace_is_an_error() {
        let t = tempfile::tempdir().unwrap();
        assert!(matches!(find_workspace_root(t.path()), Err(Error::NoWorkspace(_))));
    }
}
