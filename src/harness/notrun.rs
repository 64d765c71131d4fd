//! Not running a test, or one of its cases: iotests' `notrun()` and
//! `case_notrun()`, and the files `check` reads to report them.
//!
//! `notrun(reason)` ends the test: here it is an [`Error::NotRun`] that the
//! body returns (`return t.notrun("…")` or `?`); the harness then writes
//! `<OUTPUT_DIR>/<test>.notrun` holding `reason\n`, prints iotests' warning
//! on stderr and lets the Rust test pass. `case_notrun(reason)` only appends
//! `    [case not run] <reason>\n` to `<OUTPUT_DIR>/<test>.casenotrun`.

use std::io::Write;
use std::path::PathBuf;

use crate::context::TestContext;
use crate::env::TestEnv;
use crate::error::{Error, Result};

use super::probes;

/// iotests' `notrun(reason)`: the error that ends a test as not run.
///
/// ```
/// fn body(have_feature: bool) -> iotests::Result<()> {
///     if !have_feature {
///         return iotests::harness::notrun("feature missing");
///     }
///     Ok(())
/// }
/// assert!(matches!(body(false), Err(iotests::Error::NotRun(r)) if r == "feature missing"));
/// ```
pub fn notrun<T>(reason: impl Into<String>) -> Result<T> {
    Err(Error::NotRun(reason.into()))
}

/// The reason to report when `err` means "this test cannot run here"
/// rather than "this test failed": [`Error::NotRun`], [`Error::Skip`] and a
/// missing QEMU binary.
///
/// ```
/// use iotests::Error;
/// let e = Error::MissingBinary { var: "QEMU_NBD_PROG", program: "qemu-nbd".into() };
/// assert!(iotests::harness::not_run_reason(&e).unwrap().contains("QEMU_NBD_PROG"));
/// assert_eq!(iotests::harness::not_run_reason(&Error::fail("x")), None);
/// ```
pub fn not_run_reason(err: &Error) -> Option<String> {
    match err {
        Error::NotRun(r) | Error::Skip(r) => Some(r.clone()),
        e @ Error::MissingBinary { .. } => Some(e.to_string()),
        _ => None,
    }
}

/// `<OUTPUT_DIR>/<test>.notrun`.
pub fn notrun_path(env: &TestEnv, name: &str) -> PathBuf {
    env.output_dir.join(format!("{}.notrun", file_stem(name)))
}

/// `<OUTPUT_DIR>/<test>.xfail`: written when a test declared `xfail`
/// failed as expected; `iotests check` reports it as `xfail`.
pub fn xfail_path(env: &TestEnv, name: &str) -> PathBuf {
    env.output_dir.join(format!("{}.xfail", file_stem(name)))
}

/// `<OUTPUT_DIR>/<test>.casenotrun`.
pub fn casenotrun_path(env: &TestEnv, name: &str) -> PathBuf {
    env.output_dir.join(format!("{}.casenotrun", file_stem(name)))
}

/// The test's name as a file name: upstream uses the script's basename
/// (`tests/iothreads-stream` → `iothreads-stream`).
fn file_stem(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

fn output_dir(env: &TestEnv) -> Result<()> {
    std::fs::create_dir_all(&env.output_dir)
        .map_err(|e| Error::io(format!("creating OUTPUT_DIR {}", env.output_dir.display()), e))
}

/// Remove a previous run's `.notrun` and `.casenotrun`, as `check` does
/// before each test (the latter is appended to).
pub fn clear_notrun_files(env: &TestEnv, name: &str) {
    for p in [notrun_path(env, name), casenotrun_path(env, name), xfail_path(env, name)] {
        let _ = std::fs::remove_file(p);
    }
}

/// Record that test `name` is not run: write `<OUTPUT_DIR>/<name>.notrun`
/// with `reason\n` and print iotests' warning
/// (`WARNING:qemu.iotests:<name> not run: <reason>`, what Python's logging
/// prints on stderr).
///
/// ```
/// use iotests::env::{TestEnv, Vars};
/// let dir = tempfile::tempdir().unwrap();
/// let vars = Vars::from([("OUTPUT_DIR".into(), dir.path().display().to_string())]);
/// let env = TestEnv::from_vars(&vars, "raw");
/// iotests::harness::write_notrun(&env, "999", "not suitable for this image format: raw").unwrap();
/// let text = std::fs::read_to_string(dir.path().join("999.notrun")).unwrap();
/// assert_eq!(text, "not suitable for this image format: raw\n");
/// ```
pub fn write_notrun(env: &TestEnv, name: &str, reason: &str) -> Result<()> {
    eprintln!("WARNING:qemu.iotests:{} not run: {reason}", file_stem(name));
    output_dir(env)?;
    let path = notrun_path(env, name);
    std::fs::write(&path, format!("{reason}\n")).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// iotests' `case_notrun(reason)` for test `name`: append
/// `    [case not run] <reason>\n` to `<OUTPUT_DIR>/<name>.casenotrun`.
///
/// ```
/// use iotests::env::{TestEnv, Vars};
/// let dir = tempfile::tempdir().unwrap();
/// let env = TestEnv::from_vars(&Vars::from([("OUTPUT_DIR".into(), dir.path().display().to_string())]), "raw");
/// iotests::harness::write_case_notrun(&env, "997", "a")?;
/// iotests::harness::write_case_notrun(&env, "997", "b")?;
/// let text = std::fs::read_to_string(iotests::harness::casenotrun_path(&env, "997")).unwrap();
/// assert_eq!(text, "    [case not run] a\n    [case not run] b\n");
/// # Ok::<(), iotests::Error>(())
/// ```
pub fn write_case_notrun(env: &TestEnv, name: &str, reason: &str) -> Result<()> {
    output_dir(env)?;
    let path = casenotrun_path(env, name);
    let io_err = |e| Error::io(format!("appending to {}", path.display()), e);
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(io_err)?;
    f.write_all(format!("    [case not run] {reason}\n").as_bytes()).map_err(io_err)
}

/// iotests' module-level functions that need the test (its name, its
/// environment), as methods: `iotests.verify_quorum()` →
/// `t.verify_quorum()?`.
impl TestContext {
    /// iotests' `notrun(reason)`: `return t.notrun("…")`.
    pub fn notrun<T>(&self, reason: impl Into<String>) -> Result<T> {
        notrun(reason)
    }

    /// iotests' `case_notrun(reason)`: note a case as not run (without
    /// skipping it).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let vars = iotests::env::Vars::from([("OUTPUT_DIR".into(), dir.path().display().to_string())]);
    /// let t = iotests::TestContext::new("998", iotests::env::TestEnv::from_vars(&vars, "raw"))?;
    /// t.case_notrun("no quorum")?;
    /// # assert_eq!(std::fs::read_to_string(dir.path().join("998.casenotrun")).unwrap(), "    [case not run] no quorum\n");
    /// # Ok::<(), iotests::Error>(())
    /// ```
    pub fn case_notrun(&self, reason: &str) -> Result<()> {
        write_case_notrun(self.env(), self.name(), reason)
    }

    /// iotests' `qemu_pipe(*args)`.
    pub fn qemu_pipe<S: AsRef<str>>(&self, args: &[S]) -> Result<String> {
        let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        probes::qemu_pipe(self.env(), &args)
    }

    /// iotests' `supported_formats(read_only)`.
    pub fn supported_formats(&self, read_only: bool) -> Result<Vec<String>> {
        probes::supported_formats(self.env(), read_only)
    }

    /// iotests' `supports_quorum()`.
    pub fn supports_quorum(&self) -> Result<bool> {
        probes::supports_quorum(self.env())
    }

    /// iotests' `verify_quorum()`.
    pub fn verify_quorum(&self) -> Result<()> {
        probes::verify_quorum(self.env())
    }

    /// iotests' `has_working_luks()`.
    pub fn has_working_luks(&self) -> Result<(bool, String)> {
        probes::has_working_luks(self.env())
    }

    /// iotests' `verify_working_luks()`.
    pub fn verify_working_luks(&self) -> Result<()> {
        probes::verify_working_luks(self.env())
    }

    /// iotests' `supports_qcow2_zstd_compression()`.
    pub fn supports_qcow2_zstd_compression(&self) -> Result<bool> {
        probes::supports_qcow2_zstd_compression(self.env())
    }

    /// iotests' `verify_qcow2_zstd_compression()`.
    pub fn verify_qcow2_zstd_compression(&self) -> Result<()> {
        probes::verify_qcow2_zstd_compression(self.env())
    }

    /// iotests' `verify_virtio_scsi_pci_or_ccw()`.
    pub fn verify_virtio_scsi_pci_or_ccw(&self) -> Result<()> {
        probes::verify_virtio_scsi_pci_or_ccw(self.env())
    }

    /// iotests' `activate_logging()`: keep `log()` output in a
    /// unittest-style test (script-style tests always keep it).
    pub fn activate_logging(&self) {
        self.logger().set_active(true)
    }
}
