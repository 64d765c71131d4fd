//! A snapshot file that is binary garbage is reported as corrupt, not as a
//! missing snapshot (insta's empty old side).

#[test]
fn a_corrupt_snapshot_is_named_as_such() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("bad.snap"), b"---\n\x00\xff\xfe garbage \x80\x81\n").unwrap();
    let before = std::fs::read(d.path().join("bad.snap")).unwrap();
    let dir = d.path().to_string_lossy().into_owned();
    let env = iotests::env::TestEnv::from_process_env("raw");
    let caught = std::panic::catch_unwind(|| {
        iotests::assert_log_snapshot!(in Some(dir.as_str()); "bad", "line one\n", Some(&env));
    });
    let payload = caught.expect_err("a corrupt snapshot cannot match");
    let msg = payload.downcast_ref::<String>().cloned().unwrap_or_default();
    let path = d.path().join("bad.snap");
    assert!(msg.starts_with(&format!("snapshot bad: {} is corrupt: not UTF-8 text (", path.display())), "{msg}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "the corrupt file is left as it was");

    // A test declared xfail compares the same way.
    let diff = iotests::snapshot::differs_from_reference(&dir, Some("."), "bad", "line one\n", &env).unwrap();
    assert!(diff.contains("is corrupt: not UTF-8 text"), "{diff}");
}
