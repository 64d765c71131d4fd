//! `qcow2.QcowHeader(fd)` for tests that read an image's header
//! themselves (upstream 163 walks the L1 and refcount tables).

use std::fs::File;

use super::format::{HEADER_FIELDS, Header};
use super::pyfile::PyFile;
use crate::error::{Error, Result};

/// qcow2.py's `QcowHeader`: the header fields of a qcow2 image under their
/// qcow2.py names, version 3 defaults filled in for a version 2 image as
/// qcow2.py does.
///
/// ```
/// # fn main() -> iotests::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("x.qcow2");
/// # let s = std::process::Command::new("qemu-img").args(["create", "-f", "qcow2"]).arg(&path).arg("1M").output();
/// # if !matches!(s, Ok(ref o) if o.status.success()) { return Ok(()); }
/// use iotests::tools::qcow2::QcowHeader;
/// // with open(filename, "rb") as fd: h = qcow2.QcowHeader(fd)
/// let mut fd = std::fs::File::open(&path).unwrap();
/// let h = QcowHeader::read(&mut fd)?;
/// assert_eq!((h.magic, h.version, h.size, h.cluster_bits), (0x514649fb, 3, 1 << 20, 16));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QcowHeader {
    /// `magic` (`0x514649fb`).
    pub magic: u64,
    /// `version` (2 or 3).
    pub version: u64,
    /// `backing_file_offset`.
    pub backing_file_offset: u64,
    /// `backing_file_size`.
    pub backing_file_size: u64,
    /// `cluster_bits`.
    pub cluster_bits: u64,
    /// `size`: the virtual disk size in bytes.
    pub size: u64,
    /// `crypt_method`.
    pub crypt_method: u64,
    /// `l1_size`: entries in the L1 table.
    pub l1_size: u64,
    /// `l1_table_offset`.
    pub l1_table_offset: u64,
    /// `refcount_table_offset`.
    pub refcount_table_offset: u64,
    /// `refcount_table_clusters`.
    pub refcount_table_clusters: u64,
    /// `nb_snapshots`.
    pub nb_snapshots: u64,
    /// `snapshot_offset`.
    pub snapshot_offset: u64,
    /// `incompatible_features`.
    pub incompatible_features: u64,
    /// `compatible_features`.
    pub compatible_features: u64,
    /// `autoclear_features`.
    pub autoclear_features: u64,
    /// `refcount_order`.
    pub refcount_order: u64,
    /// `header_length`.
    pub header_length: u64,
}

impl QcowHeader {
    /// `QcowHeader(fd)`: read the header (and, as qcow2.py does, its
    /// extensions and backing file name) from the start of `fd`, leaving
    /// the file position where qcow2.py leaves it. A file too short for a
    /// header, or extensions qcow2.py cannot parse, is the error qcow2.py
    /// would raise, as an [`Error::Unexpected`].
    pub fn read(fd: &mut File) -> Result<QcowHeader> {
        let file = fd.try_clone().map_err(|e| Error::io("duplicating the image's file descriptor", e))?;
        let h = Header::read(&mut PyFile::new(file)).map_err(Error::Unexpected)?;
        let v = |name: &str| HEADER_FIELDS.iter().position(|f| f.name == name).map_or(0, |i| h.values[i]);
        Ok(QcowHeader {
            magic: v("magic"),
            version: v("version"),
            backing_file_offset: v("backing_file_offset"),
            backing_file_size: v("backing_file_size"),
            cluster_bits: v("cluster_bits"),
            size: v("size"),
            crypt_method: v("crypt_method"),
            l1_size: v("l1_size"),
            l1_table_offset: v("l1_table_offset"),
            refcount_table_offset: v("refcount_table_offset"),
            refcount_table_clusters: v("refcount_table_clusters"),
            nb_snapshots: v("nb_snapshots"),
            snapshot_offset: v("snapshot_offset"),
            incompatible_features: v("incompatible_features"),
            compatible_features: v("compatible_features"),
            autoclear_features: v("autoclear_features"),
            refcount_order: v("refcount_order"),
            header_length: v("header_length"),
        })
    }
}
