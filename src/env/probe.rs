//! Questions asked of the QEMU binaries (`-accel help`, `-machine help`,
//! `-device help`, `-drive format=help`, what qemu-img can create…),
//! answered once and shared.
//!
//! Every answer is keyed by the command line and the *identity* of the
//! binary that answered (its path, size, modification time and inode), and
//! kept at two levels:
//!
//! * in the process, so that the tests of one binary — threads of one
//!   process — ask each question once (and a question being answered makes
//!   the others wait for that answer rather than ask again);
//! * on disk, under `target/<profile>/iotests-probe-cache/` next to the test
//!   binary (or `IOTESTS_PROBE_CACHE`), so that the test processes of a run
//!   (one per test under `iotests check` and nextest) share them. A file is
//!   written atomically (temporary file, then rename), carries its full key
//!   (a colliding or corrupt file is ignored and replaced), and a changed
//!   binary has another identity, hence other files.
//!
//! Probes run through [`process::run`] with a time
//! limit: a hanging `QEMU_PROG` is an error after [`PROBE_TIMEOUT`], not a
//! hang. A failure is remembered in the process (the next test fails fast
//! with the same error) but never written to disk.
//!
//! | variable | meaning |
//! |---|---|
//! | `IOTESTS_PROBE_CACHE` | the cache directory; `0` disables the on-disk level |

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::process::{self, ProcessRegistry, RunOptions};

/// How long one probe may run.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// The variable naming the on-disk cache directory (`0`: none).
pub const CACHE_VAR: &str = "IOTESTS_PROBE_CACHE";

/// What a probe command printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ProbeOutput {
    /// stdout and stderr, merged.
    pub stdout: String,
    /// The exit status (`-N` for signal `N`).
    pub returncode: i32,
}

type Slot = Arc<Mutex<Option<std::result::Result<Value, String>>>>;

fn memo() -> &'static Mutex<HashMap<String, Slot>> {
    static MEMO: OnceLock<Mutex<HashMap<String, Slot>>> = OnceLock::new();
    MEMO.get_or_init(Default::default)
}

/// The identity of the binary `argv0` names: path, size, modification time
/// and inode, or the bare path when it cannot be read.
fn identity(argv0: &str) -> String {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(argv0) {
        Ok(m) => format!("{argv0}|{}|{}.{}|{}", m.len(), m.mtime(), m.mtime_nsec(), m.ino()),
        Err(_) => argv0.to_string(),
    }
}

/// FNV-1a: a stable hash for file names (the file holds the whole key).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The on-disk cache directory, if there is one.
pub fn cache_dir() -> Option<PathBuf> {
    match std::env::var(CACHE_VAR) {
        Ok(v) if v == "0" => return None,
        Ok(v) if !v.is_empty() => return Some(PathBuf::from(v)),
        _ => {}
    }
    // target/<profile>/deps/<test binary> or target/<profile>/<binary>.
    let exe = std::env::current_exe().ok()?;
    let mut dir = exe.parent()?;
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent()?;
    }
    Some(dir.join("iotests-probe-cache"))
}

fn disk_read(dir: &Path, key: &str) -> Option<Value> {
    let text = std::fs::read_to_string(dir.join(format!("{:016x}.json", fnv1a(key)))).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    (v.get("key")?.as_str()? == key).then(|| v.get("value").cloned()).flatten()
}

fn disk_write(dir: &Path, key: &str, value: &Value) {
    // Best effort: a cache that cannot be written is only slower.
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let name = format!("{:016x}.json", fnv1a(key));
    let tmp = dir.join(format!(".{name}.{}.{:?}.tmp", std::process::id(), std::thread::current().id()));
    let body = serde_json::json!({ "key": key, "value": value }).to_string();
    if std::fs::write(&tmp, body).is_ok() && std::fs::rename(&tmp, dir.join(&name)).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// The answer to question `argv` (whose first item is the binary asked):
/// from the process's memory, from the disk cache, or from `compute`.
pub fn cached<T>(argv: &[String], compute: impl FnOnce() -> Result<T>) -> Result<T>
where
    T: Serialize + DeserializeOwned,
{
    cached_in(cache_dir().as_deref(), argv, compute)
}

fn cached_in<T>(dir: Option<&Path>, argv: &[String], compute: impl FnOnce() -> Result<T>) -> Result<T>
where
    T: Serialize + DeserializeOwned,
{
    let key = format!("{}\n{}", identity(argv.first().map_or("", String::as_str)), argv.join("\u{1}"));
    let slot = {
        let mut map = memo().lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(map.entry(key.clone()).or_default())
    };
    // Held while computing: the other threads asking the same question wait
    // for this answer instead of running the probe again.
    let mut answer = slot.lock().unwrap_or_else(|e| e.into_inner());
    if answer.is_none() {
        let from_disk = dir.and_then(|d| disk_read(d, &key));
        *answer = Some(match from_disk {
            Some(v) => Ok(v),
            None => match compute().and_then(|v| serde_json::to_value(v).map_err(|e| Error::Unexpected(e.to_string())))
            {
                Ok(v) => {
                    if let Some(d) = dir {
                        disk_write(d, &key, &v);
                    }
                    Ok(v)
                }
                Err(e) => Err(e.to_string()),
            },
        });
    }
    match answer.as_ref() {
        Some(Ok(v)) => serde_json::from_value(v.clone())
            .map_err(|e| Error::Unexpected(format!("probe cache: unreadable answer to {argv:?}: {e}"))),
        Some(Err(e)) => Err(Error::Unexpected(format!("probing {}: {e}", argv.join(" ")))),
        None => Err(Error::Unexpected("probe cache: no answer".into())),
    }
}

/// Run `argv` (stdout and stderr merged) with [`PROBE_TIMEOUT`]: the raw
/// probe, uncached.
pub fn run(tool: &str, argv: &[String]) -> Result<ProbeOutput> {
    run_for(tool, argv, PROBE_TIMEOUT)
}

/// [`run`] with another time limit, for a probe that is real work rather
/// than a question (creating a LUKS image runs QEMU's PBKDF benchmark,
/// which takes many times longer on a busy machine).
///
/// ```no_run
/// use std::time::Duration;
/// let argv = ["qemu-img".to_string(), "--version".to_string()];
/// let out = iotests::env::probe::run_for("qemu-img", &argv, Duration::from_secs(300))?;
/// assert_eq!(out.returncode, 0);
/// # Ok::<(), iotests::Error>(())
/// ```
pub fn run_for(tool: &str, argv: &[String], timeout: Duration) -> Result<ProbeOutput> {
    // A probe belongs to no test: its own registry, so that a test's
    // time limit never kills another test's answer.
    let registry = Arc::new(ProcessRegistry::default());
    let opts = RunOptions { timeout, ..Default::default() };
    let out = process::run(tool, argv, &opts, &registry)?;
    Ok(ProbeOutput { stdout: out.stdout, returncode: out.returncode })
}

/// [`run`], answered once per binary identity (see [`cached`]).
///
/// ```no_run
/// let out = iotests::env::probe::run_cached("qemu", &["qemu-system-x86_64".into(), "-accel".into(), "help".into()])?;
/// assert!(out.stdout.contains("tcg"));
/// # Ok::<(), iotests::Error>(())
/// ```
pub fn run_cached(tool: &str, argv: &[String]) -> Result<ProbeOutput> {
    cached(argv, || run(tool, argv))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake binary that counts its runs in `<dir>/count`.
    fn counting_binary(dir: &Path, answer: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let bin = dir.join("fake-qemu");
        let script = format!("#!/bin/sh\necho x >> {}/count\necho {answer}\n", dir.display());
        std::fs::write(&bin, script).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        bin
    }

    fn runs(dir: &Path) -> usize {
        std::fs::read_to_string(dir.join("count")).map(|s| s.lines().count()).unwrap_or(0)
    }

    #[test]
    fn answers_once_then_from_disk_and_again_for_a_changed_binary() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let bin = counting_binary(dir.path(), "one");
        let argv = vec![bin.display().to_string(), "-accel".into(), "help".into()];
        let ask = || cached_in(Some(&cache), &argv, || run("fake", &argv)).unwrap();
        assert_eq!(ask().stdout, "one\n");
        assert_eq!(ask().stdout, "one\n");
        assert_eq!(runs(dir.path()), 1);
        // Another process would find the answer on disk.
        let key = format!("{}\n{}", identity(&argv[0]), argv.join("\u{1}"));
        assert!(disk_read(&cache, &key).is_some());
        // A rebuilt binary is asked again (new identity).
        std::thread::sleep(Duration::from_millis(20));
        counting_binary(dir.path(), "two, longer");
        assert_eq!(cached_in(Some(&cache), &argv, || run("fake", &argv)).unwrap().stdout, "two, longer\n");
        assert_eq!(runs(dir.path()), 2);
        // A deleted cache only costs a run.
        std::fs::remove_dir_all(&cache).unwrap();
        let key = format!("{}\n{}", identity(&argv[0]), argv.join("\u{1}"));
        assert!(disk_read(&cache, &key).is_none());
    }

    #[test]
    fn a_hanging_binary_is_an_error_after_the_limit() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("hanging-qemu");
        std::fs::write(&bin, "#!/bin/sh\nexec sleep 600\n").unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let argv = vec![bin.display().to_string(), "-accel".into(), "help".into()];
        let start = std::time::Instant::now();
        let e = cached_in(None, &argv, || run_for("qemu", &argv, Duration::from_millis(500))).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
        assert!(e.to_string().contains("hanging-qemu"), "{e}");
        // Remembered: the next question fails at once.
        let start = std::time::Instant::now();
        assert!(cached_in(None, &argv, || run_for("qemu", &argv, Duration::from_secs(60))).is_err());
        assert!(start.elapsed() < Duration::from_secs(1));
        // And resolving an environment with it runs nothing at all.
        let vars = crate::env::Vars::from([("QEMU_PROG".to_string(), bin.display().to_string())]);
        let start = std::time::Instant::now();
        let _env = crate::env::TestEnv::from_vars(&vars, "raw");
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn parallel_writers_never_leave_a_torn_file() {
        let dir = tempfile::tempdir().unwrap();
        let value = serde_json::json!({"stdout": "x".repeat(100_000), "returncode": 0});
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..20 {
                        disk_write(dir.path(), "same key", &value);
                        if let Some(v) = disk_read(dir.path(), "same key") {
                            assert_eq!(v, value);
                        }
                    }
                });
            }
        });
        assert_eq!(disk_read(dir.path(), "same key"), Some(value));
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn identity_changes_with_the_binary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bin");
        std::fs::write(&p, b"one").unwrap();
        let a = identity(p.to_str().unwrap());
        std::fs::write(&p, b"two!").unwrap();
        assert_ne!(a, identity(p.to_str().unwrap()));
    }

    #[test]
    fn disk_cache_round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let v = serde_json::json!({"a": 1});
        disk_write(dir.path(), "k1", &v);
        assert_eq!(disk_read(dir.path(), "k1"), Some(v));
        // Another key never reads this file's value.
        assert_eq!(disk_read(dir.path(), "k2"), None);
        // A corrupt file is ignored.
        let f = dir.path().join(format!("{:016x}.json", fnv1a("k1")));
        std::fs::write(&f, b"\xff garbage").unwrap();
        assert_eq!(disk_read(dir.path(), "k1"), None);
    }
}
