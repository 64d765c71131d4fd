//! Scratch images and names: iotests' `create_image`,
//! `unarchive_sample_image`, `remote_filename`, and Python's `os.mkfifo` for
//! migration streams.

use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use crate::context::TestContext;
use crate::error::{Error, Result};
use crate::process::{self, DEFAULT_TOOL_TIMEOUT, ProcessRegistry};

/// iotests' `create_image(name, size)`: a fully allocated raw image whose
/// every 512-byte sector starts and ends with its sector number as a
/// big-endian 32-bit integer (`struct.pack('>l504xl', n, n)`). A size that
/// is not a multiple of 512 gets its last sector written whole, as the
/// Python loop does.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("img");
/// iotests::tools::create_image(&path, 1000).unwrap();
/// let data = std::fs::read(&path).unwrap();
/// assert_eq!(data.len(), 1024);
/// assert_eq!(&data[512..516], &[0, 0, 0, 1]);
/// assert_eq!(&data[1020..1024], &[0, 0, 0, 1]);
/// ```
pub fn create_image(name: impl AsRef<Path>, size: u64) -> Result<()> {
    let name = name.as_ref();
    let ctx = || format!("writing {}", name.display());
    let file = std::fs::File::create(name).map_err(|e| Error::io(ctx(), e))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let sectors = size.div_ceil(512);
    let mut sector = [0u8; 512];
    for n in 0..sectors {
        // '>l' is a signed 32-bit field: struct.error beyond it.
        let n = i32::try_from(n).map_err(|_| {
            Error::python("struct.error", format!("create_image: sector {n} does not fit struct.pack('>l')"))
        })?;
        sector[..4].copy_from_slice(&n.to_be_bytes());
        sector[508..].copy_from_slice(&n.to_be_bytes());
        w.write_all(&sector).map_err(|e| Error::io(ctx(), e))?;
    }
    w.flush().map_err(|e| Error::io(ctx(), e))
}

/// Python's `os.mkfifo(path)`: a named pipe with mode `0o666` (less the
/// umask), as tests that migrate through `exec: cat <fifo>` create. An
/// existing path is an error, as in Python (`FileExistsError`).
///
/// ```
/// use std::os::unix::fs::FileTypeExt;
/// let dir = tempfile::tempdir().unwrap();
/// let fifo = dir.path().join("mig_fifo");
/// iotests::tools::mkfifo(&fifo)?;
/// assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
/// assert!(iotests::tools::mkfifo(&fifo).is_err());
/// # Ok::<(), iotests::Error>(())
/// ```
pub fn mkfifo(path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o666))
        .map_err(|e| Error::io(format!("mkfifo {}", path.display()), e.into()))
}

/// Decompress the bzip2 file `src` into `dest` (created or truncated) with
/// `bzip2 -dc`, Python's `bz2.open` + `shutil.copyfileobj` without a
/// bzip2 crate. The process is registered in `registry` and killed after
/// [`DEFAULT_TOOL_TIMEOUT`].
///
/// Without a `bzip2` program in `PATH` this is [`Error::NotRun`]; a missing
/// `src` is [`Error::Io`] (Python's `FileNotFoundError`); a failing bzip2
/// is [`Error::ToolFailed`] with its messages.
///
/// ```
/// # if iotests::env::which("bzip2").is_none() { return; }
/// use std::sync::Arc;
/// let dir = tempfile::tempdir().unwrap();
/// let (plain, packed, out) = (dir.path().join("x"), dir.path().join("x.bz2"), dir.path().join("y"));
/// std::fs::write(&plain, b"\x00\xffsample").unwrap();
/// std::process::Command::new("bzip2").arg("-k").arg(&plain).status().unwrap();
/// let reg = Arc::new(iotests::process::ProcessRegistry::default());
/// iotests::tools::unarchive_bz2(&packed, &out, &reg).unwrap();
/// assert_eq!(std::fs::read(&out).unwrap(), b"\x00\xffsample");
/// ```
pub fn unarchive_bz2(src: impl AsRef<Path>, dest: impl AsRef<Path>, registry: &Arc<ProcessRegistry>) -> Result<()> {
    let (src, dest) = (src.as_ref(), dest.as_ref());
    let Some(bzip2) = crate::env::which("bzip2") else {
        return Err(Error::NotRun("bzip2 not found in PATH (needed to unarchive sample images)".into()));
    };
    let input = std::fs::File::open(src).map_err(|e| Error::io(format!("opening {}", src.display()), e))?;
    let output = std::fs::File::create(dest).map_err(|e| Error::io(format!("creating {}", dest.display()), e))?;
    let argv = vec![bzip2.to_string_lossy().into_owned(), "-dc".to_string()];
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).stdin(input).stdout(output).stderr(Stdio::piped());
    let mut child = process::spawn("bzip2", cmd, registry)?;
    let stderr = child.std().stderr.take().map(|mut e| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = e.read_to_string(&mut text);
            text
        })
    });
    let cmdline = format!("{} < {}", process::cmdline(&argv), src.display());
    let Some(status) = child.wait_timeout(DEFAULT_TOOL_TIMEOUT)? else {
        let _ = child.kill();
        return Err(Error::Timeout {
            what: format!("bzip2 did not finish within {DEFAULT_TOOL_TIMEOUT:?}: {cmdline}"),
            log: String::new(),
        });
    };
    let rc = process::returncode(status);
    if rc != 0 {
        let output = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
        return Err(Error::ToolFailed {
            tool: "bzip2".into(),
            cmdline,
            status: rc,
            signal: (rc < 0).then_some(-rc),
            output,
        });
    }
    Ok(())
}

impl TestContext {
    /// iotests' `unarchive_sample_image(sample, fname)`: decompress
    /// `SAMPLE_IMG_DIR/<sample>.bz2` into `fname` (see [`unarchive_bz2`]).
    ///
    /// `SAMPLE_IMG_DIR` defaults to the sample images of the QEMU source
    /// tree named by `IOTESTS_QEMU_SRC` (see [`crate::env`]); with neither
    /// available, or without `bzip2`, the test is not run
    /// ([`Error::NotRun`]).
    ///
    /// ```no_run
    /// # fn main() -> iotests::Result<()> {
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("parallels"))?;
    /// let disk = t.file_path("disk");
    /// t.unarchive_sample_image("parallels-with-bitmap", &disk)?;
    /// # Ok(()) }
    /// ```
    pub fn unarchive_sample_image(&self, sample: &str, fname: &str) -> Result<()> {
        let Some(dir) = &self.env().sample_img_dir else {
            return Err(Error::NotRun(format!(
                "no sample images: set SAMPLE_IMG_DIR, or {} to a QEMU source tree",
                crate::env::QEMU_SRC_VAR
            )));
        };
        unarchive_bz2(dir.join(format!("{sample}.bz2")), fname, self.processes())
    }

    /// iotests' `create_image(name, size)`; see [`create_image`].
    pub fn create_image(&self, name: &str, size: u64) -> Result<()> {
        create_image(name, size)
    }

    /// iotests' `remote_filename(path)`: the path for `IMGPROTO=file`,
    /// `ssh://$USER@127.0.0.1:22<path>` for `ssh`, else an error
    /// (`Protocol … not supported`).
    ///
    /// ```
    /// let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw")).unwrap();
    /// if t.imgproto() == "file" {
    ///     assert_eq!(t.remote_filename("/tmp/a").unwrap(), "/tmp/a");
    /// }
    /// ```
    pub fn remote_filename(&self, path: &str) -> Result<String> {
        match self.imgproto() {
            "file" => Ok(path.to_string()),
            // Python formats a missing USER as "None".
            "ssh" => {
                Ok(format!("ssh://{}@127.0.0.1:22{path}", std::env::var("USER").unwrap_or_else(|_| "None".into())))
            }
            proto => Err(Error::exception(format!("Protocol {proto} not supported"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};

    #[test]
    fn mkfifo_makes_a_working_pipe() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        super::mkfifo(&fifo).unwrap();
        let meta = std::fs::metadata(&fifo).unwrap();
        assert!(meta.file_type().is_fifo());
        // 0o666 less the umask: never more than that.
        assert_eq!(meta.permissions().mode() & !0o666 & 0o7777, 0);
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::OpenOptions::new().write(true).open(fifo)?.write_all(b"migration"))
        };
        let mut got = String::new();
        std::fs::File::open(&fifo).unwrap().read_to_string(&mut got).unwrap();
        writer.join().unwrap().unwrap();
        assert_eq!(got, "migration");
    }

    #[test]
    fn mkfifo_on_an_existing_path_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("taken");
        std::fs::write(&path, b"").unwrap();
        let err = super::mkfifo(&path).unwrap_err().to_string();
        assert!(err.contains("mkfifo") && err.contains("taken"), "{err}");
    }
}
