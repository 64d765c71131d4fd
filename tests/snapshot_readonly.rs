//! Snapshots on a read-only directory (CI images mount the tree so): a
//! matching snapshot passes — nothing is written, not even a removal of a
//! `.snap.new` that is not there — and a mismatch says that the directory
//! is read-only rather than failing with a bare I/O error.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A read-only view of a copy of `snapshots/`: a read-only bind mount when
/// we may mount (root), else the copy with its write permissions removed
/// (which binds everyone but root). `None` when neither makes it read-only.
struct ReadOnly {
    _copy: tempfile::TempDir,
    dir: PathBuf,
    mounted: bool,
}

impl ReadOnly {
    fn new() -> Option<ReadOnly> {
        let copy = tempfile::Builder::new().prefix("iot-rosnap-").tempdir().unwrap();
        let src = copy.path().join("src");
        std::fs::create_dir(&src).unwrap();
        std::fs::write(src.join("ro-snap.snap"), "---\nsource: tests/snapshot_readonly.rs\n---\nline one\nline two\n")
            .unwrap();
        let mnt = copy.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        let mount = |args: &[&str]| Command::new("mount").args(args).status().is_ok_and(|s| s.success());
        let (dir, mounted) = if mount(&["--bind", &src.to_string_lossy(), &mnt.to_string_lossy()]) {
            if !mount(&["-o", "remount,bind,ro", &mnt.to_string_lossy()]) {
                let _ = Command::new("umount").arg(&mnt).status();
                return None;
            }
            (mnt, true)
        } else {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o555)).unwrap();
            (src, false)
        };
        // Is it really read-only for us?
        if std::fs::write(dir.join("probe"), "").is_ok() {
            let _ = std::fs::remove_file(dir.join("probe"));
            return None;
        }
        Some(ReadOnly { _copy: copy, dir, mounted })
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(&self.dir).status();
        } else {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o755));
        }
    }
}

fn message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p.downcast_ref::<&str>().map(|s| s.to_string()).unwrap_or_default(),
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn snapshots_on_a_read_only_directory() {
    if std::env::var_os("CI").is_some() || std::env::var("INSTA_UPDATE").is_ok_and(|v| v == "no") {
        // insta would not try to write: nothing to see here.
        println!("not run: insta does not write pending snapshots under CI / INSTA_UPDATE=no");
        return;
    }
    let Some(ro) = ReadOnly::new() else {
        println!("not run: cannot make a read-only directory here");
        return;
    };
    let dir = ro.dir.to_string_lossy().into_owned();
    let env = iotests::env::TestEnv::from_process_env("raw");
    iotests::assert_log_snapshot!(in Some(dir.as_str()); "ro-snap", "line one\nline two\n", Some(&env));
    assert_eq!(entries(&ro.dir), ["ro-snap.snap"]);

    let caught = std::panic::catch_unwind(|| {
        iotests::assert_log_snapshot!(in Some(dir.as_str()); "ro-snap", "line one\nline 2\n", Some(&env));
    });
    let msg = message(caught.unwrap_err());
    assert!(msg.starts_with("snapshot ro-snap: the output differs from "), "{msg}");
    assert!(msg.contains(&format!("because {dir} is not writable")), "{msg}");
    assert_eq!(entries(&ro.dir), ["ro-snap.snap"]);
}
