//! qemu-img wrappers against the real binary.

mod common;

use std::os::unix::fs::PermissionsExt;

use iotests::env::{TestEnv, Vars};
use iotests::tools::ImgInfoOpts;
use iotests::{Error, TestContext, args};

/// A context for format `fmt` (overriding `IMGFMT`), with `extra` variables;
/// `None` (and a `not run:` line) when qemu-img is missing.
fn ctx(name: &str, fmt: &str, extra: &[(&str, &str)]) -> Option<TestContext> {
    let mut forced = vec![("IMGFMT", fmt)];
    forced.extend_from_slice(extra);
    common::context(name, fmt, &forced, &["QEMU_IMG_PROG"])
}

#[test]
fn create_info_map_check_measure_qcow2_and_raw() {
    for fmt in ["qcow2", "raw"] {
        let Some(t) = ctx(&format!("img-basic-{fmt}"), fmt, &[]) else { return };
        let img = t.file_path("test.img");
        let out = t.qemu_img_create(&args!["-f", fmt, &img, 1 << 20]).unwrap();
        assert_eq!(out.returncode, 0);
        assert!(out.stdout.starts_with(&format!("Formatting '{img}', fmt={fmt}")), "{}", out.stdout);

        let info = t.qemu_img_info(&["-f", fmt, &img]).unwrap();
        assert_eq!(info["format"], fmt);
        assert_eq!(info["virtual-size"].as_u64(), Some(1 << 20));
        assert_eq!(t.image_size(&img).unwrap(), 1 << 20);

        let map = t.qemu_img_map(&["-f", fmt, &img]).unwrap();
        assert!(map.is_array(), "{map}");
        let measure = t.qemu_img_measure(&["-O", "qcow2", "-f", fmt, &img]).unwrap();
        assert!(measure["required"].is_u64(), "{measure}");
        if fmt == "qcow2" {
            let check = t.qemu_img_check(&["-f", fmt, &img]).unwrap();
            assert_eq!(check["check-errors"], 0, "{check}");
        }

        t.qemu_img_log(&["info", "-f", fmt, &img]).unwrap();
        t.img_info_log(&img).unwrap();
        t.img_info_log_with(&img, ImgInfoOpts { extra_args: vec!["-U".into()], ..Default::default() }).unwrap();
        let log = t.contents();
        assert!(log.contains(&format!("file format: {fmt}")), "{log}");
    }
}

#[test]
fn imgopts_apply_to_imgfmt_only() {
    let Some(t) = ctx("img-imgopts", "qcow2", &[("IMGOPTS", "cluster_size=4096")]) else { return };
    let [a, b] = t.file_paths(["a.qcow2", "b.raw"]);
    t.qemu_img_create(&args!["-f", "qcow2", &a, "1M"]).unwrap();
    assert_eq!(t.qemu_img_info(&["-f", "qcow2", &a]).unwrap()["cluster-size"], 4096);
    // raw does not know cluster_size: IMGOPTS must not be passed.
    t.qemu_img_create(&args!["-f", "raw", &b, "1M"]).unwrap();
}

#[test]
fn luks_create_gets_default_secret() {
    let Some(t) = ctx("img-luks", "luks", &[]) else { return };
    let img = t.file_path("test.luks");
    let out = t.qemu_img_create(&args!["-f", "luks", &img, "16M"]).unwrap();
    assert!(out.args.iter().any(|a| a == "secret,id=keysec0,data=123456"), "{:?}", out.args);
    assert!(out.args.iter().any(|a| a == "iter-time=10"), "{:?}", out.args);
    // It opens with the default secret…
    let image_opts = format!("driver=luks,key-secret=keysec0,file.filename={img}");
    let good = t.env().luks_default_secret_object();
    let io = t.qemu_io(&["--object", &good, "--image-opts", "-c", "read 0 512", &image_opts]).unwrap();
    assert!(io.stdout.contains("read 512/512 bytes"), "{}", io.stdout);
    // …and not with another one.
    let bad = "secret,id=keysec0,data=wrong";
    let err = t.qemu_io(&["--object", bad, "--image-opts", "-c", "read 0 512", &image_opts]).unwrap_err();
    assert!(matches!(err, Error::ToolFailed { status: 1, .. }), "{err}");
    assert_eq!(t.has_working_luks().unwrap(), (true, String::new()));
}

#[test]
fn failures_are_tool_failed_with_output() {
    let Some(t) = ctx("img-fail", "qcow2", &[]) else { return };
    let missing = t.file_path("missing.img");
    let err = t.qemu_img(&["info", &missing]).unwrap_err();
    match &err {
        Error::ToolFailed { tool, cmdline, status, signal, output } => {
            assert_eq!((tool.as_str(), *status, *signal), ("qemu-img", 1, None));
            assert!(cmdline.ends_with(&format!("info {missing}")), "{cmdline}");
            assert!(output.contains("Could not open"), "{output}");
        }
        e => panic!("unexpected {e}"),
    }
    let out = t.qemu_img_cmd(&["info", &missing]).check(false).run().unwrap();
    assert_eq!(out.returncode, 1);
    // Separate streams: the message is on stderr.
    let out = t.qemu_img_cmd(&["info", &missing]).check(false).combine_stdio(false).run().unwrap();
    assert!(out.stdout.is_empty() && out.stderr.contains("Could not open"), "{out:?}");
    // JSON of a failing command without JSON output is the process error.
    assert!(matches!(t.qemu_img_info(&[&missing]), Err(Error::ToolFailed { status: 1, .. })));
    assert_eq!(t.qemu_img_cmd(&["info", &missing]).check(false).log().unwrap().returncode, 1);
}

#[test]
fn check_with_errors_still_returns_json() {
    let Some(t) = ctx("img-check-corrupt", "qcow2", &[]) else { return };
    let img = t.file_path("c.qcow2");
    t.qemu_img_create(&args!["-f", "qcow2", &img, "1M"]).unwrap();
    t.qemu_io(&["-c", "write 0 64k", &img]).unwrap();
    // Break the refcount of the data cluster: offset of the first refcount
    // block is 0x20000 for a fresh 64k-cluster image; zero it.
    let data = std::fs::read(&img).unwrap();
    let mut data = data;
    for b in &mut data[0x20000..0x20000 + 16] {
        *b = 0;
    }
    std::fs::write(&img, &data).unwrap();
    let check = t.qemu_img_check(&["-f", "qcow2", &img]).unwrap();
    assert!(check["corruptions"].as_u64().unwrap_or(0) > 0, "{check}");
}

#[test]
fn compare_images_true_false_error() {
    let Some(t) = ctx("img-compare", "qcow2", &[]) else { return };
    let [a, b, c] = t.file_paths(["a.qcow2", "b.raw", "c.qcow2"]);
    t.qemu_img_create(&args!["-f", "qcow2", &a, "1M"]).unwrap();
    t.qemu_img_create(&args!["-f", "raw", &b, "1M"]).unwrap();
    t.qemu_img_create(&args!["-f", "qcow2", &c, "1M"]).unwrap();
    assert!(t.compare_images_with(&a, &b, "qcow2", "raw").unwrap());
    assert!(t.compare_images(&a, &c).unwrap());
    t.qemu_io(&["-c", "write -P 1 0 4k", &c]).unwrap();
    assert!(!t.compare_images(&a, &c).unwrap());
    let missing = t.file_path("missing");
    assert!(matches!(t.compare_images(&a, &missing), Err(Error::ToolFailed { status: 2, .. })));
}

#[test]
fn verbose_output_goes_to_the_log() {
    let Some(t) = ctx("img-verbose", "raw", &[]) else { return };
    let img = t.file_path("v.raw");
    assert_eq!(t.qemu_img_verbose(&args!["create", "-f", "raw", &img, "1M"]).unwrap(), 0);
    assert_eq!(t.qemu_img_verbose(&["info", "-f", "raw", "/nonexistent/x"]).unwrap(), 1);
    let log = t.contents();
    let fmt_at = log.find("Formatting").unwrap();
    let err_at = log.find("Could not open '/nonexistent/x'").unwrap();
    assert!(fmt_at < err_at, "{log}");
    let (out, rc) = t.qemu_img_pipe_and_status(&["info", "-f", "raw", &img]).unwrap();
    assert_eq!(rc, 0);
    assert!(out.contains("virtual size: 1 MiB"), "{out}");
    assert_eq!(t.qemu_img_pipe(&["info", "-f", "raw", &img]).unwrap(), out);
    assert!(t.supports_qcow2_zstd_compression().is_ok());
}

#[test]
fn missing_binary_names_the_variable() {
    let mut vars = Vars::new();
    vars.insert("QEMU_IMG_PROG".into(), "/nonexistent/qemu-img".into());
    vars.insert("QEMU_IO_PROG".into(), "/nonexistent/qemu-io".into());
    vars.insert("QEMU_NBD_PROG".into(), "/nonexistent/qemu-nbd".into());
    vars.insert("QSD_PROG".into(), "/nonexistent/qsd".into());
    let t = TestContext::new("img-missing", TestEnv::from_vars(&vars, "raw")).unwrap();
    let var = |e: Error| match e {
        Error::MissingBinary { var, .. } => var,
        e => panic!("unexpected {e}"),
    };
    assert_eq!(var(t.qemu_img(&["info", "x"]).unwrap_err()), "QEMU_IMG_PROG");
    assert_eq!(var(t.qemu_img_create(&["-f", "raw", "x", "1M"]).unwrap_err()), "QEMU_IMG_PROG");
    assert_eq!(var(t.qemu_img_verbose(&["info"]).unwrap_err()), "QEMU_IMG_PROG");
    assert_eq!(var(t.qemu_io(&["-c", "read 0 1", "x"]).unwrap_err()), "QEMU_IO_PROG");
    assert_eq!(var(t.qemu_io_interactive(&["x"]).unwrap_err()), "QEMU_IO_PROG");
    assert_eq!(var(t.qemu_nbd(&["x"]).unwrap_err()), "QEMU_NBD_PROG");
    assert_eq!(var(t.qemu_nbd_popen(&["x"]).unwrap_err()), "QEMU_NBD_PROG");
    assert_eq!(var(t.qemu_nbd_list_log(&["x"]).unwrap_err()), "QEMU_NBD_PROG");
    let qsd = t.qemu_storage_daemon(&["--help"]);
    assert_eq!(var(qsd.unwrap_err()), "QSD_PROG");
}

/// A "qemu-img" that dies of SIGSEGV after printing something (the
/// directory holding it is returned to keep it alive).
fn segv_context(name: &str) -> (TestContext, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("segv-qemu-img");
    std::fs::write(&script, "#!/bin/sh\necho 'about to crash' >&2\nkill -SEGV $$\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut vars = Vars::new();
    vars.insert("QEMU_IMG_PROG".into(), script.to_string_lossy().into_owned());
    (TestContext::new(name, TestEnv::from_vars(&vars, "raw")).unwrap(), dir)
}

#[test]
fn signal_is_an_error_even_unchecked() {
    let (t, _dir) = segv_context("img-signal");
    for r in [t.qemu_img(&["info", "x"]), t.qemu_img_cmd(&["info", "x"]).check(false).run()] {
        match r.unwrap_err() {
            Error::ToolFailed { status, signal, output, .. } => {
                assert_eq!((status, signal), (-11, Some(11)));
                assert!(output.contains("about to crash"), "{output}");
            }
            e => panic!("unexpected {e}"),
        }
    }
    assert!(matches!(t.qemu_img_info(&["x"]), Err(Error::ToolFailed { status: -11, .. })));
    assert_eq!(t.qemu_img_verbose(&["info", "x"]).unwrap(), -11);
    assert!(t.contents().contains("about to crash"));
}

/// The `received signal` line goes to the test's stderr: run the body in a
/// child copy of this test binary and look at what it printed.
#[test]
fn signal_message_on_stderr() {
    if std::env::var_os("IOTESTS_SEGV_CHILD").is_some() {
        let (t, _dir) = segv_context("img-signal-child");
        let _ = t.qemu_img_cmd(&["info", "x"]).check(false).run();
        let _ = t.qemu_img_verbose(&["check", "y"]);
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["--exact", "signal_message_on_stderr", "--nocapture", "--test-threads=1"])
        .env("IOTESTS_SEGV_CHILD", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("qemu-img received signal 11: ") && stderr.contains("segv-qemu-img info x"), "{stderr}");
    assert!(stderr.contains("segv-qemu-img check y"), "{stderr}");
}

/// `qemu_img_create_prepare_args` against upstream's Python function.
#[test]
fn prepare_args_matches_python_argparse() {
    if iotests::env::which("python3").is_none() {
        println!("not run: python3 not found");
        return;
    }
    let cases: Vec<Vec<&str>> = vec![
        vec!["create", "-f", "qcow2", "img", "1M"],
        vec!["create", "img", "-f", "qcow2", "1M", "-o", "a=b"],
        vec!["create", "-o", "x=1", "-o", "y=2", "-f", "qcow2", "-F", "raw", "-b", "base", "img"],
        vec!["create", "-fqcow2", "-oa=1", "-o=b=2", "-f=raw", "img"],
        vec!["create", "-f", "luks", "img", "1M"],
        vec!["create", "-f", "luks", "-o", "key-secret=sec1", "img"],
        vec!["create", "-f", "qcow2", "-u", "-q", "--object", "secret,id=s", "img", "-1", "1M"],
        vec!["create", "-f", "qcow2", "--", "-o", "x", "img"],
        vec!["create", "-o", "--", "x", "img"],
        vec!["create", "-f", "qcow2", "--", "img"],
        vec!["create", "-o", "-1", "img", "-o", "a b", "-x y"],
        vec!["create", "--o", "x", "--f=raw", "-", ""],
        vec!["create", "-f", "raw", "--", "--", "-f"],
        vec!["create", "-o", "-f", "raw"],
        vec!["create", "-o"],
        vec!["create", "-h"],
        vec!["create", "-hx"],
        vec!["create", "--help"],
        vec!["create", "-f", "raw", "-f", "qcow2", "-Uo", "x"],
        vec!["create", "-f", "-1.5", "-o", "-.5", "-o", "-1."],
        vec!["info", "-f", "qcow2", "img"],
        vec!["create"],
    ];
    for (fmt, imgopts) in [("qcow2", "compat=0.10"), ("luks", "iter-time=10"), ("raw", "")] {
        let Some(t) = ctx("img-prepare-python", fmt, &[("IMGOPTS", imgopts)]) else { return };
        let py = format!(
            r#"
import argparse, json, sys
imgfmt = {fmt:?}
imgopts = {imgopts:?}
luks_default_secret_object = {secret:?}
luks_default_key_secret_opt = 'key-secret=keysec0'
def qemu_img_create_prepare_args(args):
    if not args or args[0] != 'create':
        return list(args)
    args = args[1:]
    p = argparse.ArgumentParser(allow_abbrev=False)
    p.add_argument('-o', action='append', default=[])
    p.add_argument('-f')
    parsed, remaining = p.parse_known_args(args)
    opts_list = parsed.o
    result = ['create']
    if parsed.f is not None:
        result += ['-f', parsed.f]
    if imgopts and parsed.f == imgfmt:
        opts_list.insert(0, imgopts)
    if parsed.f == 'luks' and \
            all('key-secret' not in opts for opts in opts_list):
        result += ['--object', luks_default_secret_object]
        opts_list.append(luks_default_key_secret_opt)
    for opts in opts_list:
        result += ['-o', opts]
    result += remaining
    return result
def run(c):
    try:
        return qemu_img_create_prepare_args(c)
    except SystemExit:
        return None
out = sys.stdout
sys.stdout = sys.stderr = open('/dev/null', 'w')
out.write(json.dumps([run(c) for c in json.load(sys.stdin)]))
"#,
            secret = t.env().luks_default_secret_object(),
            imgopts = t.env().imgopts.clone().unwrap_or_default(),
        );
        let mut child = std::process::Command::new("python3")
            .args(["-c", &py])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(serde_json::to_string(&cases).unwrap().as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let expected: Vec<Option<Vec<String>>> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(expected.len(), cases.len());
        for (case, want) in cases.iter().zip(expected) {
            // None: argparse exited (a usage error).
            assert_eq!(t.qemu_img_create_prepare_args(case).ok(), want, "{fmt}: {case:?}");
        }
    }
}

/// A qemu-img that fails without a word (`/bin/false`): the LUKS check's
/// not-run still says why (Python would pass on the empty message).
#[test]
fn a_luks_not_run_always_has_a_reason() {
    let mut vars = Vars::new();
    vars.insert("QEMU_IMG_PROG".into(), "/bin/false".into());
    let env = TestEnv::from_vars(&vars, "luks");
    match iotests::harness::verify_working_luks(&env) {
        Err(Error::NotRun(reason)) => assert!(reason.contains("cannot create a LUKS image"), "{reason:?}"),
        other => panic!("{other:?}"),
    }
}
