//! Upstream 044: qcow2 refcount table growth — a write that needs a bigger refcount table in a preallocated 512-byte-cluster image.

use std::fs::OpenOptions;
use std::io::{BufWriter, Seek, SeekFrom, Write};

use iotests::prelude::*;
use iotests::tools::QcowHeader;

fn test_img() -> String {
    os::path::join(test_dir(), "test.img")
}

/// `struct.pack('>Q', …)` of each value, joined.
fn pack_q(values: impl Iterator<Item = u64>) -> Vec<u8> {
    let mut packed = Vec::with_capacity(values.size_hint().0 * 8);
    for value in values {
        packed.extend_from_slice(&value.to_be_bytes());
    }
    packed
}

/// Abstract base class for image mirroring test cases
#[derive(Default)]
struct TestRefcountTableGrowth;

#[iotests::test_case]
impl TestRefcountTableGrowth {
    fn preallocate(&self, name: &str) -> Result<()> {
        let mut fd = OpenOptions::new().read(true).write(true).open(name).with_context(|| format!("opening {name}"))?;
        // try: … finally: fd.close() — the file closes when `fd` is dropped.
        let off_reftable: u64 = 512;
        let off_refblock = off_reftable + (512 * 512);
        let off_l1 = off_refblock + (512 * 512 * 64);
        let off_l2 = off_l1 + (512 * 512 * 4 * 8);
        let off_data = off_l2 + (512 * 512 * 4 * 512);

        // Write a new header
        let mut h = QcowHeader::read(&mut fd)?;
        h.set("refcount_table_offset", off_reftable)?;
        h.set("refcount_table_clusters", 512)?;
        h.set("l1_table_offset", off_l1)?;
        h.set("l1_size", 512 * 512 * 4)?;
        h.update(&mut fd)?;

        // Python's file object buffers small writes, as this does.
        let mut fd = BufWriter::new(fd);
        let io = |e| Error::io(format!("writing {name}"), e);

        // Write a refcount table
        fd.seek(SeekFrom::Start(off_reftable)).map_err(io)?;

        for i in 0..h.refcount_table_clusters() {
            let sector = pack_q((0..64).map(|j| off_refblock + i * 64 * 512 + j * 512));
            fd.write_all(&sector).map_err(io)?;
        }

        // Write the refcount blocks
        ensure!(fd.stream_position().map_err(io)? == off_refblock);
        let sector: Vec<u8> = (0..64 * 256).flat_map(|_| 1u16.to_be_bytes()).collect();
        for _block in 0..h.refcount_table_clusters() {
            fd.write_all(&sector).map_err(io)?;
        }

        // Write the L1 table
        ensure!(fd.stream_position().map_err(io)? == off_l1);
        ensure!(off_l2 + 512 * h.l1_size() == off_data);
        let table = pack_q((0..h.l1_size()).map(|j| (1 << 63) | (off_l2 + 512 * j)));
        fd.write_all(&table).map_err(io)?;

        // Write the L2 tables
        ensure!(fd.stream_position().map_err(io)? == off_l2);
        let img_file_size = h.refcount_table_clusters() * 64 * 256 * 512;
        let mut remaining = img_file_size - off_data;

        let mut off = off_data;
        while remaining > 1024 * 512 {
            let table = pack_q((0..1024).map(|j| (1 << 63) | (off + 512 * j)));
            fd.write_all(&table).map_err(io)?;
            remaining -= 1024 * 512;
            off += 1024 * 512;
        }

        let table = pack_q((0..remaining / 512).map(|j| (1 << 63) | (off + 512 * j)));
        fd.write_all(&table).map_err(io)?;

        // Data
        let fd = fd.into_inner().map_err(|e| io(e.into_error()))?;
        fd.set_len(img_file_size).map_err(io)?;
        Ok(())
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", "-f", imgfmt(), "-o", "cluster_size=512", test_img(), "16G"])?;
        self.preallocate(&test_img())
    }

    fn tear_down(&mut self) -> Result<()> {
        os::remove(test_img())
    }

    fn test_grow_refcount_table(&mut self, t: &Case) -> Result<()> {
        t.qemu_io(&args!["-c", "write 3800M 1M", test_img()])?;
        t.qemu_img_log(&args!["check", test_img()])?;
        Ok(())
    }
}

iotests::iotest! {
    name: "044", groups: [rw],
    supported_fmts: ["qcow2"],
    supported_protocols: ["file"],
    unsupported_imgopts: ["refcount_bits"],
    activate_logging: true,
    fn t044: unittest { TestRefcountTableGrowth }
}
