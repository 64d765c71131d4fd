//! Upstream 163: shrinking images with `qemu-img resize --shrink` (data, size, and qcow2 metadata kept sane).

use std::io::{Read, Seek, SeekFrom};

use iotests::prelude::*;
use iotests::tools::qcow2::QcowHeader;

fn test_img() -> String {
    os::path::join(test_dir(), "test.img")
}

fn check_img() -> String {
    os::path::join(test_dir(), "check.img")
}

fn size_to_int(str: &str) -> Result<u64> {
    let suff = ["B", "K", "M", "G", "T"];
    let (number, unit) = str.split_at(str.len().saturating_sub(1));
    let index = suff
        .iter()
        .position(|s| *s == unit)
        .ok_or_else(|| Error::python("ValueError", format!("'{unit}' is not in list")))?;
    let number: u64 = number
        .parse()
        .map_err(|_| Error::python("ValueError", format!("invalid literal for int() with base 10: '{number}'")))?;
    Ok(number * 1024u64.pow(index as u32))
}

/// `fd.seek(offset); fd.read(n)` of a Python file object.
fn read_at(fd: &mut std::fs::File, offset: u64, n: u64) -> Result<Vec<u8>> {
    fd.seek(SeekFrom::Start(offset)).context("seeking in the image")?;
    let mut data = Vec::new();
    fd.take(n).read_to_end(&mut data).context("reading the image")?;
    Ok(data)
}

struct ShrinkBaseClass {
    image_len: &'static str,
    shrink_size: &'static str,
    chunk_size: &'static str,
    refcount_bits: &'static str,
    /// Not an attribute of the base class: every subclass sets it.
    cluster_size: &'static str,
}

#[iotests::test_case]
impl ShrinkBaseClass {
    fn new() -> Self {
        ShrinkBaseClass {
            image_len: "128M",
            shrink_size: "10M",
            chunk_size: "16M",
            refcount_bits: "16",
            cluster_size: "",
        }
    }

    fn qcow2_check(&self, filename: &str) -> Result<()> {
        let entry_bits = 3;
        let entry_size = 1 << entry_bits;
        let l1_mask: u64 = 0x00fffffffffffe00;
        let div_roundup = |n: u64, d: u64| n.div_ceil(d);

        let split_by_n = |data: &[u8], n: usize| -> Result<Vec<u64>> {
            data.chunks(n)
                .map(|x| match <[u8; 8]>::try_from(x) {
                    Ok(entry) => Ok(u64::from_be_bytes(entry) & l1_mask),
                    Err(_) => Err(Error::python("struct.error", "unpack requires a buffer of 8 bytes")),
                })
                .collect()
        };

        let check_l1_table = |h: &QcowHeader, l1_data: &[u8]| -> Result<()> {
            let l1_list = split_by_n(l1_data, entry_size)?;
            let real_l1_size = div_roundup(h.size(), 1 << (h.cluster_bits() * 2 - entry_size as u64)) as usize;
            let (used, unused) = l1_list.split_at(real_l1_size.min(l1_list.len()));

            assert_true!(!used.is_empty(), "Verifying l1 table content");
            assert_false!(unused.iter().any(|&e| e != 0), "Verifying l1 table content");
            Ok(())
        };

        let check_reftable = |fd: &mut std::fs::File, h: &QcowHeader, reftable: &[u8]| -> Result<()> {
            for offset in split_by_n(reftable, entry_size)? {
                if offset != 0 {
                    let cluster = read_at(fd, offset, 1 << h.cluster_bits())?;
                    assert_true!(cluster.iter().any(|&b| b != 0), "Verifying reftable content");
                }
            }
            Ok(())
        };

        let mut fd = std::fs::File::open(filename).context("opening the image")?;
        let h = QcowHeader::read(&mut fd)?;

        let l1_table = read_at(&mut fd, h.l1_table_offset(), h.l1_size() << entry_bits)?;

        let reftable = read_at(&mut fd, h.refcount_table_offset(), h.refcount_table_clusters() << h.cluster_bits())?;

        check_l1_table(&h, &l1_table)?;
        check_reftable(&mut fd, &h, &reftable)
    }

    fn raw_check(&self, _filename: &str) -> Result<()> {
        Ok(())
    }

    /// `image_check[iotests.imgfmt](self, filename)`.
    fn image_check(&self, filename: &str) -> Result<()> {
        match imgfmt().as_str() {
            "qcow2" => self.qcow2_check(filename),
            "raw" => self.raw_check(filename),
            other => Err(Error::python("KeyError", format!("'{other}'"))),
        }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        if imgfmt() == "raw" {
            t.qemu_img(&args!["create", "-f", imgfmt(), test_img(), self.image_len])?;
            t.qemu_img(&args!["create", "-f", imgfmt(), check_img(), self.shrink_size])?;
        } else {
            t.qemu_img(&args![
                "create",
                "-f",
                imgfmt(),
                "-o",
                format!("cluster_size={},refcount_bits={}", self.cluster_size, self.refcount_bits),
                test_img(),
                self.image_len
            ])?;
            t.qemu_img(&args![
                "create",
                "-f",
                imgfmt(),
                "-o",
                format!("cluster_size={}", self.cluster_size),
                check_img(),
                self.shrink_size
            ])?;
        }
        t.qemu_io(&args!["-c", format!("write -P 0xff 0 {}", self.shrink_size), check_img()])?;
        Ok(())
    }

    fn tear_down(&mut self) -> Result<()> {
        os::remove(test_img())?;
        os::remove(check_img())
    }

    fn image_verify(&mut self, t: &Case) -> Result<()> {
        assert_equal!(t.image_size(&test_img())?, t.image_size(&check_img())?, "Verifying image size");
        self.image_check(&test_img())?;

        if imgfmt() == "raw" {
            return Ok(());
        }
        t.qemu_img(&args!["check", test_img()])?;
        Ok(())
    }

    fn test_empty_image(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["resize", "-f", imgfmt(), "--shrink", test_img(), self.shrink_size])?;

        t.qemu_io(&args!["-c", format!("read -P 0x00 0 {}", self.shrink_size), test_img()])?;

        self.image_verify(t)
    }

    fn test_sequential_write(&mut self, t: &Case) -> Result<()> {
        for offs in (0..size_to_int(self.image_len)?).step_by(size_to_int(self.chunk_size)? as usize) {
            t.qemu_io(&args!["-c", format!("write -P 0xff {offs} {}", self.chunk_size), test_img()])?;
        }

        t.qemu_img(&args!["resize", "-f", imgfmt(), "--shrink", test_img(), self.shrink_size])?;

        t.qemu_img(&args!["compare", test_img(), check_img()])?;

        self.image_verify(t)
    }

    fn test_random_write(&mut self, t: &Case) -> Result<()> {
        let mut offs_list: Vec<u64> =
            (0..size_to_int(self.image_len)?).step_by(size_to_int(self.chunk_size)? as usize).collect();
        iotests::random::shuffle(&mut offs_list);
        for offs in offs_list {
            t.qemu_io(&args!["-c", format!("write -P 0xff {offs} {}", self.chunk_size), test_img()])?;
        }

        t.qemu_img(&args!["resize", "-f", imgfmt(), "--shrink", test_img(), self.shrink_size])?;

        t.qemu_img(&args!["compare", test_img(), check_img()])?;

        self.image_verify(t)
    }
}

// ShrinkBaseClass is set to None at module level: it is not listed.
iotests::iotest! {
    name: "163", groups: [rw],
    supported_fmts: ["raw", "qcow2"],
    supported_protocols: ["file"],
    unsupported_imgopts: ["compat"],
    fn t163: unittest {
        TestShrink512: ShrinkBaseClass {
            image_len: "3M",
            shrink_size: "1M",
            chunk_size: "256K",
            cluster_size: "512",
            refcount_bits: "64",
        },
        TestShrink64K: ShrinkBaseClass { cluster_size: "64K" },
        TestShrink1M: ShrinkBaseClass { cluster_size: "1M", refcount_bits: "1" },
    }
}
