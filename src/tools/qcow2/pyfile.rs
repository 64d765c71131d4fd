//! The two things qcow2_format.py builds on: a file read and written the
//! way a Python `open(name, "r+b")` object is, and `struct` layouts of
//! big-endian fields.
//!
//! Every seek is a real `lseek`, as Python's is, so an offset the file
//! system refuses fails here as it fails there; reads stop short at the end
//! of the file, as Python's `read(n)` does, and only a `struct.unpack` of
//! too few bytes is an error.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

/// What qcow2.py raises: the text of the Python exception it would die of.
pub(crate) type PyResult<T> = std::result::Result<T, String>;

/// A file with Python's file-object semantics.
pub(crate) struct PyFile {
    file: File,
}

impl PyFile {
    pub(crate) fn new(file: File) -> PyFile {
        PyFile { file }
    }

    /// `fd.seek(pos)`.
    pub(crate) fn seek(&mut self, pos: u64) -> PyResult<()> {
        if pos > i64::MAX as u64 {
            return Err(format!("OverflowError: seek position {pos} does not fit a C off_t"));
        }
        self.file.seek(SeekFrom::Start(pos)).map(drop).map_err(|e| format!("OSError: seek to {pos}: {e}"))
    }

    /// `fd.seek(offset, 1)`.
    pub(crate) fn seek_relative(&mut self, offset: u64) -> PyResult<()> {
        let pos = self.tell()?;
        let target = pos.checked_add(offset).filter(|&t| t <= i64::MAX as u64);
        let Some(target) = target else {
            return Err(format!("OverflowError: seek by {offset} from {pos} overflows"));
        };
        self.seek(target)
    }

    /// `fd.tell()`.
    pub(crate) fn tell(&mut self) -> PyResult<u64> {
        self.file.stream_position().map_err(|e| format!("OSError: tell: {e}"))
    }

    /// `fd.read(n)`: up to `n` bytes, fewer at the end of the file.
    pub(crate) fn read(&mut self, n: u64) -> PyResult<Vec<u8>> {
        let mut data = Vec::new();
        (&mut self.file).take(n).read_to_end(&mut data).map_err(|e| format!("OSError: read: {e}"))?;
        Ok(data)
    }

    /// `struct.unpack(fmt, fd.read(size))`: exactly `size` bytes or
    /// `struct.error`.
    pub(crate) fn read_struct(&mut self, layout: &[Field]) -> PyResult<Vec<u64>> {
        let size = struct_size(layout);
        let data = self.read(size as u64)?;
        if data.len() != size {
            return Err(format!("struct.error: unpack requires a buffer of {size} bytes (got {})", data.len()));
        }
        Ok(unpack(layout, &data))
    }

    /// `fd.write(data)`.
    pub(crate) fn write(&mut self, data: &[u8]) -> PyResult<()> {
        self.file.write_all(data).map_err(|e| format!("OSError: write: {e}"))
    }

    /// What `close()` does before closing: push written data to the file.
    pub(crate) fn flush(&mut self) -> PyResult<()> {
        self.file.flush().map_err(|e| format!("OSError: flush: {e}"))
    }
}

/// A C type of qcow2_format.py's field tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    U8,
    U16,
    U32,
    U64,
}

impl Ty {
    pub(crate) fn size(self) -> usize {
        match self {
            Ty::U8 => 1,
            Ty::U16 => 2,
            Ty::U32 => 4,
            Ty::U64 => 8,
        }
    }

    /// The largest value `struct.pack` accepts for the type.
    pub(crate) fn max(self) -> u64 {
        match self {
            Ty::U8 => u8::MAX.into(),
            Ty::U16 => u16::MAX.into(),
            Ty::U32 => u32::MAX.into(),
            Ty::U64 => u64::MAX,
        }
    }
}

/// How a field is printed by `Qcow2Struct.dump()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fmt {
    /// `'{}'`.
    Dec,
    /// `'{:#x}'`.
    Hex,
    /// `Flags64`: the list of set bits.
    Flags64,
    /// `BitmapFlags`: hex and the names of the set flags.
    BitmapFlags,
    /// `QcowHeaderExtension.Magic`: hex and the extension's name.
    Magic,
}

/// One `(c-type, format, name)` entry of a `fields` table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub(crate) ty: Ty,
    pub(crate) fmt: Fmt,
    pub(crate) name: &'static str,
}

/// Shorthand for the field tables.
pub(crate) const fn field(ty: Ty, fmt: Fmt, name: &'static str) -> Field {
    Field { ty, fmt, name }
}

/// `struct.calcsize('>' + …)`: big-endian layouts have no padding.
pub(crate) fn struct_size(layout: &[Field]) -> usize {
    layout.iter().map(|f| f.ty.size()).sum()
}

/// `struct.unpack` of exactly [`struct_size`] bytes.
pub(crate) fn unpack(layout: &[Field], data: &[u8]) -> Vec<u64> {
    let mut at = 0;
    layout
        .iter()
        .map(|f| {
            let bytes = &data[at..at + f.ty.size()];
            at += f.ty.size();
            bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
        })
        .collect()
}

/// `struct.pack` of values already known to fit their types.
pub(crate) fn pack(layout: &[Field], values: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(struct_size(layout));
    for (f, v) in layout.iter().zip(values) {
        out.extend_from_slice(&v.to_be_bytes()[8 - f.ty.size()..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAYOUT: [Field; 4] = [
        field(Ty::U64, Fmt::Hex, "a"),
        field(Ty::U32, Fmt::Dec, "b"),
        field(Ty::U8, Fmt::Dec, "c"),
        field(Ty::U16, Fmt::Dec, "d"),
    ];

    #[test]
    fn pack_and_unpack_are_big_endian_without_padding() {
        let values = [0x0102030405060708, 0x0a0b0c0d, 0xee, 0x1234];
        let bytes = pack(&LAYOUT, &values);
        assert_eq!(struct_size(&LAYOUT), 15);
        assert_eq!(bytes, [1, 2, 3, 4, 5, 6, 7, 8, 0x0a, 0x0b, 0x0c, 0x0d, 0xee, 0x12, 0x34]);
        assert_eq!(unpack(&LAYOUT, &bytes), values);
    }

    #[test]
    fn short_struct_read_is_struct_error_and_reads_stop_at_eof() {
        let mut tmp = tempfile::tempfile().unwrap();
        tmp.write_all(&[0u8; 10]).unwrap();
        let mut f = PyFile::new(tmp);
        f.seek(4).unwrap();
        assert_eq!(f.read(100).unwrap().len(), 6);
        assert_eq!(f.tell().unwrap(), 10);
        f.seek(0).unwrap();
        let err = f.read_struct(&LAYOUT).unwrap_err();
        assert!(err.starts_with("struct.error: unpack requires a buffer of 15 bytes"), "{err}");
        f.seek(1000).unwrap();
        assert_eq!(f.read(8).unwrap(), b"");
        assert!(f.seek(u64::MAX).unwrap_err().starts_with("OverflowError"));
        f.seek(5).unwrap();
        f.seek_relative(7).unwrap();
        assert_eq!(f.tell().unwrap(), 12);
    }
}
