//! Upstream tests/vvfat: the vvfat driver's FAT16 image read and written through NBD with a small FAT16 driver
//! (QEMU's fat16.py, here `iotests::tools::fat16`).

use iotests::codecs;
use iotests::prelude::*;
use iotests::tools::fat16::{DIRENTRY_SIZE, Fat16, Mbr, SectorIo};

fn filesystem() -> String {
    os::path::join(test_dir(), "filesystem")
}

fn nbd_sock(t: &TestContext) -> String {
    t.file_path_in(&sock_dir(), "nbd.sock")
}

fn nbd_uri(t: &TestContext) -> String {
    "nbd+unix:///disk?socket=".to_string() + &nbd_sock(t)
}

const SECTOR_SIZE: u64 = 512;

/// `open(path, "rb").read()`.
fn read(path: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {path}"))
}

struct TestVVFatDriver {
    vm: Vm,
    qio: Option<QemuIoInteractive>,
}

#[iotests::test_case]
impl TestVVFatDriver {
    fn new(t: &Case) -> Self {
        TestVVFatDriver { vm: t.vm(), qio: None }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        if os::path::exists(filesystem()) {
            if os::path::isdir(filesystem()) {
                os::shutil::rmtree(filesystem())?;
            } else {
                return Err(Error::exception(format!("{} exists and is not a directory", filesystem())));
            }
        }

        os::mkdir(filesystem())?;

        // Add some text files to the filesystem
        for i in 0..10 {
            let path = os::path::join(filesystem(), format!("file{i}.txt"));
            std::fs::write(&path, format!("Hello, world! {i}\n")).with_context(|| format!("writing {path}"))?;
        }

        // Add 2 large files, above the cluster size (8KB)
        // write 'A' * 1KB, 'B' * 1KB, 'C' * 1KB, ...
        let large1: Vec<u8> = (0..8 * 2).flat_map(|i| [0x41 + i; 1024]).collect(); // two clusters
        std::fs::write(os::path::join(filesystem(), "large1.txt"), large1).context("writing large1.txt")?;

        // write 'A' * 1KB, 'B' * 1KB, 'C' * 1KB, ...
        let large2: Vec<u8> = (0..8 * 3).flat_map(|i| [0x41 + i; 1024]).collect(); // 3 clusters
        std::fs::write(os::path::join(filesystem(), "large2.txt"), large2).context("writing large2.txt")?;

        self.vm = t.vm();

        let opts = self.vm.qmp_to_opts(&json!({
            "driver": imgfmt(),
            "node-name": "disk",
            "rw": "true",
            "fat-type": "16",
            "dir": filesystem(),
        }))?;
        self.vm.add_blockdev(opts);

        self.vm.launch()?;

        self.vm.qmp_log("block-dirty-bitmap-add", kwargs! { node: "disk", name: "bitmap0" })?;

        // attach nbd server
        self.vm.qmp_log_with(
            "nbd-server-start",
            kwargs! { addr: {"type": "unix", "data": {"path": nbd_sock(t)}} },
            &[],
        )?;

        self.vm.qmp_log("nbd-server-add", kwargs! { device: "disk", writable: true, bitmap: "bitmap0" })?;

        self.qio = Some(t.qemu_io_interactive(&args!["-f", "raw", nbd_uri(t)])?);
        Ok(())
    }

    fn tear_down(&mut self) -> Result<()> {
        if let Some(qio) = self.qio.take() {
            qio.close()?;
        }
        self.vm.shutdown()?;
        // print(self.vm.get_log())
        os::shutil::rmtree(filesystem())
    }

    fn init_fat16(&mut self) -> Result<Fat16<&mut Self>> {
        let mbr = Mbr::new(&self.read_sectors(0, 1)?)?;
        Fat16::new(i64::from(mbr.partition_table[0].start_lba), u64::from(mbr.partition_table[0].size), self)
    }

    // Tests

    /// Test that vvfat produce a valid FAT16 and MBR sectors
    fn test_fat_filesystem(&mut self) -> Result<()> {
        let mbr = Mbr::new(&self.read_sectors(0, 1)?)?;

        assert_equal!(mbr.partition_table[0].status, 0x80);
        assert_equal!(mbr.partition_table[0].r#type, 6);

        let fat16 =
            Fat16::new(i64::from(mbr.partition_table[0].start_lba), u64::from(mbr.partition_table[0].size), self)?;
        assert_equal!(fat16.boot_sector.bytes_per_sector, 512);
        assert_equal!(fat16.boot_sector.volume_label, "QEMU VVFAT");
        Ok(())
    }

    /// Test the content of the root directory
    fn test_read_root_directory(&mut self) -> Result<()> {
        let mut fat16 = self.init_fat16()?;

        let root_dir = fat16.read_root_directory()?;

        assert_equal!(root_dir.len(), 13); // 12 + 1 special file

        let files = json!({
            "QEMU VVF.AT": 0,  // special empty file
            "FILE0.TXT": 16,
            "FILE1.TXT": 16,
            "FILE2.TXT": 16,
            "FILE3.TXT": 16,
            "FILE4.TXT": 16,
            "FILE5.TXT": 16,
            "FILE6.TXT": 16,
            "FILE7.TXT": 16,
            "FILE8.TXT": 16,
            "FILE9.TXT": 16,
            "LARGE1.TXT": 0x2000 * 2,
            "LARGE2.TXT": 0x2000 * 3,
        });

        for entry in &root_dir {
            assert_in!(entry.whole_name(), files);
            assert_equal!(entry.size_bytes, files[entry.whole_name()]);
        }
        Ok(())
    }

    /// Test if we can convert Direntry back to bytes, so that we can write it
    /// back to the disk safely.
    fn test_direntry_as_bytes(&mut self) -> Result<()> {
        let mut fat16 = self.init_fat16()?;

        let root_dir = fat16.read_root_directory()?;
        let first_entry_bytes = fat16.read_sectors(fat16.boot_sector.root_dir_start(), 1)?;

        // The first entry won't be deleted, so we can compare it with the first
        // entry in the root directory
        assert_equal!(root_dir[0].as_bytes()?, first_entry_bytes[..DIRENTRY_SIZE]);
        Ok(())
    }

    /// Test reading the content of the files
    fn test_read_files(&mut self) -> Result<()> {
        let mut fat16 = self.init_fat16()?;

        for i in 0..10 {
            let file = fat16.find_direntry(&format!("/FILE{i}.TXT"))?;
            assert_is_not_none!(file);
            assert_equal!(fat16.read_file(file.as_ref())?, format!("Hello, world! {i}\n").as_bytes());
        }

        // test large files
        let large1 = fat16.find_direntry("/LARGE1.TXT")?;
        assert_equal!(fat16.read_file(large1.as_ref())?, read(&os::path::join(filesystem(), "large1.txt"))?);

        let large2 = fat16.find_direntry("/LARGE2.TXT")?;
        assert_is_not_none!(large2);
        assert_equal!(fat16.read_file(large2.as_ref())?, read(&os::path::join(filesystem(), "large2.txt"))?);
        Ok(())
    }

    /// Similar to `test_write_file_in_same_content`, but we write the file
    /// directly clusters and thus we don't go through the modification of
    /// direntry.
    fn test_write_file_same_content_direct(&mut self) -> Result<()> {
        let mut fat16 = self.init_fat16()?;

        let file = fat16.find_direntry("/FILE0.TXT")?;
        assert_is_not_none!(file);
        let cluster = file.as_ref().map_or(0, |f| f.cluster);

        let data = fat16.read_cluster(cluster)?;
        fat16.write_cluster(cluster, &data)?;

        assert_equal!(fat16.read_file(file.as_ref())?, read(&os::path::join(filesystem(), "file0.txt"))?);
        Ok(())
    }

    /// Test writing the same content to the file back to it
    fn test_write_file_in_same_content(&mut self) -> Result<()> {
        let mut fat16 = self.init_fat16()?;

        let mut file = fat16.find_direntry("/FILE0.TXT")?;
        assert_is_not_none!(file);

        assert_equal!(fat16.read_file(file.as_ref())?, b"Hello, world! 0\n");

        fat16.write_file(file.as_mut(), b"Hello, world! 0\n")?;
        assert_equal!(fat16.read_file(file.as_ref())?, b"Hello, world! 0\n");

        assert_equal!(read(&os::path::join(filesystem(), "file0.txt"))?, b"Hello, world! 0\n");
        Ok(())
    }

    /// Test modifying the content of the file without changing the number of
    /// clusters
    fn test_modify_content_same_clusters(&mut self) -> Result<()> {
        let mut fat16 = self.init_fat16()?;

        let mut file = fat16.find_direntry("/FILE0.TXT")?;
        assert_is_not_none!(file);

        let new_content = b"Hello, world! Modified\n";
        assert_equal!(fat16.read_file(file.as_ref())?, b"Hello, world! 0\n");

        fat16.write_file(file.as_mut(), new_content)?;
        assert_equal!(fat16.read_file(file.as_ref())?, new_content);

        assert_equal!(read(&os::path::join(filesystem(), "file0.txt"))?, new_content);
        Ok(())
    }

    /// Test truncating the file without changing number of clusters
    /// Test decreasing the file size
    fn test_truncate_file_same_clusters_less(&mut self) -> Result<()> {
        let mut fat16 = self.init_fat16()?;

        let mut file = fat16.find_direntry("/FILE0.TXT")?;
        assert_is_not_none!(file);

        assert_equal!(fat16.read_file(file.as_ref())?, b"Hello, world! 0\n");

        fat16.truncate_file(file.as_mut(), 5)?;
        let new_content = fat16.read_file(file.as_ref())?;
        assert_equal!(new_content, b"Hello");

        assert_equal!(read(&os::path::join(filesystem(), "file0.txt"))?, new_content);
        Ok(())
    }

    /// Test truncating the file without changing number of clusters
    /// Test increase the file size
    fn test_truncate_file_same_clusters_more(&mut self) -> Result<()> {
        let mut fat16 = self.init_fat16()?;

        let mut file = fat16.find_direntry("/FILE0.TXT")?;
        assert_is_not_none!(file);

        assert_equal!(fat16.read_file(file.as_ref())?, b"Hello, world! 0\n");

        fat16.truncate_file(file.as_mut(), 20)?;
        let new_content = fat16.read_file(file.as_ref())?;
        assert_is_not_none!(new_content);
        let new_content = new_content.unwrap_or_default();

        // random pattern will be appended to the file, and its not always the
        // same
        assert_equal!(new_content[..16], b"Hello, world! 0\n");
        assert_equal!(new_content.len(), 20);

        assert_equal!(read(&os::path::join(filesystem(), "file0.txt"))?, new_content);
        Ok(())
    }

    /// Test writing a large file
    fn test_write_large_file(&mut self) -> Result<()> {
        let mut fat16 = self.init_fat16()?;

        let mut file = fat16.find_direntry("/LARGE1.TXT")?;
        assert_is_not_none!(file);

        // The content of LARGE1 is A * 1KB, B * 1KB, C * 1KB, ..., P * 1KB
        // Lets change it to be Z * 1KB, Y * 1KB, X * 1KB, ..., K * 1KB
        // without changing the number of clusters or filesize
        let new_content: Vec<u8> = (0..16).flat_map(|i| [0x5A - i; 1024]).collect();
        fat16.write_file(file.as_mut(), &new_content)?;
        assert_equal!(fat16.read_file(file.as_ref())?, new_content);

        assert_equal!(read(&os::path::join(filesystem(), "large1.txt"))?, new_content);
        Ok(())
    }

    /// Test truncating a file by reducing the number of clusters
    fn test_truncate_file_change_clusters_less(&mut self) -> Result<()> {
        let mut fat16 = self.init_fat16()?;

        let mut file = fat16.find_direntry("/LARGE1.TXT")?;
        assert_is_not_none!(file);

        fat16.truncate_file(file.as_mut(), 1)?;
        assert_equal!(fat16.read_file(file.as_ref())?, b"A");

        assert_equal!(read(&os::path::join(filesystem(), "large1.txt"))?, b"A");
        Ok(())
    }

    /// Test truncating a file by reducing the number of clusters
    fn test_write_file_change_clusters_less(&mut self) -> Result<()> {
        let mut fat16 = self.init_fat16()?;

        let mut file = fat16.find_direntry("/LARGE2.TXT")?;
        assert_is_not_none!(file);

        let new_content = [[b'X'; 8 * 1024], [b'Y'; 8 * 1024]].concat();
        fat16.write_file(file.as_mut(), &new_content)?;
        assert_equal!(fat16.read_file(file.as_ref())?, new_content);

        assert_equal!(read(&os::path::join(filesystem(), "large2.txt"))?, new_content);
        Ok(())
    }

    /// Test truncating a file by increasing the number of clusters
    fn test_write_file_change_clusters_more(&mut self) -> Result<()> {
        let mut fat16 = self.init_fat16()?;

        let mut file = fat16.find_direntry("/LARGE2.TXT")?;
        assert_is_not_none!(file);

        // from 3 clusters to 4 clusters
        let new_content = [[b'W'; 8 * 1024], [b'X'; 8 * 1024], [b'Y'; 8 * 1024], [b'Z'; 8 * 1024]].concat();
        fat16.write_file(file.as_mut(), &new_content)?;
        assert_equal!(fat16.read_file(file.as_ref())?, new_content);

        assert_equal!(read(&os::path::join(filesystem(), "large2.txt"))?, new_content);
        Ok(())
    }

    /// Test truncating a file by increasing the number of clusters Here we
    /// allocate the new clusters in a way that makes them non-contiguous so
    /// that we will get 2 cluster mappings for the file
    fn test_write_file_change_clusters_more_non_contiguous_2_mappings(&mut self) -> Result<()> {
        let mut fat16 = self.init_fat16()?;

        let mut file = fat16.find_direntry("/LARGE1.TXT")?;
        assert_is_not_none!(file);

        // from 2 clusters to 3 clusters with non-contiguous allocation
        fat16.truncate_file_with(file.as_mut(), 3 * 0x2000, true)?;
        let new_content = [[b'X'; 8 * 1024], [b'Y'; 8 * 1024], [b'Z'; 8 * 1024]].concat();
        fat16.write_file(file.as_mut(), &new_content)?;
        assert_equal!(fat16.read_file(file.as_ref())?, new_content);

        assert_equal!(read(&os::path::join(filesystem(), "large1.txt"))?, new_content);
        Ok(())
    }

    /// Test truncating a file by increasing the number of clusters Here we
    /// allocate the new clusters in a way that makes them non-contiguous so
    /// that we will get 3 cluster mappings for the file
    fn test_write_file_change_clusters_more_non_contiguous_3_mappings(&mut self) -> Result<()> {
        let mut fat16 = self.init_fat16()?;

        let mut file = fat16.find_direntry("/LARGE1.TXT")?;
        assert_is_not_none!(file);

        // from 2 clusters to 4 clusters with non-contiguous allocation
        fat16.truncate_file_with(file.as_mut(), 4 * 0x2000, true)?;
        let new_content = [[b'W'; 8 * 1024], [b'X'; 8 * 1024], [b'Y'; 8 * 1024], [b'Z'; 8 * 1024]].concat();
        fat16.write_file(file.as_mut(), &new_content)?;
        assert_equal!(fat16.read_file(file.as_ref())?, new_content);

        assert_equal!(read(&os::path::join(filesystem(), "large1.txt"))?, new_content);
        Ok(())
    }

    /// Test creating a new file
    fn test_create_file(&mut self) -> Result<()> {
        let mut fat16 = self.init_fat16()?;

        let mut new_file = fat16.create_file("/NEWFILE.TXT")?;

        assert_is_not_none!(new_file);
        assert_equal!(new_file.as_ref().map(|f| f.size_bytes), 0);

        let new_content = b"Hello, world! New file\n";
        fat16.write_file(new_file.as_mut(), new_content)?;
        assert_equal!(fat16.read_file(new_file.as_ref())?, new_content);

        assert_equal!(read(&os::path::join(filesystem(), "newfile.txt"))?, new_content);
        Ok(())
    }

    // TODO: support deleting files
}

impl SectorIo for TestVVFatDriver {
    /// Read `num` sectors starting from `sector` from the `disk`.
    /// This uses `QemuIoInteractive` to read the sectors into `stdout` and
    /// then parse the output.
    fn read_sectors(&mut self, sector: i64, num: i64) -> Result<Vec<u8>> {
        assert_greater!(num, 0);

        // The output contains the content of the sector in hex dump format
        // We need to extract the content from it
        let qio = self.qio.as_mut().ok_or_else(|| Error::python("AttributeError", "no attribute 'qio'"))?;
        let output = qio.cmd(&format!("read -v {} {}", sector * SECTOR_SIZE as i64, num * SECTOR_SIZE as i64))?;

        // Each row is 16 bytes long, and we are writing `num` sectors
        let rows = (num * SECTOR_SIZE as i64 / 16) as usize;
        let output_rows = output.split('\n').take(rows);

        let mut hex_content = String::new();
        for row in output_rows {
            let hex = row.split(": ").nth(1).ok_or_else(|| Error::python("IndexError", "list index out of range"))?;
            hex_content += hex.split("  ").next().unwrap_or_default();
        }
        let bytes_content = codecs::fromhex(&hex_content)?;

        assert_equal!(bytes_content.len() as i64, num * SECTOR_SIZE as i64);

        Ok(bytes_content)
    }

    /// Write `data` to the `disk` starting from `sector`.
    /// This uses `QemuIoInteractive` to write the data into the disk.
    fn write_sectors(&mut self, sector: i64, data: &[u8]) -> Result<()> {
        assert_greater!(data.len(), 0);
        assert_equal!(data.len() as u64 % SECTOR_SIZE, 0);

        let temp_file = os::path::join(test_dir(), "temp.bin");
        std::fs::write(&temp_file, data).with_context(|| format!("writing {temp_file}"))?;

        let qio = self.qio.as_mut().ok_or_else(|| Error::python("AttributeError", "no attribute 'qio'"))?;
        qio.cmd(&format!("write -s {temp_file} {} {}", sector * SECTOR_SIZE as i64, data.len()))?;

        os::remove(temp_file)
    }
}

iotests::iotest! {
    name: "vvfat", groups: [rw, vvfat],
    // This is a specific test for vvfat driver
    supported_fmts: ["vvfat"],
    supported_protocols: ["file"],
    fn vvfat: unittest { TestVVFatDriver }
}
