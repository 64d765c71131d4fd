//! The regex filters as insta settings.

use super::text::{CHOWN_RE, NBD_EXPORTS_RE, NODE_ID_RE, QEMU_IO_RE, QEMU_IO_REPL, VIRTIO_SCSI_RE, testfiles_prefixes};
use super::{PyRegex, Scope};

/// Insta settings (starting from the current ones) with iotests' regex
/// filters registered, for a test that snapshots raw tool output with
/// `insta::assert_snapshot!` instead of logging it through the sink.
///
/// The filters run in this order: the [`testfiles`](super::testfiles)
/// prefixes (as escaped literals; before the test directory, which would
/// otherwise eat them), the test directory (as a Python regex, like
/// [`test_dir`](super::test_dir), translated by [`PyRegex`]; escaped if it
/// is not one, or uses Python's `$`, `\b` or `\B`, which insta's `regex`
/// would read differently; left out if it is empty), then [`qemu_io`](super::qemu_io)'s timing lines,
/// [`chown`](super::chown), [`generated_node_ids`](super::generated_node_ids),
/// [`nbd_exports`](super::nbd_exports) and
/// [`virtio_scsi`](super::virtio_scsi).
///
/// Unlike [`qemu_io`](super::qemu_io) this does not strip `\r`: that
/// would apply to the whole snapshot.
///
/// ```
/// use iotests::filters::{insta_settings, Scope};
/// let scope = Scope { test_dir: "/tmp/t".into(), sock_dir: "/tmp/s".into(), pid: 5, imgfmt: "raw".into() };
/// insta_settings(&scope).bind(|| {
///     insta::assert_snapshot!("/tmp/t/5-img chown 0:0", @"TEST_DIR/PID-img chown UID:GID");
/// });
/// ```
pub fn insta_settings(scope: &Scope) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    for (prefix, replacement) in testfiles_prefixes(scope) {
        settings.add_filter(&regex::escape(&prefix), replacement);
    }
    if !scope.test_dir.is_empty() {
        // The Python pattern in the `regex` crate's syntax, where it means
        // the same there (insta matches with the `regex` crate).
        match PyRegex::new(&scope.test_dir) {
            Ok(re) if re.is_plain() => settings.add_filter(re.translated(), "TEST_DIR"),
            _ => settings.add_filter(&regex::escape(&scope.test_dir), "TEST_DIR"),
        }
    }
    // Replacements are `$`-expanded by insta; only the `${1}` ones use that.
    settings.add_filter(QEMU_IO_RE, QEMU_IO_REPL);
    settings.add_filter(CHOWN_RE, "chown UID:GID");
    settings.add_filter(NODE_ID_RE, "NODE_NAME");
    settings.add_filter(NBD_EXPORTS_RE, "${1}: XXX");
    settings.add_filter(VIRTIO_SCSI_RE, "${1}");
    settings
}
