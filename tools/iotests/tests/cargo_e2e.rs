//! End to end with the real cargo and libtest: a tiny workspace whose
//! `tests/iotests/main.rs` declares tests with a stand-in `iotest!` macro is
//! built by `iotests check`, listed and run test by test.

mod common;

use common::{Out, Ws};

const MAIN_RS: &str = r#"
// A stand-in for the library's macro: a libtest test per module that passes,
// fails, or reports itself not run through $OUTPUT_DIR/<name>.notrun.
macro_rules! iotest {
    (name: $name:literal, groups: [$($g:ident),* $(,)?], run: $mode:literal $(,)?) => {
        #[test]
        fn iotest() {
            let out = std::env::var("OUTPUT_DIR").expect("OUTPUT_DIR");
            match $mode {
                "pass" => println!("{} passes with IMGFMT={}", $name, std::env::var("IMGFMT").unwrap()),
                "notrun" => std::fs::write(format!("{out}/{}.notrun", $name), "needs another format\n").unwrap(),
                _ => panic!("{} fails on purpose", $name),
            }
        }
    };
}

mod t001;
mod t002;
mod named_test;
"#;

#[test]
fn check_builds_lists_and_runs_with_cargo() {
    let ws = Ws::new(&[]);
    let root = ws.root();
    std::fs::write(root.join("Cargo.toml"), "[package]\nname = \"fake-suite\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[workspace]\n\n[[test]]\nname = \"iotests\"\npath = \"tests/iotests/main.rs\"\n").unwrap();
    let src = root.join("tests/iotests");
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("src/lib.rs"), "").unwrap();
    std::fs::write(src.join("main.rs"), MAIN_RS).unwrap();
    std::fs::write(src.join("t001.rs"), "iotest! { name: \"001\", groups: [rw, quick], run: \"pass\" }\n").unwrap();
    std::fs::write(src.join("t002.rs"), "iotest! {\n    name: \"002\",\n    groups: [rw],\n    run: \"fail\",\n}\n")
        .unwrap();
    std::fs::write(src.join("named_test.rs"), "iotest! { name: \"named-test\", groups: [quick], run: \"notrun\" }\n")
        .unwrap();

    let o = Out::from(ws.cmd().env("CARGO_TARGET_DIR", root.join("target")).args(["check", "-raw"]).output().unwrap());
    assert_eq!(o.code, 1, "{o:?}");
    let line = |name: &str| o.stdout.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or("").to_string();
    assert!(line("001").contains(" pass "), "{o:?}");
    assert!(line("002").contains(" fail ") && line("002").contains("failed, exit status 101"), "{o:?}");
    assert!(o.stdout.contains("002 fails on purpose"), "{o:?}");
    assert!(line("named-test").contains(" not run ") && line("named-test").ends_with("needs another format"), "{o:?}");
    assert!(o.stdout.ends_with("Not run: named-test\nFailures: 002\nFailed 1 of 2 iotests\n"), "{o:?}");
    let log = ws.read("target/iotests/raw-file/001.log");
    assert!(log.contains("001 passes with IMGFMT=raw"), "{log}");
}
