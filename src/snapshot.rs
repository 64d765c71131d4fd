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
//! | variable | meaning |
//! |---|---|
//! | `IOTESTS_SNAPSHOT_DIR` | use this directory instead of `<crate>/snapshots` (the CLI's tests use a temporary copy) |
//! | `INSTA_UPDATE`, `INSTA_FORCE_PASS`, `CI` | as documented by insta: `CI` set means never write |

use std::path::{Path, PathBuf};

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

/// Assert that a test's log equals its snapshot `snapshots/<name>.snap`.
///
/// Expands insta's assertion in the calling crate (see the module docs).
///
/// ```no_run
/// iotests::assert_log_snapshot!("209", "some log\n");
/// ```
#[macro_export]
macro_rules! assert_log_snapshot {
    ($name:expr, $log:expr) => {{
        let dir = $crate::snapshot::snapshot_dir(env!("CARGO_MANIFEST_DIR"));
        let name: &str = &$name;
        let log: &str = &$log;
        $crate::snapshot::settings(&dir).bind(|| {
            $crate::__insta::assert_snapshot!(name, log);
        });
    }};
}
