//! Shared fixtures for the end-to-end tests: a fake workspace (a real cargo
//! package, so cargo can answer questions about it) with snapshots, fake
//! QEMU programs, a fake iotests test binary that speaks the listing
//! protocol and libtest's arguments, and a way to run the CLI in it.

#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A snapshot file with insta's front matter.
pub fn snap(body: &str) -> String {
    format!("---\nsource: tests/iotests/main.rs\n---\n{body}")
}

/// A fake workspace in a temporary directory.
pub struct Ws {
    pub dir: tempfile::TempDir,
    specs: Vec<(String, String, String)>,
}

fn write_exe(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

impl Ws {
    /// A workspace whose test binary declares the given `(name, test,
    /// groups)` tests: `test` is `module` (function `iotest`) or
    /// `module::function`; `groups` a comma-separated list. What a test
    /// does is decided by its function name, or its module name when the
    /// function is `iotest` (see `FAKE_TEST_BIN`).
    pub fn new(tests: &[(&str, &str, &str)]) -> Ws {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join("Cargo.toml"),
            "[package]\nname = \"fake-suite\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[workspace]\n\n[[test]]\nname = \"suite\"\npath = \"tests/iotests/main.rs\"\n",
        )
        .unwrap();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/lib.rs"), "").unwrap();
        std::fs::create_dir_all(root.join("tests/iotests")).unwrap();
        std::fs::write(root.join("tests/iotests/main.rs"), "").unwrap();
        std::fs::create_dir_all(root.join("snapshots")).unwrap();
        write_exe(&root.join("fake-qemu"), FAKE_QEMU);
        let specs = tests
            .iter()
            .map(|(name, test, groups)| {
                let test = if test.contains("::") { test.to_string() } else { format!("{test}::iotest") };
                let groups: Vec<String> = groups
                    .split(',')
                    .map(|g| g.trim().trim_matches('"'))
                    .filter(|g| !g.is_empty())
                    .map(|g| format!("\"{g}\""))
                    .collect();
                (name.to_string(), test, format!("[{}]", groups.join(",")))
            })
            .collect();
        Ws { dir, specs }
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

    /// Install the fake test binary and return its path.
    pub fn fake_binary(&self) -> PathBuf {
        let specs: String = self.specs.iter().map(|(n, t, g)| format!("{n}|{t}|{g}\n")).collect();
        let path = self.root().join("fake-iotests-bin");
        write_exe(&path, &FAKE_TEST_BIN.replace("@SPECS@", &specs));
        path
    }

    /// The CLI with a clean environment pointing at this workspace, the fake
    /// QEMU programs and scratch in the workspace.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_iotests"));
        c.current_dir(self.root());
        for v in [
            "CI",
            "INSTA_UPDATE",
            "INSTA_FORCE_PASS",
            "IOTESTS_SNAPSHOT_DIR",
            "CARGO_TARGET_DIR",
            "IOTESTS_TIMEOUT",
            "IOTESTS_KEEP_SCRATCH",
            "TEST_DIR",
            "SOCK_DIR",
            "NO_COLOR",
            "QEMU_DEFAULT_MACHINE",
        ] {
            c.env_remove(v);
        }
        for v in ["QEMU_PROG", "QEMU_IMG_PROG", "QEMU_IO_PROG", "QEMU_NBD_PROG", "QSD_PROG"] {
            c.env(v, self.root().join("fake-qemu"));
        }
        c.env("TMPDIR", self.root());
        c
    }

    pub fn run(&self, args: &[&str]) -> Out {
        Out::from(self.cmd().args(args).output().unwrap())
    }

    /// `check` (or another subcommand) with the fake binary.
    pub fn run_bin(&self, args: &[&str]) -> Out {
        let bin = self.fake_binary();
        let mut all: Vec<&str> = args.to_vec();
        all.push("--test-binary");
        all.push(bin.to_str().unwrap());
        self.run(&all)
    }
}

/// A finished CLI run.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// The result line of test `label`.
    pub fn line(&self, label: &str) -> String {
        self.stdout.lines().find(|l| l.starts_with(&format!("{label} "))).unwrap_or("").to_string()
    }
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

/// QEMU as far as `iotests check` asks it: `--version`, `-machine help`,
/// `-accel help`.
const FAKE_QEMU: &str = r#"#!/bin/sh
case "$*" in
  *-machine*) printf 'Supported machines are:\nfakepc  Fake PC (default)\n' ;;
  *-accel*) printf 'Accelerators supported in QEMU binary:\ntcg\n' ;;
  *) echo "QEMU emulator version 10.0.2 (fake)" ;;
esac
"#;

/// A stand-in for the iotests test binary. `IOTESTS_LIST=1` prints the
/// declarations like libtest running the library's list mode (test paths
/// with a crate prefix, as `module_path!` gives them); `--list` prints
/// libtest's list; `--exact <test>` runs one test, by its behaviour key:
///
/// * `pass*` passes; `slow*` sleeps 2 s and passes;
/// * `out_<word>*` produces `<word> output` (`out_fmt*`: `<IMGFMT> output`):
///   writes `$IOTESTS_ACTUAL_DIR/<name>.out.bad` and, like insta, fails
///   unless it equals the reference snapshot (chosen as upstream's
///   find_reference does) or INSTA_FORCE_PASS=1;
/// * `notrun*` writes a `.notrun`; `cases*` a `.casenotrun`;
/// * `crash*` fails with output; `hang*` sleeps; `stubborn*` ignores SIGTERM;
/// * `selftimed*` honours IOTESTS_TIMEOUT with its own diagnostic;
/// * `daemon*` leaves a daemon in its scratch and SIGKILLs itself.
///
/// Every run records its environment in `$OUTPUT_DIR/<name>.env` and its
/// pid in `$OUTPUT_DIR/<name>.pid`.
const FAKE_TEST_BIN: &str = r#"#!/bin/sh
SPECS='@SPECS@'
if [ "$1" = "--list" ]; then
  # As a listing killed in the middle of a probe: its probe directory left.
  [ -n "$FAKE_LIST_LEAVES" ] && mkdir -p "$TMPDIR/iotests-probe-fake"
  echo "$SPECS" | while IFS='|' read -r name test groups; do
    [ -n "$name" ] && echo "$test: test"
  done
  exit 0
fi
if [ "$IOTESTS_LIST" = 1 ]; then
  echo "running some tests"
  echo "$SPECS" | while IFS='|' read -r name test groups; do
    [ -n "$name" ] || continue
    printf 'test %s ... iotests-spec: {"name":"%s","test":"fake::%s","kind":"script","groups":%s,"supported_fmts":[],"timeout":null,"cases":[]}\nok\n' "$test" "$name" "$test" "$groups"
  done
  exit 0
fi
[ "$1" = "--exact" ] || { echo "bad args: $*"; exit 2; }
test="$2"
name=$(echo "$SPECS" | while IFS='|' read -r n t g; do [ "$t" = "$test" ] && echo "$n"; done)
[ -n "$name" ] || { echo "running 0 tests"; echo; echo "test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 5 filtered out; finished in 0.00s"; exit 0; }
fn="${test##*::}"
key="$fn"
[ "$fn" = iotest ] && key="${test%%::*}"
env > "$OUTPUT_DIR/$name.env"
echo $$ > "$OUTPUT_DIR/$name.pid"
echo "args: $*"
echo "running 1 test"
ok() { echo "test $test ... ok"; echo; echo "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s"; exit 0; }
failed() { echo "test $test ... FAILED"; echo; echo "failures:"; echo; echo "failures:"; echo "    $test"; echo; echo "test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s"; exit 101; }
reference() {
  s="$IOTESTS_SNAPSHOT_DIR"
  if [ "$CACHEMODE" = none ] && [ -f "$s/$name.nocache.snap" ]; then echo "$name.nocache"
  elif [ -f "$s/$name.$IMGFMT.snap" ]; then echo "$name.$IMGFMT"
  elif [ -n "$QEMU_DEFAULT_MACHINE" ] && [ -f "$s/$name.$QEMU_DEFAULT_MACHINE.snap" ]; then echo "$name.$QEMU_DEFAULT_MACHINE"
  else echo "$name"; fi
}
produce() {
  printf '%s\n' "$1" > "$IOTESTS_ACTUAL_DIR/$name.out.bad"
  ref=$(reference)
  snap="$IOTESTS_SNAPSHOT_DIR/$ref.snap"
  if [ -f "$snap" ] && [ "$(sed '1,/^---$/d' "$snap")" = "$1" ]; then ok; fi
  [ "$INSTA_FORCE_PASS" = 1 ] && ok
  echo "thread '$test' panicked at /rustc/insta/runtime.rs:1:"
  echo "snapshot assertion for '$ref' failed in line 7"
  failed
}
case "$key" in
  pass*) sleep 0.2; ok ;;
  slow*) sleep 2; ok ;;
  out_fmt*) produce "$IMGFMT output" ;;
  out_*) word="${key#out_}"; produce "${word%%[0-9]*} output" ;;
  notrun*) echo "not suitable for this image format" > "$OUTPUT_DIR/$name.notrun"; ok ;;
  xfail*) echo "QEMU aborts here (see the issue)" > "$OUTPUT_DIR/$name.xfail"; ok ;;
  cases*) printf 'case_a not run\n' > "$OUTPUT_DIR/$name.casenotrun"; ok ;;
  crash*) i=0; while [ $i -lt 70 ]; do echo "log line $i"; i=$((i+1)); done; echo "thread 'main' panicked at boom"; failed ;;
  hang*) sleep 30; ok ;;
  stubborn*) trap '' TERM; sleep 30; ok ;;
  selftimed*) sleep "$IOTESTS_TIMEOUT"; echo "thread '$test' panicked at src/harness/run.rs:1:"; echo "$name: timed out after ${IOTESTS_TIMEOUT}s; killed qemu (pid 1)"; echo "--- last log lines ---"; echo "last words"; failed ;;
  daemon*) echo img > "$TEST_DIR/disk.img"; (cd "$TEST_DIR" && setsid sleep 300 > /dev/null 2>&1 &); sleep 0.3; kill -9 $$ ;;
  *) echo "unknown test $key"; exit 3 ;;
esac
"#;
