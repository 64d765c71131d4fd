//! Tar files as Python's `tarfile` writes and reads them, for OVA tests
//! (upstream 302): an archive holding a small descriptor and a disk image
//! whose data offset is then given to the raw driver's `offset` option.
//!
//! [`TarWriter`] lays members out exactly as `tarfile.open(path, "w")` +
//! `addfile(TarInfo(name), fileobj)` do in Python 3.11: a ustar header per
//! member (the default PAX format needs no extended header for a short
//! ASCII name and a size under 8 GiB), the data, zeros to the next 512-byte
//! block, and on close two zero blocks and zeros up to a 10240-byte record.
//! Headers are built with the `tar` crate and checksummed as Python does
//! (`"%06o\0 "`, where the crate would write seven digits). [`tar_members`]
//! lists members with `TarInfo.offset_data`.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// `tarfile.BLOCKSIZE`: headers and data start on multiples of it.
///
/// ```
/// assert_eq!(iotests::tools::TAR_BLOCK, 512);
/// ```
pub const TAR_BLOCK: u64 = 512;

/// `tarfile.RECORDSIZE`: a closed archive is a multiple of this.
///
/// ```
/// assert_eq!(iotests::tools::TAR_RECORD, 20 * iotests::tools::TAR_BLOCK);
/// ```
pub const TAR_RECORD: u64 = 20 * TAR_BLOCK;

/// The largest member size a ustar header holds (11 octal digits); Python
/// adds a pax header beyond it, which this module does not write.
const MAX_USTAR_SIZE: u64 = 8u64.pow(11) - 1;

/// A tar member as Python's `TarInfo` describes it.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("a.tar");
/// let mut tar = iotests::tools::TarWriter::create(&path)?;
/// let m = tar.add_file("vm.ovf", b"<xml/>")?;
/// assert_eq!((m.name.as_str(), m.size, m.offset_data), ("vm.ovf", 6, 512));
/// # Ok::<(), iotests::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarMember {
    /// `TarInfo.name`.
    pub name: String,
    /// `TarInfo.size`.
    pub size: u64,
    /// `TarInfo.offset_data`: where the member's data starts in the file.
    pub offset_data: u64,
}

/// A tar archive being written: Python's `tarfile.open(path, "w")`.
///
/// ```
/// use iotests::tools::{TarWriter, tar_members};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("test.ova");
/// let mut tar = TarWriter::create(&path)?;
/// let ovf = tar.add_file("vm.ovf", b"<xml/>")?;
/// assert_eq!((ovf.offset_data, tar.offset()), (512, 1024));
/// tar.finish()?;
/// assert_eq!(std::fs::metadata(&path).unwrap().len(), 10240);
/// assert_eq!(tar_members(&path)?, [ovf]);
/// # Ok::<(), iotests::Error>(())
/// ```
///
/// Dropped without [`finish`](Self::finish), the file is closed without the
/// end-of-archive blocks, as Python's `with` block leaves it when the body
/// raises.
#[derive(Debug)]
pub struct TarWriter {
    file: File,
    path: String,
    offset: u64,
}

impl TarWriter {
    /// `tarfile.open(path, "w")`: create (or truncate) the file.
    pub fn create(path: impl AsRef<Path>) -> Result<TarWriter> {
        let path = path.as_ref().to_string_lossy().into_owned();
        let file = File::create(&path).map_err(|e| Error::io(format!("creating {path}"), e))?;
        Ok(TarWriter { file, path, offset: 0 })
    }

    /// `tar.offset`: where the next member's header goes (after a member
    /// added by Python's `addfile`, also `tar.fileobj.tell()`).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// `tar.addfile(TarInfo(name), io.BytesIO(data))` with
    /// `TarInfo.size = len(data)`: header, data, padding. Returns the
    /// member as [`tar_members`] will list it.
    pub fn add_file(&mut self, name: &str, data: &[u8]) -> Result<TarMember> {
        let member = self.write_header(name, data.len() as u64)?;
        let mut padded = data.to_vec();
        padded.resize(data.len().next_multiple_of(TAR_BLOCK as usize), 0);
        self.write(&padded)?;
        self.offset = member.offset_data + padded.len() as u64;
        Ok(member)
    }

    /// A member of `size` bytes whose data is not written by this call:
    /// another program writes (or wrote) it into the file right after the
    /// header, at the returned member's `offset_data` — what upstream 302
    /// does with `TarInfo.tobuf()` around qemu-nbd writing the disk. The
    /// file then ends at the member's data rounded up to a block (302's
    /// `tar.fileobj.truncate(tar.offset)`), ready for the next member or
    /// [`finish`](Self::finish).
    ///
    /// ```
    /// use iotests::tools::{TarWriter, tar_members};
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("test.ova");
    /// let mut tar = TarWriter::create(&path)?;
    /// tar.add_file("vm.ovf", b"<xml/>")?;
    /// let disk_offset = tar.offset() + 512;
    /// tar.set_len(disk_offset + 65536)?; // room for the disk, written elsewhere
    /// let disk = tar.add_external("disk", 1000)?;
    /// assert_eq!((disk.offset_data, tar.offset()), (disk_offset, disk_offset + 1024));
    /// tar.finish()?;
    /// assert_eq!(tar_members(&path)?[1], disk);
    /// # Ok::<(), iotests::Error>(())
    /// ```
    pub fn add_external(&mut self, name: &str, size: u64) -> Result<TarMember> {
        let member = self.write_header(name, size)?;
        self.offset = member.offset_data + size.next_multiple_of(TAR_BLOCK);
        self.set_len(self.offset)?;
        Ok(member)
    }

    /// `tar.fileobj.truncate(len)`: cut or grow the file (with zeros); the
    /// write position stays where it is.
    pub fn set_len(&mut self, len: u64) -> Result<()> {
        self.file.set_len(len).map_err(|e| Error::io(format!("resizing {}", self.path), e))
    }

    /// `tar.close()`: two zero blocks, then zeros up to a whole record.
    pub fn finish(mut self) -> Result<()> {
        self.seek(self.offset)?;
        self.offset += 2 * TAR_BLOCK;
        let pad = (TAR_RECORD - self.offset % TAR_RECORD) % TAR_RECORD;
        self.write(&vec![0; (2 * TAR_BLOCK + pad) as usize])?;
        self.file.flush().map_err(|e| Error::io(format!("writing {}", self.path), e))
    }

    fn seek(&mut self, pos: u64) -> Result<()> {
        self.file.seek(SeekFrom::Start(pos)).map(drop).map_err(|e| Error::io(format!("seeking in {}", self.path), e))
    }

    fn write(&mut self, data: &[u8]) -> Result<()> {
        self.file.write_all(data).map_err(|e| Error::io(format!("writing {}", self.path), e))
    }

    /// `TarInfo(name).tobuf(PAX_FORMAT)` with `size` at the current offset.
    fn write_header(&mut self, name: &str, size: u64) -> Result<TarMember> {
        let header = ustar_header(name, size)?;
        self.seek(self.offset)?;
        self.write(&header)?;
        Ok(TarMember { name: name.to_string(), size, offset_data: self.offset + TAR_BLOCK })
    }
}

/// The header block Python 3.11 writes for a fresh `TarInfo(name)` of
/// `size` bytes: mode 0644, uid/gid 0, mtime 0, no user or group names.
fn ustar_header(name: &str, size: u64) -> Result<[u8; 512]> {
    if !name.is_ascii() || name.len() > 100 {
        return Err(Error::fail(format!(
            "tar member name {name:?}: Python would add a pax header (not ASCII or over 100 bytes), which is not supported"
        )));
    }
    if size > MAX_USTAR_SIZE {
        return Err(Error::fail(format!(
            "tar member {name:?} of {size} bytes: Python would add a pax header (8 GiB or more), which is not supported"
        )));
    }
    let mut h = tar::Header::new_ustar();
    // Verbatim, as Python's stn(): the crate's set_path would normalize.
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(size);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    let bytes = h.as_mut_bytes();
    // tarfile: the sum with the checksum field as spaces, then "%06o\0"
    // over its first seven bytes; the eighth stays a space.
    bytes[148..156].fill(b' ');
    let sum: u32 = bytes.iter().map(|&b| u32::from(b)).sum();
    bytes[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    Ok(*bytes)
}

/// `[m for m in tarfile.open(path)]`: each member's name, size and data
/// offset. An archive with no members is an error, as Python's
/// `ReadError('empty file')` is.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("a.tar");
/// # let mut tar = iotests::tools::TarWriter::create(&path)?;
/// # tar.add_file("a", &[1; 700])?;
/// # tar.add_file("b", b"")?;
/// # tar.finish()?;
/// let names: Vec<_> = iotests::tools::tar_members(&path)?.into_iter().map(|m| (m.name, m.offset_data)).collect();
/// assert_eq!(names, [("a".to_string(), 512), ("b".to_string(), 2048)]);
/// # Ok::<(), iotests::Error>(())
/// ```
pub fn tar_members(path: impl AsRef<Path>) -> Result<Vec<TarMember>> {
    let path = path.as_ref();
    let ctx = || format!("reading tar file {}", path.display());
    let file = File::open(path).map_err(|e| Error::io(ctx(), e))?;
    let mut archive = tar::Archive::new(file);
    let mut members = Vec::new();
    for entry in archive.entries_with_seek().map_err(|e| Error::io(ctx(), e))? {
        let entry = entry.map_err(|e| Error::io(ctx(), e))?;
        let mut name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if entry.header().entry_type().is_dir() {
            // TarInfo strips a directory's trailing slash.
            name.truncate(name.trim_end_matches('/').len());
        }
        members.push(TarMember { name, size: entry.size(), offset_data: entry.raw_file_position() });
    }
    if members.is_empty() {
        return Err(Error::io(ctx(), std::io::Error::new(std::io::ErrorKind::InvalidData, "empty file")));
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_are_python_tarfile_s() {
        let h = ustar_header("vm.ovf", 6).unwrap();
        assert_eq!(&h[..7], b"vm.ovf\0");
        assert_eq!(&h[100..108], b"0000644\0");
        assert_eq!(&h[108..116], b"0000000\0");
        assert_eq!(&h[116..124], b"0000000\0");
        assert_eq!(&h[124..136], b"00000000006\0");
        assert_eq!(&h[136..148], b"00000000000\0");
        assert_eq!(h[155], b' ');
        assert_eq!(h[154], 0);
        assert_eq!(h[156], b'0');
        assert_eq!(&h[257..265], b"ustar\x0000");
        assert!(h[265..].iter().all(|&b| b == 0));
        let sum: u32 =
            h.iter().enumerate().map(|(i, &b)| if (148..156).contains(&i) { 32 } else { u32::from(b) }).sum();
        assert_eq!(std::str::from_utf8(&h[148..154]).unwrap(), format!("{sum:06o}"));
    }

    #[test]
    fn names_and_sizes_needing_pax_are_refused() {
        assert!(ustar_header(&"x".repeat(100), 0).is_ok());
        assert!(ustar_header(&"x".repeat(101), 0).is_err());
        assert!(ustar_header("disk\u{e9}", 0).is_err());
        assert!(ustar_header("big", 8 << 30).is_err());
        assert!(ustar_header("big", (8 << 30) - 1).is_ok());
    }

    #[test]
    fn empty_and_missing_archives_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.tar");
        TarWriter::create(&path).unwrap().finish().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), TAR_RECORD);
        assert!(tar_members(&path).unwrap_err().to_string().contains("empty file"));
        assert!(tar_members(dir.path().join("missing.tar")).is_err());
    }
}
