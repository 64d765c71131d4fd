//! Snapshot files on disk: `<name>.snap` and insta's pending `<name>.snap.new`,
//! both a front matter between `---` lines followed by the body.

use std::io::Write;
use std::path::{Path, PathBuf};

use iotests::snapshot::{out_text, snap_body};

use crate::error::{Error, IoContext, Result};

/// The header a snapshot created from a `.out` file gets: what insta writes
/// for the suite's snapshots (no expression, no assertion line).
pub const MINIMAL_HEADER: &str = "---\nsource: tests/iotests/main.rs\n---\n";

/// A snapshot directory.
#[derive(Debug, Clone)]
pub struct SnapDir {
    /// The directory.
    pub dir: PathBuf,
}

impl SnapDir {
    /// The snapshot directory at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> SnapDir {
        SnapDir { dir: dir.into() }
    }

    /// `<dir>/<name>.snap`.
    pub fn snap(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.snap"))
    }

    /// `<dir>/<name>.snap.new`.
    pub fn pending(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.snap.new"))
    }

    /// Names of the files in the directory ending in `suffix`, sorted. A
    /// missing directory has none.
    fn names_with(&self, suffix: &str) -> Result<Vec<String>> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::Io { path: self.dir.clone(), source: e }),
        };
        let mut names = Vec::new();
        for entry in rd {
            let entry = entry.at(&self.dir)?;
            // Names that are not UTF-8 cannot be test names; skip them.
            if let Some(n) = entry.file_name().to_str().and_then(|f| f.strip_suffix(suffix))
                && !n.is_empty()
                && !n.starts_with('.')
            {
                names.push(n.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Names of all accepted snapshots (`*.snap`).
    pub fn snapshot_names(&self) -> Result<Vec<String>> {
        self.names_with(".snap")
    }

    /// Names of all pending snapshots (`*.snap.new`).
    pub fn pending_names(&self) -> Result<Vec<String>> {
        self.names_with(".snap.new")
    }
}

/// Read a text file.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).at(path)?;
    String::from_utf8(bytes).map_err(|_| Error::NotUtf8(path.to_path_buf()))
}

/// Read a text file that may not exist.
pub fn read_opt(path: &Path) -> Result<Option<String>> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| Error::NotUtf8(path.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Io { path: path.to_path_buf(), source: e }),
    }
}

/// Split a snapshot into its front matter (with both `---` lines) and body.
pub fn split(text: &str) -> (&str, &str) {
    let body = snap_body(text);
    (&text[..text.len() - body.len()], body)
}

/// The body of a snapshot the way it is compared: QEMU's `.out` text.
pub fn body_text(text: &str) -> String {
    out_text(snap_body(text))
}

/// A pending snapshot's front matter as `cargo insta accept` would persist it:
/// without insta's review-only `assertion_line` field.
pub fn persistable_front(front: &str) -> String {
    front.split_inclusive('\n').filter(|l| !l.starts_with("assertion_line:")).collect()
}

/// The process umask, read without changing it (`/proc/self/status`), or
/// the usual `022` where that is unavailable.
pub fn umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Umask:").map(|m| m.trim().to_string())))
        .and_then(|m| u32::from_str_radix(&m, 8).ok())
        .unwrap_or(0o022)
}

/// Write `contents` to `path` atomically (a temporary file in the same
/// directory, renamed over it), so an interrupted write never leaves half a
/// snapshot. The file keeps the mode of the one it replaces, or gets what
/// `umask` allows for a new file (`0644` under `022`), not the temporary
/// file's `0600`.
pub fn write_atomic(path: &Path, contents: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).at(dir)?;
    let mode = match std::fs::metadata(path) {
        Ok(m) => m.permissions().mode() & 0o7777,
        Err(_) => 0o666 & !umask(),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).at(dir)?;
    tmp.write_all(contents.as_bytes()).at(tmp.path())?;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(mode)).at(tmp.path())?;
    tmp.persist(path).map_err(|e| Error::Io { path: path.to_path_buf(), source: e.error })?;
    Ok(())
}

/// Remove a file; a missing file is fine (also on a read-only file system,
/// where removing a file that is not there fails with EROFS).
pub fn remove_if_exists(path: &Path) -> Result<()> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io { path: path.to_path_buf(), source: e }),
        _ => Ok(()),
    }
}

/// Accept `<name>.snap.new`: its front matter (minus `assertion_line`) and
/// body become `<name>.snap`, and the pending file goes away.
pub fn accept(dir: &SnapDir, name: &str) -> Result<()> {
    let pending = dir.pending(name);
    let text = read_text(&pending)?;
    let (front, body) = split(&text);
    write_atomic(&dir.snap(name), &format!("{}{}", persistable_front(front), body))?;
    remove_if_exists(&pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_front_matter() {
        let t = "---\nsource: x\nassertion_line: 12\n---\nbody\n";
        assert_eq!(split(t), ("---\nsource: x\nassertion_line: 12\n---\n", "body\n"));
        assert_eq!(persistable_front(split(t).0), "---\nsource: x\n---\n");
        assert_eq!(split("no front\n"), ("", "no front\n"));
        assert_eq!(body_text("---\na: b\n---\nx\n\n\n"), "x\n");
    }

    #[test]
    fn writes_respect_the_umask_and_keep_modes() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.snap");
        write_atomic(&p, "a").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&p), 0o666 & !umask());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&p, "b").unwrap();
        assert_eq!((mode(&p), std::fs::read_to_string(&p).unwrap().as_str()), (0o640, "b"));
        remove_if_exists(&d.path().join("nothing")).unwrap();
    }

    #[test]
    fn listing_and_accepting() {
        let d = tempfile::tempdir().unwrap();
        let dir = SnapDir::new(d.path());
        std::fs::write(dir.snap("b"), "---\nsource: s\n---\nold\n").unwrap();
        std::fs::write(dir.pending("b"), "---\nsource: s\nassertion_line: 3\n---\nnew\n").unwrap();
        std::fs::write(dir.snap("a"), "---\n---\na\n").unwrap();
        assert_eq!(dir.snapshot_names().unwrap(), ["a", "b"]);
        assert_eq!(dir.pending_names().unwrap(), ["b"]);
        accept(&dir, "b").unwrap();
        assert_eq!(std::fs::read_to_string(dir.snap("b")).unwrap(), "---\nsource: s\n---\nnew\n");
        assert!(dir.pending_names().unwrap().is_empty());
        assert!(SnapDir::new(d.path().join("missing")).snapshot_names().unwrap().is_empty());
    }
}
