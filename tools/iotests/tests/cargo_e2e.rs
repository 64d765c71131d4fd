//! End to end with the real cargo and libtest: a tiny workspace whose test
//! target (named `blocksuite`, found by its source `tests/iotests/main.rs`,
//! not by name) declares tests with a stand-in `iotest!` macro that speaks
//! the listing protocol. `iotests check` builds it, lists it and runs it
//! test by test.

mod common;

use common::{Out, Ws};

const MAIN_RS: &str = r#"
// A stand-in for the library's macro: a libtest test that, under
// IOTESTS_LIST=1, prints its description like the library does, and
// otherwise passes, fails, or reports itself not run through
// $OUTPUT_DIR/<name>.notrun.
macro_rules! iotest {
    (name: $name:literal, groups: [$($g:ident),* $(,)?], fn $f:ident: $mode:literal $(,)?) => {
        #[test]
        fn $f() {
            if std::env::var("IOTESTS_LIST").as_deref() == Ok("1") {
                let groups: Vec<String> = vec![$(format!("\"{}\"", stringify!($g))),*];
                println!(
                    "iotests-spec: {{\"name\":\"{}\",\"test\":\"{}\",\"kind\":\"script\",\"groups\":[{}],\"timeout\":null,\"cases\":[]}}",
                    $name,
                    concat!(module_path!(), "::", stringify!($f)),
                    groups.join(",")
                );
                return;
            }
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
    std::fs::write(
        root.join("Cargo.toml"),
        "[package]\nname = \"fake-suite\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[workspace]\n\n[[test]]\nname = \"blocksuite\"\npath = \"tests/iotests/main.rs\"\n",
    )
    .unwrap();
    let src = root.join("tests/iotests");
    std::fs::write(src.join("main.rs"), MAIN_RS).unwrap();
    std::fs::write(src.join("t001.rs"), "iotest! { name: \"001\", groups: [rw, quick], fn t001: \"pass\" }\n").unwrap();
    // Two declarations in one file: two jobs, two verdicts.
    std::fs::write(
        src.join("t002.rs"),
        "iotest! { name: \"002\", groups: [rw], fn t002: \"fail\" }\niotest! { name: \"002-b\", groups: [rw], fn t002_b: \"pass\" }\n",
    )
    .unwrap();
    std::fs::write(
        src.join("named_test.rs"),
        "iotest! { name: \"named-test\", groups: [quick], fn named_test: \"notrun\" }\n",
    )
    .unwrap();

    let o = Out::from(
        ws.cmd().env("CARGO_TARGET_DIR", root.join("target")).args(["-q", "check", "-raw"]).output().unwrap(),
    );
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.line("001").contains(" pass "), "{o:?}");
    assert!(o.line("002").contains(" fail ") && o.line("002").contains("failed, exit status 101"), "{o:?}");
    assert!(o.line("002-b").contains(" pass "), "{o:?}");
    assert!(o.stdout.contains("002 fails on purpose"), "{o:?}");
    assert!(!o.stdout.contains("RUST_BACKTRACE"), "{o:?}");
    assert!(
        o.line("named-test").contains(" not run ") && o.line("named-test").contains("needs another format"),
        "{o:?}"
    );
    assert!(o.stdout.contains("Not run: named-test\nFailures: 002\nFailed 1 of 3 iotests\n"), "{o:?}");
    // -q: no cargo progress lines.
    assert!(!o.stderr.contains("Compiling"), "{o:?}");
    let log = ws.read("target/iotests/raw-file/001.log");
    assert!(log.contains("001 passes with IMGFMT=raw"), "{log}");
}
