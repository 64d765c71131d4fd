//! Unit tests: every filter against what upstream's Python gives (the
//! expected strings were checked with python3 against iotests.py 10.0.2).

use serde_json::{Value, json};

use super::*;
use crate::msg::Msg;

fn scope() -> Scope {
    Scope { test_dir: "/tmp/iot.d/test".into(), sock_dir: "/tmp/sock/".into(), pid: 4242, imgfmt: "qcow2".into() }
}

// ---- test_dir ------------------------------------------------------------

#[test]
fn test_dir_no_match() {
    assert_eq!(test_dir(&scope(), "nothing here\n"), "nothing here\n");
}

#[test]
fn test_dir_several_matches() {
    assert_eq!(test_dir(&scope(), "/tmp/iot.d/test/a /tmp/iot.d/test/b"), "TEST_DIR/a TEST_DIR/b");
}

#[test]
fn test_dir_is_a_regex_like_python() {
    // `.` is not escaped by Python either: it matches any character.
    assert_eq!(test_dir(&scope(), "/tmp/iotXd/test/a"), "TEST_DIR/a");
    let s = Scope { test_dir: "/tmp/a+b".into(), ..scope() };
    assert_eq!(test_dir(&s, "/tmp/aab /tmp/a+b"), "TEST_DIR /tmp/a+b");
}

#[test]
fn test_dir_invalid_regex_is_literal() {
    let s = Scope { test_dir: "/tmp/a[b".into(), ..scope() };
    assert_eq!(test_dir(&s, "x /tmp/a[b/img"), "x TEST_DIR/img");
}

#[test]
fn test_dir_empty_matches_follow_python() {
    // re.sub('', 'TEST_DIR', 'ab') == 'TEST_DIRaTEST_DIRbTEST_DIR'
    let s = Scope { test_dir: String::new(), ..scope() };
    assert_eq!(test_dir(&s, "ab"), "TEST_DIRaTEST_DIRbTEST_DIR");
    // re.sub('x*', '-', 'abxd') == '-a-b--d-': an empty match right after
    // "x" is replaced too.
    let s = Scope { test_dir: "x*".into(), ..scope() };
    assert_eq!(test_dir(&s, "abxd"), "TEST_DIRaTEST_DIRbTEST_DIRTEST_DIRdTEST_DIR");
}

#[test]
fn test_dir_reads_python_syntax() {
    // Python reads `\<` as `<` and `{ 2}` literally; the `regex` crate
    // would read a word start and reject the brace.
    let s = Scope { test_dir: r"/tmp/\<d\>x{ 2}".into(), ..scope() };
    assert_eq!(test_dir(&s, "/tmp/<d>x{ 2}/img /tmp/d"), "TEST_DIR/img /tmp/d");
    // `$` also matches before a final newline.
    let s = Scope { test_dir: "/tmp/t$".into(), ..scope() };
    assert_eq!(test_dir(&s, "/tmp/t\n"), "TEST_DIR\n");
    // Python's `|a`: an empty match, then a non-empty one at the same place.
    let s = Scope { test_dir: "|a".into(), ..scope() };
    assert_eq!(test_dir(&s, "a"), "TEST_DIRTEST_DIRTEST_DIR");
    // Valid Python that cannot be translated: literal.
    let s = Scope { test_dir: "/tmp/(?=x)".into(), ..scope() };
    assert_eq!(test_dir(&s, "/tmp/(?=x)/a /tmp/x"), "TEST_DIR/a /tmp/x");
}

#[test]
fn test_dir_is_compiled_per_log() {
    // Each log keeps its own compiled pattern: logs of different tests,
    // filtering at the same time, do not see each other's.
    let threads: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let log = crate::Log::new(Scope { test_dir: format!("/tmp/t{i}"), ..scope() }, false);
                for j in 0..200 {
                    log.log_with(format!("/tmp/t{} /tmp/t{i}/{j}", (i + 1) % 4), &[Filter::TestDir], None);
                }
                (i, log.contents())
            })
        })
        .collect();
    for t in threads {
        let (i, contents) = t.join().expect("thread");
        let want: String = (0..200).map(|j| format!("/tmp/t{} TEST_DIR/{j}\n", (i + 1) % 4)).collect();
        assert_eq!(contents, want);
    }
}

#[test]
fn test_dir_follows_scope_changes() {
    let a = Scope { test_dir: "/a".into(), ..scope() };
    let b = Scope { test_dir: "/b".into(), ..scope() };
    assert_eq!(test_dir(&a, "/a/x /b/x"), "TEST_DIR/x /b/x");
    assert_eq!(test_dir(&b, "/a/x /b/x"), "/a/x TEST_DIR/x");
}

#[test]
fn py_sub_multibyte() {
    let re = regex::Regex::new("").expect("valid regex");
    assert_eq!(py_sub(&re, "é", "-"), "-é-");
}

// ---- win32 / qemu_io -----------------------------------------------------

#[test]
fn win32_strips_cr() {
    assert_eq!(win32("a\r\nb\rc"), "a\nbc");
    assert_eq!(win32("none"), "none");
}

#[test]
fn qemu_io_timing_lines() {
    let out = "wrote 65536/65536 bytes at offset 0\r\n\
               64 KiB, 1 ops; 00.00 sec (130.898 MiB/sec and 2094.3636 ops/sec)\r\n\
               read 65536/65536 bytes at offset 0\r\n\
               64 KiB, 1 ops; 0:00:01.50 sec (1.420 GiB/sec and 23269.8841 ops/sec)\r\n";
    assert_eq!(
        qemu_io(out),
        "wrote 65536/65536 bytes at offset 0\n\
         64 KiB, X ops; XX:XX:XX.X (XXX YYY/sec and XXX ops/sec)\n\
         read 65536/65536 bytes at offset 0\n\
         64 KiB, X ops; XX:XX:XX.X (XXX YYY/sec and XXX ops/sec)\n"
    );
}

#[test]
fn qemu_io_inf_speeds() {
    assert_eq!(
        qemu_io("512 bytes, 1 ops; 0.0000 sec (inf bytes/sec and inf ops/sec)"),
        "512 bytes, X ops; XX:XX:XX.X (XXX YYY/sec and XXX ops/sec)"
    );
}

#[test]
fn qemu_io_no_match() {
    assert_eq!(qemu_io("Pattern verification failed at offset 0\n"), "Pattern verification failed at offset 0\n");
}

// ---- chown / virtio / node ids / nbd / imgfmt -----------------------------

#[test]
fn chown_all() {
    assert_eq!(chown("chown 0:0 a; chown 1000:100 b; chown x:y"), "chown UID:GID a; chown UID:GID b; chown x:y");
}

#[test]
fn virtio_scsi_variants() {
    assert_eq!(
        virtio_scsi("virtio-scsi-pci virtio-scsi-ccw virtio-scsi-device virtio-scsi"),
        "virtio-scsi virtio-scsi virtio-scsi-device virtio-scsi"
    );
}

#[test]
fn node_ids() {
    assert_eq!(generated_node_ids("#block1 #block23, #blockx"), "NODE_NAME NODE_NAME, #blockx");
}

#[test]
fn nbd_exports_blocks() {
    let out = "  min block: 1\r\n  opt block: 4096\n  max block: 33554432\n  size:  1048576\n";
    assert_eq!(nbd_exports(out), "  min block: XXX\r\n  opt block: XXX\n  max block: XXX\n  size:  1048576\n");
}

#[test]
fn imgfmt_plain_replace() {
    assert_eq!(imgfmt(&scope(), "qcow2 qcow2x q.ow2"), "IMGFMT IMGFMTx q.ow2");
}

// ---- testfiles -----------------------------------------------------------

#[test]
fn testfiles_joins_like_os_path_join() {
    // test_dir has no trailing slash, sock_dir has one: both join to "dir/4242-".
    let s = scope();
    assert_eq!(
        testfiles(&s, "/tmp/iot.d/test/4242-a /tmp/sock/4242-s /tmp/iot.d/test/4243-a"),
        "TEST_DIR/PID-a SOCK_DIR/PID-s /tmp/iot.d/test/4243-a"
    );
    // Literal, not a regex: `.` matches only itself.
    assert_eq!(testfiles(&s, "/tmp/iotXd/test/4242-a"), "/tmp/iotXd/test/4242-a");
    // An empty directory joins to just "4242-".
    let e = Scope { test_dir: String::new(), ..s };
    assert_eq!(testfiles(&e, "x 4242-y"), "x TEST_DIR/PID-y");
}

#[test]
fn testfiles_order_test_dir_first() {
    // Same directory for both: pref1 wins, as in Python.
    let s = Scope { sock_dir: "/tmp/iot.d/test".into(), ..scope() };
    assert_eq!(testfiles(&s, "/tmp/iot.d/test/4242-x"), "TEST_DIR/PID-x");
}

// ---- qtest ---------------------------------------------------------------

#[test]
fn qtest_strips_open_and_close() {
    let out = "[I 1.5] OPENED\n[R +0.1] outl 0x10 1\n[S +0.1] OK\n[I +0.2] CLOSED\n";
    assert_eq!(qtest(out), "[R +0.1] outl 0x10 1\n[S +0.1] OK");
}

#[test]
fn qtest_trailing_newlines_like_python_dollar() {
    // Python: re.sub(r'\n?\[I \+\d+\.\d+\] CLOSED\n?$', '', s)
    assert_eq!(qtest("a\n[I +0.2] CLOSED"), "a");
    assert_eq!(qtest("a\n[I +0.2] CLOSED\n"), "a");
    assert_eq!(qtest("a\n[I +0.2] CLOSED\n\n"), "a\n");
    assert_eq!(qtest("a\n[I +0.2] CLOSED\n\n\n"), "a\n[I +0.2] CLOSED\n\n\n");
    assert_eq!(qtest("[I +0.2] CLOSED\nmore\n"), "[I +0.2] CLOSED\nmore\n");
}

#[test]
fn qtest_opened_only_at_start() {
    assert_eq!(qtest("x\n[I 1.5] OPENED\n"), "x\n[I 1.5] OPENED\n");
    assert_eq!(qtest("[I 1.5] OPENED\n"), "");
    assert_eq!(qtest("[I 1.5] OPENED"), "[I 1.5] OPENED");
}

// ---- img_info ------------------------------------------------------------

const INFO: &str = "image: /tmp/iot.d/test/4242-top.qcow2
file format: qcow2
virtual size: 1 MiB (1048576 bytes)
disk size: 196 KiB
cluster_size: 65536
backing file: /tmp/iot.d/test/4242-base.qcow2
backing file format: qcow2
Format specific information:
    compat: 1.1
    compression type: zstd
    lazy refcounts: false
Child node '/file':
    filename: /tmp/iot.d/test/4242-top.qcow2
    protocol type: file
    disk size: 196 KiB
Child node '/backing':
    image: base
        nested: deeper
Tail: x
";

#[test]
fn img_info_drops_children() {
    let got = img_info(&scope(), INFO, "/tmp/iot.d/test/4242-top.qcow2", true);
    assert_eq!(
        got,
        "image: TEST_IMG
file format: IMGFMT
virtual size: 1 MiB (1048576 bytes)
cluster_size: 65536
backing file: TEST_DIR/PID-base.IMGFMT
backing file format: IMGFMT
Format specific information:
    compat: 1.1
    compression type: COMPRESSION_TYPE
    lazy refcounts: false
Tail: x
"
    );
}

#[test]
fn img_info_keeps_children() {
    let got = img_info(&scope(), INFO, "/tmp/iot.d/test/4242-top.qcow2", false);
    assert!(got.contains("Child node '/file':\n    filename: TEST_IMG\n    protocol type: file\nChild node"));
    assert!(got.contains("        nested: deeper\n"));
    assert!(!got.contains("disk size"));
}

#[test]
fn img_info_masks() {
    let out = "iters: 1234\nuuid: 0123abcd-ef01-2345-6789-abcdef012345\ncid: 4294967295\ncompression type: zlib\n\
               compression type: lz4\n    \"actual-size\": 200704,";
    assert_eq!(
        img_info(&scope(), out, "nomatch", true),
        "iters: XXX\nuuid: XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX\ncid: XXXXXXXXXX\ncompression type: COMPRESSION_TYPE\n\
         compression type: lz4"
    );
}

#[test]
fn img_info_join_and_crlf() {
    assert_eq!(img_info(&scope(), "", "f", true), "");
    assert_eq!(img_info(&scope(), "a\r\nb", "f", true), "a\r\nb");
    // A `disk size` line at the end: the join leaves no trailing newline.
    assert_eq!(img_info(&scope(), "a\ndisk size: 1", "f", true), "a");
}

#[test]
fn img_info_disk_size_does_not_end_child_section() {
    // Python checks `disk size` before the indentation, so an unindented
    // `disk size` line inside a child section does not end it.
    let out = "Child node '/file':\n    x\ndisk size: 1\n    y\nz";
    assert_eq!(img_info(&scope(), out, "f", true), "z");
}

// ---- JSON filters ----------------------------------------------------------

#[test]
fn qmp_event_masks_timestamp() {
    let ev = json!({"timestamp": {"seconds": 1, "microseconds": 2}, "event": "SHUTDOWN", "data": {"guest": false}});
    let got = qmp_event(ev);
    assert_eq!(got["timestamp"], json!({"seconds": "SECS", "microseconds": "USECS"}));
    assert_eq!(got["data"], json!({"guest": false}));
}

#[test]
fn qmp_event_without_timestamp_unchanged() {
    let ev = json!({"event": "X", "data": {"seconds": 1}});
    assert_eq!(qmp_event(ev.clone()), ev);
}

#[test]
fn qmp_event_bad_timestamp_unchanged() {
    let ev = json!({"event": "X", "timestamp": 5});
    assert_eq!(qmp_event(ev.clone()), ev);
}

#[test]
fn qmp_event_ordered_becomes_json() {
    let s = scope();
    let ev = json!({"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"});
    assert_eq!(
        Filter::QmpEvent.apply(&s, Msg::Ordered(ev)),
        Msg::Json(json!({"timestamp": {"seconds": "SECS", "microseconds": "USECS"}, "event": "STOP"}))
    );
    let text = Msg::from("not an event");
    assert_eq!(Filter::QmpEvent.apply(&s, text.clone()), text);
    let list = Msg::Json(json!([1]));
    assert_eq!(Filter::QmpEvent.apply(&s, list.clone()), list);
}

#[test]
fn qmp_walk_nested() {
    let seen = std::cell::RefCell::new(Vec::new());
    let got = qmp(json!({"a": [1, {"b": "x", "c": [[true]]}], "d": null}), &|k, v| {
        seen.borrow_mut().push(format!("{k:?}={v}"));
        match v {
            Value::String(s) => Value::String(s.to_uppercase()),
            v => v,
        }
    });
    assert_eq!(got, json!({"a": [1, {"b": "X", "c": [[true]]}], "d": null}));
    assert_eq!(
        seen.into_inner(),
        [r#"Some(Index(0))=1"#, r#"Some(Name("b"))="x""#, r#"Some(Index(0))=true"#, r#"Some(Name("d"))=null"#]
    );
}

#[test]
fn qmp_walk_keeps_order_and_empty_containers() {
    let v = json!({"z": {}, "a": []});
    let got = qmp(v, &|_, v| v);
    assert_eq!(got.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()), Some(vec!["z".into(), "a".into()]));
}

#[test]
fn qmp_string_filters() {
    let s = scope();
    let v = json!({"node-name": "#block12", "list": ["/tmp/sock/4242-nbd", 3], "driver": "qcow2",
                   "dev": "virtio-scsi-pci"});
    assert_eq!(
        qmp_generated_node_ids(v.clone()),
        json!({"node-name": "NODE_NAME", "list": ["/tmp/sock/4242-nbd", 3], "driver": "qcow2",
               "dev": "virtio-scsi-pci"})
    );
    assert_eq!(qmp_testfiles(&s, v.clone())["list"], json!(["SOCK_DIR/PID-nbd", 3]));
    assert_eq!(qmp_imgfmt(&s, v.clone())["driver"], json!("IMGFMT"));
    assert_eq!(qmp_virtio_scsi(v)["dev"], json!("virtio-scsi"));
}

// ---- Filter::apply ---------------------------------------------------------

#[test]
fn apply_text_filters_on_text() {
    let s = scope();
    let cases: Vec<(Filter, &str, &str)> = vec![
        (Filter::TestDir, "/tmp/iot.d/test/x", "TEST_DIR/x"),
        (Filter::Win32, "a\r\n", "a\n"),
        (Filter::QemuIo, "1 ops; 00.00 sec (inf bytes/sec and inf ops/sec)", QEMU_IO_X),
        (Filter::Chown, "chown 1:2", "chown UID:GID"),
        (Filter::Testfiles, "/tmp/sock/4242-s", "SOCK_DIR/PID-s"),
        (Filter::VirtioScsi, "virtio-scsi-ccw", "virtio-scsi"),
        (Filter::GeneratedNodeIds, "#block0", "NODE_NAME"),
        (Filter::img_info("/i"), "image: /i\ndisk size: 0", "image: TEST_IMG"),
        (Filter::ImgInfo { filename: "/i".into(), drop_child_info: false }, "Child node '/f':", "Child node '/f':"),
        (Filter::Imgfmt, "qcow2", "IMGFMT"),
        (Filter::NbdExports, "min block: 512", "min block: XXX"),
        (Filter::Qtest, "[I 0.0] OPENED\nx", "x"),
        (Filter::text(|t| t.repeat(2)), "ab", "abab"),
    ];
    for (f, input, want) in cases {
        assert_eq!(f.apply(&s, Msg::from(input)), Msg::from(want), "{f:?}");
        // A JSON message is left alone.
        let j = Msg::Json(json!({"k": input}));
        assert_eq!(f.apply(&s, j.clone()), j, "{f:?}");
        let o = Msg::Ordered(json!([input]));
        assert_eq!(f.apply(&s, o.clone()), o, "{f:?}");
        // A JSON string is a Python str.
        assert_eq!(f.apply(&s, Msg::Json(json!(input))), Msg::Json(json!(want)), "{f:?}");
    }
}

const QEMU_IO_X: &str = "X ops; XX:XX:XX.X (XXX YYY/sec and XXX ops/sec)";

#[test]
fn apply_qmp_filters_keep_variant() {
    let s = scope();
    let v = json!({"b": "qcow2", "a": ["#block1"]});
    assert_eq!(
        Filter::QmpImgfmt.apply(&s, Msg::Ordered(v.clone())),
        Msg::Ordered(json!({"b": "IMGFMT", "a": ["#block1"]}))
    );
    assert_eq!(
        Filter::QmpGeneratedNodeIds.apply(&s, Msg::Json(v)),
        Msg::Json(json!({"b": "qcow2", "a": ["NODE_NAME"]}))
    );
}

#[test]
fn apply_qmp_filters_on_bare_string() {
    let s = scope();
    assert_eq!(Filter::QmpTestfiles.apply(&s, Msg::from("/tmp/iot.d/test/4242-a")), Msg::from("TEST_DIR/PID-a"));
    assert_eq!(Filter::QmpVirtioScsi.apply(&s, Msg::from("virtio-scsi-pci")), Msg::from("virtio-scsi"));
    let f = Filter::qmp(|k, v| {
        assert_eq!(k, None);
        match v.as_str() {
            Some("none") => Value::Null,
            Some("true") => json!(true),
            Some("num") => json!(3),
            Some("dict") => json!({"x": 1}),
            _ => v,
        }
    });
    // What log() would print: str(None) is "None", not "null".
    assert_eq!(f.apply(&s, Msg::from("none")), Msg::from("None"));
    assert_eq!(f.apply(&s, Msg::from("true")), Msg::from("True"));
    assert_eq!(f.apply(&s, Msg::from("num")), Msg::Json(json!(3)));
    assert_eq!(f.apply(&s, Msg::from("dict")), Msg::Json(json!({"x": 1})));
    assert_eq!(f.apply(&s, Msg::from("other")), Msg::from("other"));
}

#[test]
fn apply_custom_and_debug() {
    let s = scope();
    let f = Filter::custom(|m| match m {
        Msg::Ordered(v) => Msg::Json(v),
        m => m,
    });
    assert_eq!(f.apply(&s, Msg::Ordered(json!({}))), Msg::Json(json!({})));
    assert_eq!(format!("{:?}", Filter::Qtest), "Qtest");
    assert_eq!(format!("{f:?}"), "Custom(..)");
    assert_eq!(format!("{:?}", Filter::img_info("x")), r#"ImgInfo { filename: "x", drop_child_info: true }"#);
}

// ---- insta -------------------------------------------------------------------

#[test]
fn insta_settings_filters_raw_output() {
    let s = scope();
    let raw = "wrote 512/512 bytes at offset 0\n\
               512 bytes, 1 ops; 00.00 sec (inf bytes/sec and inf ops/sec)\n\
               /tmp/iot.d/test/4242-img /tmp/iot.d/test/other /tmp/sock/4242-nbd.sock\n\
               chown 0:0 #block17 virtio-scsi-pci\n  min block: 1\n  max block: 33554432";
    insta_settings(&s).bind(|| {
        insta::assert_snapshot!(raw, @r"
        wrote 512/512 bytes at offset 0
        512 bytes, X ops; XX:XX:XX.X (XXX YYY/sec and XXX ops/sec)
        TEST_DIR/PID-img TEST_DIR/other SOCK_DIR/PID-nbd.sock
        chown UID:GID NODE_NAME virtio-scsi
          min block: XXX
          max block: XXX
        ");
    });
}

#[test]
fn insta_settings_odd_test_dirs() {
    // An invalid regex is escaped instead of making insta panic; an empty
    // directory adds no filter at all.
    let bad = Scope { test_dir: "/tmp/a[b".into(), ..scope() };
    insta_settings(&bad).bind(|| insta::assert_snapshot!("/tmp/a[b/x", @"TEST_DIR/x"));
    let empty = Scope { test_dir: String::new(), sock_dir: String::new(), ..scope() };
    insta_settings(&empty).bind(|| insta::assert_snapshot!("ab 4242-c", @"ab TEST_DIR/PID-c"));
}

/// The hand-written search for `filter_qemu_io`'s pattern finds what the
/// regex finds, on qemu-io lines cut, mutated and glued together.
#[test]
fn qemu_io_find_is_the_regex() {
    use super::text::{QEMU_IO, qemu_io_find};
    let pieces = [
        "wrote 65536/65536 bytes at offset 0\n",
        "64 KiB, 1 ops; 00.00 sec (4.123 MiB/sec and 81.5678 ops/sec)\n",
        "12 ops; 0:00:01.50 (inf bytes/sec and inf ops/sec)",
        " ops; ",
        " ops;  (",
        "sec (",
        " (",
        "(",
        " MiB/sec and ",
        "/sec and ",
        " ops/sec)",
        " ops/sec",
        "123",
        "1/2",
        ".",
        " ",
        "e",
        "é",
        "\n",
        "x",
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut found = 0;
    for _ in 0..20_000 {
        let mut s = String::new();
        for _ in 0..1 + next(8) {
            let piece = pieces[next(pieces.len())];
            // Drop one character now and then, to break matches.
            match piece.char_indices().nth(next(piece.len() * 4 + 1)) {
                Some((at, c)) => {
                    s.push_str(&piece[..at]);
                    s.push_str(&piece[at + c.len_utf8()..]);
                }
                None => s.push_str(piece),
            }
        }
        for from in (0..=s.len()).filter(|&i| s.is_char_boundary(i)) {
            let want = QEMU_IO.find_at(&s, from).map(|m| m.range());
            assert_eq!(qemu_io_find(&s, from), want, "{s:?} from {from}");
            found += usize::from(want.is_some());
        }
    }
    assert!(found > 20_000, "the inputs should match often: {found}");
}
