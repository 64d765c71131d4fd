//! The `os` functions upstream tests call (`os.remove`, `os.path.join`, …),
//! with Python's behaviour and Python's error texts, so that a port reads
//! like its original: `os.remove(test_img)` is `os::remove(test_img())?`.
//!
//! A failure is an [`Error::Os`] reading as Python's exception does
//! (`FileNotFoundError: [Errno 2] No such file or directory: '/x'`), which
//! unittest reports as an `E`; [`Error::errno`] is Python's
//! `exception.errno`.

use std::path::Path;

use crate::error::{Error, Result};

/// Python's `OSError` for `err` on `path`: the exception class errno
/// selects, then `[Errno N] strerror: 'path'`.
fn os_error(err: std::io::Error, path: &str) -> Error {
    let Some(errno) = err.raw_os_error() else {
        return Error::Os { errno: None, message: format!("OSError: {err}: {}", crate::json::py_str_repr(path)) };
    };
    let class = match nix::errno::Errno::from_raw(errno) {
        nix::errno::Errno::ENOENT => "FileNotFoundError",
        nix::errno::Errno::EEXIST => "FileExistsError",
        nix::errno::Errno::EACCES | nix::errno::Errno::EPERM => "PermissionError",
        nix::errno::Errno::EISDIR => "IsADirectoryError",
        nix::errno::Errno::ENOTDIR => "NotADirectoryError",
        _ => "OSError",
    };
    let strerror = nix::errno::Errno::from_raw(errno).desc();
    Error::Os {
        errno: Some(errno),
        message: format!("{class}: [Errno {errno}] {strerror}: {}", crate::json::py_str_repr(path)),
    }
}

/// `os.remove(path)`.
///
/// ```
/// let e = iotests::os::remove("/nonexistent/x").unwrap_err();
/// assert_eq!(e.to_string(), "FileNotFoundError: [Errno 2] No such file or directory: '/nonexistent/x'");
/// ```
pub fn remove(path: impl AsRef<str>) -> Result<()> {
    let path = path.as_ref();
    std::fs::remove_file(path).map_err(|e| os_error(e, path))
}

/// `os.unlink(path)` (the same as [`remove`]).
pub fn unlink(path: impl AsRef<str>) -> Result<()> {
    remove(path)
}

/// `os.mkdir(path)` (mode 0o777 less the umask).
pub fn mkdir(path: impl AsRef<str>) -> Result<()> {
    let path = path.as_ref();
    std::fs::create_dir(path).map_err(|e| os_error(e, path))
}

/// `os.rmdir(path)`.
pub fn rmdir(path: impl AsRef<str>) -> Result<()> {
    let path = path.as_ref();
    std::fs::remove_dir(path).map_err(|e| os_error(e, path))
}

/// `os.chmod(path, mode)`.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let f = dir.path().join("f");
/// std::fs::write(&f, b"").unwrap();
/// iotests::os::chmod(f.to_str().unwrap(), 0o400)?;
/// # Ok::<(), iotests::Error>(())
/// ```
pub fn chmod(path: impl AsRef<str>, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let path = path.as_ref();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| os_error(e, path))
}

/// `os.mkfifo(path)`.
pub fn mkfifo(path: impl AsRef<str>) -> Result<()> {
    let path = path.as_ref();
    nix::unistd::mkfifo(Path::new(path), nix::sys::stat::Mode::from_bits_truncate(0o666))
        .map_err(|e| os_error(std::io::Error::from_raw_os_error(e as i32), path))
}

/// `os.truncate(path, length)`.
pub fn truncate(path: impl AsRef<str>, length: u64) -> Result<()> {
    let path = path.as_ref();
    std::fs::OpenOptions::new().write(true).open(path).and_then(|f| f.set_len(length)).map_err(|e| os_error(e, path))
}

/// `os.stat(path)`'s result: the fields of Python's `os.stat_result`
/// that tests look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatResult {
    /// `st_mode`: file type and permission bits.
    pub st_mode: u32,
    /// `st_size`: the size in bytes.
    pub st_size: u64,
    /// `st_blocks`: 512-byte blocks allocated.
    pub st_blocks: u64,
    /// `st_uid`.
    pub st_uid: u32,
    /// `st_gid`.
    pub st_gid: u32,
}

/// `os.stat(path)` (following symlinks).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let f = dir.path().join("f");
/// std::fs::write(&f, b"abc").unwrap();
/// let st = iotests::os::stat(f.to_str().unwrap())?;
/// assert_eq!(st.st_size, 3);
/// let e = iotests::os::stat("/nonexistent/x").unwrap_err();
/// assert_eq!(e.to_string(), "FileNotFoundError: [Errno 2] No such file or directory: '/nonexistent/x'");
/// # Ok::<(), iotests::Error>(())
/// ```
pub fn stat(path: impl AsRef<str>) -> Result<StatResult> {
    use std::os::unix::fs::MetadataExt;
    let path = path.as_ref();
    let m = std::fs::metadata(path).map_err(|e| os_error(e, path))?;
    Ok(StatResult { st_mode: m.mode(), st_size: m.size(), st_blocks: m.blocks(), st_uid: m.uid(), st_gid: m.gid() })
}

/// A signal for [`kill`] (Python's `signal.SIGTERM` is `Signal::SIGTERM`).
pub use nix::sys::signal::Signal;

/// `os.kill(pid, sig)`: send `sig` to process `pid`, without waiting for
/// it. Fails as Python does when there is no such process
/// (`ProcessLookupError: [Errno 3] No such process`).
///
/// ```
/// use iotests::os::{self, Signal};
/// let mut child = std::process::Command::new("sleep").arg("60").spawn().unwrap();
/// os::kill(child.id() as i32, Signal::SIGTERM)?;
/// assert!(!child.wait().unwrap().success());
/// let e = os::kill(child.id() as i32, Signal::SIGTERM).unwrap_err();
/// assert_eq!(e.to_string(), "ProcessLookupError: [Errno 3] No such process");
/// # Ok::<(), iotests::Error>(())
/// ```
pub fn kill(pid: i32, sig: Signal) -> Result<()> {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).map_err(|errno| {
        let class = match errno {
            nix::errno::Errno::ESRCH => "ProcessLookupError",
            nix::errno::Errno::EPERM => "PermissionError",
            _ => "OSError",
        };
        Error::Unexpected(format!("{class}: [Errno {}] {}", errno as i32, errno.desc()))
    })
}

/// `os.getuid()`.
///
/// ```
/// use std::os::unix::fs::MetadataExt;
/// // /proc/self belongs to the process's user.
/// assert_eq!(iotests::os::getuid(), std::fs::metadata("/proc/self").unwrap().uid());
/// ```
pub fn getuid() -> u32 {
    // SAFETY: getuid() has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// `os.getgid()`.
pub fn getgid() -> u32 {
    // SAFETY: getgid() has no preconditions and cannot fail.
    unsafe { libc::getgid() }
}

/// `shutil` (the part upstream tests use).
pub mod shutil {
    use super::{Result, os_error};

    /// `shutil.rmtree(path)`: remove a directory and everything in it.
    /// Symbolic links are removed, not followed; a missing directory is
    /// Python's `FileNotFoundError`.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let top = dir.path().join("top");
    /// std::fs::create_dir_all(top.join("sub")).unwrap();
    /// std::fs::write(top.join("sub/f"), b"x").unwrap();
    /// let top = top.to_str().unwrap();
    /// iotests::os::shutil::rmtree(top)?;
    /// assert!(!iotests::os::path::exists(top));
    /// assert!(iotests::os::shutil::rmtree(top).unwrap_err().to_string().starts_with("FileNotFoundError"));
    /// # Ok::<(), iotests::Error>(())
    /// ```
    pub fn rmtree(path: impl AsRef<str>) -> Result<()> {
        let path = path.as_ref();
        std::fs::remove_dir_all(path).map_err(|e| os_error(e, path))
    }
}

/// `os.path`.
pub mod path {
    use super::{Result, os_error};

    /// `os.path.join(a, b)`: `b` if it is absolute, else `a/b` (no
    /// doubled `/`). Join more parts by nesting calls.
    ///
    /// ```
    /// use iotests::os::path::join;
    /// assert_eq!(join("/tmp", "x.img"), "/tmp/x.img");
    /// assert_eq!(join("/tmp/", "x.img"), "/tmp/x.img");
    /// assert_eq!(join("/tmp", "/abs"), "/abs");
    /// ```
    pub fn join(a: impl AsRef<str>, b: impl AsRef<str>) -> String {
        let (a, b) = (a.as_ref(), b.as_ref());
        if b.starts_with('/') || a.is_empty() {
            b.to_string()
        } else if a.ends_with('/') {
            format!("{a}{b}")
        } else {
            format!("{a}/{b}")
        }
    }

    /// `os.path.exists(path)`.
    pub fn exists(path: impl AsRef<str>) -> bool {
        std::path::Path::new(path.as_ref()).exists()
    }

    /// `os.path.isfile(path)`.
    pub fn isfile(path: impl AsRef<str>) -> bool {
        std::path::Path::new(path.as_ref()).is_file()
    }

    /// `os.path.isdir(path)`.
    pub fn isdir(path: impl AsRef<str>) -> bool {
        std::path::Path::new(path.as_ref()).is_dir()
    }

    /// `os.path.basename(path)`: what follows the last `/`.
    ///
    /// ```
    /// assert_eq!(iotests::os::path::basename("/a/b.img"), "b.img");
    /// assert_eq!(iotests::os::path::basename("/a/"), "");
    /// ```
    pub fn basename(path: &str) -> &str {
        path.rsplit('/').next().unwrap_or(path)
    }

    /// `os.path.dirname(path)`: what precedes the last `/` (trailing `/`s
    /// stripped unless it is all of them).
    pub fn dirname(path: &str) -> &str {
        match path.rfind('/') {
            None => "",
            Some(i) => {
                let head = &path[..=i];
                let trimmed = head.trim_end_matches('/');
                if trimmed.is_empty() { head } else { trimmed }
            }
        }
    }

    /// `os.path.getsize(path)`.
    pub fn getsize(path: impl AsRef<str>) -> Result<u64> {
        let path = path.as_ref();
        std::fs::metadata(path).map(|m| m.len()).map_err(|e| os_error(e, path))
    }
}

/// `time.sleep(seconds)`, for ports that wait as their original does.
/// Zero, negative and NaN do not sleep; a length too large for a
/// `Duration` (or infinite) sleeps "forever" — until the test's time
/// limit — rather than panic.
///
/// ```
/// iotests::os::sleep(0.001);
/// iotests::os::sleep(-1.0);
/// ```
pub fn sleep(seconds: f64) {
    if seconds > 0.0 {
        std::thread::sleep(std::time::Duration::try_from_secs_f64(seconds).unwrap_or(std::time::Duration::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_python_text_and_errno() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("d");
        let sub = sub.to_str().unwrap();
        mkdir(sub).unwrap();
        // try: os.mkdir(p) except OSError as e: if e.errno != errno.EEXIST: raise
        let e = mkdir(sub).unwrap_err();
        assert_eq!(e.errno(), Some(libc::EEXIST));
        assert_eq!(e.to_string(), format!("FileExistsError: [Errno 17] File exists: '{sub}'"));
        std::fs::write(format!("{sub}/f"), b"").unwrap();
        assert_eq!(rmdir(sub).unwrap_err().errno(), Some(libc::ENOTEMPTY));
    }
}
