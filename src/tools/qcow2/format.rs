//! qcow2_format.py: the qcow2 header, its extensions and the bitmaps
//! extension's directory and tables, read and printed exactly as QEMU's
//! `tests/qemu-iotests/qcow2_format.py` (Copyright (c) 2020 Virtuozzo
//! International GmbH, Copyright (C) 2012 Red Hat, Inc., GPL-2.0-or-later)
//! reads and prints them — including its quirks: the bitmaps extension's
//! `length` is not used to find the next extension, and a bitmap name that
//! is not ASCII is an error.

use serde_json::{Map, Value, json};

use super::pyfile::{Field, Fmt, PyFile, PyResult, Ty, field};
use super::pyint::pow2_decimal;

/// `QcowHeader.fields`.
pub(crate) const HEADER_FIELDS: [Field; 18] = [
    // Version 2 header fields
    field(Ty::U32, Fmt::Hex, "magic"),
    field(Ty::U32, Fmt::Dec, "version"),
    field(Ty::U64, Fmt::Hex, "backing_file_offset"),
    field(Ty::U32, Fmt::Hex, "backing_file_size"),
    field(Ty::U32, Fmt::Dec, "cluster_bits"),
    field(Ty::U64, Fmt::Dec, "size"),
    field(Ty::U32, Fmt::Dec, "crypt_method"),
    field(Ty::U32, Fmt::Dec, "l1_size"),
    field(Ty::U64, Fmt::Hex, "l1_table_offset"),
    field(Ty::U64, Fmt::Hex, "refcount_table_offset"),
    field(Ty::U32, Fmt::Dec, "refcount_table_clusters"),
    field(Ty::U32, Fmt::Dec, "nb_snapshots"),
    field(Ty::U64, Fmt::Hex, "snapshot_offset"),
    // Version 3 header fields
    field(Ty::U64, Fmt::Flags64, "incompatible_features"),
    field(Ty::U64, Fmt::Flags64, "compatible_features"),
    field(Ty::U64, Fmt::Flags64, "autoclear_features"),
    field(Ty::U32, Fmt::Dec, "refcount_order"),
    field(Ty::U32, Fmt::Dec, "header_length"),
];

/// Indices into [`HEADER_FIELDS`] that the code uses by name.
pub(crate) const VERSION: usize = 1;
pub(crate) const BACKING_FILE_OFFSET: usize = 2;
pub(crate) const BACKING_FILE_SIZE: usize = 3;
pub(crate) const CLUSTER_BITS: usize = 4;
pub(crate) const INCOMPATIBLE_FEATURES: usize = 13;
pub(crate) const COMPATIBLE_FEATURES: usize = 14;
pub(crate) const AUTOCLEAR_FEATURES: usize = 15;
pub(crate) const HEADER_LENGTH: usize = 17;

/// `QcowHeaderExtension.fields`: magic and length, then the data.
pub(crate) const EXT_FIELDS: [Field; 2] = [field(Ty::U32, Fmt::Magic, "magic"), field(Ty::U32, Fmt::Dec, "length")];

const BITMAP_EXT_FIELDS: [Field; 4] = [
    field(Ty::U32, Fmt::Dec, "nb_bitmaps"),
    field(Ty::U32, Fmt::Dec, "reserved32"),
    field(Ty::U64, Fmt::Hex, "bitmap_directory_size"),
    field(Ty::U64, Fmt::Hex, "bitmap_directory_offset"),
];

const BITMAP_DIR_FIELDS: [Field; 7] = [
    field(Ty::U64, Fmt::Hex, "bitmap_table_offset"),
    field(Ty::U32, Fmt::Dec, "bitmap_table_size"),
    field(Ty::U32, Fmt::BitmapFlags, "flags"),
    field(Ty::U8, Fmt::Dec, "type"),
    field(Ty::U8, Fmt::Dec, "granularity_bits"),
    field(Ty::U16, Fmt::Dec, "name_size"),
    field(Ty::U32, Fmt::Dec, "extra_data_size"),
];

const BITMAP_TABLE_ENTRY: [Field; 1] = [field(Ty::U64, Fmt::Dec, "entry")];

/// `QCOW2_EXT_MAGIC_BITMAPS`.
pub(crate) const MAGIC_BITMAPS: u32 = 0x23852875;

/// `QcowHeaderExtension.Magic.mapping`.
fn magic_name(magic: u64) -> &'static str {
    match magic {
        0xe2792aca => "Backing format",
        0x6803f857 => "Feature table",
        0x0537be77 => "Crypto header",
        0x23852875 => "Bitmaps",
        0x44415441 => "Data file",
        _ => "<unknown>",
    }
}

/// A parsed `QcowHeader`.
pub(crate) struct Header {
    /// The field values, version 3 defaults filled in for version 2.
    pub(crate) values: Vec<u64>,
    /// `cluster_bits` as read: `cluster_size` is `1 << cluster_bits`.
    pub(crate) cluster_bits: u64,
    pub(crate) extensions: Vec<Extension>,
    /// The backing file name, read when `backing_file_offset` is set.
    pub(crate) backing_file: Option<Vec<u8>>,
}

/// A header extension as read from the image.
pub(crate) struct Extension {
    pub(crate) magic: u32,
    pub(crate) length: u32,
    pub(crate) body: ExtBody,
}

/// What follows an extension's magic and length.
pub(crate) enum ExtBody {
    /// The data, padded to 8 bytes, as read (short at the end of the file).
    Data(Vec<u8>),
    /// The bitmaps extension, parsed; qcow2.py keeps no bytes for it.
    Bitmaps(BitmapExt),
}

/// `Qcow2BitmapExt`.
pub(crate) struct BitmapExt {
    values: Vec<u64>,
    directory: Vec<BitmapDirEntry>,
}

/// `Qcow2BitmapDirEntry` with its `Qcow2BitmapTable`.
struct BitmapDirEntry {
    name: String,
    values: Vec<u64>,
    table: Vec<u64>,
}

impl Header {
    /// `QcowHeader(fd)`.
    pub(crate) fn read(f: &mut PyFile) -> PyResult<Header> {
        f.seek(0)?;
        let mut values = f.read_struct(&HEADER_FIELDS)?;
        if values[VERSION] == 2 {
            // set_defaults(): what a version 2 image implies.
            values[INCOMPATIBLE_FEATURES..].copy_from_slice(&[0, 0, 0, 4, 72]);
        }
        let cluster_bits = values[CLUSTER_BITS];
        f.seek(values[HEADER_LENGTH])?;
        let mut header = Header { values, cluster_bits, extensions: Vec::new(), backing_file: None };
        header.load_extensions(f)?;
        let offset = header.values[BACKING_FILE_OFFSET];
        if offset != 0 {
            f.seek(offset)?;
            header.backing_file = Some(f.read(header.values[BACKING_FILE_SIZE])?);
        }
        Ok(header)
    }

    /// `cluster_size`, for comparing with file positions (saturated where
    /// Python's integer would be larger than any position).
    pub(crate) fn cluster_size_bound(&self) -> u128 {
        if self.cluster_bits < 128 { 1u128 << self.cluster_bits } else { u128::MAX }
    }

    fn load_extensions(&mut self, f: &mut PyFile) -> PyResult<()> {
        let offset = self.values[BACKING_FILE_OFFSET];
        let end = match offset {
            0 => self.cluster_size_bound(),
            o => self.cluster_size_bound().min(u128::from(o)),
        };
        while u128::from(f.tell()?) < end {
            let fields = f.read_struct(&EXT_FIELDS)?;
            let (magic, length) = (fields[0] as u32, fields[1] as u32);
            if magic == 0 {
                // The end marker: qcow2.py reads its data and stops; nothing
                // looks at the data or the position afterwards.
                break;
            }
            let body = if magic == MAGIC_BITMAPS {
                ExtBody::Bitmaps(BitmapExt::read(f)?)
            } else {
                ExtBody::Data(f.read((u64::from(length) + 7) & !7)?)
            };
            self.extensions.push(Extension { magic, length, body });
        }
        Ok(())
    }

    /// `QcowHeader.dump(is_json)`.
    pub(crate) fn dump(&self, out: &mut String, is_json: bool) {
        if is_json {
            let map = Value::Object(fields_map(&HEADER_FIELDS, &self.values));
            out.push_str(&crate::json::dumps(&map, false, Some(4)));
            out.push('\n');
        } else {
            dump_fields(out, &HEADER_FIELDS, &self.values);
        }
    }

    /// `QcowHeader.dump_extensions(is_json)`. Fails (with what was printed
    /// so far in `out`) only where Python's `str()` of a huge cluster size
    /// would.
    pub(crate) fn dump_extensions(&self, out: &mut String, is_json: bool) -> PyResult<()> {
        if is_json {
            let list = self.extensions.iter().map(Extension::to_json).collect();
            out.push_str(&crate::json::dumps(&Value::Array(list), false, Some(4)));
            out.push('\n');
            return Ok(());
        }
        for ext in &self.extensions {
            out.push_str("Header extension:\n");
            ext.dump(out, self.cluster_bits)?;
            out.push('\n');
        }
        Ok(())
    }
}

impl Extension {
    /// `QcowHeaderExtension.data_str`: the data, quoted, if every byte is
    /// in `string.printable`.
    fn data_str(data: &[u8], length: u32) -> String {
        let shown = &data[..data.len().min(length as usize)];
        let printable = |b: &u8| matches!(b, 0x20..=0x7e | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
        if shown.iter().all(printable) {
            format!("'{}'", String::from_utf8_lossy(shown))
        } else {
            "<binary>".to_string()
        }
    }

    fn dump(&self, out: &mut String, cluster_bits: u64) -> PyResult<()> {
        dump_fields(out, &EXT_FIELDS, &[self.magic.into(), self.length.into()]);
        match &self.body {
            ExtBody::Data(data) => {
                line(out, "data", &Self::data_str(data, self.length));
                Ok(())
            }
            ExtBody::Bitmaps(b) => b.dump(out, cluster_bits),
        }
    }

    fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("name".into(), magic_name(self.magic.into()).into());
        map.append(&mut fields_map(&EXT_FIELDS, &[self.magic.into(), self.length.into()]));
        match &self.body {
            ExtBody::Data(data) => map.insert("data_str".into(), Self::data_str(data, self.length).into()),
            ExtBody::Bitmaps(b) => map.insert("data".into(), b.to_json()),
        };
        Value::Object(map)
    }
}

impl BitmapExt {
    fn read(f: &mut PyFile) -> PyResult<BitmapExt> {
        // 24 bytes: a multiple of 8, so no padding to skip.
        let values = f.read_struct(&BITMAP_EXT_FIELDS)?;
        let position = f.tell()?;
        f.seek(values[3])?;
        let mut directory = Vec::new();
        for _ in 0..values[0] {
            directory.push(BitmapDirEntry::read(f)?);
        }
        f.seek(position)?;
        Ok(BitmapExt { values, directory })
    }

    fn dump(&self, out: &mut String, cluster_bits: u64) -> PyResult<()> {
        dump_fields(out, &BITMAP_EXT_FIELDS, &self.values);
        for entry in &self.directory {
            out.push('\n');
            entry.dump(out, cluster_bits)?;
        }
        Ok(())
    }

    fn to_json(&self) -> Value {
        let mut map = fields_map(&BITMAP_EXT_FIELDS, &self.values);
        let dir = self.directory.iter().map(BitmapDirEntry::to_json).collect();
        map.insert("bitmap_directory".into(), Value::Array(dir));
        Value::Object(map)
    }
}

impl BitmapDirEntry {
    fn read(f: &mut PyFile) -> PyResult<BitmapDirEntry> {
        let values = f.read_struct(&BITMAP_DIR_FIELDS)?;
        let (table_offset, table_size, name_size, extra_size) = (values[0], values[1], values[5], values[6]);
        f.seek_relative(extra_size)?;
        let raw_name = f.read(name_size)?;
        let name = match raw_name.iter().position(|b| !b.is_ascii()) {
            None => String::from_utf8_lossy(&raw_name).into_owned(),
            Some(at) => {
                return Err(format!(
                    "UnicodeDecodeError: 'ascii' codec can't decode byte {:#04x} in position {at}: ordinal not in range(128) (bitmap name)",
                    raw_name[at]
                ));
            }
        };
        let raw_size = 24 + name_size + extra_size;
        f.seek_relative(((raw_size + 7) & !7) - raw_size)?;
        let position = f.tell()?;
        f.seek(table_offset)?;
        let mut table = Vec::new();
        for _ in 0..table_size {
            table.push(f.read_struct(&BITMAP_TABLE_ENTRY)?[0]);
        }
        f.seek(position)?;
        Ok(BitmapDirEntry { name, values, table })
    }

    fn dump(&self, out: &mut String, cluster_bits: u64) -> PyResult<()> {
        line(out, "Bitmap name", &self.name);
        dump_fields(out, &BITMAP_DIR_FIELDS, &self.values);
        out.push_str(&format!("{:<14} {:<15} {:<12} {}\n", "Bitmap table", "type", "size", "offset"));
        for (i, &entry) in self.table.iter().enumerate() {
            let (kind, offset, _) = table_entry(entry);
            let size = if kind == "serialized" {
                u32::try_from(cluster_bits).ok().and_then(pow2_decimal).ok_or_else(|| {
                    format!("ValueError: str() of the cluster size 1 << {cluster_bits} exceeds the limit (4300 digits)")
                })?
            } else {
                "0".to_string()
            };
            out.push_str(&format!("{i:<14} {kind:<15} {size:<12} {offset}\n"));
        }
        Ok(())
    }

    fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("name".into(), self.name.clone().into());
        map.append(&mut fields_map(&BITMAP_DIR_FIELDS, &self.values));
        let table = self
            .table
            .iter()
            .map(|&e| {
                let (kind, offset, reserved) = table_entry(e);
                json!({"type": kind, "offset": offset, "reserved": reserved})
            })
            .collect();
        map.insert("bitmap_table".into(), Value::Array(table));
        Value::Object(map)
    }
}

/// `Qcow2BitmapTableEntry`: type, offset and reserved bits of an entry.
fn table_entry(entry: u64) -> (&'static str, u64, u64) {
    let reserved = entry & 0xff000000000001fe;
    let offset = entry & 0x00fffffffffffe00;
    let all_ones = entry & 1 != 0;
    let kind = match (offset != 0, all_ones) {
        (true, true) => "invalid",
        (true, false) => "serialized",
        (false, true) => "all-ones",
        (false, false) => "all-zeroes",
    };
    (kind, offset, reserved)
}

/// `print('{:<25} {}'.format(name, value))`.
fn line(out: &mut String, name: &str, value: &str) {
    out.push_str(&format!("{name:<25} {value}\n"));
}

/// `Qcow2Struct.dump()` in text form.
fn dump_fields(out: &mut String, layout: &[Field], values: &[u64]) {
    for (f, &v) in layout.iter().zip(values) {
        line(out, f.name, &format_value(f.fmt, v));
    }
}

/// One field's text, as its format spec or `Qcow2Field` class prints it.
fn format_value(fmt: Fmt, v: u64) -> String {
    let set_bits = || (0..64).filter(move |b| v & (1 << b) != 0);
    match fmt {
        Fmt::Dec => v.to_string(),
        Fmt::Hex => format!("{v:#x}"),
        Fmt::Flags64 => format!("[{}]", set_bits().map(|b| b.to_string()).collect::<Vec<_>>().join(", ")),
        Fmt::BitmapFlags => {
            let names: Vec<String> = set_bits()
                .map(|b| match b {
                    0 => "'in-use'".to_string(),
                    1 => "'auto'".to_string(),
                    b => format!("'bit-{b}'"),
                })
                .collect();
            format!("{v:#x} ([{}])", names.join(", "))
        }
        Fmt::Magic => format!("{v:#x} ({})", magic_name(v)),
    }
}

/// `Qcow2Struct.to_json()`: the raw values by name, in field order.
fn fields_map(layout: &[Field], values: &[u64]) -> Map<String, Value> {
    layout.iter().zip(values).map(|(f, &v)| (f.name.to_string(), Value::from(v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_formats_match_python() {
        assert_eq!(format_value(Fmt::Flags64, 0), "[]");
        assert_eq!(format_value(Fmt::Flags64, (1 << 63) | 3), "[0, 1, 63]");
        assert_eq!(format_value(Fmt::BitmapFlags, 0), "0x0 ([])");
        assert_eq!(format_value(Fmt::BitmapFlags, 0x13), "0x13 (['in-use', 'auto', 'bit-4'])");
        assert_eq!(format_value(Fmt::Magic, 0x6803f857), "0x6803f857 (Feature table)");
        assert_eq!(format_value(Fmt::Magic, 0x12345678), "0x12345678 (<unknown>)");
        assert_eq!(format_value(Fmt::Hex, 0), "0x0");
    }

    #[test]
    fn data_str_quotes_printable_data_only() {
        assert_eq!(Extension::data_str(b"foo\0\0\0\0\0", 3), "'foo'");
        assert_eq!(Extension::data_str(b"a\tb\x0b\0\0\0\0", 4), "'a\tb\x0b'");
        assert_eq!(Extension::data_str(b"\x00\x3fTest", 6), "<binary>");
        assert_eq!(Extension::data_str(b"", 0), "''");
        // Data cut short by the end of the file is shown as far as it goes.
        assert_eq!(Extension::data_str(b"ab", 100), "'ab'");
    }

    #[test]
    fn bitmap_table_entry_types() {
        assert_eq!(table_entry(0), ("all-zeroes", 0, 0));
        assert_eq!(table_entry(1), ("all-ones", 0, 0));
        assert_eq!(table_entry(0x50000), ("serialized", 0x50000, 0));
        assert_eq!(table_entry(0x50001), ("invalid", 0x50000, 0));
        assert_eq!(table_entry(0xff00_0000_0000_0002), ("all-zeroes", 0, 0xff00_0000_0000_0002));
    }
}
