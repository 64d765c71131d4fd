//! Where things are: the workspace root, the snapshot directory, the iotests
//! test target, and the directory the command owns for test output.
//!
//! Cargo answers, not a scan of manifests: one `cargo metadata` names the
//! workspace root, its target directory and the test target whose `main.rs`
//! is the iotests directory's (so the target may have any name). Each is only asked when a path actually depends
//! on it, so `iotests review --snapshots DIR` works anywhere.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::error::{Error, IoContext, Result};
use crate::proc;

/// How long cargo may take to answer a question about the workspace.
const CARGO_QUERY_TIMEOUT: Duration = Duration::from_secs(120);

/// The iotests test target: its package and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestTarget {
    /// The package that has it.
    pub package: String,
    /// The `[[test]]` name (`cargo test --test NAME`).
    pub name: String,
}

/// What `cargo metadata` says about the workspace.
#[derive(Debug, Clone)]
struct Metadata {
    target_dir: PathBuf,
    test_target: Option<TestTarget>,
}

/// The paths a subcommand works on, resolved lazily from the global options.
#[derive(Debug, Clone, Default)]
pub struct Paths {
    /// `--manifest-path`: a `Cargo.toml` or a directory to start from.
    pub manifest_path: Option<PathBuf>,
    /// `--snapshots`, else `IOTESTS_SNAPSHOT_DIR`.
    pub snapshots: Option<PathBuf>,
    /// `--tests-dir`: the iotests sources (default `<root>/tests/iotests`).
    pub tests_dir: Option<PathBuf>,
    /// `-q`: build without cargo's progress lines.
    pub quiet: bool,
    /// `--cargo-profile`: the cargo profile of the test binary.
    pub cargo_profile: Option<String>,
    root: OnceCell<PathBuf>,
    metadata_json: OnceCell<serde_json::Value>,
    metadata: OnceCell<Metadata>,
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Run a cargo query and return its stdout; its stderr goes into the error.
fn query(mut cmd: Command, what: &str) -> Result<String> {
    cmd.env_remove("CARGO_TERM_COLOR");
    let out = proc::run_captured(cmd, what, CARGO_QUERY_TIMEOUT, true)?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(Error::NoWorkspace(format!(
            "{what} failed ({}): {}",
            proc::describe(out.status),
            err.trim().lines().last().unwrap_or("no message")
        )));
    }
    String::from_utf8(out.stdout).map_err(|_| Error::NoWorkspace(format!("{what} printed no UTF-8")))
}

impl Paths {
    /// Paths from the global options.
    pub fn new(manifest_path: Option<PathBuf>, snapshots: Option<PathBuf>, tests_dir: Option<PathBuf>) -> Paths {
        Paths { manifest_path, snapshots, tests_dir, ..Paths::default() }
    }

    /// `cargo metadata --no-deps` for the workspace of `--manifest-path` or
    /// of the current directory, asked once: one cargo process answers both
    /// the workspace root and its target directory.
    fn metadata_json(&self) -> Result<&serde_json::Value> {
        if let Some(v) = self.metadata_json.get() {
            return Ok(v);
        }
        let cwd = std::env::current_dir().at(".")?;
        let mut cmd = cargo();
        cmd.args(["metadata", "--no-deps", "--format-version", "1"]);
        match &self.manifest_path {
            Some(p) => {
                let p = cwd.join(p);
                let manifest = if p.is_dir() { p.join("Cargo.toml") } else { p };
                cmd.arg("--manifest-path").arg(manifest);
            }
            None => {
                cmd.current_dir(&cwd);
            }
        }
        let text = query(cmd, "cargo metadata").map_err(|e| match e {
            Error::NoWorkspace(m) => Error::NoWorkspace(format!("no Cargo workspace here ({m}); use --manifest-path")),
            e => e,
        })?;
        let v = serde_json::from_str(&text)
            .map_err(|e| Error::NoWorkspace(format!("cargo metadata printed no JSON: {e}")))?;
        Ok(self.metadata_json.get_or_init(|| v))
    }

    /// The workspace root, as cargo finds it from `--manifest-path` or the
    /// current directory.
    pub fn root(&self) -> Result<PathBuf> {
        if let Some(r) = self.root.get() {
            return Ok(r.clone());
        }
        let root = self.metadata_json()?["workspace_root"]
            .as_str()
            .map(PathBuf::from)
            .ok_or_else(|| Error::NoWorkspace("cargo metadata: no workspace_root".into()))?;
        Ok(self.root.get_or_init(|| root).clone())
    }

    fn metadata(&self) -> Result<&Metadata> {
        if let Some(m) = self.metadata.get() {
            return Ok(m);
        }
        let m = parse_metadata(self.metadata_json()?, &self.tests_dir()?)?;
        Ok(self.metadata.get_or_init(|| m))
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

    /// The test target whose `main.rs` is in [`tests_dir`](Self::tests_dir).
    pub fn test_target(&self) -> Result<TestTarget> {
        self.metadata()?.test_target.clone().ok_or_else(|| {
            let dir = self.tests_dir().map(|d| d.display().to_string()).unwrap_or_default();
            Error::NoWorkspace(format!(
                "no test target of the workspace has {dir}/main.rs as its source (use --tests-dir or --test-binary)"
            ))
        })
    }

    /// The directory the command owns: `<target dir>/iotests`.
    pub fn work_dir(&self) -> Result<PathBuf> {
        Ok(self.metadata()?.target_dir.join("iotests"))
    }
}

/// The target directory and the test target with source `<tests_dir>/main.rs`
/// from `cargo metadata`'s JSON.
fn parse_metadata(v: &serde_json::Value, tests_dir: &Path) -> Result<Metadata> {
    let bad = |m: &str| Error::NoWorkspace(format!("cargo metadata: {m}"));
    let target_dir = v["target_directory"].as_str().ok_or_else(|| bad("no target_directory"))?;
    let want = canonical(&tests_dir.join("main.rs"));
    let test_target = v["packages"].as_array().into_iter().flatten().find_map(|p| {
        p["targets"].as_array()?.iter().find_map(|t| {
            let is_test = t["kind"].as_array()?.iter().any(|k| k == "test");
            let src = canonical(Path::new(t["src_path"].as_str()?));
            (is_test && src == want).then(|| TestTarget {
                package: p["name"].as_str().unwrap_or_default().to_string(),
                name: t["name"].as_str().unwrap_or_default().to_string(),
            })
        })
    });
    Ok(Metadata { target_dir: PathBuf::from(target_dir), test_target })
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

/// Make `p` absolute against the current directory (without resolving links).
pub fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).at(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_names_the_target_by_its_source() {
        let json = r#"{"target_directory":"/w/target","packages":[
            {"name":"lib","targets":[{"name":"other","kind":["test"],"src_path":"/w/tests/other.rs"},
                                     {"name":"suite","kind":["test"],"src_path":"/w/tests/iotests/main.rs"}]}]}"#;
        let json: serde_json::Value = serde_json::from_str(json).unwrap();
        let m = parse_metadata(&json, Path::new("/w/tests/iotests")).unwrap();
        assert_eq!(m.target_dir, Path::new("/w/target"));
        assert_eq!(m.test_target, Some(TestTarget { package: "lib".into(), name: "suite".into() }));
        let m = parse_metadata(&json, Path::new("/w/elsewhere")).unwrap();
        assert_eq!(m.test_target, None);
        assert!(parse_metadata(&serde_json::json!({"packages": []}), Path::new("/")).is_err());
    }

    #[test]
    fn cargo_finds_this_workspace() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let p = Paths::new(Some(here.to_path_buf()), None, None);
        let root = p.root().unwrap();
        assert!(root.join("tools/iotests").is_dir(), "{}", root.display());
        assert_eq!(p.test_target().unwrap().name, "iotests");
    }
}
