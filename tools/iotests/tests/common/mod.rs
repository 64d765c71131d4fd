//! Shared fixtures for the end-to-end tests: a fake workspace with test
//! sources, snapshots and a fake libtest binary, and a way to run the CLI in it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A snapshot file with insta's front matter.
pub fn snap(body: &str) -> String {
    format!("---\nsource: tests/iotests/main.rs\n---\n{body}")
}

/// A fake workspace in a temporary directory.
pub struct Ws {
    pub dir: tempfile::TempDir,
}

impl Ws {
    /// A workspace with a `[workspace]` manifest, `tests/iotests/` sources
    /// declaring the given `(name, module, groups)` tests and an empty
    /// `snapshots/`.
    pub fn new(tests: &[(&str, &str, &str)]) -> Ws {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("Cargo.toml"), "[package]\nname = \"fake\"\n\n[workspace]\n").unwrap();
        let src = root.join("tests/iotests");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::create_dir_all(root.join("snapshots")).unwrap();
        let mut main = String::new();
        for (name, module, groups) in tests {
            main.push_str(&format!("mod {module};\n"));
            let body = format!(
                "//! Port of {name}.\n\niotests::iotest! {{\n    name: \"{name}\",\n    groups: [{groups}],\n    run: |ctx| {{ ctx.log(\"x\"); }},\n}}\n"
            );
            std::fs::write(src.join(format!("{module}.rs")), body).unwrap();
        }
        std::fs::write(src.join("main.rs"), main).unwrap();
        Ws { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn snapshots(&self) -> PathBuf {
        self.root().join("snapshots")
    }

    pub fn write_snap(&self, name: &str, body: &str) {
        std::fs::write(self.snapshots().join(format!("{name}.snap")), snap(body)).unwrap();
    }

    pub fn write_pending(&self, name: &str, body: &str) {
        let text = format!("---\nsource: tests/iotests/main.rs\nassertion_line: 42\n---\n{body}");
        std::fs::write(self.snapshots().join(format!("{name}.snap.new")), text).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root().join(rel)).unwrap()
    }

    /// Install the fake libtest binary (see `FAKE_TEST_BIN`) and return its path.
    pub fn fake_binary(&self, modules: &[&str]) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let list: String = modules.iter().map(|m| format!("echo '{m}::iotest: test'\n")).collect();
        let script = FAKE_TEST_BIN.replace("@LIST@", &list);
        let path = self.root().join("fake-iotests-bin");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// The CLI with a clean environment pointing at this workspace.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_iotests"));
        c.current_dir(self.root());
        for v in
            ["CI", "INSTA_UPDATE", "INSTA_FORCE_PASS", "IOTESTS_SNAPSHOT_DIR", "CARGO_TARGET_DIR", "IOTESTS_TIMEOUT"]
        {
            c.env_remove(v);
        }
        // No QEMU probing: the fake binary needs none.
        for v in ["QEMU_PROG", "QEMU_IMG_PROG", "QEMU_IO_PROG", "QEMU_NBD_PROG", "QSD_PROG"] {
            c.env(v, "/nonexistent/qemu");
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Out {
        Out::from(self.cmd().args(args).output().unwrap())
    }
}

/// A finished CLI run.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Out {
    fn from(o: Output) -> Out {
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// A stand-in for the libtest binary of `cargo test --test iotests`: `--list`
/// prints the modules' tests; `--exact <module>::iotest …` behaves by module:
/// `pass*` passes, `mismatch*` leaves a `.snap.new` (and fails unless
/// INSTA_FORCE_PASS), `notrun*` writes a `.notrun`, `crash*` fails with
/// output, `hang*` sleeps, `cases*` writes a `.casenotrun`, `fresh*` writes a
/// pending snapshot for a test that has none. Every run records its
/// environment in `$OUTPUT_DIR/<module>.env`.
const FAKE_TEST_BIN: &str = r#"#!/bin/sh
if [ "$1" = "--list" ]; then
@LIST@
  exit 0
fi
[ "$1" = "--exact" ] || { echo "bad args: $*"; exit 2; }
path="$2"
module="${path%%::*}"
name=$(sed -n 's/^ *name: "\(.*\)",$/\1/p' "tests/iotests/$module.rs")
env > "$OUTPUT_DIR/$module.env"
echo "args: $*"
echo "running 1 test"
ok() { echo "test $path ... ok"; echo; echo "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s"; exit 0; }
pending() {
  printf -- '---\nsource: tests/iotests/main.rs\nassertion_line: 7\n---\n%s\n' "$1" > "$IOTESTS_SNAPSHOT_DIR/$name.snap.new"
  [ "$INSTA_FORCE_PASS" = 1 ] && ok
  echo "test $path ... FAILED"; exit 101
}
case "$module" in
  pass*) sleep 0.2; ok ;;
  mismatch*) pending "new output" ;;
  fresh*) pending "brand new" ;;
  notrun*) echo "not suitable for this image format" > "$OUTPUT_DIR/$name.notrun"; ok ;;
  cases*) printf 'case_a not run\n' > "$OUTPUT_DIR/$name.casenotrun"; ok ;;
  crash*) echo "thread 'main' panicked at boom"; exit 101 ;;
  hang*) sleep 30; ok ;;
  *) echo "unknown module $module"; exit 3 ;;
esac
"#;
