//! `iotests::tools::qcow2_py` against QEMU's own qcow2.py, and the tar
//! (OVA) helpers against Python's `tarfile`.
//!
//! Every qcow2.py command runs twice, on two copies of the same image made
//! by qemu-img: once by python3 running the real script from the QEMU tree
//! (`IOTESTS_QEMU_SRC`, default `/work/qemu-src/qemu-10.0.2`), once by the
//! Rust module. Stdout and exit status must be identical, and so must the
//! image files afterwards — also where the script dies of an exception
//! half way through an update. Without the QEMU tree or python3 the tests
//! say so and pass.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use iotests::process::{ProcessRegistry, RunOptions, run};
use iotests::tools::{TarMember, TarWriter, qcow2_py, tar_members};
use iotests::{Error, TestContext};

/// The directory holding qcow2.py and qcow2_format.py, when python3 and the
/// QEMU tree are there.
fn oracle_dir() -> Option<PathBuf> {
    let src = std::env::var("IOTESTS_QEMU_SRC").unwrap_or_else(|_| "/work/qemu-src/qemu-10.0.2".into());
    let dir = Path::new(&src).join("tests/qemu-iotests");
    if !dir.join("qcow2.py").is_file() || !dir.join("qcow2_format.py").is_file() {
        println!("skipped: no qcow2.py under {} (set IOTESTS_QEMU_SRC to a QEMU source tree)", dir.display());
        return None;
    }
    if iotests::env::which("python3").is_none() {
        println!("skipped: python3 not found in PATH");
        return None;
    }
    Some(dir)
}

/// Runs qcow2.py — the real script, as `__main__`, with `sys.argv[0]`
/// `qcow2.py` — once for each step read from stdin (a JSON list of
/// `{"args": [...], "stdin": str|null, "img": path}`), in one python3
/// process: starting python3 for each of hundreds of steps is too slow on a
/// busy machine. For each step it reports stdout, exit status, the
/// exception if the script died of one, and the CRC-32 and size of the
/// image afterwards.
const DRIVER: &str = r#"
import io, json, os, runpy, sys, traceback, zlib
os.chdir(sys.argv[1])
sys.path.insert(0, sys.argv[1])
steps = json.load(sys.stdin)
real_stdout = sys.stdout
results = []
for step in steps:
    sys.argv = ['qcow2.py'] + step['args']
    data = (step['stdin'] or '').encode('utf-8')
    sys.stdin = io.TextIOWrapper(io.BytesIO(data), encoding='utf-8', errors='surrogateescape', newline='\n')
    sys.stdout = out = io.StringIO()
    status, exc = 0, None
    try:
        runpy.run_path('qcow2.py', run_name='__main__')
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except Exception:
        status, exc = 1, traceback.format_exc()
    finally:
        sys.stdout = real_stdout
    with open(step['img'], 'rb') as f:
        image = f.read()
    results.append({'stdout': out.getvalue(), 'status': status, 'exception': exc,
                    'crc32': zlib.crc32(image), 'size': len(image)})
print(json.dumps(results))
"#;

/// One qcow2.py command line (`IMG` stands for the image) and its stdin.
type Step = (Vec<&'static str>, Option<&'static str>);

fn step(args: &[&'static str], stdin: Option<&'static str>) -> Step {
    (args.to_vec(), stdin)
}

/// zlib's CRC-32, to compare images with what Python saw (table-driven:
/// images are megabytes and the tests run unoptimized).
fn crc32(data: &[u8]) -> u32 {
    let mut table = [0u32; 256];
    for (i, slot) in table.iter_mut().enumerate() {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0xedb8_8320 } else { c >> 1 };
        }
        *slot = c;
    }
    !data.iter().fold(!0u32, |crc, &b| table[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8))
}

/// Two copies of one image, one for each implementation.
struct Pair<'a> {
    dir: &'a Path,
    py: String,
    rs: String,
    label: String,
}

impl<'a> Pair<'a> {
    fn new(t: &TestContext, dir: &'a Path, image: &str, label: &str) -> Pair<'a> {
        let py = t.file_path(&format!("{label}.py.qcow2"));
        let rs = t.file_path(&format!("{label}.rs.qcow2"));
        std::fs::copy(image, &py).unwrap();
        std::fs::copy(image, &rs).unwrap();
        Pair { dir, py, rs, label: label.into() }
    }

    /// Run `steps` in order both ways, each on the image the step before
    /// left, and compare stdout, status and the image after every step.
    fn check(&self, steps: &[Step]) {
        let with = |args: &[&str], img: &str| -> Vec<String> {
            args.iter().map(|a| if *a == "IMG" { img.to_string() } else { a.to_string() }).collect()
        };
        let request: Vec<serde_json::Value> = steps
            .iter()
            .map(|(args, stdin)| serde_json::json!({"args": with(args, &self.py), "stdin": stdin, "img": self.py}))
            .collect();
        let argv = ["python3", "-c", DRIVER, &self.dir.to_string_lossy()].map(String::from);
        let opts = RunOptions {
            combine_stdio: false,
            stdin: Some(serde_json::Value::Array(request).to_string()),
            timeout: std::time::Duration::from_secs(300),
        };
        let out = run("python3", &argv, &opts, &Arc::new(ProcessRegistry::default())).expect("python3");
        assert_eq!((out.returncode, out.stderr.as_str()), (0, ""), "{}: the Python driver failed", self.label);
        let results: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).expect("driver output");

        for ((args, stdin), py) in steps.iter().zip(&results) {
            let what = format!("{}: qcow2.py {}", self.label, args.join(" "));
            let py_stdout = py["stdout"].as_str().unwrap();
            let rs = qcow2_py(&with(args, &self.rs), stdin.map(str::as_bytes));
            if let Some(exception) = py["exception"].as_str() {
                match rs {
                    Err(Error::ToolFailed { status: 1, output, .. }) => {
                        assert!(
                            output.starts_with(py_stdout),
                            "{what}: partial output differs\n{output}\n---\n{py_stdout}"
                        )
                    }
                    other => panic!("{what}: Python failed with\n{exception}\nbut Rust gave {other:?}"),
                }
            } else {
                let rs = rs.unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(rs.stdout, py_stdout, "{what}");
                assert_eq!(i64::from(rs.status), py["status"].as_i64().unwrap(), "{what}");
            }
            let image = std::fs::read(&self.rs).unwrap();
            assert_eq!(image.len() as u64, py["size"].as_u64().unwrap(), "{what}: image sizes differ afterwards");
            assert_eq!(u64::from(crc32(&image)), py["crc32"].as_u64().unwrap(), "{what}: images differ afterwards");
        }
    }
}

/// The dumps, text and JSON, in every argument order.
fn dumps() -> Vec<Step> {
    vec![
        step(&["IMG", "dump-header"], None),
        step(&["IMG", "dump-header", "-j"], None),
        step(&["IMG", "dump-header-exts"], None),
        step(&["IMG", "dump-header-exts", "-j"], None),
        step(&["-j", "IMG", "dump-header"], None),
    ]
}

/// Every command, valid and not, in one sequence (each step working on
/// what the previous left), with dumps along the way and at the end.
fn edits() -> Vec<Step> {
    let mut steps = vec![
        step(&[], None),
        step(&["IMG"], None),
        step(&["IMG", "dump-header", "extra"], None),
        step(&["IMG", "no-such-command"], None),
        step(&["IMG", "set-feature-bit", "incompatible", "63"], None),
        step(&["IMG", "set-feature-bit", "compatible", "42"], None),
        step(&["IMG", "set-feature-bit", "autoclear", "0x3f"], None),
        step(&["IMG", "set-feature-bit", "sideways", "1"], None),
        step(&["IMG", "set-feature-bit", "incompatible", "0x40"], None),
        step(&["IMG", "set-feature-bit", "incompatible", "-1"], None),
        step(&["IMG", "set-feature-bit", "incompatible", "abc"], None),
        step(&["IMG", "set-header", "size", "1152921504606846976"], None),
        step(&["IMG", "set-header", "incompatible_features", "0"], None),
        step(&["IMG", "set-header", "no_such_field", "1"], None),
        step(&["IMG", "set-header", "size", "1x"], None),
        step(&["IMG", "set-header", "nb_snapshots", "0x1_0000_0000"], None),
        step(&["IMG", "set-header", "version", "-1"], None),
        step(&["IMG", "dump-header"], None),
        step(&["IMG", "add-header-ext", "0x12345678", "This is a test header extension"], None),
        step(&["IMG", "add-header-ext", "0x12345678", "second one"], None),
        step(&["IMG", "add-header-ext", "zz", "data"], None),
        step(&["IMG", "add-header-ext", "0x100000000", "data"], None),
        step(&["IMG", "add-header-ext", "0x1", "caf\u{e9}"], None),
        step(&["IMG", "add-header-ext-stdio", "0xabcdef"], Some("\x00\x3fTest feature")),
        step(&["IMG", "add-header-ext-stdio", "0xabcdee"], Some("a\r\nb\rc\td\x0b")),
        step(&["IMG", "add-header-ext-stdio", "0xabcded"], Some("\u{e9}")),
        step(&["IMG", "dump-header-exts"], None),
        step(&["IMG", "del-header-ext", "0x12345678"], None),
        step(&["IMG", "dump-header-exts"], None),
        step(&["IMG", "del-header-ext", "0xdead"], None),
        step(&["IMG", "del-header-ext", "0x6803f857"], None),
        step(&["IMG", "del-header-ext", "0xE2792ACA"], None),
        step(&["IMG", "dump-header-exts", "-j"], None),
        step(&["IMG", "set-header", "header_length", "104"], None),
        step(&["IMG", "dump-header"], None),
        step(&["IMG", "set-header", "header_length", "0"], None),
    ];
    steps.extend(dumps());
    steps
}

/// A test context with qemu-img, and the oracle directory.
fn setup(name: &str) -> Option<(TestContext, PathBuf)> {
    let dir = oracle_dir()?;
    let t = common::context(name, "qcow2", &[("IMGFMT", "qcow2")], &["QEMU_IMG_PROG", "QEMU_IO_PROG"])?;
    Some((t, dir))
}

/// `qemu-img create -f qcow2 <opts> <path> 10M` (plus `extra` first).
fn create(t: &TestContext, name: &str, extra: &[&str], opts: &str) -> Option<String> {
    let img = t.file_path(name);
    let mut args = vec!["create", "-q", "-f", "qcow2"];
    args.extend_from_slice(extra);
    if !opts.is_empty() {
        args.extend(["-o", opts]);
    }
    args.extend([img.as_str(), "10M"]);
    match t.qemu_img(&args) {
        Ok(_) => Some(img),
        Err(e) => {
            println!("skipped image {name} ({opts}): {e}");
            None
        }
    }
}

/// Upstream 303's image: two bitmaps, data written under the first.
fn add_bitmaps(t: &TestContext, img: &str) {
    t.qemu_img(&["bitmap", "--add", "-g", "32768", "-f", "qcow2", img, "bitmap-1"]).unwrap();
    for i in 0..6 {
        t.qemu_io(&["-f", "qcow2", "-c", &format!("write {} 1M", i << 20), img]).unwrap();
    }
    t.qemu_img(&["bitmap", "--add", "-g", "65536", "-f", "qcow2", img, "bitmap-2", "--disable"]).unwrap();
    t.qemu_io(&["-f", "qcow2", "-c", "write 6M 2M", img]).unwrap();
}

#[test]
fn plain_images_of_each_compat_level_and_compression() {
    let Some((t, dir)) = setup("qcow2py-plain") else { return };
    for (label, opts) in [
        ("v2", "compat=0.10"),
        ("v3", "compat=1.1"),
        ("zstd", "compression_type=zstd"),
        ("extl2", "extended_l2=on"),
        ("refcount1", "refcount_bits=1,lazy_refcounts=on"),
    ] {
        let Some(img) = create(&t, &format!("{label}.qcow2"), &[], opts) else { continue };
        let pair = Pair::new(&t, &dir, &img, label);
        pair.check(&[dumps(), edits()].concat());
    }
}

#[test]
fn backing_files_data_files_and_encryption() {
    let Some((t, dir)) = setup("qcow2py-ext") else { return };
    let base = create(&t, "base.qcow2", &[], "").expect("base image");
    let data = t.file_path("data.raw");
    let images = [
        create(&t, "overlay.qcow2", &["-b", &base, "-F", "qcow2"], "").map(|i| ("backing", i)),
        create(&t, "overlay2.qcow2", &["-b", &base, "-F", "qcow2"], "compat=0.10").map(|i| ("backing-v2", i)),
        create(&t, "datafile.qcow2", &[], &format!("data_file={data},data_file_raw=on")).map(|i| ("datafile", i)),
        create(
            &t,
            "luks.qcow2",
            &["--object", "secret,id=sec0,data=123456"],
            "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10",
        )
        .map(|i| ("luks", i)),
    ];
    for (label, img) in images.into_iter().flatten() {
        let pair = Pair::new(&t, &dir, &img, label);
        pair.check(&[dumps(), edits()].concat());
    }
}

#[test]
fn bitmaps_like_upstream_303() {
    let Some((t, dir)) = setup("qcow2py-bitmaps") else { return };
    for compression in ["zlib", "zstd"] {
        let Some(img) = create(&t, &format!("bm-{compression}.qcow2"), &[], &format!("compression_type={compression}"))
        else {
            continue;
        };
        add_bitmaps(&t, &img);
        let pair = Pair::new(&t, &dir, &img, &format!("bitmaps-{compression}"));
        // Every update dies on the bitmaps extension, after writing part
        // of the header area.
        pair.check(&[dumps(), edits()].concat());
    }
}

/// Images qemu-img would not make: huge cluster sizes (Python's big
/// integers, and its 4300-digit limit for printing one), a bitmap name that
/// is not ASCII, a truncated file, a `header_length` past the first cluster
/// (no extensions are read, and an update writes there and then fails).
#[test]
fn crafted_and_malformed_images() {
    let Some((t, dir)) = setup("qcow2py-crafted") else { return };
    let img = create(&t, "crafted.qcow2", &[], "").expect("image");
    add_bitmaps(&t, &img);
    let pristine = std::fs::read(&img).unwrap();
    let json = qcow2_py(&[img.as_str(), "dump-header-exts", "-j"], None).unwrap().stdout;
    let exts: serde_json::Value = serde_json::from_str(&json).unwrap();
    let dir_offset = exts[1]["data"]["bitmap_directory_offset"].as_u64().expect("bitmaps directory") as usize;

    let variant = |label: &str, patch: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = pristine.clone();
        patch(&mut bytes);
        let path = t.file_path(&format!("{label}.src"));
        std::fs::write(&path, &bytes).unwrap();
        let pair = Pair::new(&t, &dir, &path, label);
        pair.check(&[dumps(), vec![step(&["IMG", "set-feature-bit", "compatible", "1"], None)]].concat());
    };
    variant("cluster-bits-70", &|b| b[20..24].copy_from_slice(&70u32.to_be_bytes()));
    variant("cluster-bits-20000", &|b| b[20..24].copy_from_slice(&20000u32.to_be_bytes()));
    variant("name-not-ascii", &|b| b[dir_offset + 24] = 0xe9);
    variant("truncated", &|b| b.truncate(50));
    variant("header-length-past-cluster", &|b| b[100..104].copy_from_slice(&0x2_0000u32.to_be_bytes()));
    variant("extension-cut-short", &|b| {
        b[112..120].copy_from_slice(&[0x12, 0x34, 0x56, 0x78, 0, 0, 0x10, 0]);
        b.truncate(124);
    });
    variant("huge-nb-bitmaps", &|b| {
        let at = 112 + 8 + (u32::from_be_bytes(b[116..120].try_into().unwrap()) as usize).next_multiple_of(8) + 8;
        b[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    });
}

/// Upstream 303 end to end: bitmaps made by qemu-img, written to with
/// qemu-io, dumped by qcow2.py with its stdout straight into the log; the
/// log must be 303's reference output from the QEMU tree.
#[test]
fn upstream_303_output_matches_its_reference() {
    let Some((t, dir)) = setup("303") else { return };
    if !iotests::harness::supports_qcow2_zstd_compression(t.env()).unwrap() {
        println!("skipped: zstd compression not supported");
        return;
    }
    let disk = t.file_path("disk");
    let chunk = 1 << 20;
    let add_bitmap = |num: u32, begin: u64, end: u64, disabled: bool| {
        t.log(format!("Add bitmap {num}"));
        let granularity = (1u32 << (14 + num)).to_string();
        let name = format!("bitmap-{num}");
        let mut args = vec!["bitmap", "--add", "-g", &granularity, "-f", "qcow2", &disk, &name];
        if disabled {
            args.push("--disable");
        }
        t.qemu_img(&args).unwrap();
        for i in begin..end {
            t.qemu_io_log(&["-c", &format!("write {} {chunk}", i * chunk), &disk]).unwrap();
        }
        t.log("");
    };
    for (compression, json) in [("zlib", false), ("zstd", true)] {
        t.qemu_img_create(&["-f", "qcow2", "-o", &format!("compression_type={compression}"), &disk, "10M"]).unwrap();
        add_bitmap(1, 0, 6, false);
        add_bitmap(2, 6, 8, true);
        let mut cmd = vec![disk.as_str(), "dump-header"];
        if json {
            cmd.push("-j");
        }
        t.qcow2_py(&cmd).unwrap();
    }
    let expected = std::fs::read_to_string(dir.join("303.out")).unwrap();
    assert!(t.contents() == expected, "{}", similar::TextDiff::from_lines(&expected, &*t.contents()).unified_diff());
}

/// Python's `tarfile` doing what upstream 302 does: an OVF member by
/// `addfile`, room for the disk, the disk's data written into the file by
/// another writer, its header by `TarInfo.tobuf`, the file cut after it,
/// closed. Prints the disk's data offset.
const TAR_302: &str = r#"
import io, sys, tarfile
path, disk_size, room = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with tarfile.open(path, "w") as tar:
    ovf_data = b"<xml/>"
    ovf = tarfile.TarInfo("vm.ovf")
    ovf.size = len(ovf_data)
    tar.addfile(ovf, io.BytesIO(ovf_data))
    offset = tar.fileobj.tell() + 512
    tar.fileobj.truncate(offset + room)
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(bytes(i % 251 for i in range(disk_size)))
    disk = tarfile.TarInfo("disk")
    disk.size = disk_size
    buf = disk.tobuf(tar.format, tar.encoding, tar.errors)
    tar.fileobj.write(buf)
    tar.members.append(disk)
    tar.offset = offset + (disk.size + 511) & ~511
    tar.fileobj.seek(tar.offset)
    tar.fileobj.truncate(tar.offset)
print(offset)
"#;

/// Python's `tarfile`: members from argv (`name=size` pairs, data
/// `i % 251`) added with `addfile`, in the given format (`pax`, `gnu`).
const TAR_MEMBERS: &str = r#"
import io, sys, tarfile
path, fmt = sys.argv[1], {"pax": tarfile.PAX_FORMAT, "gnu": tarfile.GNU_FORMAT}[sys.argv[2]]
with tarfile.open(path, "w", format=fmt) as tar:
    for spec in sys.argv[3:]:
        name, size = spec.rsplit("=", 1)
        info = tarfile.TarInfo(name)
        if name.endswith("/"):
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        else:
            info.size = int(size)
            tar.addfile(info, io.BytesIO(bytes(i % 251 for i in range(info.size))))
"#;

/// `[(m.name, m.size, m.offset_data) for m in tarfile.open(path)]`, as JSON.
const TAR_LIST: &str = r#"
import json, sys, tarfile
with tarfile.open(sys.argv[1]) as tar:
    print(json.dumps([[m.name, m.size, m.offset_data] for m in tar]))
"#;

fn python_script(script: &str, args: &[String]) -> String {
    let mut argv = vec!["python3".to_string(), "-c".into(), script.into()];
    argv.extend(args.iter().cloned());
    let opts = RunOptions { combine_stdio: false, ..RunOptions::default() };
    let out = run("python3", &argv, &opts, &Arc::new(ProcessRegistry::default())).expect("python3");
    assert_eq!((out.returncode, out.stderr.as_str()), (0, ""), "python3 failed");
    out.stdout
}

fn python_members(path: &str) -> Vec<TarMember> {
    let listed: Vec<(String, u64, u64)> = serde_json::from_str(&python_script(TAR_LIST, &[path.into()])).unwrap();
    listed.into_iter().map(|(name, size, offset_data)| TarMember { name, size, offset_data }).collect()
}

fn data(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

#[test]
fn ova_like_upstream_302_is_byte_identical_to_python_tarfile() {
    if iotests::env::which("python3").is_none() {
        println!("skipped: python3 not found in PATH");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (disk_size, room) in [(1000u64, 65536u64), (512, 512), (0, 4096), (3 * 65536 + 7, 1 << 20), (9000, 9000)] {
        let py = dir.path().join("py.ova").to_string_lossy().into_owned();
        let rs = dir.path().join("rs.ova").to_string_lossy().into_owned();
        let py_offset: u64 =
            python_script(TAR_302, &[py.clone(), disk_size.to_string(), room.to_string()]).trim().parse().unwrap();

        let mut tar = TarWriter::create(&rs).unwrap();
        let ovf = tar.add_file("vm.ovf", b"<xml/>").unwrap();
        let offset = tar.offset() + 512;
        tar.set_len(offset + room).unwrap();
        {
            use std::io::{Seek, SeekFrom, Write};
            let mut f = std::fs::OpenOptions::new().write(true).open(&rs).unwrap();
            f.seek(SeekFrom::Start(offset)).unwrap();
            f.write_all(&data(disk_size as usize)).unwrap();
        }
        let disk = tar.add_external("disk", disk_size).unwrap();
        tar.finish().unwrap();

        assert_eq!((offset, disk.offset_data), (py_offset, py_offset), "disk {disk_size}");
        assert!(std::fs::read(&py).unwrap() == std::fs::read(&rs).unwrap(), "disk {disk_size}: the archives differ");
        assert_eq!(python_members(&rs), [ovf.clone(), disk.clone()], "disk {disk_size}");
        assert_eq!(tar_members(&py).unwrap(), [ovf, disk], "disk {disk_size}");
    }
}

#[test]
fn tar_members_are_laid_out_and_listed_as_python_does() {
    if iotests::env::which("python3").is_none() {
        println!("skipped: python3 not found in PATH");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let long = "n".repeat(100);
    let members: Vec<(String, usize)> =
        [("a", 0), ("b.img", 1), ("c", 511), ("d", 512), ("e", 513), ("f", 10240 * 3 + 1)]
            .iter()
            .map(|(n, s)| (n.to_string(), *s))
            .chain([(long.clone(), 5), ("dir/sub/file".into(), 700)])
            .collect();
    let specs: Vec<String> = members.iter().map(|(n, s)| format!("{n}={s}")).collect();

    // Writing: byte for byte what Python's default (pax) format writes.
    let py = dir.path().join("py.tar").to_string_lossy().into_owned();
    let rs = dir.path().join("rs.tar").to_string_lossy().into_owned();
    python_script(TAR_MEMBERS, &[[py.clone(), "pax".into()].as_slice(), &specs].concat());
    let mut tar = TarWriter::create(&rs).unwrap();
    let written: Vec<TarMember> = members.iter().map(|(n, s)| tar.add_file(n, &data(*s)).unwrap()).collect();
    tar.finish().unwrap();
    assert!(std::fs::read(&py).unwrap() == std::fs::read(&rs).unwrap(), "the archives differ");
    assert_eq!(python_members(&py), written);
    assert_eq!(tar_members(&rs).unwrap(), written);

    // Reading what this module does not write: pax and GNU long names, a
    // directory, a size needing more than the header holds is left out
    // (8 GiB of test data).
    let longer = format!("{}/{}", "d".repeat(80), "f".repeat(80));
    let odd = ["x=3".to_string(), format!("{longer}=1000"), "dir/=0".into(), "caf\u{e9}.img=10".into(), "y=1".into()];
    for fmt in ["pax", "gnu"] {
        let path = dir.path().join(format!("{fmt}.tar")).to_string_lossy().into_owned();
        python_script(TAR_MEMBERS, &[[path.clone(), fmt.into()].as_slice(), &odd].concat());
        assert_eq!(tar_members(&path).unwrap(), python_members(&path), "{fmt}");
    }
}

#[test]
fn subprocess_run_puts_the_program_s_output_in_the_log() {
    let t = TestContext::new("subprocess", iotests::env::TestEnv::from_process_env("raw")).unwrap();
    t.log("before");
    let out = t.subprocess_run(&["sh", "-c", "echo one; echo two >&2; printf 'no newline'; exit 4"]).unwrap();
    assert_eq!(out.returncode, 4);
    assert_eq!(out.stdout, "one\ntwo\nno newline");
    t.log("after");
    // Verbatim: no newline is added after what the program printed.
    assert_eq!(t.contents(), "before\none\ntwo\nno newlineafter\n");
    assert!(matches!(t.subprocess_run(&["/no/such/program"]), Err(Error::Spawn { .. })));
    let err =
        t.subprocess_run_timeout(&["sh", "-c", "echo started; exec sleep 30"], std::time::Duration::from_millis(300));
    assert!(matches!(err, Err(Error::Timeout { .. })), "{err:?}");
    assert!(t.contents().ends_with("after\nstarted\n"), "{}", t.contents());
    assert!(t.processes().pids().is_empty());
}
