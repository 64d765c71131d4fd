//! qcow2.py on hand-made images: behaviour that needs no QEMU. The
//! differential tests against the real script are in tests/tools_qcow2.rs.

use super::*;

/// A qcow2 image: a version `version` header with 64 KiB clusters,
/// `exts` (magic, data) after it, the end marker, then `backing` (whose
/// offset and size the header records); padded to one cluster.
pub(super) fn image(version: u32, exts: &[(u32, &[u8])], backing: Option<&[u8]>) -> Vec<u8> {
    let header_length: usize = if version == 2 { 72 } else { 112 };
    let mut img = vec![0u8; header_length];
    let put32 = |img: &mut Vec<u8>, at: usize, v: u32| img[at..at + 4].copy_from_slice(&v.to_be_bytes());
    put32(&mut img, 0, 0x514649fb);
    put32(&mut img, 4, version);
    put32(&mut img, 20, 16);
    if version == 3 {
        put32(&mut img, 96, 4);
        put32(&mut img, 100, header_length as u32);
    }
    for (magic, data) in exts {
        img.extend_from_slice(&magic.to_be_bytes());
        img.extend_from_slice(&(data.len() as u32).to_be_bytes());
        img.extend_from_slice(data);
        img.resize(img.len().next_multiple_of(8), 0);
    }
    img.extend_from_slice(&[0; 8]);
    if let Some(name) = backing {
        let at = img.len() as u64;
        img[8..16].copy_from_slice(&at.to_be_bytes());
        img[16..20].copy_from_slice(&(name.len() as u32).to_be_bytes());
        img.extend_from_slice(name);
    }
    img.resize(65536, 0);
    img
}

fn write_image(dir: &tempfile::TempDir, bytes: &[u8]) -> String {
    let path = dir.path().join("t.qcow2");
    std::fs::write(&path, bytes).unwrap();
    path.to_string_lossy().into_owned()
}

fn ok(args: &[&str]) -> Qcow2PyOutput {
    qcow2_py(args, None).unwrap()
}

#[test]
fn dump_header_prints_fields_extensions_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let img = write_image(&dir, &image(3, &[(0xe2792aca, b"qcow2"), (0x12345678, b"\x00\x01")], Some(b"base.img")));
    let out = ok(&[&img, "dump-header"]);
    assert_eq!(out.status, 0);
    let expected_start = "magic                     0x514649fb\nversion                   3\n\
                          backing_file_offset       0x98\nbacking_file_size         0x8\n";
    assert!(out.stdout.starts_with(expected_start), "{}", out.stdout);
    assert!(out.stdout.contains(
        "header_length             112\n\nHeader extension:\nmagic                     0xe2792aca (Backing format)\n\
         length                    5\ndata                      'qcow2'\n\nHeader extension:\n\
         magic                     0x12345678 (<unknown>)\nlength                    2\ndata                      <binary>\n\n"
    ));
    let json = ok(&["-j", &img, "dump-header-exts"]).stdout;
    assert!(
        json.starts_with("[\n    {\n        \"name\": \"Backing format\",\n        \"magic\": 3799591626,"),
        "{json}"
    );
    assert!(json.ends_with("        \"data_str\": \"<binary>\"\n    }\n]\n"), "{json}");
}

#[test]
fn version_2_images_get_version_3_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let img = write_image(&dir, &image(2, &[(0xe2792aca, b"raw")], None));
    let out = ok(&[&img, "dump-header"]).stdout;
    assert!(out.contains("refcount_order            4\nheader_length             72\n"), "{out}");
    assert!(out.contains("data                      'raw'\n"), "{out}");
}

#[test]
fn usage_unknown_commands_and_bad_arguments() {
    let usage = ok(&["only-one"]);
    assert_eq!(usage.status, 1);
    assert!(usage.stdout.contains("    set-feature-bit      - Set a feature bit\n"), "{}", usage.stdout);
    assert!(usage.stdout.ends_with("Supported keys:\n    -j                   - Dump in JSON format\n"));
    let dir = tempfile::tempdir().unwrap();
    let img = write_image(&dir, &image(3, &[], None));
    assert_eq!(ok(&[&img, "frobnicate"]), Qcow2PyOutput { stdout: "Unknown command 'frobnicate'\n".into(), status: 0 });
    // Wrong argument count: usage, but exit status 0.
    assert_eq!(ok(&[&img, "set-header", "size"]).status, 0);
    let bit = ok(&[&img, "set-feature-bit", "incompatible", "0x40"]);
    assert_eq!(bit, Qcow2PyOutput { stdout: "'64' is not a valid bit number in range [0, 64)\n".into(), status: 1 });
    let group = ok(&[&img, "set-feature-bit", "other", "1"]);
    assert_eq!(group.stdout, "'other' is not a valid group, try 'incompatible', 'compatible', or 'autoclear'\n");
    assert_eq!(ok(&[&img, "set-header", "sizes", "1"]).stdout, "'sizes' is not a known header field\n");
    assert_eq!(ok(&[&img, "set-header", "size", "1x"]).stdout, "'1x' is not a valid number\n");
    assert_eq!(ok(&[&img, "del-header-ext", "0x"]).stdout, "'0x' is not a valid magic number\n");
    assert_eq!(ok(&[&img, "del-header-ext", "0x1"]).stdout, "No such header extension\n");
    // Nothing of that changed the image.
    assert_eq!(std::fs::read(&img).unwrap(), image(3, &[], None));
}

#[test]
fn malformed_images_and_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let img = write_image(&dir, &image(3, &[], None)[..50]);
    let err = qcow2_py(&[img.as_str(), "dump-header"], None).unwrap_err();
    match &err {
        Error::ToolFailed { tool, status: 1, output, .. } => {
            assert_eq!(tool, "qcow2.py");
            assert!(output.starts_with("struct.error: unpack requires a buffer of 104 bytes"), "{output}");
        }
        e => panic!("unexpected {e}"),
    }
    let missing = dir.path().join("missing").to_string_lossy().into_owned();
    assert!(qcow2_py(&[missing.as_str(), "dump-header"], None).is_err());
    // '-j' taken out leaves no command: IndexError in Python.
    assert!(qcow2_py(&[img.as_str(), "-j"], None).is_err());
    // An extension header cut off by the end of the file.
    let mut cut = image(3, &[], None);
    cut[112..120].copy_from_slice(&[0x12, 0x34, 0x56, 0x78, 0, 0, 0, 8]);
    cut.truncate(124);
    let img = write_image(&dir, &cut);
    assert!(qcow2_py(&[img.as_str(), "dump-header-exts"], None).is_err());
}

#[test]
fn add_and_delete_extensions_rewrite_the_header_area() {
    let dir = tempfile::tempdir().unwrap();
    let img = write_image(&dir, &image(3, &[], Some(b"base")));
    ok(&[&img, "add-header-ext", "0x12345678", "This is a test header extension"]);
    ok(&[&img, "add-header-ext", "0x12345678", "second"]);
    qcow2_py(&[img.as_str(), "add-header-ext-stdio", "0xabc"], Some(b"\x00\x3fTest\r\n")).unwrap();
    let expected = image(
        3,
        &[(0x12345678, b"This is a test header extension"), (0x12345678, b"second"), (0xabc, b"\x00\x3fTest\r\n")],
        Some(b"base"),
    );
    assert_eq!(std::fs::read(&img).unwrap()[..200], expected[..200]);
    // Upstream removes while iterating: the second of two neighbours stays.
    ok(&[&img, "del-header-ext", "0x12345678"]);
    let left = ok(&[&img, "dump-header-exts"]).stdout;
    assert_eq!(left.matches("0x12345678").count(), 1, "{left}");
    assert!(left.contains("'second'"), "{left}");
    // Data that is not ASCII is an exception, after the header was read.
    assert!(qcow2_py(&[img.as_str(), "add-header-ext-stdio", "1"], Some("é".as_bytes())).is_err());
}

#[test]
fn set_header_and_feature_bits() {
    let dir = tempfile::tempdir().unwrap();
    let img = write_image(&dir, &image(3, &[], None));
    ok(&[&img, "set-header", "size", "0x1_0000"]);
    ok(&[&img, "set-feature-bit", "autoclear", "63"]);
    let out = ok(&[&img, "dump-header"]).stdout;
    assert!(out.contains("size                      65536\n"), "{out}");
    assert!(out.contains("autoclear_features        [63]\n"), "{out}");
    // A value struct.pack refuses: the extensions were rewritten already,
    // the header is not.
    let before = std::fs::read(&img).unwrap();
    let err = qcow2_py(&[img.as_str(), "set-header", "version", "-1"], None).unwrap_err();
    assert!(err.to_string().contains("struct.error"), "{err}");
    assert_eq!(std::fs::read(&img).unwrap(), before);
}

#[test]
fn bitmaps_extension_is_dumped_but_cannot_be_written_back() {
    let dir = tempfile::tempdir().unwrap();
    // Directory at 0x1000 with one entry "bm" (table of 2 at 0x2000).
    let mut bitmaps = Vec::new();
    bitmaps.extend_from_slice(&1u32.to_be_bytes());
    bitmaps.extend_from_slice(&0u32.to_be_bytes());
    bitmaps.extend_from_slice(&32u64.to_be_bytes());
    bitmaps.extend_from_slice(&0x1000u64.to_be_bytes());
    let mut img = image(3, &[(format::MAGIC_BITMAPS, &bitmaps)], None);
    let mut entry = Vec::new();
    entry.extend_from_slice(&0x2000u64.to_be_bytes());
    entry.extend_from_slice(&2u32.to_be_bytes());
    entry.extend_from_slice(&3u32.to_be_bytes()); // in-use, auto
    entry.extend_from_slice(&[1, 16, 0, 2, 0, 0, 0, 0]);
    entry.extend_from_slice(b"bm");
    img[0x1000..0x1000 + entry.len()].copy_from_slice(&entry);
    img[0x2000..0x2008].copy_from_slice(&0x30000u64.to_be_bytes());
    img[0x2008..0x2010].copy_from_slice(&1u64.to_be_bytes());
    let path = write_image(&dir, &img);
    let out = ok(&[&path, "dump-header-exts"]).stdout;
    assert!(out.contains("flags                     0x3 (['in-use', 'auto'])\n"), "{out}");
    assert!(out.ends_with(
        "Bitmap table   type            size         offset\n\
         0              serialized      65536        196608\n\
         1              all-ones        0            0\n\n"
    ));
    let json = ok(&[&path, "dump-header-exts", "-j"]).stdout;
    assert!(json.contains("\"bitmap_table\": [\n                        {\n                            \"type\": \"serialized\",\n                            \"offset\": 196608,\n                            \"reserved\": 0\n"), "{json}");

    let err = qcow2_py(&[path.as_str(), "set-feature-bit", "compatible", "1"], None).unwrap_err();
    assert!(err.to_string().contains("TypeError"), "{err}");
    // The bitmaps extension's magic and length were written before it failed.
    assert_eq!(std::fs::read(&path).unwrap(), img);

    // A bitmap name that is not ASCII: UnicodeDecodeError while reading.
    img[0x1018] = 0xc3;
    let path = write_image(&dir, &img);
    assert!(qcow2_py(&[path.as_str(), "dump-header"], None).unwrap_err().to_string().contains("UnicodeDecodeError"));
}

#[test]
fn context_method_writes_stdout_into_the_log_verbatim() {
    let dir = tempfile::tempdir().unwrap();
    let img = write_image(&dir, &image(3, &[(0x12345678, b"x")], None));
    let t = TestContext::new("qcow2py-log", crate::env::TestEnv::from_process_env("qcow2")).unwrap();
    t.log("before");
    let out = t.qcow2_py(&[img.as_str(), "dump-header-exts"]).unwrap();
    assert_eq!(t.contents(), format!("before\n{}", out.stdout));
    t.qcow2_py_stdin(&[img.as_str(), "add-header-ext-stdio", "0x1"], b"y").unwrap();
    assert!(t.qcow2_py(&[img.as_str(), "del-header-ext", "0x2"]).unwrap().stdout == "No such header extension\n");
    assert!(t.contents().ends_with("No such header extension\n"));
}

#[test]
fn qcow_header_reads_fields_with_version_2_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let img = write_image(&dir, &image(2, &[], Some(b"base.img")));
    let mut fd = std::fs::File::open(&img).unwrap();
    let h = QcowHeader::read(&mut fd).unwrap();
    assert_eq!((h.magic(), h.version(), h.cluster_bits()), (0x514649fb, 2, 16));
    assert_eq!((h.backing_file_size(), h.refcount_order(), h.header_length()), (8, 4, 72));
    // The position is where qcow2.py leaves it: after the backing file name.
    use std::io::Seek;
    assert_eq!(fd.stream_position().unwrap(), h.backing_file_offset() + 8);
}

#[test]
fn qcow_header_of_a_short_file_is_python_s_error() {
    let dir = tempfile::tempdir().unwrap();
    let img = write_image(&dir, &[0u8; 10]);
    let mut fd = std::fs::File::open(&img).unwrap();
    let e = QcowHeader::read(&mut fd).unwrap_err();
    assert!(e.to_string().starts_with("struct.error: unpack requires a buffer of 104 bytes"), "{e}");
}
