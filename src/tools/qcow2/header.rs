//! qcow2_format.py's `QcowHeader` as an object, for tests that import it
//! instead of running qcow2.py (upstream 044: `h = QcowHeader(fd)`,
//! `h.l1_size = …`, `h.update(fd)`).

use std::fs::File;

use super::format::{HEADER_FIELDS, Header};
use super::pyfile::PyFile;
use super::pyint::PyInt;
use super::write::BadValue;
use crate::error::{Error, Result};

/// qcow2_format.py's `QcowHeader`: the header of a qcow2 image read from
/// an open file, its fields read and set by name, and written back with
/// [`update`](QcowHeader::update) exactly as qcow2.py writes it
/// (extensions, end marker, backing file name, then the header).
///
/// The file is used as Python uses the `fd` it is given: reads and writes
/// move its position, which the caller sees afterwards.
///
/// ```
/// # fn main() -> iotests::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("x.qcow2");
/// # let s = std::process::Command::new("qemu-img").args(["create", "-f", "qcow2"]).arg(&path).arg("1M").output();
/// # if !matches!(s, Ok(ref o) if o.status.success()) { return Ok(()); }
/// use iotests::tools::QcowHeader;
/// // fd = open(name, "r+b"); h = QcowHeader(fd)
/// let mut fd = std::fs::OpenOptions::new().read(true).write(true).open(&path)?;
/// let mut h = QcowHeader::read(&mut fd)?;
/// assert_eq!(h.get("cluster_bits")?, 16);
/// h.set("refcount_table_clusters", 2)?;     // h.refcount_table_clusters = 2
/// h.update(&mut fd)?;                       // h.update(fd)
/// assert_eq!(QcowHeader::read(&mut fd)?.get("refcount_table_clusters")?, 2);
/// # Ok(()) }
/// ```
pub struct QcowHeader {
    header: Header,
    /// A value set that `struct.pack` will refuse, which Python only
    /// notices in `update`.
    bad: Option<BadValue>,
}

impl std::fmt::Debug for QcowHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_struct("QcowHeader");
        for (field, value) in HEADER_FIELDS.iter().zip(&self.header.values) {
            s.field(field.name, value);
        }
        s.finish()
    }
}

/// qcow2.py's exception text as the crate's error.
fn raised(text: String) -> Error {
    Error::Unexpected(text)
}

fn index_of(name: &str) -> Option<usize> {
    HEADER_FIELDS.iter().position(|f| f.name == name)
}

/// Python's attribute reads, `h.l1_size` → `h.l1_size()`, in the order of
/// qcow2_format.py's `fields` (checked by a test against `HEADER_FIELDS`).
impl QcowHeader {
    /// `h.magic`.
    pub fn magic(&self) -> u64 {
        self.header.values[0]
    }

    /// `h.version`.
    pub fn version(&self) -> u64 {
        self.header.values[1]
    }

    /// `h.backing_file_offset`.
    pub fn backing_file_offset(&self) -> u64 {
        self.header.values[2]
    }

    /// `h.backing_file_size`.
    pub fn backing_file_size(&self) -> u64 {
        self.header.values[3]
    }

    /// `h.cluster_bits`.
    pub fn cluster_bits(&self) -> u64 {
        self.header.values[4]
    }

    /// `h.size`.
    pub fn size(&self) -> u64 {
        self.header.values[5]
    }

    /// `h.crypt_method`.
    pub fn crypt_method(&self) -> u64 {
        self.header.values[6]
    }

    /// `h.l1_size`.
    pub fn l1_size(&self) -> u64 {
        self.header.values[7]
    }

    /// `h.l1_table_offset`.
    pub fn l1_table_offset(&self) -> u64 {
        self.header.values[8]
    }

    /// `h.refcount_table_offset`.
    pub fn refcount_table_offset(&self) -> u64 {
        self.header.values[9]
    }

    /// `h.refcount_table_clusters`.
    pub fn refcount_table_clusters(&self) -> u64 {
        self.header.values[10]
    }

    /// `h.nb_snapshots`.
    pub fn nb_snapshots(&self) -> u64 {
        self.header.values[11]
    }

    /// `h.snapshot_offset`.
    pub fn snapshot_offset(&self) -> u64 {
        self.header.values[12]
    }

    /// `h.incompatible_features`.
    pub fn incompatible_features(&self) -> u64 {
        self.header.values[13]
    }

    /// `h.compatible_features`.
    pub fn compatible_features(&self) -> u64 {
        self.header.values[14]
    }

    /// `h.autoclear_features`.
    pub fn autoclear_features(&self) -> u64 {
        self.header.values[15]
    }

    /// `h.refcount_order`.
    pub fn refcount_order(&self) -> u64 {
        self.header.values[16]
    }

    /// `h.header_length`.
    pub fn header_length(&self) -> u64 {
        self.header.values[17]
    }
}

impl QcowHeader {
    /// `QcowHeader(fd)`: read the header (and its extensions and backing
    /// file name) of the qcow2 image open in `file`.
    pub fn read(file: &mut File) -> Result<QcowHeader> {
        let mut f = PyFile::new(file.try_clone().map_err(|e| Error::io("duplicating the image's file", e))?);
        let header = Header::read(&mut f).map_err(raised)?;
        Ok(QcowHeader { header, bad: None })
    }

    /// `h.<name>`: the header field `name` (`l1_size`,
    /// `refcount_table_offset`, … as qcow2_format.py names them).
    pub fn get(&self, name: &str) -> Result<u64> {
        match index_of(name) {
            Some(i) => Ok(self.header.values[i]),
            None => Err(raised(format!("AttributeError: 'QcowHeader' object has no attribute '{name}'"))),
        }
    }

    /// `h.<name> = value`. A value too large for the field fails in
    /// [`update`](QcowHeader::update), as `struct.pack` fails in Python;
    /// a name that is not a header field is an [`Error::Usage`] (Python
    /// would set an attribute that `update` ignores).
    pub fn set(&mut self, name: &str, value: u64) -> Result<()> {
        let Some(index) = index_of(name) else {
            return Err(Error::Usage(format!("QcowHeader has no header field '{name}'")));
        };
        if value <= HEADER_FIELDS[index].ty.max() {
            self.header.values[index] = value;
            self.bad = self.bad.take().filter(|b| b.index != index);
        } else {
            self.bad = Some(BadValue { index, value: PyInt::from_u64(value) });
        }
        Ok(())
    }

    /// `h.update(fd)`: write the header, its extensions and the backing
    /// file name back to `file`.
    pub fn update(&mut self, file: &mut File) -> Result<()> {
        let mut f = PyFile::new(file.try_clone().map_err(|e| Error::io("duplicating the image's file", e))?);
        let result = self.header.update(&mut f, None, self.bad.take());
        f.flush().map_err(raised)?;
        result.map_err(raised)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Seek, Write};

    use super::*;
    use crate::tools::qcow2::tests::image;

    fn v3_image() -> Vec<u8> {
        image(3, &[(0x12345678, b"\x00\x01")], Some(b"base.img"))
    }

    #[test]
    fn fields_read_set_and_written_back() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&v3_image()).unwrap();
        let mut h = QcowHeader::read(&mut file).unwrap();
        assert_eq!(h.get("magic").unwrap(), 0x514649fb);
        assert_eq!(h.get("version").unwrap(), 3);
        assert!(h.get("nope").unwrap_err().to_string().starts_with("AttributeError"));
        assert!(matches!(h.set("nope", 1), Err(Error::Usage(_))));

        h.set("l1_size", 1 << 20).unwrap();
        h.set("refcount_table_offset", 512).unwrap();
        h.update(&mut file).unwrap();
        // The position is where the header write ended, as with Python's fd.
        assert!(file.stream_position().unwrap() > 0);
        let again = QcowHeader::read(&mut file).unwrap();
        assert_eq!(again.get("l1_size").unwrap(), 1 << 20);
        assert_eq!(again.get("refcount_table_offset").unwrap(), 512);
    }

    #[test]
    fn getters_follow_the_field_table() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&v3_image()).unwrap();
        let h = QcowHeader::read(&mut file).unwrap();
        let getters: [(&str, u64); 18] = [
            ("magic", h.magic()),
            ("version", h.version()),
            ("backing_file_offset", h.backing_file_offset()),
            ("backing_file_size", h.backing_file_size()),
            ("cluster_bits", h.cluster_bits()),
            ("size", h.size()),
            ("crypt_method", h.crypt_method()),
            ("l1_size", h.l1_size()),
            ("l1_table_offset", h.l1_table_offset()),
            ("refcount_table_offset", h.refcount_table_offset()),
            ("refcount_table_clusters", h.refcount_table_clusters()),
            ("nb_snapshots", h.nb_snapshots()),
            ("snapshot_offset", h.snapshot_offset()),
            ("incompatible_features", h.incompatible_features()),
            ("compatible_features", h.compatible_features()),
            ("autoclear_features", h.autoclear_features()),
            ("refcount_order", h.refcount_order()),
            ("header_length", h.header_length()),
        ];
        for (i, (name, v)) in getters.iter().enumerate() {
            assert_eq!(HEADER_FIELDS[i].name, *name);
            assert_eq!(h.get(name).unwrap(), *v);
        }
    }

    #[test]
    fn value_too_large_fails_on_update_like_struct_pack() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&v3_image()).unwrap();
        let mut h = QcowHeader::read(&mut file).unwrap();
        h.set("l1_size", 1 << 40).unwrap();
        let e = h.update(&mut file).unwrap_err().to_string();
        assert!(e.starts_with("struct.error: argument out of range (l1_size"), "{e}");
        // A later valid value replaces the bad one.
        h.set("l1_size", 7).unwrap();
        h.update(&mut file).unwrap();
        assert_eq!(QcowHeader::read(&mut file).unwrap().get("l1_size").unwrap(), 7);
    }
}
