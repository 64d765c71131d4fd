//! QEMU's `tests/qemu-iotests/fat16.py`, in Rust: the small FAT16 driver
//! upstream's `tests/vvfat` uses to check what QEMU's vvfat driver shows
//! and how it takes writes.
//!
//! fat16.py (Copyright (C) 2024 Amjad Alsharafi, GPL-2.0-or-later) reads
//! and writes sectors through two callbacks; here they are the
//! [`SectorIo`] trait, which the test implements (upstream's test reads
//! with `qemu-io read -v` over NBD). The structures keep the Python names:
//! [`Mbr`] (`MBR`), [`FatBootSector`], [`FatDirectoryEntry`], [`Fat16`].
//! Python's `raise Exception(…)` is [`Error::Exception`](crate::Error), its
//! `assert` a failed assertion (unittest's `F`), as in Python.
//!
//! ```
//! use iotests::tools::fat16::{Fat16, SectorIo};
//! /// A disk in memory, for the example: a real test reads through QEMU.
//! struct Mem(Vec<u8>);
//! impl SectorIo for Mem {
//!     fn read_sectors(&mut self, sector: i64, num: i64) -> iotests::Result<Vec<u8>> {
//!         Ok(self.0[sector as usize * 512..(sector + num) as usize * 512].to_vec())
//!     }
//!     fn write_sectors(&mut self, sector: i64, data: &[u8]) -> iotests::Result<()> {
//!         self.0[sector as usize * 512..][..data.len()].copy_from_slice(data);
//!         Ok(())
//!     }
//! }
//! # let disk = iotests::tools::fat16::example_disk();
//! let mut fat16 = Fat16::new(1, 2047, Mem(disk))?; // the partition: sectors 1..2048
//! let mut file = fat16.create_file("/NEW.TXT")?;
//! fat16.write_file(file.as_mut(), b"hello")?;
//! let found = fat16.find_direntry("/NEW.TXT")?;
//! assert_eq!(fat16.read_file(found.as_ref())?, Some(b"hello".to_vec()));
//! # Ok::<(), iotests::Error>(())
//! ```

mod layout;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use crate::error::{Error, Result};

pub use layout::{FatBootSector, FatDirectoryEntry, Mbr, Partition};
use layout::{check, le, ljust, slice};

/// `SECTOR_SIZE`.
pub const SECTOR_SIZE: usize = 512;

/// `DIRENTRY_SIZE`: the size of a directory entry.
pub const DIRENTRY_SIZE: usize = 32;

/// `ALLOWED_FILE_CHARS`: what `create_file` accepts in a name.
pub const ALLOWED_FILE_CHARS: &str = "!#$%&'()-@^_`{}~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// fat16.py's `sector_reader` and `sector_writer` callbacks: sectors of
/// the whole disk (the partition's start is added by [`Fat16`]).
pub trait SectorIo {
    /// `sector_reader(start_sector, num_sectors)`.
    fn read_sectors(&mut self, start_sector: i64, num_sectors: i64) -> Result<Vec<u8>>;
    /// `sector_writer(start_sector, data)`.
    fn write_sectors(&mut self, start_sector: i64, data: &[u8]) -> Result<()>;
}

impl<T: SectorIo + ?Sized> SectorIo for &mut T {
    fn read_sectors(&mut self, start_sector: i64, num_sectors: i64) -> Result<Vec<u8>> {
        (**self).read_sectors(start_sector, num_sectors)
    }
    fn write_sectors(&mut self, start_sector: i64, data: &[u8]) -> Result<()> {
        (**self).write_sectors(start_sector, data)
    }
}

/// fat16.py's `Fat16`: a FAT16 file system in the partition that starts at
/// `start_sector`, with its FATs held in memory (`fats`) and written back
/// sector by sector (`flush_fats`).
#[derive(Debug)]
pub struct Fat16<IO: SectorIo> {
    /// `start_sector`: the partition's first sector on the disk.
    pub start_sector: i64,
    /// `size_in_sectors`.
    pub size_in_sectors: u64,
    io: IO,
    /// `boot_sector`.
    pub boot_sector: FatBootSector,
    /// `fats`: all FAT copies, as read.
    pub fats: Vec<u8>,
    /// `fats_dirty_sectors`: FAT sectors changed since the last flush.
    pub fats_dirty_sectors: BTreeSet<usize>,
}

impl<IO: SectorIo> Fat16<IO> {
    /// `Fat16(start_sector, size, sector_reader, sector_writer)`: reads the
    /// boot sector and the FATs.
    pub fn new(start_sector: i64, size: u64, mut io: IO) -> Result<Fat16<IO>> {
        let boot_sector = FatBootSector::new(&io.read_sectors(start_sector, 1)?)?;
        let fat_size_in_sectors = (boot_sector.sectors_per_fat * boot_sector.fat_count) as i64;
        let mut fat16 = Fat16 {
            start_sector,
            size_in_sectors: size,
            io,
            boot_sector,
            fats: Vec::new(),
            fats_dirty_sectors: BTreeSet::new(),
        };
        fat16.fats = fat16.read_sectors(fat16.boot_sector.reserved_sectors as i64, fat_size_in_sectors)?;
        Ok(fat16)
    }

    /// The sector reader and writer.
    pub fn io(&mut self) -> &mut IO {
        &mut self.io
    }

    /// `read_sectors(start_sector, num_sectors)`, relative to the partition.
    pub fn read_sectors(&mut self, start_sector: i64, num_sectors: i64) -> Result<Vec<u8>> {
        self.io.read_sectors(start_sector + self.start_sector, num_sectors)
    }

    /// `write_sectors(start_sector, data)`, relative to the partition.
    pub fn write_sectors(&mut self, start_sector: i64, data: &[u8]) -> Result<()> {
        self.io.write_sectors(start_sector + self.start_sector, data)
    }

    /// `directory_from_bytes(data, start_sector)`: the entries in `data`,
    /// skipping deleted ones and long file names, up to the first free one.
    pub fn directory_from_bytes(&self, data: &[u8], start_sector: i64) -> Result<Vec<FatDirectoryEntry>> {
        let mut entries = Vec::new();
        for i in (0..data.len()).step_by(DIRENTRY_SIZE) {
            let entry = slice(data, i, i + DIRENTRY_SIZE);
            let current_sector = start_sector + (i / SECTOR_SIZE) as i64;
            let current_offset = i % SECTOR_SIZE;
            if entry[0] == 0 {
                break;
            }
            if entry[0] == 0xE5 {
                // Deleted file
                continue;
            }
            if entry.get(11).is_some_and(|a| a & 0xF == 0xF) {
                // Long file name
                continue;
            }
            entries.push(FatDirectoryEntry::new(entry, current_sector, current_offset)?);
        }
        Ok(entries)
    }

    /// `read_root_directory()`.
    pub fn read_root_directory(&mut self) -> Result<Vec<FatDirectoryEntry>> {
        let start = self.boot_sector.root_dir_start();
        let root_dir = self.read_sectors(start, self.boot_sector.root_dir_size())?;
        self.directory_from_bytes(&root_dir, start)
    }

    /// `read_fat_entry(cluster)` (past the FATs' end: what Python's slice
    /// gives, 0 or one byte).
    pub fn read_fat_entry(&self, cluster: u32) -> u32 {
        let fat_offset = cluster as usize * 2; // FAT16
        le(slice(&self.fats, fat_offset, fat_offset + 2)) as u32
    }

    /// `write_fat_entry(cluster, value)`.
    pub fn write_fat_entry(&mut self, cluster: u32, value: u32) -> Result<()> {
        let fat_offset = cluster as usize * 2;
        let value = u16::try_from(value).map_err(|_| Error::python("OverflowError", "int too big to convert"))?;
        let mut fats = slice(&self.fats, 0, fat_offset).to_vec();
        fats.extend(value.to_le_bytes());
        fats.extend(slice(&self.fats, fat_offset + 2, usize::MAX));
        self.fats = fats;
        self.fats_dirty_sectors.insert(fat_offset / SECTOR_SIZE);
        Ok(())
    }

    /// `flush_fats()`: write the changed sectors of the FATs back.
    pub fn flush_fats(&mut self) -> Result<()> {
        for sector in std::mem::take(&mut self.fats_dirty_sectors) {
            let data = slice(&self.fats, sector * SECTOR_SIZE, (sector + 1) * SECTOR_SIZE).to_vec();
            let sector = self.boot_sector.reserved_sectors as i64 + sector as i64;
            self.write_sectors(sector, &data)?;
        }
        Ok(())
    }

    /// `next_cluster(cluster)`: the next cluster of the chain, `None` after
    /// the last; a free, reserved or bad entry is an error.
    pub fn next_cluster(&self, cluster: u32) -> Result<Option<u32>> {
        let fat_entry = self.read_fat_entry(cluster);
        match fat_entry {
            0 => Err(Error::exception("Unexpected: FREE cluster")),
            1 => Err(Error::exception("Unexpected: RESERVED cluster")),
            0xFFF8.. => Ok(None),
            0xFFF7 => Err(Error::exception("Invalid FAT entry")),
            _ => Ok(Some(fat_entry)),
        }
    }

    /// `next_free_cluster()`.
    pub fn next_free_cluster(&self) -> Result<u32> {
        // simple linear search
        (2..0xFFFF).find(|&i| self.read_fat_entry(i) == 0).ok_or_else(|| Error::exception("No free clusters"))
    }

    /// `next_free_cluster_non_continuous()`: a free cluster whose
    /// neighbours are free too.
    pub fn next_free_cluster_non_continuous(&self) -> Result<u32> {
        // simple linear search
        let mut before = false;
        for i in 2..0xFFFF {
            if self.read_fat_entry(i) == 0 {
                if before && self.read_fat_entry(i + 1) == 0 {
                    return Ok(i);
                }
                before = true;
            } else {
                before = false;
            }
        }
        Err(Error::exception("No free clusters"))
    }

    /// `read_cluster(cluster)`.
    pub fn read_cluster(&mut self, cluster: u32) -> Result<Vec<u8>> {
        let first = self.boot_sector.first_sector_of_cluster(cluster);
        self.read_sectors(first, self.boot_sector.sectors_per_cluster as i64)
    }

    /// `write_cluster(cluster, data)`: `data` must be one cluster.
    pub fn write_cluster(&mut self, cluster: u32, data: &[u8]) -> Result<()> {
        check(data.len() == self.boot_sector.cluster_bytes(), "")?;
        self.write_sectors(self.boot_sector.first_sector_of_cluster(cluster), data)
    }

    /// `read_directory(cluster)`: the entries of the directory whose chain
    /// starts at `cluster`.
    pub fn read_directory(&mut self, mut cluster: Option<u32>) -> Result<Vec<FatDirectoryEntry>> {
        let mut entries = Vec::new();
        while let Some(c) = cluster {
            let data = self.read_cluster(c)?;
            entries.extend(self.directory_from_bytes(&data, self.boot_sector.first_sector_of_cluster(c))?);
            cluster = self.next_cluster(c)?;
        }
        Ok(entries)
    }

    /// `add_direntry(cluster, name, ext, attributes)`: a new entry with a
    /// fresh cluster in the directory at `cluster` (`None`: the root).
    pub fn add_direntry(
        &mut self,
        cluster: Option<u32>,
        name: &str,
        ext: &str,
        attributes: u8,
    ) -> Result<FatDirectoryEntry> {
        fn find_free_entry(data: &[u8]) -> Option<usize> {
            (0..data.len()).step_by(DIRENTRY_SIZE).find(|&i| data[i] == 0 || data[i] == 0xE5)
        }

        check(name.chars().count() <= 8, "Name must be 8 characters or less")?;
        check(ext.chars().count() <= 3, "Ext must be 3 characters or less")?;
        check(attributes % 0x15 != 0x15, "Invalid attributes")?;

        // initial dummy data
        let mut new_entry = FatDirectoryEntry::new(&[0; 32], 0, 0)?;
        new_entry.name = ljust(name, 8);
        new_entry.ext = ljust(ext, 3);
        new_entry.attributes = attributes;
        new_entry.reserved = 0;
        new_entry.create_time_tenth = 0;
        new_entry.create_time = 0;
        new_entry.create_date = 0;
        new_entry.last_access_date = 0;
        new_entry.last_mod_time = 0;
        new_entry.last_mod_date = 0;
        new_entry.cluster = self.next_free_cluster()?;
        new_entry.size_bytes = 0;

        // mark as EOF
        self.write_fat_entry(new_entry.cluster, 0xFFFF)?;

        match cluster {
            None => {
                for i in 0..self.boot_sector.root_dir_size() {
                    let sector_data = self.read_sectors(self.boot_sector.root_dir_start() + i, 1)?;
                    if let Some(offset) = find_free_entry(&sector_data) {
                        new_entry.sector = self.boot_sector.root_dir_start() + i;
                        new_entry.offset = offset;
                        self.update_direntry(&new_entry)?;
                        return Ok(new_entry);
                    }
                }
            }
            Some(mut cluster) => loop {
                let data = self.read_cluster(cluster)?;
                if let Some(offset) = find_free_entry(&data) {
                    new_entry.sector =
                        self.boot_sector.first_sector_of_cluster(cluster) + (offset / SECTOR_SIZE) as i64;
                    new_entry.offset = offset % SECTOR_SIZE;
                    self.update_direntry(&new_entry)?;
                    return Ok(new_entry);
                }
                match self.next_cluster(cluster)? {
                    Some(next) => cluster = next,
                    None => break,
                }
            },
        }
        Err(Error::exception("No free directory entries"))
    }

    /// `update_direntry(entry)`: write the entry back where it lies.
    pub fn update_direntry(&mut self, entry: &FatDirectoryEntry) -> Result<()> {
        let sector = self.read_sectors(entry.sector, 1)?;
        let mut new = slice(&sector, 0, entry.offset).to_vec();
        new.extend(entry.as_bytes()?);
        new.extend(slice(&sector, entry.offset + DIRENTRY_SIZE, usize::MAX));
        self.write_sectors(entry.sector, &new)
    }

    /// `find_direntry(path)`: the entry of an absolute path, if any.
    pub fn find_direntry(&mut self, path: &str) -> Result<Option<FatDirectoryEntry>> {
        check(path.starts_with('/'), "Path must start with /")?;

        let path = &path[1..]; // remove the leading /
        let parts: Vec<&str> = path.split('/').collect();
        let mut directory = self.read_root_directory()?;

        // As in Python, an entry found for one part is kept for the next.
        let mut current_entry: Option<FatDirectoryEntry> = None;

        for (i, part) in parts.iter().enumerate() {
            let is_last = i == parts.len() - 1;

            if let Some(entry) = directory.iter().find(|e| e.whole_name() == *part) {
                current_entry = Some(entry.clone());
            }
            let Some(entry) = &current_entry else {
                return Ok(None);
            };

            if is_last {
                return Ok(current_entry);
            }

            if entry.attributes & 0x10 == 0 {
                return Err(Error::exception(format!("{} is not a directory", entry.whole_name())));
            }

            directory = self.read_directory(Some(entry.cluster))?;
        }

        Err(Error::fail("Exited loop with is_last == False"))
    }

    /// `read_file(entry)`: the file's content (`None` for no entry).
    pub fn read_file(&mut self, entry: Option<&FatDirectoryEntry>) -> Result<Option<Vec<u8>>> {
        let Some(entry) = entry else {
            return Ok(None);
        };
        if entry.attributes & 0x10 != 0 {
            return Err(Error::exception(format!("{} is a directory", entry.whole_name())));
        }

        let mut data = Vec::new();
        let mut cluster = Some(entry.cluster);
        while let Some(c) = cluster {
            if data.len() as u64 > entry.size_bytes {
                break;
            }
            data.extend(self.read_cluster(c)?);
            cluster = self.next_cluster(c)?;
        }
        data.truncate(entry.size_bytes.min(data.len() as u64) as usize);
        Ok(Some(data))
    }

    /// `truncate_file(entry, new_size)`.
    pub fn truncate_file(&mut self, entry: Option<&mut FatDirectoryEntry>, new_size: u64) -> Result<()> {
        self.truncate_file_with(entry, new_size, false)
    }

    /// `truncate_file(entry, new_size, allocate_non_continuous)`: grow or
    /// shrink the file's cluster chain (new clusters not next to each
    /// other when asked), update its size, then rewrite the first sector
    /// of every cluster it had or has, so that vvfat sees them written.
    pub fn truncate_file_with(
        &mut self,
        entry: Option<&mut FatDirectoryEntry>,
        new_size: u64,
        allocate_non_continuous: bool,
    ) -> Result<()> {
        let Some(entry) = entry else {
            return Err(Error::exception("entry is None"));
        };
        if entry.attributes & 0x10 != 0 {
            return Err(Error::exception(format!("{} is a directory", entry.whole_name())));
        }

        let cluster_bytes = self.boot_sector.cluster_bytes() as u64;
        if cluster_bytes == 0 {
            return Err(Error::python("ZeroDivisionError", "integer division or modulo by zero"));
        }
        let clusters_from_size = |size: u64| size.div_ceil(cluster_bytes);

        // First, allocate new FATs if we need to
        let mut required_clusters = clusters_from_size(new_size);
        let mut current_clusters = clusters_from_size(entry.size_bytes);

        // (Python's set: its order does not matter, each is rewritten once)
        let mut affected_clusters = BTreeSet::new();

        // Keep at least one cluster, easier to manage this way
        if required_clusters == 0 {
            required_clusters = 1;
        }
        if current_clusters == 0 {
            current_clusters = 1;
        }

        if required_clusters > current_clusters {
            // Allocate new clusters
            let mut cluster = Some(entry.cluster);
            let mut to_add = required_clusters;
            for _ in 0..current_clusters - 1 {
                to_add -= 1;
                let c = cluster.ok_or_else(|| Error::fail("Cluster is None"))?;
                affected_clusters.insert(c);
                cluster = self.next_cluster(c)?;
            }
            check(required_clusters > 0, "No new clusters to allocate")?;
            let mut cluster = cluster.ok_or_else(|| Error::fail("Cluster is None"))?;
            check(self.next_cluster(cluster)?.is_none(), "Cluster is not the last cluster")?;

            // Allocate new clusters
            for _ in 0..to_add - 1 {
                let new_cluster = if allocate_non_continuous {
                    self.next_free_cluster_non_continuous()?
                } else {
                    self.next_free_cluster()?
                };
                self.write_fat_entry(cluster, new_cluster)?;
                self.write_fat_entry(new_cluster, 0xFFFF)?;
                cluster = new_cluster;
            }
        } else if required_clusters < current_clusters {
            // Truncate the file
            let mut cluster = Some(entry.cluster);
            for _ in 0..required_clusters - 1 {
                let c = cluster.ok_or_else(|| Error::fail("Cluster is None"))?;
                cluster = self.next_cluster(c)?;
            }
            let mut cluster = cluster.ok_or_else(|| Error::fail("Cluster is None"))?;

            let mut next_cluster = self.next_cluster(cluster)?;
            // mark last as EOF
            self.write_fat_entry(cluster, 0xFFFF)?;
            // free the rest
            while let Some(next) = next_cluster {
                cluster = next;
                next_cluster = self.next_cluster(next)?;
                self.write_fat_entry(cluster, 0)?;
            }
        }

        self.flush_fats()?;

        // verify number of clusters
        let mut cluster = Some(entry.cluster);
        let mut count = 0;
        while let Some(c) = cluster {
            count += 1;
            affected_clusters.insert(c);
            cluster = self.next_cluster(c)?;
        }
        check(count == required_clusters, &format!("Expected {required_clusters} clusters, got {count}"))?;

        // update the size
        entry.size_bytes = new_size;
        self.update_direntry(entry)?;

        // trigger every affected cluster
        for cluster in affected_clusters {
            let first_sector = self.boot_sector.first_sector_of_cluster(cluster);
            let first_sector_data = self.read_sectors(first_sector, 1)?;
            self.write_sectors(first_sector, &first_sector_data)?;
        }
        Ok(())
    }

    /// `write_file(entry, data)`: the file's new content (its chain grown or
    /// shrunk to fit).
    pub fn write_file(&mut self, entry: Option<&mut FatDirectoryEntry>, data: &[u8]) -> Result<()> {
        let Some(entry) = entry else {
            return Err(Error::exception("entry is None"));
        };
        if entry.attributes & 0x10 != 0 {
            return Err(Error::exception(format!("{} is a directory", entry.whole_name())));
        }

        self.truncate_file(Some(entry), data.len() as u64)?;

        let cluster_bytes = self.boot_sector.cluster_bytes();
        let mut data = data;
        let mut cluster = Some(entry.cluster);
        while let Some(c) = cluster {
            let mut data_to_write = data[..cluster_bytes.min(data.len())].to_vec();
            if data_to_write.len() < cluster_bytes {
                let old_data = self.read_cluster(c)?;
                data_to_write.extend(slice(&old_data, data_to_write.len(), usize::MAX));
            }

            self.write_cluster(c, &data_to_write)?;
            data = &data[cluster_bytes.min(data.len())..];
            if data.is_empty() {
                break;
            }
            cluster = self.next_cluster(c)?;
        }

        check(data.is_empty(), "Data was not written completely, clusters missing")
    }

    /// `create_file(path)`: a new, empty file (`None` when a directory on
    /// the way does not exist).
    pub fn create_file(&mut self, path: &str) -> Result<Option<FatDirectoryEntry>> {
        check(path.starts_with('/'), "Path must start with /")?;

        let path = &path[1..]; // remove the leading /

        let mut parts: Vec<&str> = path.split('/').collect();

        let mut directory_cluster = None;
        let mut directory = self.read_root_directory()?;

        let filename = parts.pop().unwrap_or_default();

        for part in parts {
            let Some(current_entry) = directory.iter().find(|e| e.whole_name() == part).cloned() else {
                return Ok(None);
            };

            if current_entry.attributes & 0x10 == 0 {
                return Err(Error::exception(format!("{} is not a directory", current_entry.whole_name())));
            }

            directory = self.read_directory(Some(current_entry.cluster))?;
            directory_cluster = Some(current_entry.cluster);
        }

        // add new entry to the directory

        let (filename, ext) = match filename.split('.').collect::<Vec<_>>()[..] {
            [f, e] => (f, e),
            ref v => {
                let how = if v.len() < 2 {
                    "not enough values to unpack (expected 2, got 1)"
                } else {
                    "too many values to unpack (expected 2)"
                };
                return Err(Error::python("ValueError", how));
            }
        };

        if ext.chars().count() > 3 {
            return Err(Error::exception("Ext must be 3 characters or less"));
        }
        if filename.chars().count() > 8 {
            return Err(Error::exception("Name must be 8 characters or less"));
        }

        if filename.chars().chain(ext.chars()).any(|c| !ALLOWED_FILE_CHARS.contains(c)) {
            return Err(Error::exception("Invalid character in filename"));
        }

        self.add_direntry(directory_cluster, filename, ext, 0).map(Some)
    }
}

/// A small FAT16 disk in memory (an MBR, a partition at sector 1 and an
/// empty root directory), for examples and tests.
#[doc(hidden)]
pub fn example_disk() -> Vec<u8> {
    let mut disk = vec![0u8; 2048 * SECTOR_SIZE];
    // MBR: one FAT16 partition from sector 1.
    let p = 446;
    disk[p] = 0x80;
    disk[p + 4] = 6;
    disk[p + 8..p + 12].copy_from_slice(&1u32.to_le_bytes());
    disk[p + 12..p + 16].copy_from_slice(&2047u32.to_le_bytes());
    disk[510] = 0x55;
    disk[511] = 0xAA;
    // Boot sector: 512-byte sectors, 4 sectors per cluster, 1 reserved
    // sector, 2 FATs of 2 sectors, 32 root entries.
    let b = SECTOR_SIZE;
    disk[b + 11..b + 13].copy_from_slice(&512u16.to_le_bytes());
    disk[b + 13] = 4;
    disk[b + 14..b + 16].copy_from_slice(&1u16.to_le_bytes());
    disk[b + 16] = 2;
    disk[b + 17..b + 19].copy_from_slice(&32u16.to_le_bytes());
    disk[b + 19..b + 21].copy_from_slice(&2047u16.to_le_bytes());
    disk[b + 21] = 0xF8;
    disk[b + 22..b + 24].copy_from_slice(&2u16.to_le_bytes());
    disk[b + 43..b + 54].copy_from_slice(b"EXAMPLE    ");
    disk[b + 54..b + 62].copy_from_slice(b"FAT16   ");
    // FAT entries 0 and 1 are reserved, in both FATs.
    for fat in [2, 4] {
        let f = b + fat * SECTOR_SIZE;
        disk[f..f + 4].copy_from_slice(&[0xF8, 0xFF, 0xFF, 0xFF]);
    }
    disk
}
