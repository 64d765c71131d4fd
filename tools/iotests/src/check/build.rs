//! Getting the test binary: one `cargo test -p PKG --test TARGET --no-run`,
//! its executable taken from cargo's JSON messages.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::proc;
use crate::workspace::TestTarget;

/// The default limit for building the test binary (`IOTESTS_BUILD_TIMEOUT`).
const BUILD_TIMEOUT: Duration = Duration::from_secs(3600);

/// Build the iotests test target of the workspace at `root` and return its
/// executable. Compiler diagnostics go to stderr as usual; `quiet` asks
/// cargo for no progress lines; `profile` is cargo's `--profile`.
pub fn build(root: &Path, target: &TestTarget, quiet: bool, profile: Option<&str>) -> Result<PathBuf> {
    let cmd = build_command(root, target, quiet, profile);
    let mut what = format!("cargo test -p {} --test {} --no-run", target.package, target.name);
    if let Some(p) = profile {
        what.push_str(&format!(" --profile {p}"));
    }
    let timeout = proc::limit_from_env("IOTESTS_BUILD_TIMEOUT", Some(BUILD_TIMEOUT))?.unwrap_or(BUILD_TIMEOUT * 24);
    let out = proc::run_captured(cmd, &what, timeout, false)?;
    if !out.status.success() {
        return Err(Error::Command {
            cmd: what,
            detail: format!("{} (see the messages above)", proc::describe(out.status)),
        });
    }
    executable_from_messages(&String::from_utf8_lossy(&out.stdout), &target.name)
        .ok_or_else(|| Error::NoTestBinary(target.name.clone()))
}

/// The cargo command that builds the test target.
fn build_command(root: &Path, target: &TestTarget, quiet: bool, profile: Option<&str>) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.args(["test", "-p", &target.package, "--test", &target.name, "--no-run"])
        .arg("--message-format=json-render-diagnostics")
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .current_dir(root);
    if let Some(p) = profile {
        cmd.args(["--profile", p]);
    }
    if quiet {
        cmd.arg("--quiet");
    }
    cmd
}

/// The `executable` of the last `compiler-artifact` message for the test
/// target named `target`.
pub fn executable_from_messages(json_lines: &str, target: &str) -> Option<PathBuf> {
    json_lines
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == target)
        .filter(|m| m["target"]["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "test")))
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_with_the_asked_profile() {
        let target = TestTarget { package: "iotests".into(), name: "iotests".into() };
        let args = |cmd: &Command| cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>();
        let plain = args(&build_command(Path::new("/ws"), &target, false, None));
        assert!(!plain.iter().any(|a| a == "--profile"), "{plain:?}");
        assert!(plain.windows(2).any(|w| w == ["--manifest-path", "/ws/Cargo.toml"]), "{plain:?}");
        let release = args(&build_command(Path::new("/ws"), &target, true, Some("release")));
        assert!(release.windows(2).any(|w| w == ["--profile", "release"]), "{release:?}");
        assert_eq!(release.last().map(String::as_str), Some("--quiet"));
    }

    #[test]
    fn finds_the_test_executable() {
        let msgs = r#"{"reason":"compiler-artifact","target":{"name":"suite","kind":["lib"]},"executable":null}
{"reason":"compiler-artifact","target":{"name":"suite","kind":["test"]},"executable":"/t/deps/suite-abc"}
{"reason":"compiler-artifact","target":{"name":"other","kind":["test"]},"executable":"/t/deps/other"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(executable_from_messages(msgs, "suite"), Some(PathBuf::from("/t/deps/suite-abc")));
        assert_eq!(executable_from_messages(msgs, "iotests"), None);
        assert_eq!(executable_from_messages("garbage\n", "suite"), None);
    }
}
