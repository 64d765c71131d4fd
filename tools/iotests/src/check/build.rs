//! Getting the test binary: one `cargo test --test iotests --no-run`, its
//! executable taken from cargo's JSON messages; then its `--list`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::proc;

/// The default limit for building the test binary (`IOTESTS_BUILD_TIMEOUT`).
const BUILD_TIMEOUT: Duration = Duration::from_secs(3600);

/// The limit for `--list`.
const LIST_TIMEOUT: Duration = Duration::from_secs(120);

/// Build the iotests integration test of the workspace at `root` and return
/// its executable. Compiler diagnostics go to stderr as usual.
pub fn build(root: &Path) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = root.join("Cargo.toml");
    let mut cmd = Command::new(&cargo);
    cmd.args(["test", "--test", "iotests", "--no-run", "--message-format=json-render-diagnostics", "--manifest-path"])
        .arg(&manifest)
        .current_dir(root);
    let what = format!("cargo test --test iotests --no-run --manifest-path {}", manifest.display());
    let timeout = proc::timeout_from_env("IOTESTS_BUILD_TIMEOUT", BUILD_TIMEOUT)?;
    let out = proc::run_captured(cmd, &what, timeout)?;
    if !out.status.success() {
        return Err(Error::Command {
            cmd: what,
            detail: format!("{} (see the messages above)", proc::describe(out.status)),
        });
    }
    executable_from_messages(&String::from_utf8_lossy(&out.stdout)).ok_or(Error::NoTestBinary)
}

/// The `executable` of the last `compiler-artifact` message for the test
/// target named `iotests`.
pub fn executable_from_messages(json_lines: &str) -> Option<PathBuf> {
    json_lines
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "iotests")
        .filter(|m| m["target"]["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "test")))
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
}

/// The libtest test paths the binary has (`<path>: test` lines of `--list`).
pub fn list(binary: &Path, cwd: &Path) -> Result<Vec<String>> {
    let mut cmd = Command::new(binary);
    cmd.arg("--list").current_dir(cwd);
    let what = format!("{} --list", binary.display());
    let out = proc::run_captured(cmd, &what, LIST_TIMEOUT)?;
    if !out.status.success() {
        return Err(Error::Command { cmd: what, detail: proc::describe(out.status) });
    }
    Ok(parse_list(&String::from_utf8_lossy(&out.stdout)))
}

/// Parse libtest's `--list` output.
pub fn parse_list(text: &str) -> Vec<String> {
    text.lines().filter_map(|l| l.strip_suffix(": test")).map(str::to_string).collect()
}

/// The libtest paths belonging to `module` (those starting `<module>::`).
pub fn paths_for<'a>(all: &'a [String], module: &str) -> Vec<&'a str> {
    let prefix = format!("{module}::");
    all.iter().filter(|p| p.starts_with(&prefix)).map(String::as_str).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_test_executable() {
        let msgs = r#"{"reason":"compiler-artifact","target":{"name":"iotests","kind":["lib"]},"executable":null}
{"reason":"compiler-artifact","target":{"name":"iotests","kind":["test"]},"executable":"/t/deps/iotests-abc"}
{"reason":"compiler-artifact","target":{"name":"other","kind":["test"]},"executable":"/t/deps/other"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(executable_from_messages(msgs), Some(PathBuf::from("/t/deps/iotests-abc")));
        assert_eq!(executable_from_messages("garbage\n"), None);
    }

    #[test]
    fn list_and_module_prefixes() {
        let all = parse_list("t209::iotest: test\nt2090::iotest: test\nt209::bench: bench\n\n2 tests, 1 benchmarks\n");
        assert_eq!(all, ["t209::iotest", "t2090::iotest"]);
        assert_eq!(paths_for(&all, "t209"), ["t209::iotest"]);
    }
}
