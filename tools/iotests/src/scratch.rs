//! Scratch space the command hands out, and takes back.
//!
//! Each test process gets `TEST_DIR` and `SOCK_DIR` directories of its own,
//! `<root>/<cell>-<name>` like QEMU's `check` makes them. The roots are the
//! user's `TEST_DIR` / `SOCK_DIR`, or directories the command creates (in
//! `TMPDIR`, or `/tmp` when that would make socket paths too long) and
//! removes at the end. Because the command knows every directory it handed
//! out, it can clean up after a test that could not: when a test process
//! ends, every process still holding one of its directories (an open file,
//! a working directory, a UNIX socket bound there, an argument naming it —
//! e.g. a `qemu-nbd --fork` daemon) is killed and the directories are
//! removed, unless `IOTESTS_KEEP_SCRATCH` asks to keep them.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{IoContext, Result};

/// Longest socket root we create: `sun_path` holds 108 bytes, and the
/// library adds `/<cell>-<name>/iot-sock-XXXXXX/<socket>` below it.
const MAX_SOCK_ROOT: usize = 40;

/// How long killed holders get to disappear before the directories go.
const HOLDER_EXIT_WAIT: Duration = Duration::from_secs(3);

/// The roots per-test directories are made in.
#[derive(Debug)]
pub struct Roots {
    /// `TEST_DIR` root.
    pub test_dir: PathBuf,
    /// `SOCK_DIR` root.
    pub sock_dir: PathBuf,
    /// Roots this command created (removed by [`Roots::finish`]).
    created: Vec<PathBuf>,
    /// Keep everything (`IOTESTS_KEEP_SCRATCH`).
    pub keep: bool,
}

/// The directories of one test process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestDirs {
    /// Its `TEST_DIR`.
    pub test_dir: PathBuf,
    /// Its `SOCK_DIR`.
    pub sock_dir: PathBuf,
}

/// What cleaning up after a test did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Cleanup {
    /// Processes that still held the directories and were killed
    /// (`name (pid N)`).
    pub killed: Vec<String>,
    /// Where the scratch was kept, when it was.
    pub kept: Option<String>,
}

fn make_root(parent: &Path, prefix: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(parent).at(parent)?;
    let dir = tempfile::Builder::new().prefix(prefix).tempdir_in(parent).at(parent)?;
    Ok(dir.keep())
}

impl Roots {
    /// Use the user's `TEST_DIR` / `SOCK_DIR` (from `vars`), or create roots.
    pub fn new(user_test_dir: Option<PathBuf>, user_sock_dir: Option<PathBuf>, keep: bool) -> Result<Roots> {
        let tmp = std::env::var_os("TMPDIR").filter(|t| !t.is_empty()).map(PathBuf::from);
        let tmp = tmp.unwrap_or_else(|| PathBuf::from("/tmp"));
        let mut created = Vec::new();
        let test_dir = match user_test_dir {
            Some(d) => d,
            None => {
                let d = make_root(&tmp, "iotests-")?;
                created.push(d.clone());
                d
            }
        };
        let sock_dir = match user_sock_dir {
            Some(d) => d,
            None => {
                let parent = if tmp.as_os_str().len() + 16 <= MAX_SOCK_ROOT { tmp } else { PathBuf::from("/tmp") };
                let d = make_root(&parent, "iot-")?;
                created.push(d.clone());
                d
            }
        };
        Ok(Roots { test_dir, sock_dir, created, keep })
    }

    /// Create the directories of test `name` in `cell`; stale contents from
    /// an earlier run are removed first.
    pub fn for_test(&self, cell: &str, name: &str) -> Result<TestDirs> {
        let leaf = format!("{cell}-{name}");
        let dirs = TestDirs { test_dir: self.test_dir.join(&leaf), sock_dir: self.sock_dir.join(&leaf) };
        for d in [&dirs.test_dir, &dirs.sock_dir] {
            if d.exists() {
                clean(&dirs, false);
            }
            std::fs::create_dir_all(d).at(d)?;
        }
        Ok(dirs)
    }

    /// Remove the roots this command created (when not keeping scratch).
    pub fn finish(&self) {
        if self.keep {
            return;
        }
        for d in &self.created {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Kill every process still holding `dirs`, then remove them (or, with
/// `keep`, say where they are).
pub fn clean(dirs: &TestDirs, keep: bool) -> Cleanup {
    let roots = [dirs.test_dir.as_path(), dirs.sock_dir.as_path()];
    let holders = holders(&roots);
    let mut res = Cleanup::default();
    for (pid, name) in &holders {
        // SAFETY: kill only sends a signal. The pid was just seen holding our
        // scratch; a reused pid would have to reappear holding it too.
        unsafe {
            libc::kill(*pid, libc::SIGKILL);
        }
        res.killed.push(format!("{name} (pid {pid})"));
    }
    let deadline = Instant::now() + HOLDER_EXIT_WAIT;
    while holders.iter().any(|(pid, _)| alive(*pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if keep {
        res.kept = Some(format!("{} and {}", dirs.test_dir.display(), dirs.sock_dir.display()));
    } else {
        for d in roots {
            let _ = std::fs::remove_dir_all(d);
        }
    }
    res
}

/// Whether `pid` exists and is not a zombie (a killed process whose parent
/// has not reaped it yet holds nothing).
fn alive(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z'))
}

/// The inodes of UNIX sockets bound to a path under one of `roots`
/// (`/proc/net/unix`).
fn socket_inodes(roots: &[&Path]) -> HashSet<String> {
    let text = std::fs::read_to_string("/proc/net/unix").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (inode, path) = (f.get(6)?, f.get(7)?);
            roots.iter().any(|r| Path::new(path).starts_with(r)).then(|| inode.to_string())
        })
        .collect()
}

/// Whether `arg` names `root` or a path below it (`root` followed by the
/// end, a `/`, or a character that cannot continue a file name such as `,`
/// or `:` in QEMU option strings) — `/x/a-1` does not mention `/x/a`.
fn mentions(arg: &str, root: &str) -> bool {
    arg.match_indices(root)
        .any(|(i, _)| arg[i + root.len()..].chars().next().is_none_or(|c| !(c.is_alphanumeric() || "-_.".contains(c))))
}

/// Processes of this user, other than this one, that hold a path under one
/// of `roots`: as working directory, as an open file, as a bound socket, or
/// named in their arguments. Returns `(pid, command name)`.
pub fn holders(roots: &[&Path]) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let sockets = socket_inodes(roots);
    let under = |p: &Path| roots.iter().any(|r| p.starts_with(r));
    let mut found = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else { return found };
    for entry in procs.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        if pid == me {
            continue;
        }
        let dir = entry.path();
        use std::os::unix::fs::MetadataExt;
        if dir.metadata().map(|m| m.uid() != uid).unwrap_or(true) {
            continue;
        }
        let cwd = std::fs::read_link(dir.join("cwd")).ok();
        let mut holds = cwd.as_deref().is_some_and(under);
        if !holds {
            let args = std::fs::read(dir.join("cmdline")).unwrap_or_default();
            holds = args.split(|b| *b == 0).any(|a| {
                let a = String::from_utf8_lossy(a);
                roots.iter().any(|r| mentions(&a, &r.to_string_lossy()))
            });
        }
        if !holds && let Ok(fds) = std::fs::read_dir(dir.join("fd")) {
            holds = fds.flatten().filter_map(|fd| std::fs::read_link(fd.path()).ok()).any(|target| {
                let t = target.to_string_lossy();
                under(&target)
                    || t.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']')).is_some_and(|i| sockets.contains(i))
            });
        }
        if holds {
            let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default().trim().to_string();
            found.push((pid, name));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::process::Command;

    #[test]
    fn per_test_dirs_and_cleanup_kill_holders() {
        let base = tempfile::tempdir().unwrap();
        let roots = Roots::new(Some(base.path().join("t")), Some(base.path().join("s")), false).unwrap();
        let dirs = roots.for_test("qcow2-file", "209").unwrap();
        assert_eq!(dirs.test_dir, base.path().join("t/qcow2-file-209"));
        assert!(dirs.sock_dir.is_dir());
        // A process sitting in the test dir, one holding a socket bound in
        // the socket dir (as a forked qemu-nbd would), and a bystander.
        let mut cwd_holder = Command::new("sleep").arg("30").current_dir(&dirs.test_dir).spawn().unwrap();
        let sock = dirs.sock_dir.join("nbd.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        // SAFETY: dup2 is async-signal-safe; the copy on fd 3 survives exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                // dup2 onto itself keeps close-on-exec: clear it explicitly.
                if libc::dup2(fd, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(())
                }
            });
        }
        let mut sock_holder = cmd.spawn().unwrap();
        drop(listener);
        let mut bystander = Command::new("sleep").arg("30").spawn().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let c = clean(&dirs, false);
        assert_eq!(c.killed.len(), 2, "{c:?}");
        assert!(cwd_holder.wait().unwrap().code().is_none());
        assert!(sock_holder.wait().unwrap().code().is_none());
        assert!(bystander.try_wait().unwrap().is_none());
        bystander.kill().unwrap();
        bystander.wait().unwrap();
        assert!(!dirs.test_dir.exists() && !dirs.sock_dir.exists());
    }

    #[test]
    fn arguments_name_a_root_only_as_a_whole() {
        assert!(mentions("/x/a", "/x/a"));
        assert!(mentions("file=/x/a/img,cache=none", "/x/a"));
        assert!(mentions("unix:/x/a:x", "/x/a"));
        assert!(!mentions("/x/a-1/img", "/x/a"));
        assert!(!mentions("/x/ab", "/x/a"));
    }

    #[test]
    fn created_roots_are_removed_unless_kept() {
        let roots = Roots::new(None, None, false).unwrap();
        assert!(roots.sock_dir.as_os_str().len() <= MAX_SOCK_ROOT + 8, "{}", roots.sock_dir.display());
        let d = roots.for_test("raw-file", "x").unwrap();
        let c = clean(&d, true);
        assert!(c.kept.unwrap().contains("raw-file-x"));
        assert!(d.test_dir.is_dir());
        roots.finish();
        assert!(!roots.test_dir.exists() && !roots.sock_dir.exists());
    }
}
