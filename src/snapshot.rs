//! From a finished log to an insta snapshot.
//!
//! Each iotest's log becomes `snapshots/<name>.snap`, named exactly after the
//! upstream test (`206.snap`, `iothreads-stream.snap`), in a top-level
//! `snapshots/` directory of the crate that declares the test. The body of
//! the snapshot is the log text — what QEMU keeps in `<name>.out` — below
//! insta's small front-matter header, so `cargo insta review` and
//! `iotests review` both work on it.
//!
//! The assertion is a macro, [`assert_log_snapshot!`](crate::assert_log_snapshot),
//! because insta locates the workspace from `CARGO_MANIFEST_DIR` where its
//! macro expands: expanding in the caller's crate keeps pending snapshots in
//! the caller's tree, not in this library's.
//!
//! **Per-cell references.** Like QEMU's `check` (`testrunner.find_reference`),
//! a test whose output differs across the matrix may keep variants next to
//! its snapshot, chosen in this order (see [`reference_name`]):
//!
//! | upstream file | snapshot | used when |
//! |---|---|---|
//! | `<name>.out.nocache` | `<name>.nocache.snap` | `CACHEMODE=none` |
//! | `<name>.out.<fmt>` | `<name>.<fmt>.snap` | `IMGFMT=<fmt>` |
//! | `<name>.<machine>.out` | `<name>.<machine>.snap` | QEMU's default machine is `<machine>` |
//! | `<name>.out` | `<name>.snap` | otherwise |
//!
//! | variable | meaning |
//! |---|---|
//! | `IOTESTS_SNAPSHOT_DIR` | use this directory instead of `<crate>/snapshots` (the CLI's tests use a temporary copy) |
//! | `IOTESTS_ACTUAL_DIR` | also write the log to `<dir>/<name>.out.bad` before comparing (what `iotests check` diffs and turns into pending snapshots) |
//! | `INSTA_UPDATE`, `INSTA_FORCE_PASS`, `CI` | as documented by insta: `CI` set means never write |

use std::path::{Path, PathBuf};

use crate::env::TestEnv;

/// The variable naming a directory where each asserted log is also written,
/// as `<name>.out.bad` (QEMU's name for a test's actual output).
pub const ACTUAL_DIR_VAR: &str = "IOTESTS_ACTUAL_DIR";

/// The directory holding the snapshots of the crate at `manifest_dir`.
///
/// ```
/// # // SAFETY-free: the doctest does not set IOTESTS_SNAPSHOT_DIR.
/// if std::env::var_os("IOTESTS_SNAPSHOT_DIR").is_none() {
///     assert_eq!(iotests::snapshot::snapshot_dir("/src/proj"), std::path::Path::new("/src/proj/snapshots"));
/// }
/// ```
pub fn snapshot_dir(manifest_dir: impl AsRef<Path>) -> PathBuf {
    match std::env::var_os("IOTESTS_SNAPSHOT_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => manifest_dir.as_ref().join("snapshots"),
    }
}

/// The snapshot directory of a test declaring `snapshot_dir: relative`
/// (`None`: [`snapshot_dir`]).
///
/// ```
/// let d = iotests::snapshot::snapshots_in("/src/proj", Some("tests/selftest-snapshots"));
/// assert_eq!(d, std::path::Path::new("/src/proj/tests/selftest-snapshots"));
/// ```
pub fn snapshots_in(manifest_dir: &str, relative: Option<&str>) -> PathBuf {
    match relative {
        Some(rel) => Path::new(manifest_dir).join(rel),
        None => snapshot_dir(manifest_dir),
    }
}

/// insta settings for an iotest snapshot: stored in `dir` as `<name>.snap`,
/// with no module prefix and no expression in the header.
///
/// ```
/// let s = iotests::snapshot::settings(std::path::Path::new("/tmp/snaps"));
/// assert!(!s.prepend_module_to_snapshot());
/// ```
pub fn settings(dir: &Path) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(dir);
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    s
}

/// The snapshot body as QEMU's `.out` file holds it: the log with exactly
/// one final newline (insta trims trailing whitespace when comparing).
///
/// ```
/// assert_eq!(iotests::snapshot::out_text("a\nb\n\n"), "a\nb\n");
/// ```
pub fn out_text(body: &str) -> String {
    let mut s = body.trim_end().to_string();
    s.push('\n');
    s
}

/// Read the body of an insta `.snap` file: the text after the front matter.
///
/// ```
/// let snap = "---\nsource: tests/x.rs\n---\nhello\nworld\n";
/// assert_eq!(iotests::snapshot::snap_body(snap), "hello\nworld\n");
/// ```
pub fn snap_body(text: &str) -> &str {
    if let Some(rest) = text.strip_prefix("---\n")
        && let Some(end) = rest.find("\n---\n")
    {
        return &rest[end + 5..];
    }
    text
}

/// The variants present for test `name` in `dir`: the `<v>` of every
/// `<name>.<v>.snap`, sorted.
///
/// ```
/// let d = tempfile::tempdir().unwrap();
/// for f in ["150.snap", "150.raw.snap", "150.qcow2.snap", "1500.snap", "150.qcow2.snap.new"] {
///     std::fs::write(d.path().join(f), "").unwrap();
/// }
/// assert_eq!(iotests::snapshot::variants(d.path(), "150"), ["qcow2", "raw"]);
/// ```
pub fn variants(dir: &Path, name: &str) -> Vec<String> {
    let prefix = format!("{name}.");
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|f| Some(f.strip_prefix(&prefix)?.strip_suffix(".snap")?.to_string()))
        .filter(|v| !v.is_empty() && !v.contains('.'))
        .collect();
    found.sort();
    found
}

/// The snapshot a test compares with in one cell of the matrix, chosen as
/// QEMU's `testrunner.find_reference` chooses the `.out` file:
/// `<name>.nocache` if `cachemode` is `none` and it exists, else
/// `<name>.<imgfmt>`, else `<name>.<machine>` (QEMU's default machine,
/// asked for only when some variant exists), else `<name>`. Returns the
/// snapshot name, without `.snap`.
///
/// ```
/// use iotests::snapshot::reference_name;
/// let d = tempfile::tempdir().unwrap();
/// for f in ["150.snap", "150.raw.snap", "026.snap", "026.nocache.snap", "051.snap", "051.pc.snap"] {
///     std::fs::write(d.path().join(f), "").unwrap();
/// }
/// let pc = || "pc".to_string();
/// assert_eq!(reference_name(d.path(), "150", "raw", "writeback", pc), "150.raw");
/// assert_eq!(reference_name(d.path(), "150", "qcow2", "writeback", pc), "150");
/// assert_eq!(reference_name(d.path(), "026", "qcow2", "none", pc), "026.nocache");
/// assert_eq!(reference_name(d.path(), "026", "qcow2", "writeback", pc), "026");
/// assert_eq!(reference_name(d.path(), "051", "qcow2", "none", pc), "051.pc");
/// assert_eq!(reference_name(d.path(), "051", "qcow2", "none", || "q35".into()), "051");
/// ```
pub fn reference_name(
    dir: &Path,
    name: &str,
    imgfmt: &str,
    cachemode: &str,
    machine: impl FnOnce() -> String,
) -> String {
    let present = variants(dir, name);
    if present.is_empty() {
        return name.to_string();
    }
    let has = |v: &str| !v.is_empty() && present.iter().any(|p| p == v);
    if cachemode == "none" && has("nocache") {
        return format!("{name}.nocache");
    }
    if has(imgfmt) {
        return format!("{name}.{imgfmt}");
    }
    let machine = machine();
    if has(&machine) {
        return format!("{name}.{machine}");
    }
    name.to_string()
}

/// [`reference_name`] for the cell of `env`.
///
/// ```
/// let env = iotests::env::TestEnv::from_vars(&[("QEMU_PROG".to_string(), "/nonexistent".to_string())].into(), "raw");
/// let d = tempfile::tempdir().unwrap();
/// std::fs::write(d.path().join("150.raw.snap"), "").unwrap();
/// assert_eq!(iotests::snapshot::reference_name_for(d.path(), "150", &env), "150.raw");
/// ```
pub fn reference_name_for(dir: &Path, name: &str, env: &TestEnv) -> String {
    reference_name(dir, name, &env.imgfmt, &env.cachemode, || env.qemu_default_machine().to_string())
}

/// [`reference_name`] for the cell the process environment describes
/// (`IMGFMT`, `CACHEMODE`, `QEMU_DEFAULT_MACHINE`, else QEMU's probed
/// default machine). With `IMGFMT` unset no format variant is chosen: use
/// [`reference_name_for`] with the test's environment where it is known.
pub fn reference_name_from_process_env(dir: &Path, name: &str) -> String {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let imgfmt = var("IMGFMT").unwrap_or_default();
    let cachemode = var("CACHEMODE").unwrap_or_else(|| "writeback".into());
    reference_name(dir, name, &imgfmt, &cachemode, || {
        var("QEMU_DEFAULT_MACHINE")
            .unwrap_or_else(|| TestEnv::from_process_env("raw").qemu_default_machine().to_string())
    })
}

/// Write `log` to `<IOTESTS_ACTUAL_DIR>/<name>.out.bad` when that variable
/// is set, so that a runner can show (and keep) the actual output whatever
/// insta is allowed to write. A failure to write is reported, not fatal.
///
/// ```
/// iotests::snapshot::record_actual("209", "log\n"); // a no-op without IOTESTS_ACTUAL_DIR
/// ```
pub fn record_actual(name: &str, log: &str) {
    let Some(dir) = std::env::var_os(ACTUAL_DIR_VAR).filter(|d| !d.is_empty()) else { return };
    let path = Path::new(&dir).join(format!("{name}.out.bad"));
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, log)) {
        eprintln!("{ACTUAL_DIR_VAR}: cannot write {}: {e}", path.display());
    }
}

#[doc(hidden)]
/// The macro's work before insta's assertion: the directory, the snapshot
/// name for this cell, and the actual output recorded.
pub fn __prepare_assertion(manifest_dir: &str, name: &str, log: &str, env: Option<&TestEnv>) -> (PathBuf, String) {
    __prepare_assertion_in(snapshot_dir(manifest_dir), name, log, env)
}

/// [`__prepare_assertion`] with the snapshot directory given.
#[doc(hidden)]
pub fn __prepare_assertion_in(dir: PathBuf, name: &str, log: &str, env: Option<&TestEnv>) -> (PathBuf, String) {
    record_actual(name, log);
    let snapshot = match env {
        Some(env) => reference_name_for(&dir, name, env),
        None => reference_name_from_process_env(&dir, name),
    };
    (dir, snapshot)
}

/// Assert that a test's log equals its snapshot `snapshots/<name>.snap` —
/// or the variant of it that this cell of the matrix uses (see the module
/// docs): `assert_log_snapshot!(name, log)` reads the cell from the process
/// environment, `assert_log_snapshot!(name, log, &env)` from a
/// [`TestEnv`](crate::env::TestEnv).
///
/// Expands insta's assertion in the calling crate (see the module docs).
///
/// ```no_run
/// iotests::assert_log_snapshot!("209", "some log\n");
/// let env = iotests::env::TestEnv::from_process_env("qcow2");
/// iotests::assert_log_snapshot!("209", "some log\n", &env);
/// ```
#[macro_export]
macro_rules! assert_log_snapshot {
    ($name:expr, $log:expr) => {
        $crate::assert_log_snapshot!(@cell $name, $log, ::std::option::Option::None)
    };
    ($name:expr, $log:expr, $env:expr) => {
        $crate::assert_log_snapshot!(@cell $name, $log, ::std::option::Option::Some($env))
    };
    // The snapshot directory given, relative to the manifest directory.
    (in $rel:expr; $name:expr, $log:expr, $env:expr) => {{
        let name: &str = &$name;
        let log: &str = &$log;
        let env: ::std::option::Option<&$crate::env::TestEnv> = $env;
        let dir = $crate::snapshot::snapshots_in(::std::env!("CARGO_MANIFEST_DIR"), $rel);
        let (dir, snapshot) = $crate::snapshot::__prepare_assertion_in(dir, name, log, env);
        $crate::snapshot::__explain_failure(&dir, &snapshot, || {
            $crate::snapshot::settings(&dir).bind(|| {
                $crate::__insta::assert_snapshot!(snapshot.as_str(), log);
            });
        });
    }};
    (@cell $name:expr, $log:expr, $env:expr) => {{
        let name: &str = &$name;
        let log: &str = &$log;
        let env: ::std::option::Option<&$crate::env::TestEnv> = $env;
        let (dir, snapshot) = $crate::snapshot::__prepare_assertion(::std::env!("CARGO_MANIFEST_DIR"), name, log, env);
        $crate::snapshot::__explain_failure(&dir, &snapshot, || {
            $crate::snapshot::settings(&dir).bind(|| {
                $crate::__insta::assert_snapshot!(snapshot.as_str(), log);
            });
        });
    }};
}

#[doc(hidden)]
/// Run insta's assertion; when it fails only because it could not save the
/// new output as `<snapshot>.snap.new` (a read-only snapshot directory, as
/// CI images have), say so instead of insta's bare I/O error. A snapshot
/// that matches passes on a read-only directory: nothing is written then.
pub fn __explain_failure(dir: &Path, snapshot: &str, assert: impl FnOnce()) {
    let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(assert)) else { return };
    // insta takes a snapshot it cannot parse for a missing one (an empty
    // old side): say that the file is corrupt instead.
    if let Some(why) = corrupt(&dir.join(format!("{snapshot}.snap"))) {
        panic!("snapshot {snapshot}: {why}");
    }
    let msg = crate::unittest::panic_message(&*payload);
    let unwritable = ["ReadOnlyFilesystem", "PermissionDenied", "Read-only file system", "Permission denied"];
    if msg.contains(".snap.new") && unwritable.iter().any(|u| msg.contains(u)) {
        panic!(
            "snapshot {snapshot}: the output differs from {}/{snapshot}.snap (diff above), and it could not be \
             saved as {snapshot}.snap.new because {} is not writable ({msg}); set CI=true or INSTA_UPDATE=no \
             to compare without saving",
            dir.display(),
            dir.display()
        );
    }
    std::panic::resume_unwind(payload)
}

/// For a test declared `xfail`: how its log differs from the reference
/// snapshot the cell selects (a unified diff), or `None` when they are
/// equal as `check` compares them (trailing whitespace ignored). A missing
/// or unreadable reference counts as a difference.
pub fn differs_from_reference(
    manifest_dir: &str,
    relative: Option<&str>,
    name: &str,
    log: &str,
    env: &TestEnv,
) -> Option<String> {
    let (dir, snapshot) = __prepare_assertion_in(snapshots_in(manifest_dir, relative), name, log, Some(env));
    let path = dir.join(format!("{snapshot}.snap"));
    if let Some(why) = corrupt(&path) {
        return Some(why);
    }
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Some(format!("no reference snapshot {}", path.display()));
    };
    let norm = |s: &str| s.lines().map(str::trim_end).collect::<Vec<_>>().join("\n").trim_end().to_string();
    let (old, new) = (norm(snap_body(&text)), norm(log));
    if old == new {
        return None;
    }
    let diff = similar::TextDiff::from_lines(&old, &new);
    Some(diff.unified_diff().context_radius(3).header(&path.display().to_string(), "actual").to_string())
}

/// Why the snapshot file at `path` is corrupt — it exists but is not UTF-8
/// text, which insta would take for a missing snapshot — or `None`.
fn corrupt(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    std::str::from_utf8(&bytes)
        .err()
        .map(|e| format!("{} is corrupt: not UTF-8 text ({e}; restore it from version control)", path.display()))
}
