//! The QEMU programs a run needs, checked before any test starts, as
//! upstream's `testenv.init_binaries` does: a broken setup is an error of
//! the run (one line, non-zero exit), never a suite of "not run" tests.
//!
//! A program named explicitly (`QEMU_PROG=…` and friends) must exist, be
//! executable and answer `--version`; one left to its default and not found
//! in `PATH` is shown as missing in the header, and the tests that need it
//! report themselves not run with the variable to set.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::proc;

/// The variables naming the programs, as testenv.py checks them.
pub const PROGRAM_VARS: [&str; 5] = ["QEMU_IMG_PROG", "QEMU_IO_PROG", "QEMU_NBD_PROG", "QEMU_PROG", "QSD_PROG"];

/// How long `--version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(20);

/// Check one explicitly named program: it exists, is an executable file
/// (looked up in `PATH` when the name has no `/`), and `--version` exits 0.
pub fn verify_one(var: &'static str, value: &str) -> Result<()> {
    let err = |why: String| Error::Program { var, value: value.to_string(), why };
    let path = match iotests::env::which(value) {
        Some(p) => p,
        None if value.contains('/') && Path::new(value).exists() => return Err(err("not an executable file".into())),
        None if value.contains('/') => return Err(err("no such file".into())),
        None => return Err(err("not found in PATH".into())),
    };
    let mut cmd = Command::new(&path);
    cmd.arg("--version");
    let what = format!("{} --version", path.display());
    let out = proc::run_captured(cmd, &what, VERSION_TIMEOUT, true).map_err(|e| err(format!("does not run: {e}")))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        let said = said.lines().next().map(|l| format!(": {l}")).unwrap_or_default();
        return Err(err(format!("does not run: `{what}` ended with {}{said}", proc::describe(out.status))));
    }
    Ok(())
}

/// Check every program named in `vars` (name → value; empty values are
/// unset).
pub fn verify(vars: &dyn Fn(&str) -> Option<String>) -> Result<()> {
    for var in PROGRAM_VARS {
        if let Some(v) = vars(var).filter(|v| !v.is_empty()) {
            verify_one(var, &v)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_programs_must_exist_and_run() {
        let e = verify_one("QEMU_PROG", "/nonexistent/qemu").unwrap_err().to_string();
        assert_eq!(e, "QEMU_PROG=/nonexistent/qemu: no such file");
        let e = verify_one("QEMU_IMG_PROG", "/bin/false").unwrap_err().to_string();
        assert!(
            e.starts_with("QEMU_IMG_PROG=/bin/false: does not run: `/bin/false --version` ended with exit status 1"),
            "{e}"
        );
        let e = verify_one("QSD_PROG", "no-such-program-xyz").unwrap_err().to_string();
        assert_eq!(e, "QSD_PROG=no-such-program-xyz: not found in PATH");
        let d = tempfile::tempdir().unwrap();
        let plain = d.path().join("qemu-img");
        std::fs::write(&plain, "").unwrap();
        let e = verify_one("QSD_PROG", plain.to_str().unwrap()).unwrap_err().to_string();
        assert!(e.ends_with(": not an executable file"), "{e}");
        verify_one("QEMU_IO_PROG", "true").unwrap();
        let vars = |k: &str| (k == "QEMU_NBD_PROG").then(|| "/nonexistent".to_string());
        assert!(verify(&vars).unwrap_err().to_string().starts_with("QEMU_NBD_PROG="));
    }
}
