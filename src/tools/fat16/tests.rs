//! fat16.py's Python semantics that the port keeps: slices past the end,
//! `str.strip()`, and the driver on a disk in memory.

use super::layout::{ljust, slice};
use super::*;

struct Mem(Vec<u8>);

impl SectorIo for Mem {
    fn read_sectors(&mut self, sector: i64, num: i64) -> Result<Vec<u8>> {
        Ok(self.0[sector as usize * SECTOR_SIZE..(sector + num) as usize * SECTOR_SIZE].to_vec())
    }
    fn write_sectors(&mut self, sector: i64, data: &[u8]) -> Result<()> {
        self.0[sector as usize * SECTOR_SIZE..][..data.len()].copy_from_slice(data);
        Ok(())
    }
}

#[test]
fn python_slices_and_padding() {
    assert_eq!(slice(b"abcd", 1, 3), b"bc");
    assert_eq!(slice(b"abcd", 3, 10), b"d");
    assert_eq!(slice(b"abcd", 6, 10), b"");
    assert_eq!(ljust("AB", 8), "AB      ");
    assert_eq!(ljust("ABCDEFGHIJ", 8), "ABCDEFGHIJ");
}

#[test]
fn boot_sector_strips_like_python() {
    let mut disk = example_disk();
    disk[512 + 43..512 + 54].copy_from_slice(b" \x1fLABEL\t   ");
    let fat16 = Fat16::new(1, 2047, Mem(disk)).unwrap();
    assert_eq!(fat16.boot_sector.volume_label, "LABEL");
    assert_eq!(fat16.boot_sector.fs_type, "FAT16");
    assert_eq!(fat16.boot_sector.root_dir_start(), 1 + 2 * 2);
    assert_eq!(fat16.boot_sector.root_dir_size(), 2);
    assert_eq!(fat16.boot_sector.first_sector_of_cluster(2), 7);
}

#[test]
fn fat_entries_past_the_end_read_as_python_slices() {
    let mut fat16 = Fat16::new(1, 2047, Mem(example_disk())).unwrap();
    let n = fat16.fats.len() as u32 / 2;
    assert_eq!(fat16.read_fat_entry(n + 10), 0);
    // Python's fats[:off] + v + fats[off+2:] appends when off is past the end.
    fat16.write_fat_entry(n + 10, 0x1234).unwrap();
    assert_eq!(fat16.fats.len() as u32, 2 * n + 2);
    assert!(fat16.write_fat_entry(3, 0x10000).unwrap_err().to_string().starts_with("OverflowError"));
}

#[test]
fn chains_grow_shrink_and_errors() {
    let mut fat16 = Fat16::new(1, 2047, Mem(example_disk())).unwrap();
    let cb = fat16.boot_sector.cluster_bytes();
    let mut a = fat16.create_file("/A.TXT").unwrap();
    let content: Vec<u8> = (0..3 * cb + 7).map(|i| (i % 251) as u8).collect();
    fat16.write_file(a.as_mut(), &content).unwrap();
    let found = fat16.find_direntry("/A.TXT").unwrap();
    assert_eq!(found.as_ref().map(|e| e.size_bytes), Some(content.len() as u64));
    assert_eq!(fat16.read_file(found.as_ref()).unwrap(), Some(content.clone()));

    fat16.truncate_file(a.as_mut(), 10).unwrap();
    assert_eq!(fat16.read_file(a.as_ref()).unwrap(), Some(content[..10].to_vec()));
    let first = a.as_ref().unwrap().cluster;
    assert_eq!(fat16.next_cluster(first).unwrap(), None);

    fat16.truncate_file_with(a.as_mut(), 3 * cb as u64, true).unwrap();
    let second = fat16.next_cluster(first).unwrap().unwrap();
    let third = fat16.next_cluster(second).unwrap().unwrap();
    assert!(second > first + 1 && third > second + 1, "{first} {second} {third}");

    assert_eq!(fat16.find_direntry("/NONE.TXT").unwrap(), None);
    assert_eq!(fat16.read_file(None).unwrap(), None);
    let e = fat16.find_direntry("/A.TXT/B").unwrap_err();
    assert_eq!(e.to_string(), "Exception: A.TXT is not a directory");
    assert_eq!(fat16.create_file("/a.txt").unwrap_err().to_string(), "Exception: Invalid character in filename");
    assert_eq!(
        fat16.create_file("/LONGNAME1.TXT").unwrap_err().to_string(),
        "Exception: Name must be 8 characters or less"
    );
    assert!(fat16.create_file("/NOEXT").unwrap_err().to_string().starts_with("ValueError: not enough values"));
    assert_eq!(fat16.write_file(None, b"x").unwrap_err().to_string(), "Exception: entry is None");
    assert!(fat16.find_direntry("A.TXT").unwrap_err().is_assertion());
}
