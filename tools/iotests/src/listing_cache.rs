//! The test binary's listing, kept next to the binary for the next run.
//!
//! Listing runs the test binary twice (libtest's `--list` for the exact test
//! paths, `IOTESTS_LIST=1` for the declarations): tens of milliseconds that
//! every `iotests check` paid again although a binary's declarations cannot
//! change without the binary changing. The two outputs are kept in
//! `<binary's dir>/.iotests-listing-<binary's file name>` under the binary's
//! identity (size, modification time, inode); a rebuilt binary has another
//! identity, so its listing is taken afresh. The file is written atomically
//! (temporary file + rename), so parallel runs never see half of one; a
//! missing, foreign or damaged file is simply a miss.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// The two listing outputs of one binary.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    /// libtest's `--list` output, when the binary answered it.
    pub names: Option<String>,
    /// The `IOTESTS_LIST=1` output.
    pub specs: String,
}

fn cache_file(binary: &Path) -> Option<PathBuf> {
    let name = binary.file_name()?.to_str()?;
    Some(binary.parent()?.join(format!(".iotests-listing-{name}")))
}

/// What identifies one build of the binary.
fn identity(binary: &Path) -> Option<Value> {
    let m = std::fs::metadata(binary).ok()?;
    Some(json!({ "size": m.size(), "mtime": m.mtime(), "mtime_nsec": m.mtime_nsec(), "ino": m.ino(), "dev": m.dev() }))
}

/// The cached listing of `binary`, if one was stored for this very build.
pub fn load(binary: &Path) -> Option<Listing> {
    let text = std::fs::read_to_string(cache_file(binary)?).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    if v.get("identity")? != &identity(binary)? {
        return None;
    }
    Some(Listing { names: v.get("names")?.as_str().map(str::to_string), specs: v.get("specs")?.as_str()?.to_string() })
}

/// Keep `listing` for the next run. Failing to write is not an error: the
/// next run lists again.
pub fn store(binary: &Path, listing: &Listing) {
    let (Some(file), Some(id)) = (cache_file(binary), identity(binary)) else { return };
    let Some(dir) = file.parent() else { return };
    let text = json!({ "identity": id, "names": listing.names, "specs": listing.specs }).to_string();
    let Ok(mut tmp) = tempfile::NamedTempFile::new_in(dir) else { return };
    if tmp.write_all(text.as_bytes()).is_ok() {
        let _ = tmp.persist(&file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_is_reused_only_for_the_same_build() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("iotests-0123456789abcdef");
        std::fs::write(&bin, b"one build").unwrap();
        assert_eq!(load(&bin), None, "nothing stored yet");
        let l = Listing { names: Some("t209::t209: test\n".into()), specs: "iotests-spec: {}\n".into() };
        store(&bin, &l);
        assert_eq!(load(&bin), Some(l.clone()));
        // A rebuilt binary (other size and inode) does not see it.
        std::fs::remove_file(&bin).unwrap();
        std::fs::write(&bin, b"another, longer build").unwrap();
        assert_eq!(load(&bin), None);
        // A damaged file is a miss, and the next store repairs it.
        std::fs::write(cache_file(&bin).unwrap(), b"{\"identity\": tru").unwrap();
        assert_eq!(load(&bin), None);
        store(&bin, &l);
        assert_eq!(load(&bin), Some(l));
        // Deleting it is harmless.
        std::fs::remove_file(cache_file(&bin).unwrap()).unwrap();
        assert_eq!(load(&bin), None);
    }
}
