//! The tests, as the test binary itself declares them.
//!
//! Run with `IOTESTS_LIST=1`, the iotests test binary prints, for every
//! `iotest!` declaration, a line containing `iotests-spec: ` followed by one
//! JSON object to the end of the line (the library's `TestSpec::describe`):
//! the upstream name, the exact libtest test name, groups, formats, the
//! declared timeout, unittest cases. Under libtest the tests "run" to print
//! it (hence `--nocapture --test-threads 1`); a custom harness prints all
//! lines at once and ignores the arguments. Either way this module collects
//! the lines — no source scanning, one source of truth.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::error::{Error, IoContext, Result};
use crate::listing_cache::{self, Listing};
use crate::proc;

/// What precedes each description (`iotests::harness::LIST_PREFIX`).
pub const LIST_PREFIX: &str = "iotests-spec: ";

/// How long listing may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(120);

/// One test as the binary declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct TestDef {
    /// The upstream test name (`"209"`, `"iothreads-stream"`): the snapshot name.
    pub name: String,
    /// The exact libtest name to run with `--exact`.
    pub test: String,
    /// `script` or `unittest`.
    pub kind: String,
    /// Its groups, in declaration order.
    pub groups: Vec<String>,
    /// `supported_fmts` (empty: any).
    pub supported_fmts: Vec<String>,
    /// The declared time limit.
    pub timeout: Option<Duration>,
}

impl TestDef {
    /// The Rust module that declares it: the test path without its function
    /// (and without a leading crate name).
    pub fn module(&self) -> &str {
        let path = self.test.rsplit_once("::").map(|(m, _)| m).unwrap_or("");
        path.rsplit("::").next().unwrap_or(path)
    }
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v[key].as_array().into_iter().flatten().filter_map(|s| s.as_str().map(String::from)).collect()
}

/// Whether `name` can name a snapshot file and its variants.
fn usable_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '.', '\\']) && !name.chars().any(char::is_whitespace)
}

/// Parse the lines of a listing. `libtest_names`, when known (from
/// `--list`), corrects a `test` path that carries the crate name in front
/// (`module_path!()` does; libtest does not).
pub fn parse(text: &str, libtest_names: Option<&[String]>) -> std::result::Result<Vec<TestDef>, String> {
    let mut defs: Vec<TestDef> = Vec::new();
    for line in text.lines() {
        let Some(at) = line.find(LIST_PREFIX) else { continue };
        let json = &line[at + LIST_PREFIX.len()..];
        let v: Value = serde_json::from_str(json.trim()).map_err(|e| format!("bad description {json:?}: {e}"))?;
        let name = v["name"].as_str().ok_or_else(|| format!("description without a name: {json}"))?.to_string();
        if !usable_name(&name) {
            return Err(format!("unusable test name {name:?} (no '/', '.', or whitespace)"));
        }
        let mut test =
            v["test"].as_str().ok_or_else(|| format!("{name}: description without a test path"))?.to_string();
        if let Some(known) = libtest_names
            && !known.contains(&test)
            && let Some((_, rest)) = test.split_once("::")
            && known.iter().any(|k| k == rest)
        {
            test = rest.to_string();
        }
        let timeout = match &v["timeout"] {
            Value::Null => None,
            t => {
                let secs = t.as_f64().filter(|s| s.is_finite() && *s >= 0.0);
                let secs = secs.ok_or_else(|| format!("{name}: bad timeout {t}"))?;
                iotests::harness::timeout::parse_timeout(&secs.to_string()).map_err(|e| format!("{name}: {e}"))?
            }
        };
        if let Some(prev) = defs.iter().find(|d| d.name == name) {
            return Err(format!("test {name:?} is declared twice: {} and {test}", prev.test));
        }
        defs.push(TestDef {
            name,
            test,
            kind: v["kind"].as_str().unwrap_or("script").to_string(),
            groups: strings(&v, "groups"),
            supported_fmts: strings(&v, "supported_fmts"),
            timeout,
        });
    }
    defs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(defs)
}

/// libtest's `--list`: `<name>: test` lines.
pub fn parse_libtest_list(text: &str) -> Vec<String> {
    text.lines().filter_map(|l| l.strip_suffix(": test")).map(str::to_string).collect()
}

/// Ask the test binary for its tests. An empty listing is an error (the
/// binary is not an iotests binary, or declares nothing).
pub fn list(binary: &Path, cwd: &Path) -> Result<Vec<TestDef>> {
    let bad = |msg: String| Error::Listing { binary: binary.to_path_buf(), msg };
    let run = |args: &[&str], listing: bool, tmp: &Path| -> Result<String> {
        let mut cmd = Command::new(binary);
        cmd.args(args).current_dir(cwd).env("TMPDIR", tmp);
        for v in ["IOTESTS_GROUP", "IOTESTS_EXCLUDE_GROUP", "IOTESTS_LIST"] {
            cmd.env_remove(v);
        }
        if listing {
            cmd.env("IOTESTS_LIST", "1");
        }
        let what = format!("{} {}", binary.display(), args.join(" "));
        let out = proc::run_captured(cmd, &what, LIST_TIMEOUT, true)?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(bad(format!("{what}: {}: {}", proc::describe(out.status), err.trim())));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let cached = listing_cache::load(binary);
    let fresh = cached.is_none();
    let listing = match cached {
        Some(l) => l,
        None => {
            // Listing may probe QEMU (a test that cannot run here is listed
            // as ignored), and a probe keeps its files in TMPDIR: give the
            // listing runs a TMPDIR of their own, removed here even when
            // one is killed before it could clean up.
            let tmp = std::env::temp_dir();
            let tmp = tempfile::Builder::new().prefix("iotests-list-").tempdir_in(&tmp).at(&tmp)?;
            let names = run(&["--list"], false, tmp.path()).ok();
            Listing { names, specs: run(&["--nocapture", "--test-threads", "1"], true, tmp.path())? }
        }
    };
    let names = listing.names.as_deref().map(parse_libtest_list);
    let defs = parse(&listing.specs, names.as_deref()).map_err(bad)?;
    if defs.is_empty() {
        return Err(bad("no `iotests-spec:` lines under IOTESTS_LIST=1 (is it an iotests test binary?)".into()));
    }
    // Only a complete listing is kept: a `--list` that failed this time (its
    // names are optional) is asked again next time.
    if fresh && listing.names.is_some() {
        listing_cache::store(binary, &listing);
    }
    Ok(defs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIBTEST: &str = r#"
running 2 tests
test t209::t209 ... iotests-spec: {"name":"209","test":"iotests::t209::t209","kind":"script","groups":["rw","quick"],"supported_fmts":["qcow2"],"timeout":null,"cases":[]}
ok
test two::b ... iotests-spec: {"name":"two-b","test":"two::b","kind":"unittest","groups":[],"timeout":12.5,"cases":["A.test_x"]}
ok
"#;

    #[test]
    fn parses_libtest_and_corrects_crate_prefixed_paths() {
        let names = parse_libtest_list("t209::t209: test\ntwo::b: test\n\n2 tests, 0 benchmarks\n");
        let defs = parse(LIBTEST, Some(&names)).unwrap();
        assert_eq!(defs.len(), 2);
        assert_eq!((defs[0].name.as_str(), defs[0].test.as_str()), ("209", "t209::t209"));
        assert_eq!(defs[0].groups, ["rw", "quick"]);
        assert_eq!(defs[0].module(), "t209");
        assert_eq!(defs[1].timeout, Some(Duration::from_millis(12500)));
        assert_eq!(defs[1].kind, "unittest");
        // Without --list the path is taken as printed.
        assert_eq!(parse(LIBTEST, None).unwrap()[0].test, "iotests::t209::t209");
    }

    #[test]
    fn rejects_duplicates_and_bad_names() {
        let line = |n: &str, t: &str| format!("iotests-spec: {{\"name\":\"{n}\",\"test\":\"{t}\",\"groups\":[]}}\n");
        let dup = line("001", "a::x") + &line("001", "b::y");
        assert!(parse(&dup, None).unwrap_err().contains("declared twice"));
        assert!(parse(&line("a.b", "a::x"), None).unwrap_err().contains("unusable"));
        assert!(parse("iotests-spec: {oops\n", None).unwrap_err().contains("bad description"));
        assert!(parse("nothing here\n", None).unwrap().is_empty());
    }
}
