//! Scratch images and names: iotests' `create_image`, `remote_filename`,
//! and Python's `os.mkfifo` for migration streams.

use std::io::{BufWriter, Write};
use std::path::Path;

use crate::context::TestContext;
use crate::error::{Error, Result};

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
        let n = i32::try_from(n)
            .map_err(|_| Error::fail(format!("create_image: sector {n} does not fit struct.pack('>l')")))?;
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

impl TestContext {
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
            proto => Err(Error::Env(format!("Protocol {proto} not supported"))),
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
