//! `iotests::tools::fat16` against QEMU's own fat16.py: the same operations
//! on two copies of a FAT16 disk, once by python3 running the real module
//! from the QEMU tree (`IOTESTS_QEMU_SRC`, default
//! `/work/qemu-src/qemu-10.0.2`), once by the Rust port. What they return
//! (directory listings, file contents, the exceptions they raise) and the
//! disks afterwards must be identical. Without the QEMU tree or python3 the
//! test says so and passes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use iotests::Result;
use iotests::process::{ProcessRegistry, RunOptions, run};
use iotests::tools::fat16::{Fat16, FatDirectoryEntry, Mbr, SECTOR_SIZE, SectorIo, example_disk};
use serde_json::{Value, json};

/// The directory holding fat16.py, when python3 and the QEMU tree are there.
fn oracle_dir() -> Option<PathBuf> {
    let src = std::env::var("IOTESTS_QEMU_SRC").unwrap_or_else(|_| "/work/qemu-src/qemu-10.0.2".into());
    let dir = Path::new(&src).join("tests/qemu-iotests");
    if !dir.join("fat16.py").is_file() {
        println!("skipped: no fat16.py under {} (set IOTESTS_QEMU_SRC to a QEMU source tree)", dir.display());
        return None;
    }
    if iotests::env::which("python3").is_none() {
        println!("skipped: python3 not found in PATH");
        return None;
    }
    Some(dir)
}

/// The operations, in Python: argv is the module's directory and the disk
/// image; the results are printed as JSON, the disk is changed in place.
const DRIVER: &str = r#"
import json, sys
sys.path.insert(0, sys.argv[1])
from fat16 import MBR, Fat16
path = sys.argv[2]
disk = bytearray(open(path, 'rb').read())
def reader(sector, num=1):
    return bytes(disk[sector * 512:(sector + num) * 512])
def writer(sector, data):
    disk[sector * 512:sector * 512 + len(data)] = data
out = []
def attempt(f):
    try:
        r = f()
    except Exception as e:
        return '%s: %s' % (type(e).__name__, e)
    return r.hex() if isinstance(r, bytes) else r
def listing(entries):
    return [[e.whole_name(), e.size_bytes, e.cluster, e.sector, e.offset, e.as_bytes().hex()] for e in entries]
mbr = MBR(reader(0))
p = mbr.partition_table[0]
fat = Fat16(p['start_lba'], p['size'], reader, writer)
cb = fat.boot_sector.cluster_bytes()
out.append(listing(fat.read_root_directory()))
a = fat.create_file('/A.TXT')
fat.write_file(a, bytes(i % 251 for i in range(3 * cb + 7)))
b = fat.create_file('/B.TXT')
fat.write_file(b, b'hello')
fat.truncate_file(a, 10)
fat.truncate_file(b, 3 * cb, allocate_non_continuous=True)
fat.write_file(b, bytes((i * 7) % 253 for i in range(3 * cb)))
c = fat.create_file('/C.TXT')
fat.write_file(c, b'x' * (2 * cb))
fat.truncate_file(c, 0)
fat.truncate_file(c, 4 * cb + 1, allocate_non_continuous=True)
out.append(listing(fat.read_root_directory()))
for name in ['/A.TXT', '/B.TXT', '/C.TXT', '/D.TXT']:
    out.append(attempt(lambda: fat.read_file(fat.find_direntry(name))))
for name in ['/a.txt', '/TOOLONGNAME.TXT', '/X.LONG', '/NOEXT', '/A.B.C', '/NODIR/X.TXT']:
    out.append(attempt(lambda: fat.create_file(name)))
out.append(attempt(lambda: fat.find_direntry('/A.TXT/X')))
out.append(attempt(lambda: fat.write_file(None, b'x')))
out.append(attempt(lambda: fat.read_cluster(0)))
out.append(sorted(fat.fats_dirty_sectors))
open(path, 'wb').write(disk)
print(json.dumps(out))
"#;

struct Mem(Vec<u8>);

impl SectorIo for Mem {
    /// As the Python reader, `disk[sector * 512:(sector + num) * 512]`:
    /// negative bounds count from the end.
    fn read_sectors(&mut self, sector: i64, num: i64) -> Result<Vec<u8>> {
        let len = self.0.len() as i64;
        let index = |i: i64| (if i < 0 { (len + i).max(0) } else { i.min(len) }) as usize;
        let (a, b) = (index(sector * SECTOR_SIZE as i64), index((sector + num) * SECTOR_SIZE as i64));
        Ok(if a < b { self.0[a..b].to_vec() } else { Vec::new() })
    }
    fn write_sectors(&mut self, sector: i64, data: &[u8]) -> Result<()> {
        self.0[sector as usize * SECTOR_SIZE..][..data.len()].copy_from_slice(data);
        Ok(())
    }
}

/// What the Python `attempt` gives: the value, or `Class: message`.
fn attempt<T>(r: Result<T>, ok: impl FnOnce(T) -> Value) -> Value {
    match r {
        Ok(v) => ok(v),
        Err(e) => {
            let s = e.to_string();
            // A failed Python `assert` is an AssertionError there.
            json!(if e.is_assertion() { format!("AssertionError: {s}") } else { s })
        }
    }
}

fn listing(entries: &[FatDirectoryEntry]) -> Value {
    json!(
        entries
            .iter()
            .map(|e| json!([e.whole_name(), e.size_bytes, e.cluster, e.sector, e.offset, hex(&e.as_bytes().unwrap())]))
            .collect::<Vec<_>>()
    )
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn bytes_or_none(r: Option<Vec<u8>>) -> Value {
    r.map_or(Value::Null, |b| json!(hex(&b)))
}

/// The Rust side of `DRIVER`.
fn rust_side(disk: Vec<u8>) -> (Value, Vec<u8>) {
    let mut out = Vec::new();
    let mut io = Mem(disk);
    let mbr = Mbr::new(&io.read_sectors(0, 1).unwrap()).unwrap();
    let p = mbr.partition_table[0];
    let mut fat = Fat16::new(i64::from(p.start_lba), u64::from(p.size), io).unwrap();
    let cb = fat.boot_sector.cluster_bytes();
    out.push(listing(&fat.read_root_directory().unwrap()));
    let mut a = fat.create_file("/A.TXT").unwrap();
    fat.write_file(a.as_mut(), &(0..3 * cb + 7).map(|i| (i % 251) as u8).collect::<Vec<_>>()).unwrap();
    let mut b = fat.create_file("/B.TXT").unwrap();
    fat.write_file(b.as_mut(), b"hello").unwrap();
    fat.truncate_file(a.as_mut(), 10).unwrap();
    fat.truncate_file_with(b.as_mut(), 3 * cb as u64, true).unwrap();
    fat.write_file(b.as_mut(), &(0..3 * cb).map(|i| ((i * 7) % 253) as u8).collect::<Vec<_>>()).unwrap();
    let mut c = fat.create_file("/C.TXT").unwrap();
    fat.write_file(c.as_mut(), &vec![b'x'; 2 * cb]).unwrap();
    fat.truncate_file(c.as_mut(), 0).unwrap();
    fat.truncate_file_with(c.as_mut(), 4 * cb as u64 + 1, true).unwrap();
    out.push(listing(&fat.read_root_directory().unwrap()));
    for name in ["/A.TXT", "/B.TXT", "/C.TXT", "/D.TXT"] {
        let r = fat.find_direntry(name).and_then(|e| fat.read_file(e.as_ref()));
        out.push(attempt(r, bytes_or_none));
    }
    for name in ["/a.txt", "/TOOLONGNAME.TXT", "/X.LONG", "/NOEXT", "/A.B.C", "/NODIR/X.TXT"] {
        out.push(attempt(fat.create_file(name), |e| e.map_or(Value::Null, |e| listing(&[e])[0].clone())));
    }
    out.push(attempt(fat.find_direntry("/A.TXT/X"), |e| e.map_or(Value::Null, |e| listing(&[e])[0].clone())));
    out.push(attempt(fat.write_file(None, b"x"), |()| Value::Null));
    out.push(attempt(fat.read_cluster(0), |b| json!(hex(&b))));
    out.push(json!(fat.fats_dirty_sectors.iter().collect::<Vec<_>>()));
    (Value::Array(out), std::mem::take(&mut fat.io().0))
}

fn python_side(dir: &Path, disk: &[u8]) -> (Value, Vec<u8>) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("disk.img");
    std::fs::write(&path, disk).unwrap();
    let argv = ["python3", "-c", DRIVER, &dir.to_string_lossy(), &path.to_string_lossy()].map(String::from);
    let opts = RunOptions { combine_stdio: false, ..RunOptions::default() };
    let out = run("python3", &argv, &opts, &Arc::new(ProcessRegistry::default())).expect("python3");
    assert_eq!((out.returncode, out.stderr.as_str()), (0, ""), "python3 failed");
    (serde_json::from_str(&out.stdout).unwrap(), std::fs::read(&path).unwrap())
}

#[test]
fn same_results_and_disk_as_fat16_py() {
    let Some(dir) = oracle_dir() else { return };
    // The example disk (2 KiB clusters), and the same with vvfat's 8 KiB.
    let mut big_clusters = example_disk();
    big_clusters[SECTOR_SIZE + 13] = 16;
    for disk in [example_disk(), big_clusters] {
        let (py, py_disk) = python_side(&dir, &disk);
        let (rs, rs_disk) = rust_side(disk);
        let (py, rs) = (py.as_array().unwrap(), rs.as_array().unwrap());
        assert_eq!(py.len(), rs.len());
        for (i, (p, r)) in py.iter().zip(rs).enumerate() {
            assert!(p == r, "result {i} differs:\n python: {:.300}\n rust:   {:.300}", p.to_string(), r.to_string());
        }
        assert!(py_disk == rs_disk, "the disks differ");
    }
}
