//! fat16.py's on-disk structures: `MBR`, `FatBootSector`,
//! `FatDirectoryEntry`, with Python's bytes → int/str conversions.

use crate::error::{Error, Result};

use super::DIRENTRY_SIZE;

/// Python's `int.from_bytes(b, "little")` of a slice.
pub(super) fn le(b: &[u8]) -> u64 {
    b.iter().rev().fold(0, |acc, &x| (acc << 8) | u64::from(x))
}

/// Python's `b[start:end]`: out-of-range bounds are clamped.
pub(super) fn slice(b: &[u8], start: usize, end: usize) -> &[u8] {
    let end = end.min(b.len());
    &b[start.min(end)..end]
}

/// Python's `b.decode("ascii")`.
fn decode_ascii(b: &[u8]) -> Result<String> {
    match b.iter().position(|&c| c >= 0x80) {
        None => Ok(b.iter().map(|&c| char::from(c)).collect()),
        Some(pos) => Err(Error::python(
            "UnicodeDecodeError",
            format!("'ascii' codec can't decode byte {:#04x} in position {pos}: ordinal not in range(128)", b[pos]),
        )),
    }
}

/// Python's `s.encode("ascii")`.
fn encode_ascii(s: &str) -> Result<Vec<u8>> {
    match s.char_indices().find(|(_, c)| !c.is_ascii()) {
        None => Ok(s.as_bytes().to_vec()),
        Some((pos, c)) => Err(Error::python(
            "UnicodeEncodeError",
            format!("'ascii' codec can't encode character {c:?} in position {pos}: ordinal not in range(128)"),
        )),
    }
}

/// Python's `str.strip()` on ASCII text (whitespace includes `\x1c`–`\x1f`,
/// not NUL).
fn strip(s: &str) -> String {
    s.trim_matches(|c: char| matches!(c, ' ' | '\t'..='\r' | '\x1c'..='\x1f')).to_string()
}

/// Python's `s.ljust(n, " ")`.
pub(super) fn ljust(s: &str, n: usize) -> String {
    format!("{s:<n$}")
}

/// Python's `n.to_bytes(len, "little")`: `OverflowError` when it does not
/// fit.
fn to_bytes(n: u64, len: usize) -> Result<Vec<u8>> {
    if len < 8 && n >> (8 * len) != 0 {
        return Err(Error::python("OverflowError", "int too big to convert"));
    }
    Ok(n.to_le_bytes()[..len].to_vec())
}

/// Python's `assert cond, msg`: unittest reports it as a failure.
pub(super) fn check(cond: bool, msg: &str) -> Result<()> {
    if cond { Ok(()) } else { Err(Error::fail(msg)) }
}

/// One entry of the MBR's partition table (fat16.py's dict).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Partition {
    /// `status` (0x80: bootable).
    pub status: u8,
    /// `start_head`.
    pub start_head: u8,
    /// `start_sector`.
    pub start_sector: u8,
    /// `start_cylinder`.
    pub start_cylinder: u16,
    /// `type` (6: FAT16).
    #[serde(rename = "type")]
    pub r#type: u8,
    /// `end_head`.
    pub end_head: u8,
    /// `end_sector`.
    pub end_sector: u8,
    /// `end_cylinder`.
    pub end_cylinder: u16,
    /// `start_lba`.
    pub start_lba: u32,
    /// `size` (sectors).
    pub size: u32,
}

/// fat16.py's `MBR`: the partition table of sector 0.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mbr {
    /// `partition_table`: the four entries.
    pub partition_table: Vec<Partition>,
}

impl Mbr {
    /// `MBR(data)`: `data` must be one sector.
    ///
    /// ```
    /// let mut sector = vec![0u8; 512];
    /// sector[446] = 0x80;
    /// sector[446 + 4] = 6;
    /// sector[446 + 8..446 + 12].copy_from_slice(&63u32.to_le_bytes());
    /// let mbr = iotests::tools::fat16::Mbr::new(&sector)?;
    /// assert_eq!((mbr.partition_table[0].status, mbr.partition_table[0].r#type), (0x80, 6));
    /// assert_eq!(mbr.partition_table[0].start_lba, 63);
    /// assert!(iotests::tools::fat16::Mbr::new(&sector[..100]).is_err());
    /// # Ok::<(), iotests::Error>(())
    /// ```
    pub fn new(data: &[u8]) -> Result<Mbr> {
        check(data.len() == 512, "")?;
        let partition_table = (0..4)
            .map(|i| {
                let p = &data[446 + i * 16..446 + (i + 1) * 16];
                Partition {
                    status: p[0],
                    start_head: p[1],
                    start_sector: p[2] & 0x3F,
                    start_cylinder: (u16::from(p[2] & 0xC0) << 2) | u16::from(p[3]),
                    r#type: p[4],
                    end_head: p[5],
                    end_sector: p[6] & 0x3F,
                    end_cylinder: (u16::from(p[6] & 0xC0) << 2) | u16::from(p[7]),
                    start_lba: le(&p[8..12]) as u32,
                    size: le(&p[12..16]) as u32,
                }
            })
            .collect();
        Ok(Mbr { partition_table })
    }
}

/// fat16.py's `FatBootSector`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FatBootSector {
    /// `bytes_per_sector`.
    pub bytes_per_sector: u64,
    /// `sectors_per_cluster`.
    pub sectors_per_cluster: u64,
    /// `reserved_sectors`.
    pub reserved_sectors: u64,
    /// `fat_count`.
    pub fat_count: u64,
    /// `root_entries`.
    pub root_entries: u64,
    /// `total_sectors` (the 16-bit or the 32-bit field).
    pub total_sectors: u64,
    /// `media_descriptor`.
    pub media_descriptor: u8,
    /// `sectors_per_fat`.
    pub sectors_per_fat: u64,
    /// `sectors_per_track`.
    pub sectors_per_track: u64,
    /// `heads`.
    pub heads: u64,
    /// `hidden_sectors`.
    pub hidden_sectors: u64,
    /// `drive_number`.
    pub drive_number: u8,
    /// `volume_id`.
    pub volume_id: u64,
    /// `volume_label` (stripped).
    pub volume_label: String,
    /// `fs_type` (stripped).
    pub fs_type: String,
}

impl FatBootSector {
    /// `FatBootSector(data)`: `data` must be one sector.
    pub fn new(data: &[u8]) -> Result<FatBootSector> {
        check(data.len() == 512, "")?;
        let total_sectors_16 = le(&data[19..21]);
        let total_sectors_32 = le(&data[32..36]);
        check(total_sectors_16 == 0 || total_sectors_32 == 0, "Both total sectors (16 and 32) fields are non-zero")?;
        Ok(FatBootSector {
            bytes_per_sector: le(&data[11..13]),
            sectors_per_cluster: u64::from(data[13]),
            reserved_sectors: le(&data[14..16]),
            fat_count: u64::from(data[16]),
            root_entries: le(&data[17..19]),
            total_sectors: if total_sectors_16 != 0 { total_sectors_16 } else { total_sectors_32 },
            media_descriptor: data[21],
            sectors_per_fat: le(&data[22..24]),
            sectors_per_track: le(&data[24..26]),
            heads: le(&data[26..28]),
            hidden_sectors: le(&data[28..32]),
            drive_number: data[36],
            volume_id: le(&data[39..43]),
            volume_label: strip(&decode_ascii(&data[43..54])?),
            fs_type: strip(&decode_ascii(&data[54..62])?),
        })
    }

    /// `root_dir_start()`: the start sector of the root directory.
    pub fn root_dir_start(&self) -> i64 {
        (self.reserved_sectors + self.fat_count * self.sectors_per_fat) as i64
    }

    /// `root_dir_size()`: the size of the root directory in sectors.
    pub fn root_dir_size(&self) -> i64 {
        match self.bytes_per_sector {
            0 => 0,
            bps => (self.root_entries * DIRENTRY_SIZE as u64).div_ceil(bps) as i64,
        }
    }

    /// `data_sector_start()`: the start sector of the data region.
    pub fn data_sector_start(&self) -> i64 {
        self.root_dir_start() + self.root_dir_size()
    }

    /// `first_sector_of_cluster(cluster)` (clusters count from 2; Python's
    /// arithmetic goes negative below that, and so does this).
    pub fn first_sector_of_cluster(&self, cluster: u32) -> i64 {
        self.data_sector_start() + (i64::from(cluster) - 2) * self.sectors_per_cluster as i64
    }

    /// `cluster_bytes()`: the number of bytes in a cluster.
    pub fn cluster_bytes(&self) -> usize {
        (self.bytes_per_sector * self.sectors_per_cluster) as usize
    }
}

/// fat16.py's `FatDirectoryEntry`: a short-name directory entry and where
/// it lies (`sector`, `offset`) so that it can be written back. Serialized
/// (for assertions' messages) as Python's `vars(entry)`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FatDirectoryEntry {
    /// `name` (stripped).
    pub name: String,
    /// `ext` (stripped).
    pub ext: String,
    /// `attributes` (0x10: directory).
    pub attributes: u8,
    /// `reserved`.
    pub reserved: u8,
    /// `create_time_tenth`.
    pub create_time_tenth: u8,
    /// `create_time`.
    pub create_time: u16,
    /// `create_date`.
    pub create_date: u16,
    /// `last_access_date`.
    pub last_access_date: u16,
    /// `last_mod_time`.
    pub last_mod_time: u16,
    /// `last_mod_date`.
    pub last_mod_date: u16,
    /// `cluster`: the first cluster (high and low halves).
    pub cluster: u32,
    /// `size_bytes`.
    pub size_bytes: u64,
    /// `sector`: the sector (relative to the partition) holding it.
    pub sector: i64,
    /// `offset`: its offset in that sector.
    pub offset: usize,
}

impl FatDirectoryEntry {
    /// `FatDirectoryEntry(data, sector, offset)` from the entry's 32 bytes.
    ///
    /// ```
    /// use iotests::tools::fat16::FatDirectoryEntry;
    /// let mut raw = *b"FILE0   TXT \0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
    /// raw[26] = 3;
    /// raw[28] = 16;
    /// let e = FatDirectoryEntry::new(&raw, 5, 64)?;
    /// assert_eq!((e.whole_name(), e.cluster, e.size_bytes), ("FILE0.TXT".to_string(), 3, 16));
    /// assert_eq!(e.as_bytes()?, raw);
    /// # Ok::<(), iotests::Error>(())
    /// ```
    pub fn new(data: &[u8], sector: i64, offset: usize) -> Result<FatDirectoryEntry> {
        let byte = |i: usize| data.get(i).copied().ok_or_else(|| Error::python("IndexError", "index out of range"));
        let field = |a: usize, b: usize| le(slice(data, a, b));
        let high_cluster = field(20, 22);
        let low_cluster = field(26, 28);
        Ok(FatDirectoryEntry {
            name: strip(&decode_ascii(slice(data, 0, 8))?),
            ext: strip(&decode_ascii(slice(data, 8, 11))?),
            attributes: byte(11)?,
            reserved: byte(12)?,
            create_time_tenth: byte(13)?,
            create_time: field(14, 16) as u16,
            create_date: field(16, 18) as u16,
            last_access_date: field(18, 20) as u16,
            last_mod_time: field(22, 24) as u16,
            last_mod_date: field(24, 26) as u16,
            cluster: ((high_cluster << 16) | low_cluster) as u32,
            size_bytes: field(28, 32),
            sector,
            offset,
        })
    }

    /// `as_bytes()`: the entry as it is stored (32 bytes, unless a name or
    /// extension is longer than 8 or 3 characters, which Python does not
    /// check either).
    pub fn as_bytes(&self) -> Result<Vec<u8>> {
        let mut b = encode_ascii(&ljust(&self.name, 8))?;
        b.extend(encode_ascii(&ljust(&self.ext, 3))?);
        b.extend([self.attributes, self.reserved, self.create_time_tenth]);
        for v in [self.create_time, self.create_date, self.last_access_date] {
            b.extend(v.to_le_bytes());
        }
        b.extend(to_bytes(u64::from(self.cluster >> 16), 2)?);
        b.extend(self.last_mod_time.to_le_bytes());
        b.extend(self.last_mod_date.to_le_bytes());
        b.extend(to_bytes(u64::from(self.cluster & 0xFFFF), 2)?);
        b.extend(to_bytes(self.size_bytes, 4)?);
        Ok(b)
    }

    /// `whole_name()`: `NAME.EXT`, or `NAME` without an extension.
    pub fn whole_name(&self) -> String {
        if self.ext.is_empty() { self.name.clone() } else { format!("{}.{}", self.name, self.ext) }
    }
}
