//! `create_image`, `remote_filename` and the `Timeout` replacement.

use std::time::{Duration, Instant};

use iotests::env::{TestEnv, Vars};
use iotests::tools::{Deadline, create_image, with_timeout};
use iotests::{Error, TestContext};

#[test]
fn create_image_matches_python_struct_pack() {
    if iotests::env::which("python3").is_none() {
        println!("not run: python3 not found");
        return;
    }
    let t = TestContext::new("scratch-create-image", TestEnv::from_process_env("raw")).unwrap();
    // Whole sectors, a partial last sector, nothing, and past 2^16 sectors.
    for size in [0u64, 1, 511, 512, 513, 65536 + 100, (64 << 20) + 7] {
        let [ours, theirs] = t.file_paths(["ours.img", "theirs.img"]);
        create_image(&ours, size).unwrap();
        let py = r#"
import struct, sys
def create_image(name, size):
    '''Create a fully-allocated raw image with sector markers'''
    with open(name, 'wb') as file:
        i = 0
        while i < size:
            sector = struct.pack('>l504xl', i // 512, i // 512)
            file.write(sector)
            i = i + 512
create_image(sys.argv[1], int(sys.argv[2]))
"#;
        let st = std::process::Command::new("python3").args(["-c", py, &theirs, &size.to_string()]).status().unwrap();
        assert!(st.success());
        let (a, b) = (std::fs::read(&ours).unwrap(), std::fs::read(&theirs).unwrap());
        assert_eq!(a.len(), b.len(), "size {size}");
        assert!(a == b, "size {size}: contents differ");
    }
    let via_ctx = t.file_path("ctx.img");
    t.create_image(&via_ctx, 1024).unwrap();
    assert_eq!(std::fs::metadata(&via_ctx).unwrap().len(), 1024);
    assert!(matches!(create_image("/nonexistent/dir/x", 512), Err(Error::Io { .. })));
}

#[test]
fn remote_filename_per_protocol() {
    let ctx = |proto: &str| {
        let mut vars = Vars::new();
        vars.insert("IMGPROTO".into(), proto.into());
        TestContext::new("scratch-remote", TestEnv::from_vars(&vars, "raw")).unwrap()
    };
    assert_eq!(ctx("file").remote_filename("/a/b").unwrap(), "/a/b");
    let user = std::env::var("USER").unwrap_or_else(|_| "None".into());
    assert_eq!(ctx("ssh").remote_filename("/a/b").unwrap(), format!("ssh://{user}@127.0.0.1:22/a/b"));
    let err = ctx("nfs").remote_filename("/a/b").unwrap_err();
    assert!(err.to_string().contains("Protocol nfs not supported"), "{err}");
}

#[test]
fn timeout_bounds_a_polling_loop() {
    let start = Instant::now();
    let r: iotests::Result<()> = with_timeout(0.2, "Timeout waiting for job to pause", |d| {
        loop {
            d.check()?;
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(200) && elapsed < Duration::from_secs(2), "{elapsed:?}");
    match r.unwrap_err() {
        Error::Timeout { what, .. } => assert_eq!(what, "Timeout waiting for job to pause"),
        e => panic!("unexpected {e}"),
    }
    // A body that finishes in time returns its value.
    assert_eq!(with_timeout(5.0, "x", |_| Ok(7)).unwrap(), 7);
    // A body that returns late fails, as the alarm would have fired.
    let late = with_timeout(0.05, "late", |_| {
        std::thread::sleep(Duration::from_millis(100));
        Ok(())
    });
    assert!(matches!(late, Err(Error::Timeout { .. })));
    // The body's own error wins.
    let own: iotests::Result<()> = with_timeout(5.0, "x", |_| Err(Error::fail("own")));
    assert_eq!(own.unwrap_err().to_string(), "own");
    // poll_until gives up too.
    let d = Deadline::seconds(0.05, "never");
    assert!(matches!(d.poll_until(Duration::from_millis(5), || Ok(None::<()>)), Err(Error::Timeout { .. })));
    assert!(Deadline::seconds(-1.0, "past").expired());
    assert!(!Deadline::seconds(f64::INFINITY, "never").expired());
}

#[test]
fn unarchive_sample_image_from_sample_img_dir() {
    let ctx = |vars: &[(&str, &str)]| {
        let vars: Vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        TestContext::new("scratch-unarchive", TestEnv::from_vars(&vars, "raw")).unwrap()
    };
    // Neither SAMPLE_IMG_DIR nor a QEMU source tree: not run.
    let t = ctx(&[]);
    let err = t.unarchive_sample_image("parallels-with-bitmap", &t.file_path("disk")).unwrap_err();
    assert!(matches!(&err, Error::NotRun(r) if r.contains("SAMPLE_IMG_DIR")), "{err}");

    if iotests::env::which("bzip2").is_none() {
        println!("not run: bzip2 not found");
        return;
    }
    let samples = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let plain = samples.path().join("sample");
    std::fs::write(&plain, &data).unwrap();
    assert!(std::process::Command::new("bzip2").arg(&plain).status().unwrap().success());
    let t = ctx(&[("SAMPLE_IMG_DIR", samples.path().to_str().unwrap())]);
    let disk = t.file_path("disk");
    t.unarchive_sample_image("sample", &disk).unwrap();
    assert!(std::fs::read(&disk).unwrap() == data);
    // A missing sample is Python's FileNotFoundError; a corrupt one a bzip2 failure.
    assert!(matches!(t.unarchive_sample_image("missing", &disk), Err(Error::Io { .. })));
    std::fs::write(samples.path().join("bad.bz2"), b"not bzip2").unwrap();
    let err = t.unarchive_sample_image("bad", &disk).unwrap_err();
    assert!(matches!(&err, Error::ToolFailed { tool, .. } if tool == "bzip2"), "{err}");
    assert!(t.processes().pids().is_empty());

    // IOTESTS_QEMU_SRC names a tree with tests/qemu-iotests/sample_images.
    let src = tempfile::tempdir().unwrap();
    let dir = src.path().join("tests/qemu-iotests/sample_images");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(samples.path().join("sample.bz2"), dir.join("sample.bz2")).unwrap();
    let t = ctx(&[(iotests::env::QEMU_SRC_VAR, src.path().to_str().unwrap())]);
    let disk = t.file_path("disk");
    t.unarchive_sample_image("sample", &disk).unwrap();
    assert!(std::fs::read(&disk).unwrap() == data);
}

/// Without `TEST_DIR` / `SOCK_DIR`, scratch goes to `TMPDIR` — the socket
/// directory too, unless `TMPDIR` is too long for UNIX socket paths; then
/// it falls back to `/tmp`.
#[test]
fn scratch_honours_tmpdir() {
    let env_with_tmpdir = |tmpdir: &std::path::Path| {
        let mut vars: Vars = std::env::vars().collect();
        vars.remove("TEST_DIR");
        vars.remove("SOCK_DIR");
        vars.insert("TMPDIR".into(), tmpdir.to_string_lossy().into_owned());
        TestEnv::from_vars(&vars, "raw")
    };
    let short = tempfile::Builder::new().prefix("iot-tmp-").tempdir_in("/tmp").unwrap();
    let t = TestContext::new("scratch-tmpdir", env_with_tmpdir(short.path())).unwrap();
    assert!(t.test_dir().starts_with(&*short.path().to_string_lossy()), "{}", t.test_dir());
    assert!(t.sock_dir().starts_with(&*short.path().to_string_lossy()), "{}", t.sock_dir());
    let (test_dir, sock_dir) = (t.test_dir().to_string(), t.sock_dir().to_string());
    drop(t);
    assert!(!std::path::Path::new(&test_dir).exists() && !std::path::Path::new(&sock_dir).exists());

    let long = short.path().join("a-directory-name-long-enough-to-overflow-socket-paths");
    let t = TestContext::new("scratch-tmpdir-long", env_with_tmpdir(&long)).unwrap();
    assert!(t.test_dir().starts_with(&*long.to_string_lossy()), "{}", t.test_dir());
    assert!(t.sock_dir().starts_with("/tmp/iot-sock-"), "{}", t.sock_dir());
    // A socket path there has room for a long name.
    let sock = t.sock_path("qemu-storage-daemon-export.sock");
    assert!(sock.len() < 108, "{sock}");
    std::os::unix::net::UnixListener::bind(&sock).unwrap();
}
